//! plan (lands with the reconcile engine).
