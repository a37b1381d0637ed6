//! The graph IR: an SSA list of nodes, each one primitive [`Op`] producing one value of
//! static shape. Nodes are appended in topological order, so the node index is a valid
//! execution order; the planner only has to move side effects (optimiser updates,
//! accumulators) to the end and assign buffers.

use std::fmt;

use crate::graph::store::{EntryId, ParamStore};
use crate::graph::GraphError;
use crate::ops::Op;

/// A value in a graph: the output of the node with the same index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

impl ValueId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The static shape of a value. Every value in the dense engine is a matrix
/// `[rows, cols]`; a scalar is `[1, 1]` and a bias is `[1, n]`. Side effects have
/// the empty shape `[0, 0]`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    pub rows: usize,
    pub cols: usize,
}

impl Shape {
    pub const SCALAR: Shape = Shape { rows: 1, cols: 1 };
    pub const NONE: Shape = Shape { rows: 0, cols: 0 };

    pub fn new(rows: usize, cols: usize) -> Self {
        Shape { rows, cols }
    }
    pub fn len(self) -> usize {
        self.rows * self.cols
    }
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {}]", self.rows, self.cols)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {}]", self.rows, self.cols)
    }
}

/// The element type of a value's buffer. Every element is four bytes; `U32` holds
/// row indices (the CPU backend keeps them in its scalar slots through
/// `Real::from_index`: bit for bit in f32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    U32,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<ValueId>,
    pub shape: Shape,
    pub dtype: DType,
    /// Human-readable origin (e.g. "encoder layer 1"), used in errors and plan dumps.
    pub label: String,
}

/// A computation over values of static shape. Build it with the methods below (each
/// checks the op's shape rule), differentiate it with [`crate::graph::grad`], plan it
/// with [`crate::graph::Plan::new`].
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    /// Values a caller wants to read after a run; the planner gives them their own
    /// buffers so they are not overwritten.
    pub outputs: Vec<ValueId>,
    label: String,
}

impl Graph {
    pub fn new() -> Self {
        Graph::default()
    }

    /// Sets the label that following nodes carry (e.g. "decoder layer 2").
    pub fn set_label(&mut self, label: impl Into<String>) {
        self.label = label.into();
    }

    pub fn node(&self, v: ValueId) -> &Node {
        &self.nodes[v.index()]
    }
    pub fn shape(&self, v: ValueId) -> Shape {
        self.nodes[v.index()].shape
    }

    /// Appends `op` applied to `inputs` after checking its shape rule.
    pub fn push(&mut self, op: Op, inputs: &[ValueId]) -> Result<ValueId, GraphError> {
        let shapes: Vec<Shape> = inputs.iter().map(|&v| self.shape(v)).collect();
        let dtypes: Vec<DType> = inputs.iter().map(|&v| self.node(v).dtype).collect();
        let shape = op
            .shape(&shapes, &dtypes)
            .map_err(|detail| GraphError::Shape {
                op: op.name(),
                at: self.label.clone(),
                detail,
            })?;
        let dtype = op.dtype();
        self.nodes.push(Node {
            op,
            inputs: inputs.to_vec(),
            shape,
            dtype,
            label: self.label.clone(),
        });
        Ok(ValueId(self.nodes.len() as u32 - 1))
    }

    /// A value fed from the host at every run (a batch, a hyper-parameter vector).
    pub fn input(&mut self, name: &str, shape: Shape, dtype: DType) -> ValueId {
        self.nodes.push(Node {
            op: Op::Input {
                name: name.to_string(),
                shape,
                dtype,
            },
            inputs: vec![],
            shape,
            dtype,
            label: self.label.clone(),
        });
        ValueId(self.nodes.len() as u32 - 1)
    }

    /// A value that lives in the parameter store (weights, optimiser state, resident
    /// data); graphs over the same store share it.
    /// Every use of an entry shares one node, so gradients of a shared (tied) weight
    /// add up in autodiff.
    pub fn entry(&mut self, store: &ParamStore, id: EntryId) -> ValueId {
        if let Some(v) = self
            .nodes
            .iter()
            .position(|n| matches!(n.op, Op::Entry { id: e, .. } if e == id))
        {
            return ValueId(v as u32);
        }
        let e = store.get(id);
        let dtype = if e.packed_u8 { DType::U32 } else { DType::F32 };
        self.nodes.push(Node {
            op: Op::Entry {
                id,
                shape: e.shape,
                packed_u8: e.packed_u8,
            },
            inputs: vec![],
            shape: e.shape,
            dtype,
            label: self.label.clone(),
        });
        ValueId(self.nodes.len() as u32 - 1)
    }

    pub fn mark_output(&mut self, v: ValueId) {
        if !self.outputs.contains(&v) {
            self.outputs.push(v);
        }
    }
}
