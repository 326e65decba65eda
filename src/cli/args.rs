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

#[derive(Debug, Clone, clap::Args)]
pub struct GlobalArgs {
    /// Path of the manifest (default: search upward from the working directory for restack.kdl).
    #[arg(short = 'm', long, global = true, value_name = "PATH")]
    pub manifest: Option<PathBuf>,
    /// Run as if started in DIR.
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,
    /// When to use colour (`NO_COLOR` is honoured under `auto`) [default: auto, or
    /// `RESTACK_COLOR`, or `color` in a config file].
    #[arg(long, global = true, value_enum)]
    pub color: Option<Color>,
    /// Print less.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// restack's own configuration, resolved from the command line, `RESTACK_*` variables and
    /// config files before the command runs (docs/configuration.md).
    #[arg(skip)]
    pub config: crate::config::Config,
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
        /// Check every restack.kdl below ROOT (default: the working directory), in parallel,
        /// skipping what `.gitignore` ignores: one line per project and a total.
        #[arg(
            long,
            value_name = "ROOT",
            num_args = 0..=1,
            default_missing_value = ".",
            conflicts_with = "diff"
        )]
        workspace: Option<PathBuf>,
    },
    /// Environment and project health: Python, venv, pins, engine, service import, keys, git,
    /// state. Each problem comes with a fix.
    Doctor {
        /// Print the findings as versioned JSON (docs/json-format.md).
        #[arg(long)]
        json: bool,
    },
    /// Start the generated service with the project's Python (`python -m <package>.service`),
    /// or schedule a workflow or agent (`restack run schedule NAME`).
    #[command(args_conflicts_with_subcommands = true)]
    Run {
        #[command(subcommand)]
        action: Option<RunAction>,
        /// Arguments passed on to the service (after `--`), e.g. `-- --log-format json`.
        #[arg(last = true, value_name = "ARGS")]
        args: Vec<String>,
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
    /// Format restack.kdl canonically, keeping every comment (docs/manifest.md).
    Fmt {
        /// Write nothing; print a diff and exit 1 when the file is not formatted.
        #[arg(long)]
        check: bool,
    },
    /// Add an entity to restack.kdl (comments and formatting kept), then plan or apply.
    Add {
        #[command(subcommand)]
        entity: AddEntity,
        /// Apply the change to the project right away (default: show the plan).
        #[arg(long, global = true)]
        apply: bool,
    },
    /// Print the manifest language's schema as JSON (schema/restack.schema.json), for tools.
    #[command(hide = true)]
    Schema,
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// What `restack add` adds. Lists are comma-separated; `NAME:TYPE` declares a field.
#[derive(Debug, Subcommand)]
pub enum AddEntity {
    /// `function NAME`: a unit of business logic.
    Function {
        /// The entity's name, PascalCase (`SendEmail`).
        name: String,
        /// A description (`doc`), used as the docstring.
        #[arg(long)]
        doc: Option<String>,
        /// An input field `NAME:TYPE` (repeatable), e.g. `--input to:str`.
        #[arg(long, value_name = "NAME:TYPE")]
        input: Vec<String>,
        /// The return type, e.g. `bool`.
        #[arg(long, value_name = "TYPE")]
        output: Option<String>,
    },
    /// `workflow NAME`: calls functions and workflows.
    Workflow {
        /// The entity's name, PascalCase (`SendEmail`).
        name: String,
        /// A description (`doc`), used as the docstring.
        #[arg(long)]
        doc: Option<String>,
        /// An input field `NAME:TYPE` (repeatable), e.g. `--input to:str`.
        #[arg(long, value_name = "NAME:TYPE")]
        input: Vec<String>,
        /// The return type, e.g. `bool`.
        #[arg(long, value_name = "TYPE")]
        output: Option<String>,
        /// The functions and workflows it calls, e.g. `--calls SendEmail,Notify`.
        #[arg(long, value_name = "A,B", value_delimiter = ',')]
        calls: Vec<String>,
    },
    /// `agent NAME`: a long-running workflow that handles events.
    Agent {
        /// The entity's name, PascalCase (`SendEmail`).
        name: String,
        /// A description (`doc`), used as the docstring.
        #[arg(long)]
        doc: Option<String>,
        /// A state field `NAME:TYPE` (repeatable).
        #[arg(long, value_name = "NAME:TYPE")]
        state: Vec<String>,
        /// An event `NAME[:FIELD:TYPE,…]` (repeatable), e.g. `--event signed_up:user_id:str`.
        #[arg(long, value_name = "NAME[:FIELD:TYPE,…]")]
        event: Vec<String>,
        /// The functions and workflows it calls, e.g. `--calls SendEmail,Notify`.
        #[arg(long, value_name = "A,B", value_delimiter = ',')]
        calls: Vec<String>,
        /// Tool servers the agent uses.
        #[arg(long, value_name = "A,B", value_delimiter = ',')]
        tools: Vec<String>,
        /// Give the agent the project's LLM router (`llm "default"`).
        #[arg(long)]
        llm: bool,
    },
    /// `pipeline NAME`: steps run by a generated orchestrator.
    Pipeline {
        /// The entity's name, PascalCase (`SendEmail`).
        name: String,
        /// A description (`doc`), used as the docstring.
        #[arg(long)]
        doc: Option<String>,
        /// The operator string, e.g. `"DRAFT ⇄ REVIEW → PUBLISH"` (docs/operators.md).
        #[arg(long, value_name = "STRING")]
        operators: String,
        /// `subworkflows` or `functions`.
        #[arg(long)]
        style: Option<String>,
        /// The most rounds of a refine loop `A ⇄ B` (`max-loops`).
        #[arg(long, value_name = "N")]
        max_loops: Option<u32>,
    },
    /// `tool-server NAME`: a FastMCP tool server.
    ToolServer {
        /// The entity's name, PascalCase (`SendEmail`).
        name: String,
        /// A description (`doc`), used as the docstring.
        #[arg(long)]
        doc: Option<String>,
        /// `stdio`, `http` or `sse`.
        #[arg(long)]
        transport: Option<String>,
        /// A tool `NAME[:PARAM:TYPE,…]` (repeatable), e.g. `--tool search:query:str`.
        #[arg(long, value_name = "NAME[:PARAM:TYPE,…]")]
        tool: Vec<String>,
    },
    /// `prompt NAME`: a versioned prompt.
    Prompt {
        /// The prompt's name, snake_case (`summarize`).
        name: String,
        /// The prompt's version, e.g. `1.0.0`.
        #[arg(long)]
        version: Option<String>,
        /// A variable (repeatable, or comma-separated).
        #[arg(long, value_delimiter = ',')]
        var: Vec<String>,
        /// The template, using `{{ var }}` placeholders.
        #[arg(long)]
        text: String,
    },
}

/// What `restack run` does besides starting the service.
#[derive(Debug, Subcommand)]
pub enum RunAction {
    /// Schedule a workflow, pipeline or agent through the generated `scripts/schedule_*.py`.
    Schedule {
        /// The workflow, pipeline or agent, as declared (`EmailCampaign`).
        name: String,
        /// The input (initial state for an agent), a JSON object.
        #[arg(long, value_name = "JSON", default_value = "{}")]
        input: String,
        /// Wait for a workflow's result and print it.
        #[arg(long)]
        wait: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Mermaid,
    Dot,
    Ascii,
}
