//! Graph IR, parameter store, reverse-mode autodiff and the planner.

mod autodiff;
mod ir;
mod planner;
mod store;

pub use autodiff::grad;
pub use ir::{DType, Graph, Node, Shape, ValueId};
pub use planner::{Launch, Location, Plan};
pub use store::{Entry, EntryData, EntryId, EntryKind, ParamStore};

/// Errors found while building, differentiating or planning a graph.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("{op} at {at}: {detail}")]
    Shape {
        op: String,
        at: String,
        detail: String,
    },
    #[error("cannot differentiate {op}: {detail}")]
    NotDifferentiable { op: String, detail: String },
    #[error("{0}")]
    Invalid(String),
}
