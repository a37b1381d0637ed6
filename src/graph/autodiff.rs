//! Symbolic reverse-mode differentiation: appends the backward graph once, at build
//! time. Every op's vector-Jacobian rule lives with the op (`Op::vjp`); this file only
//! walks the graph backwards and sums the gradients of values used more than once.

use std::collections::HashMap;

use crate::graph::{DType, Graph, GraphError, Shape, ValueId};
use crate::ops::{BinaryOp, Op};

/// Appends nodes computing d`loss`/d`wrt[i]` for each i and returns those values.
/// `loss` must be a scalar. Only values on a path from some `wrt` to `loss` get
/// gradients, so e.g. the gradient of the input batch is never computed.
///
/// Integer values stop differentiation: a `U32` value (an arg-min, row indices) is a
/// constant, so no gradient flows through it and a path to the loss that passes
/// through one is simply not a path (no error; a `wrt` reached only that way gets a
/// zero gradient). `StopGradient` cuts a path the same way for f32 values.
pub fn grad(g: &mut Graph, loss: ValueId, wrt: &[ValueId]) -> Result<Vec<ValueId>, GraphError> {
    if g.shape(loss) != Shape::SCALAR {
        return Err(GraphError::Invalid(format!(
            "the loss must be a scalar [1, 1], got {}",
            g.shape(loss)
        )));
    }
    let n = loss.index() + 1;
    let mut depends = vec![false; n];
    for &w in wrt {
        if w.index() < n {
            depends[w.index()] = true;
        }
    }
    for i in 0..n {
        let node = &g.nodes[i];
        if node.dtype == DType::U32 || matches!(node.op, Op::StopGradient) {
            depends[i] = false;
        } else if node.inputs.iter().any(|x| depends[x.index()]) {
            depends[i] = true;
        }
    }
    let mut reaches = vec![false; n];
    reaches[loss.index()] = true;
    for i in (0..n).rev() {
        if reaches[i] {
            for x in g.nodes[i].inputs.clone() {
                reaches[x.index()] = true;
            }
        }
    }
    let needs = |v: ValueId| depends[v.index()] && reaches[v.index()];

    g.set_label("backward");
    let mut adjoint: HashMap<ValueId, ValueId> = HashMap::new();
    let seed = g.push(
        Op::Fill {
            value: 1.0,
            shape: Shape::SCALAR,
        },
        &[],
    )?;
    adjoint.insert(loss, seed);

    for i in (0..n).rev() {
        let v = ValueId(i as u32);
        if !needs(v) {
            continue;
        }
        let Some(&dout) = adjoint.get(&v) else {
            continue;
        };
        let node = g.nodes[i].clone();
        if node.op.is_source() {
            continue;
        }
        let input_needs: Vec<bool> = node.inputs.iter().map(|&x| needs(x)).collect();
        if !input_needs.iter().any(|&b| b) {
            continue;
        }
        g.set_label(format!("backward of {}", node.label));
        let grads = node.op.vjp(g, &node.inputs, v, dout, &input_needs)?;
        for ((&x, gx), need) in node.inputs.iter().zip(grads).zip(input_needs) {
            let Some(gx) = gx else { continue };
            if !need {
                continue;
            }
            let total = match adjoint.get(&x) {
                Some(&prev) => g.push(Op::Binary(BinaryOp::Add), &[prev, gx])?,
                None => gx,
            };
            adjoint.insert(x, total);
        }
    }

    wrt.iter()
        .map(|&w| match adjoint.get(&w) {
            Some(&d) => Ok(d),
            None => g.push(
                Op::Fill {
                    value: 0.0,
                    shape: g.shape(w),
                },
                &[],
            ),
        })
        .collect()
}
