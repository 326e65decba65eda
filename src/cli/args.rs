//! Command-line arguments (clap derive).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "restack",
    version,
    about = "Declarative manifest compiler for Restack AI projects"
)]
pub struct Args {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// Path of the manifest (default: search upward from the working directory for restack.kdl).
    #[arg(short = 'm', long, global = true, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
    /// Run as if started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// When to use colour (`NO_COLOR` is honoured under `auto`).
    #[arg(long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Print less.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more.
    #[arg(short, long, global = true)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the manifest only: print every problem, exit 1 if there is an error.
    Validate,
    /// Write DIR/restack.kdl from an embedded example and apply it.
    New {
        /// The directory of the new project (created if missing).
        dir: PathBuf,
        /// The embedded example to start from (default: `blog`, the DESIGN.md manifest).
        #[arg(long, value_name = "NAME")]
        example: Option<String>,
    },
    /// Write a starter restack.kdl in the working directory.
    Init,
    /// Show what `apply` would do, file by file. Writes nothing.
    Plan {
        /// Show a unified diff under each change.
        #[arg(long)]
        diff: bool,
        /// Print the plan as versioned JSON (docs/json-format.md).
        #[arg(long)]
        json: bool,
        /// Save the plan so that `restack apply FILE` applies exactly it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Reconcile the project with the manifest, or apply a saved plan exactly.
    Apply {
        /// A plan saved with `restack plan --out FILE`.
        file: Option<PathBuf>,
        /// Also overwrite hand-edited managed files, unowned files and conflicting scaffolds, and
        /// delete edited orphans.
        #[arg(long, conflicts_with = "file")]
        force: bool,
        /// Show a unified diff under each change.
        #[arg(long)]
        diff: bool,
    },
    /// Fail (exit 1) when the project drifted from the manifest. For CI.
    Check {
        /// Print the result as versioned JSON (docs/json-format.md).
        #[arg(long)]
        json: bool,
        /// Show a unified diff under each drifted file.
        #[arg(long)]
        diff: bool,
    },
    /// Reconcile on every save of the manifest or a template override, until Ctrl-C.
    Watch {
        /// How long the file system must be quiet before a save is handled, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 50,
              value_parser = clap::value_parser!(u64).range(1..=60_000))]
        debounce: u64,
        /// Also run the generated service, restarting it after each reconcile that wrote files.
        #[arg(long)]
        run: bool,
        /// The Python that runs the service (default: `.venv/bin/python` in the project, else
        /// `$VIRTUAL_ENV/bin/python`, else `python3`).
        #[arg(long, value_name = "PATH", requires = "run")]
        python: Option<PathBuf>,
        /// How long the service gets to exit after SIGTERM before SIGKILL, in milliseconds.
        #[arg(long, value_name = "MS", default_value_t = 5000, requires = "run")]
        grace: u64,
        /// Print one JSON object per line instead of text (docs/watch.md).
        #[arg(long)]
        json_events: bool,
    },
    /// Print a pipeline's graph.
    Graph {
        /// The pipeline, as declared (`BlogPipeline`).
        name: String,
        #[arg(long, value_enum, default_value_t = GraphFormat::Ascii)]
        format: GraphFormat,
    },
    /// Print the long explanation of a diagnostic code.
    Explain {
        /// The code, e.g. `unknown-node`.
        code: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Mermaid,
    Dot,
    Ascii,
}
