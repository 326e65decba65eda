//! User template overrides: templates given by name that replace embedded ones of the same name.
//! Pure data and checks; reading the override folder from disk is `config::overrides`' job.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::render::env;

/// Templates that replace embedded ones, keyed by embedded name (`core/service.py.j2`).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Where the overrides live as shown in messages (`restack-templates`), joined with a
    /// template's name to name its file.
    pub dir: String,
    pub(super) templates: Arc<BTreeMap<String, String>>,
}

/// A problem with one override, found before rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverrideProblem {
    /// The override's file as shown in messages: `restack-templates/core/service.py.j2`.
    pub file: String,
    /// 1-based line in the override, when known.
    pub line: Option<usize>,
    pub message: String,
    /// An error (the template does not compile) or a warning (an unknown name, ignored).
    pub severity: ProblemSeverity,
}

/// How bad an [`OverrideProblem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemSeverity {
    Error,
    Warning,
}

impl Overrides {
    /// Overrides from `(template name, source)` pairs; `dir` is how messages name their folder.
    pub fn new(dir: impl Into<String>, templates: BTreeMap<String, String>) -> Overrides {
        Overrides {
            dir: dir.into(),
            templates: Arc::new(templates),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    /// The overridden template names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.templates.keys().map(String::as_str)
    }

    /// Whether `template` (an embedded name) is overridden.
    pub fn contains(&self, template: &str) -> bool {
        self.templates.contains_key(template)
    }

    /// The source of an overridden template.
    pub fn get(&self, template: &str) -> Option<&str> {
        self.templates.get(template).map(String::as_str)
    }

    /// The file of an override as shown in messages.
    pub fn file(&self, template: &str) -> String {
        if self.dir.is_empty() {
            template.to_owned()
        } else {
            format!("{}/{template}", self.dir)
        }
    }

    /// Checks every override like a built-in before anything renders: it must replace an
    /// embedded template (else a warning with a did-you-mean; the file is ignored) and compile
    /// (else an error with its line).
    pub fn check(&self) -> Vec<OverrideProblem> {
        let known = super::template_names();
        let environment = env::environment(self);
        let mut problems = Vec::new();
        for name in self.templates.keys() {
            if !known.contains(&name.as_str()) {
                let suggestion = known
                    .iter()
                    .map(|candidate| (strsim::jaro_winkler(name, candidate), *candidate))
                    .filter(|(score, _)| *score > 0.85)
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, candidate)| format!("; did you mean `{candidate}`?"))
                    .unwrap_or_default();
                problems.push(OverrideProblem {
                    file: self.file(name),
                    line: None,
                    message: format!(
                        "`{name}` is not the name of an embedded template, so it is ignored{suggestion}"
                    ),
                    severity: ProblemSeverity::Warning,
                });
                continue;
            }
            if let Err(err) = environment.get_template(name) {
                problems.push(OverrideProblem {
                    file: self.file(err.name().unwrap_or(name)),
                    line: err.line(),
                    message: match err.detail() {
                        Some(detail) => format!("{}: {detail}", err.kind()),
                        None => err.kind().to_string(),
                    },
                    severity: ProblemSeverity::Error,
                });
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{render, render_with, testing};

    fn overrides(entries: &[(&str, &str)]) -> Overrides {
        Overrides::new(
            "restack-templates",
            entries
                .iter()
                .map(|(name, source)| ((*name).to_owned(), (*source).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn an_override_replaces_the_embedded_template() {
        let project = std::sync::Arc::new(testing::blog());
        let source = super::super::template_source("core/gitignore.j2").expect("embedded");
        let custom = overrides(&[("core/gitignore.j2", &format!("{source}*.custom\n"))]);
        assert!(custom.check().is_empty());
        let plain = render(&project).expect("renders");
        let changed = render_with(&project, &custom).expect("renders");
        let file = |set: &crate::render::FileSet| {
            set.files[".gitignore"].text().expect("rendered").to_owned()
        };
        assert!(!file(&plain).contains("*.custom"));
        assert!(file(&changed).ends_with("*.custom\n"));
        let others = |set: &crate::render::FileSet| {
            set.files
                .iter()
                .filter(|(path, _)| *path != ".gitignore")
                .map(|(path, file)| (path.clone(), file.contents.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(others(&plain), others(&changed));
    }

    #[test]
    fn check_reports_syntax_errors_and_unknown_names() {
        let bad = overrides(&[
            ("core/client.py.j2", "ok\n{% if %}\n"),
            ("core/clinet.py.j2", "x\n"),
        ]);
        let problems = bad.check();
        assert_eq!(problems.len(), 2, "{problems:?}");
        let error = &problems[0];
        assert_eq!(error.severity, ProblemSeverity::Error);
        assert_eq!(error.file, "restack-templates/core/client.py.j2");
        assert_eq!(error.line, Some(2));
        assert!(error.message.starts_with("syntax error"), "{error:?}");
        let warning = &problems[1];
        assert_eq!(warning.severity, ProblemSeverity::Warning);
        assert!(
            warning
                .message
                .contains("did you mean `core/client.py.j2`?"),
            "{warning:?}"
        );
    }

    #[test]
    fn a_failing_override_is_named_in_the_render_error() {
        let project = std::sync::Arc::new(testing::blog());
        let bad = overrides(&[("core/gitignore.j2", "{{ nope.missing }}\n")]);
        let err = render_with(&project, &bad).expect_err("undefined value");
        assert_eq!(err.template(), "core/gitignore.j2");
        assert!(bad.contains(err.template()));
    }
}
