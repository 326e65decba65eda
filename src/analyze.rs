//! The whole check of one manifest, from bytes to a resolved project: UTF-8, KDL, decode, lower.
//!
//! Pure: takes bytes, returns values. The commands (`validate`, `plan`, `check`, `watch`) share it
//! so they report the same diagnostics; it must not read files or print.

use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::ir;
use crate::manifest::{self, Manifest};

/// Everything known about one manifest after checking it.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The source as (lossy) UTF-8, for rendering diagnostics against.
    pub text: String,
    /// The decoded manifest, when the file was UTF-8 and KDL (it may still have errors).
    pub manifest: Option<Manifest>,
    /// The resolved project, only when there are no errors at all.
    pub project: Option<ir::Project>,
    /// Every problem, sorted by position.
    pub diagnostics: Diagnostics,
}

/// Checks `bytes` (the contents of the manifest called `name`) and resolves it.
pub fn analyze(name: &str, bytes: &[u8]) -> Analysis {
    analyze_with(name, bytes, None)
}

/// What `watch` keeps from one analysis to the next: the decode of every top-level node of the
/// last manifest (`manifest::ParseCache`), and the lowering of every entity in it with the case
/// conversions of names (`ir::LowerCache`).
#[derive(Debug, Default)]
pub struct Cache {
    parse: manifest::ParseCache,
    lower: ir::LowerCache,
}

/// [`analyze`], re-using what `cache` kept from the last manifest: only the top-level nodes whose
/// text changed are decoded again, and only the entities whose node or whose references changed
/// are lowered again (for `watch`). The result is the same as [`analyze`]'s.
pub fn analyze_cached(name: &str, bytes: &[u8], cache: &mut Cache) -> Analysis {
    analyze_with(name, bytes, Some(cache))
}

fn analyze_with(name: &str, bytes: &[u8], mut cache: Option<&mut Cache>) -> Analysis {
    let checked = std::str::from_utf8(bytes);
    let text = match checked {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    };
    if let Err(err) = checked {
        // The bytes before the first bad one are valid, so `start` is the same offset in the
        // lossy copy, where the bad sequence became one U+FFFD.
        let start = err.valid_up_to();
        let diagnostic = Diagnostic::error(
            Code::NotUtf8,
            start..start + char::REPLACEMENT_CHARACTER.len_utf8(),
            format!("`{name}` is not valid UTF-8 at byte {start}"),
        )
        .label("not UTF-8")
        .help("re-save the file as UTF-8");
        return Analysis {
            text,
            manifest: None,
            project: None,
            diagnostics: Diagnostics::from(vec![diagnostic]),
        };
    }
    let (manifest, mut diagnostics, ids) = if let Some(cache) = cache.as_deref_mut() {
        manifest::decode::decode_tracked(&text, &mut cache.parse)
    } else {
        let (manifest, diagnostics) = manifest::decode(&text);
        (manifest, diagnostics, None)
    };
    let kdl_failed = diagnostics
        .iter()
        .any(|it| matches!(it.code, Code::KdlSyntax | Code::EmptyManifest));
    if kdl_failed {
        return Analysis {
            text,
            manifest: None,
            project: None,
            diagnostics: Diagnostics::from(diagnostics.into_sorted()),
        };
    }
    let lowered = match cache {
        Some(cache) => ir::lower_cached(&manifest, ids.as_ref(), &mut cache.lower),
        None => ir::lower(&manifest),
    };
    let project = match lowered {
        Ok(project) => Some(project),
        Err(lowered) => {
            diagnostics.extend(lowered);
            None
        }
    };
    let project = project.filter(|_| !diagnostics.has_errors());
    Analysis {
        text,
        manifest: Some(manifest),
        project,
        diagnostics: Diagnostics::from(diagnostics.into_sorted()),
    }
}
