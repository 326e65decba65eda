//! Syntax check of rendered Python with `ruff_python_parser`, before anything leaves `render`.
//! Parses only; never formats or rewrites.

use ruff_python_ast::PythonVersion;
use ruff_python_parser::{Mode, ParseOptions, parse_unchecked};
use ruff_text_size::TextSize;

use crate::render::{Output, RenderError};

/// The Python version rendered code must parse under: the lower bound of the project's
/// requirement (`>=3.10,<3.14` → 3.10), or 3.10 when it names none.
pub(super) fn target_version(requirement: &str) -> PythonVersion {
    requirement
        .split(',')
        .map(str::trim)
        .find_map(|clause| {
            let rest = clause
                .strip_prefix(">=")
                .or_else(|| clause.strip_prefix("=="))
                .or_else(|| clause.strip_prefix("~="))?;
            let mut parts = rest.trim().split('.');
            let major = parts.next()?.parse::<u8>().ok()?;
            let minor = parts.next().map_or(Some(0), |it| it.parse::<u8>().ok())?;
            Some(PythonVersion { major, minor })
        })
        .unwrap_or(PythonVersion::PY310)
}

/// Fails with [`RenderError::InvalidPython`] on the first syntax error, or on syntax the target
/// version does not support.
pub(super) fn python(
    output: &Output,
    contents: &str,
    target: PythonVersion,
) -> Result<(), RenderError> {
    let options = ParseOptions::from(Mode::Module).with_target_version(target);
    let parsed = parse_unchecked(contents, options);
    let first = parsed
        .errors()
        .iter()
        .map(|error| (error.location.start(), error.error.to_string()))
        .chain(
            parsed
                .unsupported_syntax_errors()
                .iter()
                .map(|error| (error.range.start(), error.to_string())),
        )
        .min_by_key(|(offset, _)| *offset);
    match first {
        None => Ok(()),
        Some((offset, message)) => {
            let (line, column) = line_column(contents, offset);
            Err(RenderError::InvalidPython {
                path: output.path.clone(),
                template: output.template.to_owned(),
                line,
                column,
                message,
            })
        }
    }
}

/// 1-based line and character column of a byte offset.
pub(super) fn line_column(text: &str, offset: TextSize) -> (usize, usize) {
    let offset = usize::from(offset).min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |it| it + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::Origin;

    fn output() -> Output<'static> {
        let origin = Origin {
            entity: "project \"blog\"".to_owned(),
            span: (0, 0),
        };
        Output::managed("src/x.py", "core/x.py.j2", &origin)
    }

    #[test]
    fn target_is_the_lower_bound() {
        assert_eq!(target_version(">=3.11,<3.14"), PythonVersion::PY311);
        assert_eq!(target_version("<3.14, >=3.12"), PythonVersion::PY312);
        assert_eq!(target_version(""), PythonVersion::PY310);
    }

    #[test]
    fn invalid_python_names_template_and_position() {
        let err = python(
            &output(),
            "x = 1\nclass A\n    pass\n",
            PythonVersion::PY310,
        )
        .expect_err("missing colon");
        match err {
            RenderError::InvalidPython {
                path,
                template,
                line,
                ..
            } => {
                assert_eq!(path, "src/x.py");
                assert_eq!(template, "core/x.py.j2");
                assert_eq!(line, 2);
            }
            RenderError::Template { .. } => panic!("expected InvalidPython, got {err:?}"),
        }
    }

    #[test]
    fn syntax_newer_than_target_is_rejected() {
        assert!(python(&output(), "type X = int\n", PythonVersion::PY310).is_err());
        assert!(python(&output(), "type X = int\n", PythonVersion::PY312).is_ok());
    }
}
