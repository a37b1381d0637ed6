//! Data loading (filled in by the data work).
