//! aegpu: autoencoders on any GPU vendor through wgpu, with a fast CPU backend that
//! doubles as the reference every WGSL kernel is checked against.

pub mod backend;
pub mod cli;
pub mod data;
pub mod dictionary;
pub mod fuzzing;
pub mod graph;
pub mod imaging;
pub mod io;
pub mod linalg;
pub mod metrics;
pub mod models;
pub mod neighbours;
pub mod nn;
pub mod ops;
pub mod outliers;
pub mod plot;
pub mod ranges;
pub mod train;
