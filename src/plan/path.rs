//! Path safety: which relative paths restack may read or write under a project root. Owns the
//! checks; never writes.
//!
//! A path in a file set, in the state or in a saved plan must be relative, `/`-separated, with no
//! empty, `.` or `..` component, no backslash, no NUL, and must not lead into restack's own
//! `.restack/` folder or into `.git/`. On disk, no existing component of it under the root may be
//! a symlink: a symlinked directory could point anywhere, so it is refused even when it happens to
//! point inside the root. The root itself may be a symlink (the user chose it).

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Why a path was refused. Names the path as written in the file set, state or plan.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error("unsafe path `{path}`: {why}")]
    Invalid { path: String, why: &'static str },
    #[error(
        "unsafe path `{path}`: `{component}` is a symlink, and restack never writes through one"
    )]
    Symlink { path: String, component: String },
    #[error("cannot inspect `{path}`")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
}

/// Checks the spelling of `rel` (no disk access).
pub fn validate(rel: &str) -> Result<(), PathError> {
    let invalid = |why| {
        Err(PathError::Invalid {
            path: rel.to_owned(),
            why,
        })
    };
    if rel.is_empty() {
        return invalid("the path is empty");
    }
    if rel.contains('\\') {
        return invalid("backslashes are not allowed; use `/`");
    }
    if rel.contains('\0') {
        return invalid("NUL bytes are not allowed");
    }
    if rel.starts_with('/') || Path::new(rel).is_absolute() || rel.chars().nth(1) == Some(':') {
        return invalid("the path is absolute");
    }
    for component in rel.split('/') {
        match component {
            "" => return invalid("the path has an empty component"),
            "." => return invalid("the path has a `.` component"),
            ".." => return invalid("the path leaves its folder through `..`"),
            _ => {}
        }
    }
    let first = rel.split('/').next().unwrap_or_default();
    if first == ".restack" || first == ".git" {
        return invalid("the path is inside restack's or git's own folder");
    }
    Ok(())
}

/// Checks `rel` and returns `root/rel`, refusing any existing symlink component below `root`.
///
/// Components that do not exist yet are fine (they will be created as plain directories).
pub fn resolve(root: &Path, rel: &str) -> Result<PathBuf, PathError> {
    validate(rel)?;
    resolve_unchecked(root, rel)
}

/// Like [`resolve`] but for restack's own files (`.restack/base/<path>`), whose first component
/// is `.restack`; the part after it must still pass [`validate`].
pub(crate) fn resolve_unchecked(root: &Path, rel: &str) -> Result<PathBuf, PathError> {
    let mut at = root.to_path_buf();
    let mut exists = true;
    for component in rel.split('/') {
        at.push(component);
        if !exists {
            continue;
        }
        match std::fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(PathError::Symlink {
                    path: rel.to_owned(),
                    component: at
                        .strip_prefix(root)
                        .unwrap_or(&at)
                        .to_string_lossy()
                        .replace('\\', "/"),
                });
            }
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => exists = false,
            Err(err) if err.kind() == io::ErrorKind::NotADirectory => exists = false,
            Err(source) => {
                return Err(PathError::Io {
                    path: rel.to_owned(),
                    source,
                });
            }
        }
    }
    Ok(at)
}

/// The path [`resolve_unchecked`] returns for `rel`, without its checks: for a path that was
/// resolved already, whose full path was not kept.
pub(crate) fn join(root: &Path, rel: &str) -> PathBuf {
    let mut at = root.to_path_buf();
    for component in rel.split('/') {
        at.push(component);
    }
    at
}

/// [`resolve`] for many paths under one root, as one scan does: each directory is checked for
/// being a symlink once, not once per path below it. The results are [`resolve`]'s.
pub(crate) struct Resolver<'a> {
    root: &'a Path,
    dirs: Mutex<HashMap<String, Component>>,
}

/// What an existing-or-not directory component turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Component {
    Present,
    Missing,
    Symlink,
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(root: &'a Path) -> Resolver<'a> {
        Resolver {
            root,
            dirs: Mutex::new(HashMap::new()),
        }
    }

    /// [`resolve`], with the metadata of the path itself (not following a symlink, which is an
    /// error anyway) when it exists, so that the caller need not ask the file system again.
    pub(crate) fn resolve_with_metadata(
        &self,
        rel: &str,
    ) -> Result<(PathBuf, Option<std::fs::Metadata>), PathError> {
        validate(rel)?;
        self.resolve_unchecked_with_metadata(rel)
    }

    /// [`resolve_unchecked`], with the metadata of the path itself as
    /// [`Resolver::resolve_with_metadata`].
    pub(crate) fn resolve_unchecked_with_metadata(
        &self,
        rel: &str,
    ) -> Result<(PathBuf, Option<std::fs::Metadata>), PathError> {
        let symlink = |at: &str| PathError::Symlink {
            path: rel.to_owned(),
            component: at.to_owned(),
        };
        for (end, _) in rel.match_indices('/') {
            let dir = &rel[..end];
            let known = self.dirs.lock().ok().and_then(|it| it.get(dir).copied());
            let component = if let Some(component) = known {
                component
            } else {
                let (component, _) = self.inspect(rel, dir)?;
                if let Ok(mut dirs) = self.dirs.lock() {
                    dirs.insert(dir.to_owned(), component);
                }
                component
            };
            match component {
                Component::Present => {}
                Component::Missing => return Ok((self.root.join(rel), None)),
                Component::Symlink => return Err(symlink(dir)),
            }
        }
        match self.inspect(rel, rel)? {
            (Component::Symlink, _) => Err(symlink(rel)),
            (Component::Present | Component::Missing, meta) => Ok((self.root.join(rel), meta)),
        }
    }

    fn inspect(
        &self,
        rel: &str,
        at: &str,
    ) -> Result<(Component, Option<std::fs::Metadata>), PathError> {
        match std::fs::symlink_metadata(self.root.join(at)) {
            Ok(meta) if meta.file_type().is_symlink() => Ok((Component::Symlink, None)),
            Ok(meta) => Ok((Component::Present, Some(meta))),
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) =>
            {
                Ok((Component::Missing, None))
            }
            Err(source) => Err(PathError::Io {
                path: rel.to_owned(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Resolver, resolve, validate};

    #[cfg(unix)]
    #[test]
    fn a_resolver_resolves_as_resolve_does() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).expect("mkdir");
        std::fs::create_dir_all(root.join("outside")).expect("mkdir");
        std::fs::File::create(root.join("a/file")).expect("file");
        std::os::unix::fs::symlink(root.join("outside"), root.join("a/link")).expect("symlink");
        std::os::unix::fs::symlink(root.join("a/file"), root.join("a/b/leaf")).expect("symlink");
        let resolver = Resolver::new(root);
        let paths = [
            "a/b/c.py",
            "a/file",
            "a/file/x",
            "a/link/x.py",
            "a/link",
            "a/b/leaf",
            "gone/x/y",
            "a/b/new/z",
            "x",
            "../x",
            "a/link/deeper/x",
        ];
        // Twice, so the second round runs on cached directories.
        for _ in 0..2 {
            for rel in paths {
                let expected = resolve(root, rel).map_err(|err| err.to_string());
                let actual = resolver
                    .resolve_with_metadata(rel)
                    .map(|(full, _)| full)
                    .map_err(|err| err.to_string());
                assert_eq!(actual, expected, "{rel}");
            }
        }
    }

    #[test]
    fn spelling_rules() {
        for good in ["a", "src/blog/service.py", ".env.example", "a/.b/c..d"] {
            assert!(validate(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "a/",
            "./a",
            "a\\b",
            "C:/x",
            ".restack/state.json",
            ".git/config",
        ] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }
}
