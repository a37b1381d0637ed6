//! Batched FISTA (Beck & Teboulle, "A fast iterative shrinkage-thresholding algorithm
//! for linear inverse problems", SIAM J. Imaging Sci. 2009) as one graph: a fixed
//! number of iterations unrolled into matmuls and soft-threshold kernels, planned once
//! and run as one submission on either backend.
//!
//! Every row h of the code matrix H `[B, K]` solves, for its row x of X `[B, n]`,
//!
//! ```text
//! min_h  ½‖x − hD‖² + λ‖h‖₁ + (γ/2)‖h − f(x)‖²        (γ = 0: plain sparse coding)
//! ```
//!
//! The smooth part has gradient (hD − x)Dᵀ + γ(h − f) = hG − xDᵀ + γ(h − f), with
//! G = DDᵀ, Lipschitz constant L' = λ_max(G) + γ. One FISTA step from the
//! extrapolated point y is the proximal step
//!
//! ```text
//! h_k = S_{λ/L'}( y − ∇(y)/L' ) = S_{λ/L'}( y·M + C ),
//!       M = I − (G + γI)/L'   [K, K]          (the "system", from the host)
//!       C = x·(D/L')ᵀ + (γ/L')·f(x)            (once per run)
//! t_{k+1} = (1 + √(1 + 4t_k²))/2,   y_{k+1} = h_k + ((t_k − 1)/t_{k+1})(h_k − h_{k−1})
//! ```
//!
//! starting from y_1 = 0 (sparse coding) or y_1 = f(x) (PSD's prediction), t_1 = 1.
//! The momentum coefficients depend only on k, so they are constants of the graph;
//! D-dependent quantities (M, D/L', λ/L', γ/L') are store entries refreshed whenever
//! the dictionary changes, so the plan itself is built once per batch size.

use crate::graph::{EntryId, Graph, GraphError, ParamStore, Shape, ValueId};
use crate::ops::{BinaryOp, MatMul, Op};

use super::encoder::Encoder;

/// The store entries a FISTA graph reads.
#[derive(Clone, Copy, Debug)]
pub struct FistaEntries {
    /// D `[K, n]`.
    pub dictionary: EntryId,
    /// M = I − (G + γI)/L' `[K, K]`.
    pub system: EntryId,
    /// D/L' `[K, n]`.
    pub scaled_dictionary: EntryId,
    /// λ/L' `[1, 1]`.
    pub shrink: EntryId,
    /// γ/L' `[1, 1]`.
    pub prior_weight: EntryId,
}

/// A FISTA graph and the values to read after a run.
pub struct FistaGraph {
    pub graph: Graph,
    /// H `[B, K]`.
    pub codes: ValueId,
    /// H·D `[B, n]`.
    pub reconstruction: ValueId,
    /// HᵀH `[K, K]` and XᵀH `[n, K]`, for the dictionary step.
    pub statistics: Option<(ValueId, ValueId)>,
}

/// The coefficients (t_k − 1)/t_{k+1} of FISTA's extrapolation after iterations
/// k = 1..iterations (the first is 0).
pub fn momentum(iterations: usize) -> Vec<f32> {
    let mut t = 1.0f64;
    (0..iterations)
        .map(|_| {
            let next = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
            let beta = (t - 1.0) / next;
            t = next;
            beta as f32
        })
        .collect()
}

/// Builds `iterations` FISTA steps on `rows` input rows (input `x`). With `prior`
/// the objective carries PSD's (γ/2)‖h − f(x)‖² and starts from f(x).
pub fn fista_graph(
    store: &ParamStore,
    entries: &FistaEntries,
    rows: usize,
    iterations: usize,
    prior: Option<&Encoder>,
    statistics: bool,
) -> Result<FistaGraph, GraphError> {
    if iterations == 0 {
        return Err(GraphError::Invalid(
            "FISTA needs at least one iteration".into(),
        ));
    }
    let mut g = Graph::new();
    let width = store.get(entries.dictionary).shape.cols;
    let x = g.input("x", Shape::new(rows, width), crate::graph::DType::F32);
    let system = g.entry(store, entries.system);
    let shrink = g.entry(store, entries.shrink);
    g.set_label("fista: C = x·(D/L')ᵀ (+ (γ/L')·f(x))");
    let scaled = g.entry(store, entries.scaled_dictionary);
    let transposed = MatMul {
        trans_b: true,
        ..MatMul::plain()
    };
    let mut offset = g.push(Op::MatMul(transposed), &[x, scaled])?;
    let start = match prior {
        Some(encoder) => {
            let f = encoder.forward(&mut g, store, x)?;
            let weight = g.entry(store, entries.prior_weight);
            let weight = g.push(Op::Broadcast(g.shape(f)), &[weight])?;
            let pull = g.push(Op::Binary(BinaryOp::Mul), &[f, weight])?;
            offset = g.push(Op::Binary(BinaryOp::Add), &[offset, pull])?;
            Some(f)
        }
        None => None,
    };
    let betas = momentum(iterations);
    let mut previous: Option<ValueId> = None;
    let mut y = start;
    for (k, &beta) in betas.iter().enumerate() {
        g.set_label(format!("fista iteration {}", k + 1));
        let v = match y {
            // y = 0: y·M + C is C.
            None => offset,
            Some(y) => {
                let ym = g.push(Op::MatMul(MatMul::plain()), &[y, system])?;
                g.push(Op::Binary(BinaryOp::Add), &[ym, offset])?
            }
        };
        let h = g.push(Op::SoftThreshold, &[v, shrink])?;
        if k + 1 < iterations {
            y = Some(match previous {
                Some(p) if beta != 0.0 => {
                    let step = g.push(Op::Binary(BinaryOp::Sub), &[h, p])?;
                    let step = g.push(Op::Scale(beta), &[step])?;
                    g.push(Op::Binary(BinaryOp::Add), &[h, step])?
                }
                _ => h,
            });
        }
        previous = Some(h);
    }
    let codes = previous.expect("at least one iteration");
    g.set_label("fista outputs");
    let dictionary = g.entry(store, entries.dictionary);
    let reconstruction = g.push(Op::MatMul(MatMul::plain()), &[codes, dictionary])?;
    g.mark_output(codes);
    g.mark_output(reconstruction);
    let statistics = if statistics {
        let first_transposed = MatMul {
            trans_a: true,
            ..MatMul::plain()
        };
        let hth = g.push(Op::MatMul(first_transposed), &[codes, codes])?;
        let xth = g.push(Op::MatMul(first_transposed), &[x, codes])?;
        g.mark_output(hth);
        g.mark_output(xth);
        Some((hth, xth))
    } else {
        None
    };
    Ok(FistaGraph {
        graph: g,
        codes,
        reconstruction,
        statistics,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn momentum_follows_beck_and_teboulle() {
        // t = 1, 1.618…, 2.194…: β₁ = 0, β₂ = 0.618…/2.194… = 0.2818…
        let b = momentum(3);
        assert_eq!(b[0], 0.0);
        assert!((b[1] - 0.281_7).abs() < 1e-3, "{b:?}");
        assert!(b[2] > b[1] && b[2] < 1.0);
    }
}
