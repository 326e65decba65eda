//! `restack`: a declarative manifest compiler with a reconcile loop.
//!
//! The pipeline, in the order data flows through it:
//!
//! - [`manifest`] reads `restack.kdl` and decodes it by hand into a spanned AST.
//! - [`operators`] parses pipeline operator strings (`A ⇄ B → C`) into a tree.
//! - [`ir`] checks cross-references and lowers the AST into the fully resolved [`ir::Project`].
//! - [`render`] turns the project into files in memory ([`render::FileSet`]).
//! - [`plan`] compares the file set with the disk and the recorded state, producing a [`plan::Plan`].
//! - [`apply`] is the only writer: it carries out a plan atomically under a lock.
//! - [`watch`] reconciles on every save of the manifest, like a build tool.
//! - [`cli`] parses arguments and prints; [`diag`] holds diagnostics and their codes.
//!
//! Only `manifest::load`, `plan::scan`, `apply`, `watch` and `cli` touch the outside world.

pub mod analyze;
pub mod apply;
pub mod cli;
pub mod config;
pub mod diag;
mod digest;
pub mod doctor;
pub mod ir;
pub mod manifest;
pub mod operators;
pub mod plan;
pub mod record;
pub mod render;
pub mod watch;
pub mod workspace;
