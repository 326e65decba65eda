//! Gathers doctor's [`Facts`]: reads the manifest and the project, asks the project's Python,
//! connects to the engine, runs git. All of doctor's IO is here; every child process and
//! connection has a timeout, and a missing tool becomes a fact, never a panic.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::analyze::analyze;
use crate::config::{self, Config};
use crate::diag::Severity;
use crate::doctor::{
    Facts, Found, GitFacts, Interpreter, KeySource, ManifestFacts, PACKAGES, PythonInfo, Sync,
};
use crate::ir;
use crate::manifest;
use crate::plan::{self, Hash, PlanOptions, State};
use crate::render::{self, OverrideProblem, ProblemSeverity};

/// How long the interpreter may take to describe itself.
const PYTHON_TIMEOUT: Duration = Duration::from_secs(15);
/// How long `import <package>.service` may take (restack-ai and temporalio import slowly).
const IMPORT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a git command may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(10);

/// What to examine.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// The working directory (after `-C`).
    pub dir: PathBuf,
    /// `-m PATH`, relative to `dir`.
    pub manifest: Option<PathBuf>,
    pub config: Config,
}

/// Gathers every fact. Never fails: what cannot be found or run is a fact.
pub fn gather(options: &ProbeOptions) -> Facts {
    let mut facts = Facts {
        manifest: ManifestFacts::NotFound {
            dir: options.dir.clone(),
        },
        pins: BTreeMap::new(),
        overrides: Vec::new(),
        override_problems: Vec::new(),
        interpreter: None,
        python: None,
        venv: None,
        engine: None,
        engine_api: None,
        service_import: None,
        service_skipped: None,
        keys: Vec::new(),
        git: GitFacts::NotARepo,
        sync: None,
    };
    let (root, manifest_hash) = read_manifest(options, &mut facts).unzip();
    let project = match &facts.manifest {
        ManifestFacts::Valid { project, .. } => Some(Arc::clone(project)),
        _ => None,
    };
    if let (Some(root), Some(project)) = (&root, &project) {
        plan_project(root, project, manifest_hash.flatten(), options, &mut facts);
    }
    let virtual_env = std::env::var_os("VIRTUAL_ENV").map(PathBuf::from);
    facts.interpreter = discover(
        root.as_deref(),
        options.config.python.as_deref(),
        virtual_env.as_deref(),
        std::env::var_os("PATH").as_deref(),
    );
    facts.venv = root
        .as_ref()
        .map(|it| it.join(".venv"))
        .filter(|it| it.is_dir())
        .or_else(|| virtual_env.filter(|it| it.is_dir()));
    if let Some(interpreter) = &facts.interpreter {
        facts.python = Some(describe_python(&interpreter.path));
    }
    if let Some(project) = &project {
        let address = project.engine.address.clone();
        let outcome = connect(&address, options.config.engine_timeout);
        facts.engine = Some((address, outcome));
        let api = project.engine.api_address.clone();
        let outcome = connect(&api, options.config.engine_timeout);
        facts.engine_api = Some((api, outcome));
        facts.keys = llm_keys(project, root.as_deref());
    }
    match (&root, &project, &facts.interpreter, &facts.python) {
        (Some(root), Some(project), Some(interpreter), Some(Ok(_))) => {
            let service = root.join("src").join(&project.package).join("service.py");
            if service.is_file() {
                facts.service_import =
                    Some(import_service(&interpreter.path, root, &project.package));
            } else {
                facts.service_skipped = Some(format!(
                    "`src/{}/service.py` does not exist yet (run `restack apply`)",
                    project.package
                ));
            }
        }
        (_, None, _, _) => facts.service_skipped = Some("no valid manifest".to_owned()),
        _ => facts.service_skipped = Some("no working Python interpreter".to_owned()),
    }
    facts.git = match (&root, &facts.sync) {
        (Some(root), Some(Sync::Planned(plan))) => {
            let paths: Vec<_> = plan.changes.iter().map(|it| it.path.clone()).collect();
            git_status(root, &paths)
        }
        (Some(root), _) => git_status(root, &[]),
        (None, _) => GitFacts::NotARepo,
    };
    facts
}

/// Locates, reads and analyzes the manifest; returns the project root when found, and the
/// manifest's hash when it was read.
fn read_manifest(options: &ProbeOptions, facts: &mut Facts) -> Option<(PathBuf, Option<Hash>)> {
    let path = manifest::locate(options.manifest.as_deref(), &options.dir).ok()?;
    let root = path
        .parent()
        .map_or_else(|| options.dir.clone(), Path::to_path_buf);
    let bytes = match manifest::read(&path) {
        Ok(bytes) => bytes,
        Err(err) => {
            facts.manifest = ManifestFacts::Unreadable {
                message: err.to_string(),
            };
            return Some((root, None));
        }
    };
    let name = path.file_name().map_or_else(
        || manifest::FILE_NAME.to_owned(),
        |it| it.to_string_lossy().into_owned(),
    );
    let analysis = analyze(&name, &bytes);
    facts.manifest = match analysis.project {
        Some(project) => ManifestFacts::Valid {
            name,
            project: Arc::new(project),
        },
        None => ManifestFacts::Invalid {
            errors: analysis
                .diagnostics
                .iter()
                .filter(|it| it.severity == Severity::Error)
                .count(),
            name,
        },
    };
    Some((root, Some(Hash::of(&bytes))))
}

/// Loads and checks the overrides, renders, and plans against the disk.
fn plan_project(
    root: &Path,
    project: &Arc<ir::Project>,
    manifest: Option<Hash>,
    options: &ProbeOptions,
    facts: &mut Facts,
) {
    let overrides = match config::overrides::load(root, &options.config.templates) {
        Ok(overrides) => overrides,
        Err(err) => {
            facts.override_problems.push(OverrideProblem {
                file: options.config.templates.display().to_string(),
                line: None,
                message: err.to_string(),
                severity: ProblemSeverity::Error,
            });
            return;
        }
    };
    facts.overrides = overrides.names().map(str::to_owned).collect();
    facts.override_problems = overrides.check();
    if facts
        .override_problems
        .iter()
        .any(|it| it.severity == ProblemSeverity::Error)
    {
        facts.sync = Some(Sync::RenderFailed {
            message: "a template override does not compile (see `overrides`)".to_owned(),
        });
        return;
    }
    let files = match render::render_with(project, &overrides) {
        Ok(files) => files,
        Err(err) => {
            facts.sync = Some(Sync::RenderFailed {
                message: err
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            });
            return;
        }
    };
    if let Some(pyproject) = files.files.get("pyproject.toml") {
        facts.pins = pins_of(pyproject.text().unwrap_or_default());
    }
    let planned = State::load(root)
        .map_err(|err| err.to_string())
        .and_then(|state| {
            let snapshot = plan::scan(root, &files, &state).map_err(|err| err.to_string())?;
            let options = PlanOptions {
                manifest: manifest.unwrap_or_else(|| Hash::of(b"")),
                force: false,
            };
            Ok(plan::plan(&files, &snapshot, &state, &options))
        });
    facts.sync = Some(match planned {
        Ok(plan) => Sync::Planned(Box::new(plan)),
        Err(message) => Sync::Unreadable { message },
    });
}

/// The requirements in `dependencies = [ … ]` of a `pyproject.toml`: name → spec.
pub fn pins_of(pyproject: &str) -> BTreeMap<String, String> {
    let mut pins = BTreeMap::new();
    let mut inside = false;
    for line in pyproject.lines() {
        let trimmed = line.trim();
        if !inside {
            inside = trimmed.starts_with("dependencies") && trimmed.ends_with('[');
            continue;
        }
        if trimmed.starts_with(']') {
            break;
        }
        let requirement = trimmed.trim_end_matches(',').trim().trim_matches('"');
        if !requirement.is_empty() {
            let (name, spec) = super::pep440::split_requirement(requirement);
            pins.insert(name, spec);
        }
    }
    pins
}

/// The interpreter, first found wins: `python` from the configuration (`RESTACK_PYTHON`),
/// `.venv/bin/python` in the project, `$VIRTUAL_ENV/bin/python`, then `python3` and `python` on
/// `path` (Windows: `Scripts\python.exe` and `.exe` names).
pub fn discover(
    root: Option<&Path>,
    configured: Option<&Path>,
    virtual_env: Option<&Path>,
    path: Option<&OsStr>,
) -> Option<Interpreter> {
    let venv_python = |venv: &Path| {
        if cfg!(windows) {
            venv.join("Scripts").join("python.exe")
        } else {
            venv.join("bin").join("python")
        }
    };
    if let Some(configured) = configured {
        let resolved = if configured.components().count() > 1 {
            Some(root.map_or_else(|| configured.to_path_buf(), |it| it.join(configured)))
        } else {
            find_on_path(configured.as_os_str(), path)
        };
        return resolved.map(|path| Interpreter {
            path,
            found: Found::Config,
        });
    }
    let candidates = [
        root.map(|it| (venv_python(&it.join(".venv")), Found::ProjectVenv)),
        virtual_env.map(|it| (venv_python(it), Found::VirtualEnv)),
    ];
    if let Some((path, found)) = candidates
        .into_iter()
        .flatten()
        .find(|(it, _)| it.is_file())
    {
        return Some(Interpreter { path, found });
    }
    ["python3", "python"]
        .into_iter()
        .find_map(|name| find_on_path(OsStr::new(name), path))
        .map(|path| Interpreter {
            path,
            found: Found::Path,
        })
}

fn find_on_path(name: &OsStr, path: Option<&OsStr>) -> Option<PathBuf> {
    let path = path?;
    std::env::split_paths(path).find_map(|dir| {
        let plain = dir.join(name);
        let exe = dir.join(Path::new(name).with_extension("exe"));
        [plain, exe]
            .into_iter()
            .find(|it| it.is_file() && (!cfg!(windows) || it.extension().is_some()))
    })
}

/// What a child process did.
#[derive(Debug)]
pub struct Ran {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `command` to completion or kills it at `timeout`. `Err` when it cannot start or timed out.
pub fn run_with_timeout(mut command: Command, timeout: Duration) -> Result<Ran, String> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().map_err(|err| err.to_string())?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(pipe) = stdout.as_mut() {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(pipe) = stderr.as_mut() {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {} s", timeout.as_secs()));
            }
            Err(err) => return Err(err.to_string()),
        }
    };
    Ok(Ran {
        success: status.success(),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// The script that describes an interpreter as one JSON line.
const DESCRIBE: &str = r#"import json, sys
from importlib import metadata
def version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
names = sys.argv[1:]
print(json.dumps({"version": "%d.%d.%d" % sys.version_info[:3], "venv": sys.prefix != sys.base_prefix, "packages": {n: version(n) for n in names}}))
"#;

/// Asks the interpreter for its version, whether it runs in a venv, and the installed versions of
/// [`PACKAGES`] (through `importlib.metadata`).
pub fn describe_python(python: &Path) -> Result<PythonInfo, String> {
    let mut command = Command::new(python);
    command.arg("-c").arg(DESCRIBE).args(PACKAGES);
    let ran = run_with_timeout(command, PYTHON_TIMEOUT)?;
    if !ran.success {
        return Err(last_line(&ran.stderr));
    }
    parse_description(&ran.stdout)
}

/// Reads [`DESCRIBE`]'s output.
pub fn parse_description(stdout: &str) -> Result<PythonInfo, String> {
    let value: serde_json::Value = serde_json::from_str(stdout.trim())
        .map_err(|err| format!("unexpected answer `{}`: {err}", stdout.trim()))?;
    let version = value
        .get("version")
        .and_then(serde_json::Value::as_str)
        .ok_or("the answer has no version")?
        .to_owned();
    let in_venv = value
        .get("venv")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let packages = value
        .get("packages")
        .and_then(serde_json::Value::as_object)
        .map(|map| {
            map.iter()
                .map(|(name, version)| (name.clone(), version.as_str().map(str::to_owned)))
                .collect()
        })
        .unwrap_or_default();
    Ok(PythonInfo {
        version,
        in_venv,
        packages,
    })
}

fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|it| !it.trim().is_empty())
        .unwrap_or("no output")
        .trim()
        .to_owned()
}

/// `python -c "import <package>.service"` from the project root with `src` first on the path.
fn import_service(python: &Path, root: &Path, package: &str) -> Result<(), String> {
    let mut command = Command::new(python);
    command
        .current_dir(root)
        .env("PYTHONPATH", python_path(root))
        .arg("-c")
        .arg(format!("import {package}.service"));
    let ran = run_with_timeout(command, IMPORT_TIMEOUT)?;
    if ran.success {
        Ok(())
    } else {
        Err(last_line(&ran.stderr))
    }
}

/// `PYTHONPATH` with the project's `src` first, then whatever was set.
pub fn python_path(root: &Path) -> std::ffi::OsString {
    let mut paths = vec![root.join("src")];
    if let Some(existing) = std::env::var_os("PYTHONPATH") {
        paths.extend(std::env::split_paths(&existing));
    }
    std::env::join_paths(paths).unwrap_or_else(|_| root.join("src").into_os_string())
}

/// A real TCP connection to `address` (`host:port`), each resolved address tried in turn.
pub fn connect(address: &str, timeout: Duration) -> Result<(), String> {
    let addrs: Vec<_> = address
        .to_socket_addrs()
        .map_err(|err| format!("cannot resolve it: {err}"))?
        .collect();
    let mut last = "it resolves to no address".to_owned();
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(_) => return Ok(()),
            Err(err) if err.kind() == std::io::ErrorKind::TimedOut => {
                last = format!("no answer within {} ms", timeout.as_millis());
            }
            Err(err) => last = err.to_string(),
        }
    }
    Err(last)
}

/// The LLM key variables the manifest names, each with where it is set. Values are only tested
/// for being non-empty and never kept.
fn llm_keys(project: &ir::Project, root: Option<&Path>) -> Vec<(String, KeySource)> {
    let Some(llm) = &project.llm else {
        return Vec::new();
    };
    let mut names: Vec<String> = llm.providers.iter().map(|it| it.key_env.clone()).collect();
    if let ir::Backend::Kong { key_env, .. } = &llm.backend {
        names.push(key_env.clone());
    }
    names.dedup();
    let dotenv = root
        .and_then(|it| std::fs::read_to_string(it.join(".env")).ok())
        .map(|text| dotenv_names(&text))
        .unwrap_or_default();
    names
        .into_iter()
        .map(|name| {
            let source = if std::env::var_os(&name).is_some_and(|it| !it.is_empty()) {
                KeySource::Env
            } else if dotenv.contains(&name) {
                KeySource::DotEnv
            } else {
                KeySource::Missing
            };
            (name, source)
        })
        .collect()
}

/// Names with a non-empty value in a `.env` file (`NAME=value`, `export NAME=value`).
pub fn dotenv_names(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (name, value) = line.split_once('=')?;
            let value = value.trim().trim_matches(['"', '\'']);
            (!line.starts_with('#') && !value.is_empty()).then(|| name.trim().to_owned())
        })
        .collect()
}

/// `git status --porcelain` of the generated paths and `.restack/`.
fn git_status(root: &Path, paths: &[String]) -> GitFacts {
    let mut version = Command::new("git");
    version.arg("--version");
    if run_with_timeout(version, GIT_TIMEOUT).is_err() {
        return GitFacts::NoGit;
    }
    let mut inside = Command::new("git");
    inside
        .arg("-C")
        .arg(root)
        .args(["rev-parse", "--is-inside-work-tree"]);
    match run_with_timeout(inside, GIT_TIMEOUT) {
        Ok(ran) if ran.success && ran.stdout.trim() == "true" => {}
        _ => return GitFacts::NotARepo,
    }
    let mut status = Command::new("git");
    status
        .arg("-C")
        .arg(root)
        .args(["status", "--porcelain", "--untracked-files=all", "--"])
        .arg(config::PROJECT_FILE.split('/').next().unwrap_or(".restack"))
        .args(paths);
    match run_with_timeout(status, GIT_TIMEOUT) {
        Ok(ran) if ran.success => GitFacts::Status {
            lines: ran
                .stdout
                .lines()
                .filter(|it| !it.trim().is_empty())
                .map(|it| it.trim_end().to_owned())
                .collect(),
        },
        Ok(ran) => GitFacts::Failed {
            message: last_line(&ran.stderr),
        },
        Err(message) => GitFacts::Failed { message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_from_the_rendered_pyproject() {
        let pins = pins_of(
            "[project]\nname = \"x\"\ndependencies = [\n    \"restack-ai==0.0.121\",\n    \"fastmcp>=2.12.4,<2.13\",\n]\n\n[project.optional-dependencies]\ndev = [\n    \"pytest>=8\",\n]\n",
        );
        assert_eq!(pins.len(), 2);
        assert_eq!(pins["restack-ai"], "==0.0.121");
        assert_eq!(pins["fastmcp"], ">=2.12.4,<2.13");
    }

    #[test]
    fn description_json() {
        let info = parse_description(
            r#"{"version": "3.11.7", "venv": true, "packages": {"fastmcp": "2.12.5", "mcp": null}}"#,
        )
        .expect("parses");
        assert_eq!(info.version, "3.11.7");
        assert!(info.in_venv);
        assert_eq!(info.packages["fastmcp"].as_deref(), Some("2.12.5"));
        assert_eq!(info.packages["mcp"], None);
        assert!(parse_description("Traceback").is_err());
    }

    #[test]
    fn dotenv_lists_names_with_values() {
        let names = dotenv_names("# c\nOPENAI_API_KEY=sk\nexport A=\"b\"\nEMPTY=\nB=''\n");
        assert_eq!(names, ["OPENAI_API_KEY", "A"]);
    }

    #[test]
    #[expect(
        clippy::disallowed_methods,
        reason = "test fixture files, not an apply"
    )]
    fn discovery_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = dir.path().join("p");
        let venv = dir.path().join("venv");
        let bin = dir.path().join("bin");
        for it in [project.join(".venv/bin"), venv.join("bin"), bin.clone()] {
            std::fs::create_dir_all(it).expect("mkdir");
        }
        std::fs::write(bin.join("python3"), "").expect("write");
        let path = bin.clone().into_os_string();
        let found = discover(Some(&project), None, Some(&venv), Some(&path)).expect("on PATH");
        assert_eq!(found.found, Found::Path);
        std::fs::write(venv.join("bin/python"), "").expect("write");
        let found = discover(Some(&project), None, Some(&venv), Some(&path)).expect("venv");
        assert_eq!(found.found, Found::VirtualEnv);
        std::fs::write(project.join(".venv/bin/python"), "").expect("write");
        let found = discover(Some(&project), None, Some(&venv), Some(&path)).expect("project");
        assert_eq!(found.found, Found::ProjectVenv);
        let found = discover(
            Some(&project),
            Some(Path::new("python3")),
            None,
            Some(&path),
        )
        .expect("configured");
        assert_eq!(
            (found.found, found.path),
            (Found::Config, bin.join("python3"))
        );
        assert_eq!(discover(None, None, None, Some(OsStr::new(""))), None);
    }

    #[test]
    fn connect_to_a_listening_and_a_closed_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("addr").to_string();
        assert_eq!(connect(&address, Duration::from_millis(500)), Ok(()));
        drop(listener);
        assert!(connect(&address, Duration::from_millis(500)).is_err());
        assert!(connect("no-port", Duration::from_millis(100)).is_err());
    }
}
