//! Rendering: the resolved project becomes files in memory. Pure and deterministic.

mod file_set;

pub use file_set::{File, FileSet, Kind};
