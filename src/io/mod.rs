//! Model files (filled in by the io work).
