//! Building blocks shared by the model kinds: weight initialisation and the dense
//! layer (one fused matmul + bias + activation).

pub mod init;

use crate::graph::{EntryId, Graph, GraphError, ParamStore, ValueId};
use crate::ops::{Activation, MatMul, Op};

/// `act(x · W + b)`, or `act(x · Wᵀ + b)` when `transpose` (a tied decoder layer
/// reusing an encoder weight without a copy). One launch: the bias and activation are
/// the matmul's epilogue.
pub fn dense(
    g: &mut Graph,
    store: &ParamStore,
    x: ValueId,
    weight: EntryId,
    bias: EntryId,
    transpose: bool,
    act: Activation,
) -> Result<ValueId, GraphError> {
    let w = g.entry(store, weight);
    let b = g.entry(store, bias);
    g.push(
        Op::MatMul(MatMul {
            trans_a: false,
            trans_b: transpose,
            bias: true,
            act,
        }),
        &[x, w, b],
    )
}
