//! Configuration of restack itself (not of the generated project): colour, lock wait, engine
//! probe timeout, the Python interpreter, the template override folder. Owns the layers and their
//! precedence; must not print (warnings are returned to the caller).
//!
//! Precedence, first wins: command line > environment (`RESTACK_*`) > project file
//! (`.restack/config.toml` next to the manifest) > user file (`$XDG_CONFIG_HOME/restack/config.toml`,
//! else `~/.config/restack/config.toml`) > defaults. docs/configuration.md is the user's page.
//!
//! The files use a documented subset of TOML: one `key = value` per line, `#` comments, values
//! bare or in double quotes. Tables and arrays are rejected with the line that has them.

pub mod overrides;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The project config file, relative to the project root.
pub const PROJECT_FILE: &str = ".restack/config.toml";

/// The default template override folder, relative to the project root.
pub const DEFAULT_TEMPLATES: &str = "restack-templates";

/// Every key, with the environment variable that sets it.
pub const KEYS: &[(&str, &str)] = &[
    ("color", "RESTACK_COLOR"),
    ("lock_timeout", "RESTACK_LOCK_TIMEOUT"),
    ("engine_timeout", "RESTACK_ENGINE_TIMEOUT"),
    ("python", "RESTACK_PYTHON"),
    ("templates", "RESTACK_TEMPLATES"),
];

/// When to colour output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    Auto,
    Always,
    Never,
}

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub color: Color,
    /// How long `apply` waits for another apply's lock.
    pub lock_timeout: Duration,
    /// How long `doctor` waits for a TCP connection to the engine.
    pub engine_timeout: Duration,
    /// The Python interpreter for `doctor` and `run`; `None` = discover (see `doctor::probe`).
    pub python: Option<PathBuf>,
    /// The template override folder, relative to the project root.
    pub templates: PathBuf,
    /// Where each key's value came from, for `doctor` and error messages.
    pub sources: BTreeMap<&'static str, Source>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            color: Color::Auto,
            lock_timeout: Duration::from_secs(10),
            engine_timeout: Duration::from_millis(500),
            python: None,
            templates: PathBuf::from(DEFAULT_TEMPLATES),
            sources: BTreeMap::new(),
        }
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Cli,
    Env,
    Project(PathBuf),
    User(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Cli => f.write_str("the command line"),
            Source::Env => f.write_str("the environment"),
            Source::Project(path) | Source::User(path) => write!(f, "{}", path.display()),
        }
    }
}

/// One layer of settings: key → (raw value, line in its file; 0 for CLI and environment).
#[derive(Debug, Clone)]
pub struct Layer {
    pub source: Source,
    pub values: BTreeMap<String, (String, usize)>,
}

impl Layer {
    pub fn new(source: Source) -> Layer {
        Layer {
            source,
            values: BTreeMap::new(),
        }
    }

    /// Sets `key` (builder style, for the command-line layer and tests).
    #[must_use]
    pub fn with(mut self, key: &str, value: &str) -> Layer {
        self.values.insert(key.to_owned(), (value.to_owned(), 0));
        self
    }
}

/// A configuration value or file that cannot be used: user input, so a finding (exit 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file, or `the environment` / `the command line`.
    pub source_name: String,
    /// 1-based line in the file; 0 when not from a file.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source_name)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A problem that does not stop restack: an unknown key (ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigWarning {
    pub source_name: String,
    pub line: usize,
    pub message: String,
}

/// Parses a config file's text (the TOML subset above).
pub fn parse_file(text: &str, source: Source) -> Result<Layer, ConfigError> {
    let mut layer = Layer::new(source);
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let error = |message: String| ConfigError {
            source_name: layer.source.to_string(),
            line,
            message,
        };
        let content = strip_comment(raw).trim();
        if content.is_empty() {
            continue;
        }
        if content.starts_with('[') {
            return Err(error(format!(
                "tables are not supported, got `{content}`; write `key = value` lines only"
            )));
        }
        let Some((key, value)) = content.split_once('=') else {
            return Err(error(format!("expected `key = value`, got `{content}`")));
        };
        let key = key.trim();
        let value = value.trim();
        let value = if let Some(inner) = value.strip_prefix('"') {
            let Some(inner) = inner.strip_suffix('"') else {
                return Err(error(format!("unterminated string `{value}`")));
            };
            if inner.contains(['"', '\\']) {
                return Err(error(format!(
                    "escapes are not supported in `{value}`; use a plain string"
                )));
            }
            inner.to_owned()
        } else if value.starts_with('[') || value.starts_with('{') {
            return Err(error(format!(
                "arrays and inline tables are not supported, got `{value}`"
            )));
        } else {
            value.to_owned()
        };
        if key.is_empty() {
            return Err(error(format!("missing key in `{content}`")));
        }
        layer.values.insert(key.to_owned(), (value, line));
    }
    Ok(layer)
}

/// `#` starts a comment outside double quotes.
fn strip_comment(line: &str) -> &str {
    let mut quoted = false;
    for (index, ch) in line.char_indices() {
        match ch {
            '"' => quoted = !quoted,
            '#' if !quoted => return &line[..index],
            _ => {}
        }
    }
    line
}

/// The environment layer from `(name, value)` pairs: every `RESTACK_*` variable of [`KEYS`].
/// Empty values are ignored (as if unset).
pub fn env_layer<I, K, V>(vars: I) -> Layer
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut layer = Layer::new(Source::Env);
    for (name, value) in vars {
        let (name, value) = (name.as_ref(), value.as_ref());
        if value.is_empty() {
            continue;
        }
        if let Some((key, _)) = KEYS.iter().find(|(_, var)| *var == name) {
            layer
                .values
                .insert((*key).to_owned(), (value.to_owned(), 0));
        }
    }
    layer
}

/// Resolves the layers, the first with a key winning. Unknown keys are warnings with a
/// did-you-mean; a bad value is an error naming its file and line.
pub fn resolve(layers: &[Layer]) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
    let mut config = Config::default();
    let mut warnings = Vec::new();
    for layer in layers {
        for (key, (_, line)) in &layer.values {
            if !KEYS.iter().any(|(known, _)| known == key) {
                let suggestion = KEYS
                    .iter()
                    .map(|(known, _)| (strsim::jaro_winkler(key, known), *known))
                    .filter(|(score, _)| *score > 0.8)
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .map(|(_, known)| format!("; did you mean `{known}`?"))
                    .unwrap_or_default();
                warnings.push(ConfigWarning {
                    source_name: layer.source.to_string(),
                    line: *line,
                    message: format!("unknown key `{key}` is ignored{suggestion}"),
                });
            }
        }
    }
    for (key, _) in KEYS {
        let Some((layer, value, line)) = layers.iter().find_map(|layer| {
            layer
                .values
                .get(*key)
                .map(|(value, line)| (layer, value.as_str(), *line))
        }) else {
            continue;
        };
        let error = |message: String| ConfigError {
            source_name: layer.source.to_string(),
            line,
            message,
        };
        match *key {
            "color" => {
                config.color = match value {
                    "auto" => Color::Auto,
                    "always" => Color::Always,
                    "never" => Color::Never,
                    _ => {
                        return Err(error(format!(
                            "`color` must be `auto`, `always` or `never`, got `{value}`"
                        )));
                    }
                };
            }
            "lock_timeout" | "engine_timeout" => {
                let duration = parse_duration(value).ok_or_else(|| {
                    error(format!(
                        "`{key}` must be a duration like `500ms`, `10s` or `2m`, got `{value}`"
                    ))
                })?;
                if *key == "lock_timeout" {
                    config.lock_timeout = duration;
                } else {
                    config.engine_timeout = duration;
                }
            }
            "python" => config.python = Some(PathBuf::from(value)),
            "templates" => {
                let path = PathBuf::from(value);
                if path.is_absolute()
                    || path
                        .components()
                        .any(|it| matches!(it, std::path::Component::ParentDir))
                {
                    return Err(error(format!(
                        "`templates` must be a folder inside the project, got `{value}`"
                    )));
                }
                config.templates = path;
            }
            _ => {}
        }
        config.sources.insert(key, layer.source.clone());
    }
    Ok((config, warnings))
}

/// `500ms`, `10s`, `2m`, `1h`, or a combination (`1m30s`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total: u64 = 0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, millis) = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)]
            .into_iter()
            .find(|(unit, _)| {
                rest.starts_with(unit) && !(*unit == "m" && rest.starts_with("ms"))
            })?;
        rest = &rest[unit.len()..];
        total = total.checked_add(number.checked_mul(millis)?)?;
    }
    Some(Duration::from_millis(total))
}

/// The user config file: `$XDG_CONFIG_HOME/restack/config.toml`, else
/// `$HOME/.config/restack/config.toml`.
pub fn user_file(xdg_config_home: Option<&Path>, home: Option<&Path>) -> Option<PathBuf> {
    xdg_config_home
        .filter(|it| it.is_absolute())
        .map(Path::to_path_buf)
        .or_else(|| home.map(|it| it.join(".config")))
        .map(|it| it.join("restack").join("config.toml"))
}

/// Reads one config file; a missing file is an empty layer.
pub fn read_file(path: &Path, source: Source) -> Result<Layer, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_file(&text, source),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Layer::new(source)),
        Err(err) => Err(ConfigError {
            source_name: path.display().to_string(),
            line: 0,
            message: format!("cannot read it: {err}"),
        }),
    }
}

/// Loads every layer from the process environment and the files, under `cli`: the
/// configuration restack runs with. `project_root` is the manifest's folder, when there is one.
pub fn load(
    cli: Layer,
    project_root: Option<&Path>,
) -> Result<(Config, Vec<ConfigWarning>), ConfigError> {
    let mut layers = vec![cli, env_layer(std::env::vars())];
    if let Some(root) = project_root {
        let path = root.join(PROJECT_FILE);
        layers.push(read_file(&path, Source::Project(path.clone()))?);
    }
    let xdg = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from);
    let home = std::env::var_os("HOME").map(PathBuf::from);
    if let Some(path) = user_file(xdg.as_deref(), home.as_deref()) {
        layers.push(read_file(&path, Source::User(path.clone()))?);
    }
    resolve(&layers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str, name: &str) -> Layer {
        parse_file(text, Source::Project(PathBuf::from(name))).expect("parses")
    }

    #[test]
    fn first_layer_wins_for_each_key() {
        let cli = Layer::new(Source::Cli).with("color", "never");
        let env = env_layer([
            ("RESTACK_COLOR", "always"),
            ("RESTACK_LOCK_TIMEOUT", "3s"),
            ("PATH", "/bin"),
        ]);
        let project = file("lock_timeout = \"7s\"\nengine_timeout = 2s\n", "p");
        let user = parse_file(
            "engine_timeout = 9s\npython = \"/usr/bin/python3\"\n",
            Source::User(PathBuf::from("u")),
        )
        .expect("parses");
        let (config, warnings) = resolve(&[cli, env, project, user]).expect("valid");
        assert!(warnings.is_empty());
        assert_eq!(config.color, Color::Never);
        assert_eq!(config.lock_timeout, Duration::from_secs(3));
        assert_eq!(config.engine_timeout, Duration::from_secs(2));
        assert_eq!(config.python, Some(PathBuf::from("/usr/bin/python3")));
        assert_eq!(config.templates, PathBuf::from(DEFAULT_TEMPLATES));
        assert_eq!(config.sources["color"], Source::Cli);
        assert_eq!(config.sources["lock_timeout"], Source::Env);
        assert_eq!(config.sources["python"], Source::User(PathBuf::from("u")));
        assert!(!config.sources.contains_key("templates"));
    }

    #[test]
    fn defaults_without_layers() {
        let (config, _) = resolve(&[]).expect("valid");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn bad_values_name_file_and_line() {
        let layer = file("# colours\ncolor = \"sometimes\"\n", ".restack/config.toml");
        let err = resolve(&[layer]).expect_err("invalid");
        assert_eq!(err.line, 2);
        assert_eq!(
            err.to_string(),
            ".restack/config.toml:2: `color` must be `auto`, `always` or `never`, got `sometimes`"
        );
        let err = parse_file("[restack]\n", Source::Cli).expect_err("tables rejected");
        assert_eq!(err.line, 1);
        let err =
            resolve(&[Layer::new(Source::Env).with("templates", "../x")]).expect_err("escape");
        assert!(err.message.contains("inside the project"), "{err}");
    }

    #[test]
    fn unknown_keys_warn_with_a_suggestion() {
        let layer = file("lock_timout = 1s # typo\n", "p");
        let (_, warnings) = resolve(&[layer]).expect("valid");
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].message.contains("did you mean `lock_timeout`"),
            "{:?}",
            warnings[0]
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_hours(2)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn user_file_prefers_xdg() {
        assert_eq!(
            user_file(Some(Path::new("/x")), Some(Path::new("/h"))),
            Some(PathBuf::from("/x/restack/config.toml"))
        );
        assert_eq!(
            user_file(None, Some(Path::new("/h"))),
            Some(PathBuf::from("/h/.config/restack/config.toml"))
        );
        assert_eq!(user_file(None, None), None);
    }
}
