//! The LSTM cell update, fused (Hochreiter & Schmidhuber 1997, with the forget gate of
//! Gers et al. 2000; PyTorch's `nn.LSTM` gate order i, f, g, o). A time step of an LSTM
//! layer is one matmul for the gate pre-activations of every gate,
//! `a = [x_t | h_{t−1}] · W + b` (`[N, 4H]`), then this op:
//!
//! ```text
//! LstmCell             [a [N, 4H], s [N, 2H]] → s' [N, 2H]
//!     s = [h | c] (the state: hidden values, then cell values)
//!     i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
//!     c' = f ⊙ c + i ⊙ g
//!     h' = o ⊙ tanh(c')
//! LstmCellGrad { wrt } [a, s, ds' [N, 2H]] → wrt 0: da [N, 4H]   wrt 1: ds [N, 2H]
//!     dc' = ds'_c + ds'_h ⊙ o ⊙ (1 − tanh²(c'))       (c' recomputed from a and s)
//!     da_i = dc' ⊙ g ⊙ i(1 − i)     da_f = dc' ⊙ c ⊙ f(1 − f)
//!     da_g = dc' ⊙ i ⊙ (1 − g²)     da_o = ds'_h ⊙ tanh(c') ⊙ o(1 − o)
//!     ds = [0 | dc' ⊙ f]            (h enters the next step through the matmul only)
//! ```
//!
//! One invocation per (row, unit) computes the unit's four gates: the op needs no
//! workspace, and the backward pass recomputes the gates from `a` rather than saving
//! them (five transcendental functions per unit, cheap beside the matmul).
//!
//! WGSL: `shaders/lstm.wgsl`, entries `lstm_cell` and `lstm_cell_grad` (override
//! constant `WRT`).

use crate::graph::{Graph, GraphError, Shape, ValueId};
use crate::ops::activation::sigmoid;
use crate::ops::{Op, Real};

/// H, the hidden units, of a state `[N, 2H]` with gates `[N, 4H]`; or why they don't fit.
pub fn hidden_units(gates: Shape, state: Shape) -> Result<usize, String> {
    if state.cols == 0 || state.cols % 2 != 0 || state.rows == 0 {
        return Err(format!(
            "the state must be [N, 2H] (hidden, then cell values), got {state}"
        ));
    }
    let h = state.cols / 2;
    if gates != Shape::new(state.rows, 4 * h) {
        return Err(format!(
            "the gates must be [N, 4H] = [{}, {}] for the state {state}, got {gates}",
            state.rows,
            4 * h
        ));
    }
    Ok(h)
}

/// Shape rule of `LstmCell` over [a, s].
pub fn shape(s: &[Shape]) -> Result<Shape, String> {
    hidden_units(s[0], s[1])?;
    Ok(s[1])
}

/// Shape rule of `LstmCellGrad { wrt }` over [a, s, ds'].
pub fn grad_shape(wrt: usize, s: &[Shape]) -> Result<Shape, String> {
    hidden_units(s[0], s[1])?;
    if s[2] != s[1] {
        return Err(format!("ds' {} differs from the state {}", s[2], s[1]));
    }
    match wrt {
        0 => Ok(s[0]),
        1 => Ok(s[1]),
        _ => Err(format!(
            "operand {wrt} has no gradient (0: gates, 1: state)"
        )),
    }
}

/// The four gates of unit `j` of one row: (i, f, g, o) after their activations.
#[inline(always)]
fn gates<T: Real>(a: &[T], h: usize, j: usize) -> (T, T, T, T) {
    (
        sigmoid(a[j]),
        sigmoid(a[h + j]),
        a[2 * h + j].tanh(),
        sigmoid(a[3 * h + j]),
    )
}

/// `LstmCell` on whole rows: `a` `[rows, 4H]`, `s` and `out` `[rows, 2H]`.
pub fn cpu<T: Real>(a: &[T], s: &[T], h: usize, out: &mut [T]) {
    for ((out, a), s) in out.chunks_mut(2 * h).zip(a.chunks(4 * h)).zip(s.chunks(2 * h)) {
        for j in 0..h {
            let (i, f, g, o) = gates(a, h, j);
            let c = f * s[h + j] + i * g;
            out[j] = o * c.tanh();
            out[h + j] = c;
        }
    }
}

/// `LstmCellGrad { wrt }` on whole rows; `out` is `[rows, 4H]` (wrt 0) or `[rows, 2H]`.
pub fn cpu_grad<T: Real>(wrt: usize, a: &[T], s: &[T], ds: &[T], h: usize, out: &mut [T]) {
    let width = if wrt == 0 { 4 * h } else { 2 * h };
    let rows = out.chunks_mut(width).zip(a.chunks(4 * h));
    for ((out, a), (s, ds)) in rows.zip(s.chunks(2 * h).zip(ds.chunks(2 * h))) {
        for j in 0..h {
            let (i, f, g, o) = gates(a, h, j);
            let c_prev = s[h + j];
            let tc = (f * c_prev + i * g).tanh();
            let dh = ds[j];
            let dc = ds[h + j] + dh * o * (T::one() - tc * tc);
            if wrt == 0 {
                out[j] = dc * g * i * (T::one() - i);
                out[h + j] = dc * c_prev * f * (T::one() - f);
                out[2 * h + j] = dc * i * (T::one() - g * g);
                out[3 * h + j] = dh * tc * o * (T::one() - o);
            } else {
                out[j] = T::zero();
                out[h + j] = dc * f;
            }
        }
    }
}

pub fn vjp(
    g: &mut Graph,
    inputs: &[ValueId],
    dout: ValueId,
    needs: &[bool],
) -> Result<Vec<Option<ValueId>>, GraphError> {
    let (a, s) = (inputs[0], inputs[1]);
    let mut grads = Vec::with_capacity(2);
    for wrt in 0..2 {
        grads.push(if needs[wrt] {
            Some(g.push(Op::LstmCellGrad { wrt }, &[a, s, dout])?)
        } else {
            None
        });
    }
    Ok(grads)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One unit by hand: a = (0, 0, 0, 0) gives i = f = o = ½, g = 0, so c' = c/2 and
    /// h' = tanh(c/2)/2.
    #[test]
    fn zero_gates_halve_the_cell() {
        let mut out = [0.0f64; 2];
        cpu(&[0.0; 4], &[9.0, 2.0], 1, &mut out);
        assert!((out[1] - 1.0).abs() < 1e-15);
        assert!((out[0] - 0.5 * 1.0f64.tanh()).abs() < 1e-15);
        // The hidden half of ds gets no gradient; the cell half dc'·f.
        let mut ds = [9.0f64; 2];
        cpu_grad(1, &[0.0; 4], &[9.0, 2.0], &[0.0, 1.0], 1, &mut ds);
        assert_eq!(ds, [0.0, 0.5]);
    }

    #[test]
    fn shape_rules_tie_gates_to_the_state() {
        let f32s = [crate::graph::DType::F32; 3];
        let state = Shape::new(3, 8);
        let ok = Op::LstmCell.shape(&[Shape::new(3, 16), state], &f32s[..2]);
        assert_eq!(ok, Ok(state));
        let err = Op::LstmCell
            .shape(&[Shape::new(3, 12), state], &f32s[..2])
            .unwrap_err();
        assert_eq!(
            err,
            "the gates must be [N, 4H] = [3, 16] for the state [3, 8], got [3, 12]"
        );
        assert!(Op::LstmCell
            .shape(&[Shape::new(3, 6), Shape::new(3, 3)], &f32s[..2])
            .is_err());
        let grad = Op::LstmCellGrad { wrt: 0 }.shape(&[Shape::new(3, 16), state, state], &f32s);
        assert_eq!(grad, Ok(Shape::new(3, 16)));
        assert!(Op::LstmCellGrad { wrt: 2 }
            .shape(&[Shape::new(3, 16), state, state], &f32s)
            .is_err());
    }
}
