//! Reading `restack.kdl`: KDL 2.0 via the `kdl` crate, decoded by hand into a spanned AST.

/// The decoded manifest (placeholder until the decoder lands).
#[derive(Debug, Clone)]
pub struct Manifest {}
