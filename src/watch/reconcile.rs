//! One reconcile of `watch`: the manifest bytes in, a plan applied (or diagnostics) out, with
//! every guarantee of `restack apply`. Reads and writes only through `manifest`, `plan::scan` and
//! `apply`; prints nothing.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::analyze::{self, Analysis, analyze_cached};
use crate::apply::{self, Applied, ApplyError, ApplyOptions};
use crate::config;
use crate::ir;
use crate::plan::{self, Hash, Plan, PlanOptions, State};
use crate::record::{self, Record};
use crate::render::{self, ScaffoldCheck, ScaffoldWarning};

/// What earlier reconciles proved, kept by the watch loop: the decoded top-level manifest nodes
/// and lowered entities (see [`analyze::Cache`]), the Python renderings known to parse (see
/// [`render::render_cached`]), both giving the same results as parsing again; and the files
/// read from disk with their metadata, read again only when it changed (see [`plan::ScanCache`]
/// for that trade-off).
#[derive(Debug)]
pub(crate) struct Caches {
    pub analyze: analyze::Cache,
    pub render: render::RenderCache,
    pub scan: plan::ScanCache,
    /// The last check of each scaffold (see [`render::check_scaffolds_cached`]: only a scaffold
    /// whose expectation or text changed is checked again).
    pub scaffolds: render::ScaffoldCache,
    /// The next states of the last plans (see [`plan::PlanCache`]).
    pub plan: plan::PlanCache,
    /// The state as last read or written, and the folders of merge bases as last swept (see
    /// [`apply::ApplyCache`]).
    pub apply: apply::ApplyCache,
}

impl Default for Caches {
    fn default() -> Caches {
        Caches {
            analyze: analyze::Cache::default(),
            // Only the outputs whose inputs changed are rendered again (see `render::memo`).
            render: render::RenderCache::memoizing(),
            scan: plan::ScanCache::default(),
            scaffolds: render::ScaffoldCache::default(),
            plan: plan::PlanCache::default(),
            apply: apply::ApplyCache::default(),
        }
    }
}

/// What one reconcile did.
#[derive(Debug)]
pub enum Outcome {
    /// The manifest has errors: nothing was planned or written.
    Invalid {
        analysis: Box<Analysis>,
        elapsed: Duration,
    },
    /// The plan was applied (blocked changes skipped and listed in `applied.blocked`).
    Applied(Box<Reconciled>),
    /// restack could not do its job (IO, lock, a template bug); nothing is lost, the next save
    /// retries.
    Failed { message: String },
}

/// A reconcile that ran to the end.
#[derive(Debug)]
pub struct Reconciled {
    pub project: Arc<ir::Project>,
    pub plan: Plan,
    pub applied: Applied,
    /// Scaffolds whose code disagrees with the manifest.
    pub warnings: Vec<ScaffoldWarning>,
    /// From reading the manifest to the state written.
    pub elapsed: Duration,
    /// Where the time went.
    pub timings: Timings,
    /// What the render record needs, with the rendering whose hashes it records and the scaffold
    /// checks, shared with the watch loop's cache until then (see [`Reconciled::save_record`]);
    /// taken when saved.
    pub(crate) rendering: Option<Box<PendingRecord>>,
    /// The decoded manifest, held only so that it is freed after the reconcile is reported
    /// (freeing thousands of nodes is part of no stage).
    pub(crate) decoded: Option<crate::manifest::Manifest>,
}

impl Reconciled {
    /// Frees the decoded manifest and saves the render record of this reconcile (as `apply`
    /// does), so that `restack check` and `restack plan` can prove the project unchanged without
    /// rendering it. Done once, after the reconcile is reported (hashing the rendering is not
    /// part of its latency); a record that cannot be saved only makes the next `check` slower.
    pub(crate) fn save_record(&mut self, root: &Path) {
        drop(self.decoded.take());
        let Some(pending) = self.rendering.take() else {
            return;
        };
        let PendingRecord {
            mut rendering,
            files,
            scaffolds,
        } = *pending;
        rendering.files = Record::entries(&files);
        // A copy only when the loop's cache still shares the checks; it is then no longer
        // shared, and the next reconcile updates it in place.
        rendering.scaffolds = Arc::unwrap_or_clone(scaffolds);
        let _ = rendering.record(&self.plan, root).save(root);
    }
}

/// A render record to save once the loop is idle: the record without its files and scaffold
/// checks, the rendering whose entries it records, and the checks.
#[derive(Debug)]
pub(crate) struct PendingRecord {
    rendering: record::Rendering,
    files: Arc<render::FileSet>,
    scaffolds: Arc<Vec<ScaffoldCheck>>,
}

/// The duration of each stage of one reconcile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Reading the manifest's bytes (before `reconcile` was called) and analyzing them.
    pub analyze: Duration,
    /// Rendering the whole project in memory (including the Python syntax check).
    pub render: Duration,
    /// Loading the state and reading every rendered or recorded path from disk.
    pub scan: Duration,
    /// Checking scaffolds against the manifest and planning.
    pub plan: Duration,
    /// Applying (lock, re-hash, journal, atomic writes, state).
    pub apply: Duration,
}

impl Reconciled {
    /// True when a file was created, updated, merged or deleted.
    pub fn wrote_files(&self) -> bool {
        !(self.applied.created.is_empty()
            && self.applied.updated.is_empty()
            && self.applied.merged.is_empty()
            && self.applied.deleted.is_empty())
    }
}

/// Analyzes `bytes` (the manifest called `name`), renders, plans against the disk at `root` and
/// applies. A plan made stale by a concurrent edit between the scan and the apply is planned once
/// more before giving up. `caches` carries what earlier reconciles parsed.
pub(crate) fn reconcile(
    root: &Path,
    name: &str,
    bytes: &[u8],
    overrides: &Path,
    lock_timeout: Duration,
    started: Instant,
    caches: &mut Caches,
) -> Outcome {
    let mut timings = Timings::default();
    let mut analysis = analyze_cached(name, bytes, &mut caches.analyze);
    timings.analyze = started.elapsed();
    let Some(project) = analysis.project.take().map(Arc::new) else {
        return Outcome::Invalid {
            analysis: Box::new(analysis),
            elapsed: started.elapsed(),
        };
    };
    let rendering = Instant::now();
    let overrides = match load_overrides(root, overrides) {
        Ok(overrides) => overrides,
        Err(message) => return Outcome::Failed { message },
    };
    let files = match render::render_shared(&project, &overrides, &mut caches.render) {
        Ok(files) => files,
        Err(err) => {
            return Outcome::Failed {
                message: format!(
                    "{err} (a bug in restack or in a template override; please report it)"
                ),
            };
        }
    };
    timings.render = rendering.elapsed();
    let manifest = Hash::of(bytes);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let result = plan_and_apply(
            root,
            &project,
            &files,
            manifest,
            lock_timeout,
            &mut timings,
            caches,
        );
        match result {
            Ok((plan, applied, warnings)) => {
                let elapsed = started.elapsed();
                let rendering = record::Rendering {
                    key: record::key(bytes, &overrides),
                    diagnostics: analysis.diagnostics,
                    // Filled in by `save_record`, after the reconcile is reported.
                    files: BTreeMap::new(),
                    python: render::target_of(&project),
                    scaffolds: Vec::new(),
                };
                let pending = PendingRecord {
                    rendering,
                    files,
                    scaffolds: Arc::clone(&caches.scaffolds.checks),
                };
                return Outcome::Applied(Box::new(Reconciled {
                    project,
                    plan,
                    applied,
                    warnings,
                    elapsed,
                    timings,
                    rendering: Some(Box::new(pending)),
                    decoded: analysis.manifest,
                }));
            }
            Err(Failure::Apply(ApplyError::Stale(_))) if attempts < 2 => {
                // A change whose event has not arrived yet: read everything again.
                caches.scan.forget_all();
            }
            Err(err) => {
                return Outcome::Failed {
                    message: err.to_string(),
                };
            }
        }
    }
}

/// The template overrides, checked like built-ins: a broken override fails this reconcile with a
/// message naming its file and line (nothing is written; the next save retries).
fn load_overrides(root: &Path, dir: &Path) -> Result<render::Overrides, String> {
    let relative = dir.strip_prefix(root).unwrap_or(dir);
    let overrides = config::overrides::load(root, relative).map_err(|err| err.to_string())?;
    let errors: Vec<String> = overrides
        .check()
        .into_iter()
        .filter(|problem| problem.severity == render::ProblemSeverity::Error)
        .map(|problem| {
            let line = problem.line.map(|it| format!(":{it}")).unwrap_or_default();
            format!("{}{line}: {}", problem.file, problem.message)
        })
        .collect();
    if errors.is_empty() {
        Ok(overrides)
    } else {
        Err(format!("broken template override: {}", errors.join("; ")))
    }
}

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    State(#[from] plan::StateError),
    #[error(transparent)]
    Scan(#[from] plan::ScanError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

fn plan_and_apply(
    root: &Path,
    project: &ir::Project,
    files: &render::FileSet,
    manifest: Hash,
    lock_timeout: Duration,
    timings: &mut Timings,
    caches: &mut Caches,
) -> Result<(Plan, Applied, Vec<ScaffoldWarning>), Failure> {
    let planning = Instant::now();
    let (state, fingerprint) = State::load_for_plan(root, &mut caches.apply.state)?;
    let snapshot = plan::scan_cached(root, files, &state, &mut caches.scan)?;
    timings.scan = planning.elapsed();
    let planning = Instant::now();
    render::check_scaffolds_cached(
        project,
        &mut caches.scaffolds,
        |path| snapshot.files.get(path).map(|it| it.hash),
        |path| {
            let on_disk = snapshot.files.get(path)?;
            Some((on_disk.hash, on_disk.text()?.into()))
        },
    );
    let warnings = render::scaffold_warnings(&caches.scaffolds.checks);
    let options = PlanOptions {
        manifest,
        force: false,
    };
    let plan = plan::plan_cached(
        files,
        snapshot,
        &state,
        fingerprint,
        &options,
        &mut caches.plan,
    );
    timings.plan = planning.elapsed();
    let applying = Instant::now();
    let options = ApplyOptions {
        lock_timeout,
        ..ApplyOptions::new(manifest)
    };
    let applied = apply::apply_cached(root, &plan, &options, &mut caches.apply)?;
    timings.apply = applying.elapsed();
    Ok((plan, applied, warnings))
}
