//! The command line: argument parsing, dispatch, printing, exit codes.
//!
//! Each `cli/<command>.rs` parses nothing and computes nothing of its own: it calls the library
//! and hands results to [`printer`]. Only `printer` writes to stdout or stderr.

mod add;
mod apply;
mod args;
mod check;
mod completions;
mod doctor;
mod exit_status;
mod fmt;
mod graph;
mod new;
mod plan;
pub mod printer;
mod run;
mod session;
mod validate;
mod watch;
mod workspace;

use std::process::ExitCode;

use clap::Parser;

use crate::config::{self, Layer, Source};

pub use args::{Args, Command, GlobalArgs, RunAction};
pub use exit_status::ExitStatus;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let mut args = match Args::try_parse() {
        Ok(args) => args,
        Err(err) => {
            // clap prints help/version to stdout and usage errors to stderr itself.
            let status = if err.use_stderr() {
                ExitStatus::Failure
            } else {
                ExitStatus::Success
            };
            let _ = err.print();
            return status.into();
        }
    };
    if let Err(status) = configure(&mut args.global) {
        return status.into();
    }
    run(&args).into()
}

/// Bounds glibc's malloc arenas to one per core; called by `apply` before it spawns any thread.
///
/// By default glibc gives each thread that allocates an arena of its own (up to 8 per core), and
/// memory freed in an arena stays resident, reused only by the threads of that arena. apply
/// renders on one thread per core, twice (for the hashes, then for the bytes written), and each
/// arena of a rendering thread held 9-13 MiB of freed rendering memory through the peak at
/// N = 5,000 (bench/RESULTS.md, round 6). With one arena per core no two rendering threads wait
/// for each other's arena (one arena for the whole process made a cold apply's rendering take
/// up to twice as long, round 10), and [`release_free_memory`] after the first rendering and
/// after planning, with the second rendering on fewer threads (see `apply::write`), keeps the
/// peak under the target.
/// `watch`, whose latency matters more than its peak, keeps the default.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(
    unsafe_code,
    reason = "mallopt is a C function; it only sets a parameter of glibc's malloc"
)]
pub(crate) fn malloc_arena_per_core() {
    let cores = i32::try_from(crate::render::parallel::cores()).unwrap_or(i32::MAX);
    // SAFETY: `mallopt` takes two integers and touches nothing of ours; `M_ARENA_MAX` is a
    // parameter it accepts at any time (it bounds the arenas made from then on). A refusal (a
    // return of 0) only leaves the default.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, cores);
    }
}

/// Gives the memory freed in every malloc arena back to the system (`malloc_trim`): `apply`
/// calls it once the project is rendered, before planning allocates (the rendering threads'
/// leftovers are in arenas the planning thread does not use), and once the plan is made, before
/// the texts are rendered again to be written (see [`malloc_arena_per_core`]). Each call took
/// 2 to 15 ms at N = 5,000.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(
    unsafe_code,
    reason = "malloc_trim is a C function; it only returns free pages of glibc's malloc"
)]
pub(crate) fn release_free_memory() {
    // SAFETY: `malloc_trim` takes an integer, returns free memory of glibc's own heaps to the
    // system and touches no memory in use; it is thread-safe (each arena is locked in turn).
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Elsewhere the allocator is left as it is.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn malloc_arena_per_core() {}

/// Elsewhere the allocator is left as it is.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub(crate) fn release_free_memory() {}

/// Resolves restack's configuration (command line > `RESTACK_*` > `.restack/config.toml` >
/// user config file > defaults) into `global.config` and `global.color`. An invalid value is a
/// finding (exit 1); unknown keys are warnings.
pub fn configure(global: &mut GlobalArgs) -> Result<(), ExitStatus> {
    let mut cli = Layer::new(Source::Cli);
    if let Some(color) = global.color {
        let name = match color {
            args::Color::Auto => "auto",
            args::Color::Always => "always",
            args::Color::Never => "never",
        };
        cli = cli.with("color", name);
    }
    let root = std::env::current_dir()
        .ok()
        .map(|cwd| {
            global
                .directory
                .as_ref()
                .map_or_else(|| cwd.clone(), |dir| cwd.join(dir))
        })
        .and_then(|dir| crate::manifest::locate(global.manifest.as_deref(), &dir).ok())
        .and_then(|path| path.parent().map(std::path::Path::to_path_buf));
    match config::load(cli, root.as_deref()) {
        Ok((config, warnings)) => {
            global.color = Some(match config.color {
                config::Color::Auto => args::Color::Auto,
                config::Color::Always => args::Color::Always,
                config::Color::Never => args::Color::Never,
            });
            global.config = config;
            let printer = printer::Printer::new(global);
            if !printer.quiet {
                for warning in warnings {
                    let line = if warning.line == 0 {
                        String::new()
                    } else {
                        format!(":{}", warning.line)
                    };
                    printer.err(&format!(
                        "warning: {}{line}: {}\n",
                        warning.source_name, warning.message
                    ));
                }
            }
            Ok(())
        }
        Err(err) => {
            printer::Printer::new(global).error(&format!("invalid configuration: {err}"));
            Err(ExitStatus::Failure)
        }
    }
}

/// Runs one parsed command line.
pub fn run(args: &Args) -> ExitStatus {
    let printer = printer::Printer::new(&args.global);
    match &args.command {
        Command::Explain { code } => explain(&printer, code),
        Command::Validate => validate::validate(&args.global, &printer),
        Command::New { dir, example } => new::new(&args.global, &printer, dir, example.as_deref()),
        Command::Init => new::init(&args.global, &printer),
        Command::Plan { diff, json, out } => {
            plan::plan(&args.global, &printer, *diff, *json, out.as_deref())
        }
        Command::Apply { file, force, diff } => {
            apply::apply(&args.global, &printer, file.as_deref(), *force, *diff)
        }
        Command::Check {
            json,
            workspace: Some(root),
            ..
        } => workspace::check(&args.global, &printer, root, *json),
        Command::Check {
            json,
            diff,
            workspace: None,
        } => check::check(&args.global, &printer, *json, *diff),
        Command::Doctor { json } => doctor::doctor(&args.global, &printer, *json),
        Command::Run { action, args: rest } => {
            run::run(&args.global, &printer, action.as_ref(), rest)
        }
        Command::Graph { name, format } => graph::graph(&args.global, &printer, name, *format),
        Command::Watch {
            debounce,
            run,
            python,
            grace,
            json_events,
        } => watch::watch(
            &args.global,
            &printer,
            &watch::WatchFlags {
                debounce_ms: *debounce,
                run: *run,
                python: python.clone(),
                grace_ms: *grace,
                json_events: *json_events,
            },
        ),
        Command::Fmt { check } => fmt::fmt(&args.global, &printer, *check),
        Command::Add { entity, apply } => add::add(&args.global, &printer, entity, *apply),
        Command::Completions { shell } => completions::completions(&printer, *shell),
        Command::Schema => {
            printer.out(&crate::manifest::schema::json());
            ExitStatus::Success
        }
    }
}

fn explain(printer: &printer::Printer, code: &str) -> ExitStatus {
    let Some(code) = crate::diag::Code::from_name(code.trim_start_matches("restack::")) else {
        printer.error(&format!("unknown diagnostic code `{code}`"));
        return ExitStatus::Failure;
    };
    printer.out(&format!(
        "{}: {}\n\n{}\n",
        code.name(),
        code.summary(),
        code.explanation()
    ));
    ExitStatus::Success
}
