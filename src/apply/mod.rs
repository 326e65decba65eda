//! apply (lands with the reconcile engine).
