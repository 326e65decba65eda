//! Why rendering failed. Every variant is a restack bug (a template or the IR it was given), never
//! a user error: the manifest checks ran before.

/// A rendering failure: an internal error naming the template.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RenderError {
    /// The template engine failed (syntax error, undefined value, failing filter).
    #[error("template `{template}` failed for `{path}`: {message}")]
    #[diagnostic(
        code(restack::render::template),
        help("this is a bug in restack's templates (or a template override); please report it")
    )]
    Template {
        path: String,
        template: String,
        /// The line of the template, when known.
        line: Option<usize>,
        /// minijinja's message with its debug info (source excerpt and referenced variables).
        message: String,
    },
    /// A template produced Python that does not parse for the project's target version.
    #[error(
        "template `{template}` produced invalid Python in `{path}` at {line}:{column}: {message}"
    )]
    #[diagnostic(
        code(restack::render::invalid_python),
        help("this is a bug in restack's templates (or a template override); please report it")
    )]
    InvalidPython {
        path: String,
        template: String,
        /// 1-based line in the rendered file.
        line: usize,
        /// 1-based column (in characters) in the rendered file.
        column: usize,
        message: String,
    },
}
