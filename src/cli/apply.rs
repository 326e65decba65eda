//! `restack apply [FILE] [--force]`: reconcile the project with the manifest, or apply a saved
//! plan exactly.

use std::collections::BTreeSet;
use std::path::Path;

use crate::apply::{self, Applied, ApplyOptions};
use crate::cli::GlobalArgs;
use crate::cli::exit_status::ExitStatus;
use crate::cli::printer::Printer;
use crate::cli::session;
use crate::plan::{self, DisplayOptions, Hash, Plan, Text};
use crate::record::{self, Record};
use crate::render;

/// Exit 0 when everything was applied, 1 when the manifest is invalid or a change was blocked
/// (the blocked files are untouched, everything else is applied), 2 when restack failed (IO,
/// lock, stale plan).
pub(crate) fn apply(
    global: &GlobalArgs,
    printer: &Printer,
    saved: Option<&Path>,
    force: bool,
    diff: bool,
) -> ExitStatus {
    // Before any thread is spawned (see there why, and what it costs).
    crate::cli::malloc_arena_per_core();
    let options = |manifest| ApplyOptions {
        lock_timeout: global.config.lock_timeout,
        ..ApplyOptions::new(manifest)
    };
    let run = || -> Result<ExitStatus, ExitStatus> {
        let failed = |err: apply::ApplyError| {
            printer.error(&err.to_string());
            ExitStatus::Error
        };
        // The lock is taken before planning: a reconcile planned outside it would go stale
        // whenever a concurrent apply finished first. A saved plan is checked under it by
        // `apply::apply_locked` (and refused as stale then, which is its contract).
        // A reconcile also records its rendering (see `crate::record`); a saved plan has none.
        let display = DisplayOptions {
            color: printer.color,
            diff,
        };
        let (root, plan, applied, rendering) = if let Some(file) = saved {
            let (root, manifest, plan) = load_saved(global, printer, file)?;
            let lock =
                apply::lock::acquire(&root, options(manifest).lock_timeout).map_err(failed)?;
            printer.out(&plan::display::human(&plan, &display));
            let applied =
                apply::apply_locked(&root, &plan, &options(manifest), &lock).map_err(failed)?;
            (root, plan, applied, None)
        } else {
            let mut compiled = session::compile(global, printer, session::Texts::for_apply(diff))?;
            // What rendering freed is given back before planning allocates (see there why).
            crate::cli::release_free_memory();
            let lock =
                apply::lock::acquire(&compiled.root, options(compiled.manifest).lock_timeout)
                    .map_err(failed)?;
            let planned = session::plan(&mut compiled, force, printer)?;
            let plan = planned.plan;
            // The rendering is not needed past the plan but for its record: from here on only
            // what the record keeps of it is kept.
            let files = Record::into_entries(std::mem::take(&mut compiled.files));
            printer.out(&plan::display::human(&plan, &display));
            // What planning freed is given back before the texts are rendered again.
            crate::cli::release_free_memory();
            // The texts the plan does not hold are rendered again as they are written.
            let again: BTreeSet<&str> = plan
                .changes
                .iter()
                .filter(|it| {
                    [&it.contents, &it.base]
                        .into_iter()
                        .any(|text| *text == Some(Text::Rendering))
                })
                .map(|it| it.path.as_str())
                .collect();
            // A first apply's texts are read back from its spill; only the others are rendered.
            let spilled = compiled.spilled.take();
            let applied = if again.is_empty() {
                // Closed before the batch's `syncfs` (see `render::Spilled::close`).
                drop(spilled);
                apply::apply_locked(&compiled.root, &plan, &options(compiled.manifest), &lock)
            } else {
                let spilled = spilled.as_ref();
                let renderer = Again {
                    renderer: render::Renderer::new(
                        &compiled.project,
                        &compiled.overrides,
                        |path| again.contains(path) && !spilled.is_some_and(|it| it.holds(path)),
                    ),
                    spilled,
                    wanted: &again,
                };
                apply::apply_rerendering(
                    &compiled.root,
                    &plan,
                    &options(compiled.manifest),
                    &lock,
                    &renderer,
                )
            }
            .map_err(failed)?;
            let rendering = record::Rendering {
                key: compiled.key,
                files,
                python: render::target_of(&compiled.project),
                diagnostics: compiled.diagnostics,
                scaffolds: planned.scaffolds,
            };
            (compiled.root, plan, applied, Some(rendering))
        };
        if let Some(rendering) = rendering {
            // Only a cache: a record that cannot be saved makes the next plan slower, no more.
            let _ = rendering.record(&plan, &root).save(&root);
        }
        report(printer, &applied);
        Ok(if applied.blocked.is_empty() {
            ExitStatus::Success
        } else {
            ExitStatus::Failure
        })
    };
    run().unwrap_or_else(|status| status)
}

/// The texts a plan does not hold (`wanted`) as apply writes them: those spilled read back, in
/// path order, then the others rendered again, in the project's order.
struct Again<'a> {
    renderer: render::Renderer<'a>,
    spilled: Option<&'a render::Spilled>,
    wanted: &'a BTreeSet<&'a str>,
}

impl apply::Rerender for Again<'_> {
    fn render(&self, path: &str) -> Option<Result<String, String>> {
        if let Some(text) = self.spilled.and_then(|it| it.take(path)) {
            return Some(text.map_err(|err| unspilled(&err)));
        }
        self.renderer
            .render(path)
            .map(|it| it.map_err(|err| err.to_string()))
    }

    fn next(&self) -> Option<(String, Result<String, String>)> {
        if let Some(spilled) = self.spilled
            && let Some((path, text)) = spilled.next(|path| self.wanted.contains(path))
        {
            return Some((path, text.map_err(|err| unspilled(&err))));
        }
        self.renderer
            .next()
            .map(|(path, it)| (path, it.map_err(|err| err.to_string())))
    }

    fn makes_all(&self) -> bool {
        true
    }
}

/// Why a spilled text could not be read back.
fn unspilled(err: &std::io::Error) -> String {
    format!("its text could not be read back from the temp file that held it: {err}")
}

/// Reads a saved plan and the manifest it must still match; the staleness checks themselves are
/// `apply::apply`'s.
fn load_saved(
    global: &GlobalArgs,
    printer: &Printer,
    file: &Path,
) -> Result<(std::path::PathBuf, Hash, Plan), ExitStatus> {
    let path = session::working_dir(global, printer)?.join(file);
    let text = std::fs::read_to_string(&path).map_err(|err| {
        printer.error(&format!(
            "cannot read the saved plan `{}`: {err}",
            path.display()
        ));
        ExitStatus::Error
    })?;
    let plan = Plan::from_saved_json(&text).map_err(|err| {
        printer.error(&format!(
            "`{}` is not a usable saved plan: {err}",
            path.display()
        ));
        ExitStatus::Error
    })?;
    let loaded = session::load(global, printer)?;
    Ok((loaded.root, loaded.hash, plan))
}

fn report(printer: &Printer, applied: &Applied) {
    if printer.quiet {
        return;
    }
    if applied.recovered {
        printer.err("Completed an interrupted apply first.\n");
    }
    let touched = applied.created.len()
        + applied.updated.len()
        + applied.merged.len()
        + applied.deleted.len()
        + applied.blocked.len();
    if touched == 0 {
        printer.err("Nothing to apply.\n");
        return;
    }
    let blocked = if applied.blocked.is_empty() {
        String::new()
    } else {
        format!(", {} blocked (left untouched)", applied.blocked.len())
    };
    printer.err(&format!(
        "Apply complete: {} created, {} updated, {} merged, {} deleted{blocked}.\n",
        applied.created.len(),
        applied.updated.len(),
        applied.merged.len(),
        applied.deleted.len()
    ));
}
