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
//! LstmCellGrad        [a, s, ds' [N, 2H]] → [da [N, 4H] | ds [N, 2H]]  ([N, 6H])
//!     dc' = ds'_c + ds'_h ⊙ o ⊙ (1 − tanh²(c'))       (c' recomputed from a and s)
//!     da_i = dc' ⊙ g ⊙ i(1 − i)     da_f = dc' ⊙ c ⊙ f(1 − f)
//!     da_g = dc' ⊙ i ⊙ (1 − g²)     da_o = ds'_h ⊙ tanh(c') ⊙ o(1 − o)
//!     ds = [0 | dc' ⊙ f]            (h enters the next step through the matmul only)
//! ```
//!
//! One invocation per (row, unit) computes the unit's four gates: the op needs no
//! workspace, and the backward pass recomputes the gates from `a` rather than saving
//! them. Both gradients come from one launch (the VJP slices them apart), so each
//! unit's five transcendental functions are evaluated once per direction. tanh is
//! [`tanh_stable`], the same formula as the WGSL kernel's: an exp and a division
//! (libm's tanhf costs several times an expf, and the cell is dominated by them).
//!
//! WGSL: `shaders/lstm.wgsl`, entries `lstm_cell` and `lstm_cell_grad`.

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

/// Shape rule of `LstmCellGrad` over [a, s, ds']: `[N, 6H]`, da then ds.
pub fn grad_shape(s: &[Shape]) -> Result<Shape, String> {
    let h = hidden_units(s[0], s[1])?;
    if s[2] != s[1] {
        return Err(format!("ds' {} differs from the state {}", s[2], s[1]));
    }
    Ok(Shape::new(s[1].rows, 6 * h))
}

/// tanh through e^{−2|x|} ∈ (0, 1], which never overflows; below |x| = 1/4 the odd
/// Taylor series through x¹¹ (first omitted term < 10⁻⁹ relative) avoids the
/// cancellation in 1 − e^{−2|x|}. `tanh_stable` in `shaders/common.wgsl` is the same.
#[inline(always)]
pub fn tanh_stable<T: Real>(x: T) -> T {
    let c = |v: f64| T::from_f64(v);
    if x.abs() < c(0.25) {
        let x2 = x * x;
        let s9 = c(62.0 / 2835.0) + x2 * c(-1382.0 / 155925.0);
        let s7 = c(-17.0 / 315.0) + x2 * s9;
        let s5 = c(2.0 / 15.0) + x2 * s7;
        let s3 = c(-1.0 / 3.0) + x2 * s5;
        return x + x * x2 * s3;
    }
    let e = (c(-2.0) * x.abs()).exp();
    let t = (T::one() - e) / (T::one() + e);
    if x < T::zero() {
        -t
    } else {
        t
    }
}

/// The four gates of unit `j` of one row: (i, f, g, o) after their activations.
#[inline(always)]
fn gates<T: Real>(a: &[T], h: usize, j: usize) -> (T, T, T, T) {
    (
        sigmoid(a[j]),
        sigmoid(a[h + j]),
        tanh_stable(a[2 * h + j]),
        sigmoid(a[3 * h + j]),
    )
}

/// `LstmCell` on whole rows: `a` `[rows, 4H]`, `s` and `out` `[rows, 2H]`.
pub fn cpu<T: Real>(a: &[T], s: &[T], h: usize, out: &mut [T]) {
    for ((out, a), s) in out
        .chunks_mut(2 * h)
        .zip(a.chunks(4 * h))
        .zip(s.chunks(2 * h))
    {
        for j in 0..h {
            let (i, f, g, o) = gates(a, h, j);
            let c = f * s[h + j] + i * g;
            out[j] = o * tanh_stable(c);
            out[h + j] = c;
        }
    }
}

/// `LstmCellGrad` on whole rows; `out` is `[rows, 6H]`: da, then ds.
pub fn cpu_grad<T: Real>(a: &[T], s: &[T], ds: &[T], h: usize, out: &mut [T]) {
    let rows = out.chunks_mut(6 * h).zip(a.chunks(4 * h));
    for ((out, a), (s, ds)) in rows.zip(s.chunks(2 * h).zip(ds.chunks(2 * h))) {
        for j in 0..h {
            let (i, f, g, o) = gates(a, h, j);
            let c_prev = s[h + j];
            let tc = tanh_stable(f * c_prev + i * g);
            let dh = ds[j];
            let dc = ds[h + j] + dh * o * (T::one() - tc * tc);
            out[j] = dc * g * i * (T::one() - i);
            out[h + j] = dc * c_prev * f * (T::one() - f);
            out[2 * h + j] = dc * i * (T::one() - g * g);
            out[3 * h + j] = dh * tc * o * (T::one() - o);
            out[4 * h + j] = T::zero();
            out[5 * h + j] = dc * f;
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
    let h = g.shape(s).cols / 2;
    let both = g.push(Op::LstmCellGrad, &[a, s, dout])?;
    let part = |g: &mut Graph, need: bool, start, len| {
        if need {
            g.push(Op::SliceCols { start, len }, &[both]).map(Some)
        } else {
            Ok(None)
        }
    };
    Ok(vec![
        part(g, needs[0], 0, 4 * h)?,
        part(g, needs[1], 4 * h, 2 * h)?,
    ])
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
        let mut grads = [9.0f64; 6];
        cpu_grad(&[0.0; 4], &[9.0, 2.0], &[0.0, 1.0], 1, &mut grads);
        assert_eq!(grads[4..], [0.0, 0.5]);
        // dc' = 1: da_i = g·i(1 − i) = 0, da_f = c·f(1 − f) = 2/4, da_g = i = 1/2, da_o = 0.
        assert_eq!(grads[..4], [0.0, 0.5, 0.5, 0.0]);
    }

    #[test]
    fn tanh_stable_matches_libm() {
        for i in -400..=400 {
            let x = i as f64 * 0.025;
            assert!((tanh_stable(x) - x.tanh()).abs() <= 1e-9 * x.tanh().abs().max(1e-6));
            let xf = x as f32;
            assert!(
                (tanh_stable(xf) - xf.tanh()).abs()
                    <= 2.0 * f32::EPSILON * xf.tanh().abs().max(1e-6)
            );
        }
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
        let grad = Op::LstmCellGrad.shape(&[Shape::new(3, 16), state, state], &f32s);
        assert_eq!(grad, Ok(Shape::new(3, 24)));
        assert!(Op::LstmCellGrad
            .shape(&[Shape::new(3, 16), state, Shape::new(3, 4)], &f32s)
            .is_err());
    }
}
