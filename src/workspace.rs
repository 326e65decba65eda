//! Workspaces: every `restack.kdl` below a root (respecting `.gitignore`), each checked like
//! `restack check`, in parallel on std threads bounded by the available parallelism. Returns
//! outcomes; printing is the CLI's.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::analyze::analyze;
use crate::config::{self, Layer, Source};
use crate::diag::Severity;
use crate::manifest;
use crate::plan::{self, Hash, PlanOptions, State, Summary};
use crate::render::{self, ProblemSeverity};

/// How one project came out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    InSync,
    /// The project differs from its manifest.
    Drift(Summary),
    /// The manifest, its config or a template override is invalid (user input).
    Invalid(String),
    /// restack failed (IO, unreadable state, a template bug).
    Failed(String),
}

/// Every `restack.kdl` below `root`, sorted. Honours `.gitignore`, `.ignore` and git's global
/// excludes even outside a git repository, skips hidden folders (`.git`, `.venv`, `.restack`),
/// and does not follow symlinks.
pub fn discover(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let walker = ignore::WalkBuilder::new(root)
        .hidden(true)
        .git_ignore(true)
        .git_exclude(true)
        .require_git(false)
        .follow_links(false)
        .build();
    for entry in walker {
        let entry = entry.map_err(|err| err.to_string())?;
        if entry.file_type().is_some_and(|it| it.is_file())
            && entry.file_name() == manifest::FILE_NAME
        {
            found.push(entry.into_path());
        }
    }
    found.sort();
    Ok(found)
}

/// Checks one project, as `restack check` does, with its own configuration (template folder)
/// and template overrides.
pub fn check_one(manifest_path: &Path) -> Outcome {
    let root = manifest_path.parent().unwrap_or(Path::new("."));
    let bytes = match manifest::read(manifest_path) {
        Ok(bytes) => bytes,
        Err(err) => return Outcome::Failed(err.to_string()),
    };
    let config = match config::load(Layer::new(Source::Cli), Some(root)) {
        Ok((config, _)) => config,
        Err(err) => return Outcome::Invalid(format!("invalid configuration: {err}")),
    };
    let overrides = match config::overrides::load(root, &config.templates) {
        Ok(overrides) => overrides,
        Err(err) => return Outcome::Failed(err.to_string()),
    };
    if let Some(problem) = overrides
        .check()
        .into_iter()
        .find(|it| it.severity == ProblemSeverity::Error)
    {
        let line = problem.line.map(|it| format!(":{it}")).unwrap_or_default();
        return Outcome::Invalid(format!("{}{line}: {}", problem.file, problem.message));
    }
    // Proved in sync from the render record, as `restack check` does, without rendering.
    if crate::record::prove_unchanged(root, &bytes, &overrides).is_some() {
        return Outcome::InSync;
    }
    let analysis = analyze(manifest::FILE_NAME, &bytes);
    let Some(project) = analysis.project else {
        let errors = analysis
            .diagnostics
            .iter()
            .filter(|it| it.severity == Severity::Error)
            .count();
        return Outcome::Invalid(format!("{errors} error(s) in the manifest"));
    };
    let files = match render::render_with(&Arc::new(project), &overrides) {
        Ok(files) => files,
        Err(err) => {
            let message = err
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            return if overrides.contains(err.template()) {
                Outcome::Invalid(message)
            } else {
                Outcome::Failed(message)
            };
        }
    };
    let planned = State::load(root)
        .map_err(|err| err.to_string())
        .and_then(|state| {
            let snapshot = plan::scan(root, &files, &state).map_err(|err| err.to_string())?;
            let options = PlanOptions {
                manifest: Hash::of(&bytes),
                force: false,
            };
            Ok(plan::plan(&files, &snapshot, &state, &options))
        });
    match planned {
        Ok(plan) if plan.is_in_sync() => Outcome::InSync,
        Ok(plan) => Outcome::Drift(plan.summary()),
        Err(message) => Outcome::Failed(message),
    }
}

/// Checks every manifest on at most `jobs` threads (at least one); outcomes in input order.
pub fn check_all(manifests: &[PathBuf], jobs: usize) -> Vec<Outcome> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; manifests.len()]);
    let workers = jobs.clamp(1, manifests.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = manifests.get(index) else {
                        break;
                    };
                    let outcome = check_one(path);
                    if let Ok(mut results) = results.lock() {
                        results[index] = Some(outcome);
                    }
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .map(|it| it.unwrap_or_else(|| Outcome::Failed("the check did not finish".to_owned())))
        .collect()
}

/// The number of threads to use: the available parallelism.
pub fn default_jobs() -> usize {
    crate::render::parallel::cores()
}
