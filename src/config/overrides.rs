//! Reads the template override folder (`restack-templates/` next to the manifest by default) into
//! [`render::Overrides`]. The only IO of overrides; validation is `Overrides::check`'s.

use std::collections::BTreeMap;
use std::path::Path;

use crate::render::Overrides;

/// Why the override folder could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OverrideLoadError {
    #[error("cannot read the template override `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the template override `{path}` is not valid UTF-8")]
    NotUtf8 { path: String },
    /// Overrides are read only from regular files in a real folder of the project: a symbolic
    /// link could lead out of it.
    #[error(
        "the template override `{path}` is a symbolic link; overrides must be regular files in a folder inside the project"
    )]
    Symlink { path: String },
}

impl OverrideLoadError {
    /// A problem with what the user put in the project (exit 1), rather than restack failing to
    /// read it (exit 2).
    pub fn is_users(&self) -> bool {
        matches!(self, OverrideLoadError::Symlink { .. })
    }
}

/// Loads every file below `root/dir` as an override named by its `/`-separated path relative to
/// the folder (`core/service.py.j2`). A missing folder means no overrides. Hidden files and
/// folders (`.DS_Store`, editor swap files) are skipped. A symbolic link anywhere on the way (the
/// folder, a folder in it, a file) is refused: it could lead out of the project.
pub fn load(root: &Path, dir: &Path) -> Result<Overrides, OverrideLoadError> {
    let base = root.join(dir);
    let shown = dir.display().to_string().replace('\\', "/");
    let mut at = root.to_path_buf();
    for component in dir.components() {
        at.push(component);
        if std::fs::symlink_metadata(&at).is_ok_and(|meta| meta.file_type().is_symlink()) {
            return Err(OverrideLoadError::Symlink {
                path: at
                    .strip_prefix(root)
                    .unwrap_or(&at)
                    .display()
                    .to_string()
                    .replace('\\', "/"),
            });
        }
    }
    if !base.is_dir() {
        return Ok(Overrides::new(shown, BTreeMap::new()));
    }
    let mut templates = BTreeMap::new();
    let walker = walkdir::WalkDir::new(&base)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            entry.depth() == 0 || !entry.file_name().to_string_lossy().starts_with('.')
        });
    for entry in walker {
        let entry = entry.map_err(|err| OverrideLoadError::Io {
            path: err
                .path()
                .map_or_else(|| shown.clone(), |it| it.display().to_string()),
            source: err.into(),
        })?;
        let relative = entry.path().strip_prefix(&base).unwrap_or(entry.path());
        if entry.path_is_symlink() {
            return Err(OverrideLoadError::Symlink {
                path: format!("{shown}/{}", relative.display()).replace('\\', "/"),
            });
        }
        if !entry.file_type().is_file() {
            continue;
        }
        let name = relative
            .components()
            .map(|it| it.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let file = format!("{shown}/{name}");
        let bytes = std::fs::read(entry.path()).map_err(|source| OverrideLoadError::Io {
            path: file.clone(),
            source,
        })?;
        let text = String::from_utf8(bytes)
            .map_err(|_| OverrideLoadError::NotUtf8 { path: file.clone() })?;
        templates.insert(name, text);
    }
    Ok(Overrides::new(shown, templates))
}
