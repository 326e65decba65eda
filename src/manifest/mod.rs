//! Reading `restack.kdl`: KDL 2.0, parsed by `quick` (or the `kdl` crate where `quick` declines)
//! into `kdl`'s document, decoded by hand into a spanned AST.
//!
//! [`decode`] is pure: text in, a partial [`Manifest`] plus every diagnostic out. [`locate`] and
//! [`read`] are the only functions here that touch the file system. Checks between nodes
//! (references, collisions) belong to `ir::lower`, not here.

pub mod ast;
pub(crate) mod decode;
mod duration;
pub mod edit;
pub mod format;
pub(crate) mod names;
pub(crate) mod quick;
pub mod schema;
pub(crate) mod shift;
pub(crate) mod types;

use std::path::{Path, PathBuf};

pub use ast::Manifest;
pub use decode::{ParseCache, decode, decode_cached};

/// The manifest's file name.
pub const FILE_NAME: &str = "restack.kdl";

/// Why the manifest could not be found or read (an operational error, not a diagnostic).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no `restack.kdl` found in `{}` or any parent directory", .0.display())]
    NotFound(PathBuf),
    #[error("cannot read `{}`: it is not a regular file", .0.display())]
    NotAFile(PathBuf),
    #[error(
        "cannot read `{}`: it is {size} bytes, and restack reads manifests of at most {MAX_BYTES} bytes",
        .path.display()
    )]
    TooLarge { path: PathBuf, size: u64 },
    #[error("cannot read `{}`: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Finds the manifest: `explicit` (relative to `dir`) if given, else the first `restack.kdl` in
/// `dir` or one of its parents.
pub fn locate(explicit: Option<&Path>, dir: &Path) -> Result<PathBuf, LoadError> {
    if let Some(path) = explicit {
        return Ok(dir.join(path));
    }
    dir.ancestors()
        .map(|it| it.join(FILE_NAME))
        .find(|it| it.is_file())
        .ok_or_else(|| LoadError::NotFound(dir.to_path_buf()))
}

/// The largest manifest restack reads (16 MiB, far beyond a big real one, which is well under
/// 1 MiB): the KDL parser is slow on some huge inputs (long runs of comments), and a bound makes
/// a runaway file a clear error.
pub const MAX_BYTES: u64 = 16 << 20;

/// Reads the manifest's bytes (decoding and UTF-8 checks happen in `analyze`). Refuses anything
/// but a regular file — reading a FIFO would block forever — and files over [`MAX_BYTES`].
pub fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(LoadError::NotAFile(path.to_path_buf()));
    }
    if meta.len() > MAX_BYTES {
        return Err(LoadError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
        });
    }
    std::fs::read(path).map_err(io)
}
