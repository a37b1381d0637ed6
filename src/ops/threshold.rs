//! Soft-thresholding, the proximal operator of λ‖x‖₁ (the shrinkage step of ISTA and
//! FISTA for sparse coding; Beck & Teboulle, SIAM J. Imaging Sci. 2009):
//!
//! ```text
//! SoftThreshold              [x, λ [1, 1]] → S_λ(x) = sign(x) · max(|x| − λ, 0)
//! SoftThresholdGrad { wrt }  [x, λ, dy]    → wrt 0: dy ⊙ [|x| > λ]
//!                                            wrt 1: −dy ⊙ sign(x) ⊙ [|x| > λ]  (per element)
//! ```
//!
//! λ is a value, not a constant, so a solver can feed λ·step (the step changes with
//! the line search or the Lipschitz estimate) without a new plan. λ is meant to be
//! ≥ 0; a negative λ is not clamped (the formula then pushes values away from 0).
//! VJP: dx is `SoftThresholdGrad { wrt: 0 }`; dλ is the sum over every element of
//! `SoftThresholdGrad { wrt: 1 }` (a `Reduce` to [1, 1]). At the kinks |x| = λ the rule
//! takes the derivative 0 (the subgradient's lower end), as `[|x| > λ]` says.
//! sign(±0) = 0, so S_λ(±0) = 0. Every step is exact in f32 (a subtraction, a
//! comparison, a product by ±1 or 0): the backends agree bit for bit.
//!
//! WGSL: `shaders/elementwise.wgsl`, entries `soft_threshold` and `soft_threshold_grad`
//! (override constant `WRT`).

use crate::graph::{Graph, GraphError, Shape, ValueId};
use crate::ops::{Axis, Op, Real, Reduce, ReduceKind};

/// Shape rule of `SoftThreshold` over [x, λ] and of `SoftThresholdGrad` over [x, λ, dy].
pub fn shape(s: &[Shape]) -> Result<Shape, String> {
    if s[1] != Shape::SCALAR {
        return Err(format!("the threshold λ must be [1, 1], got {}", s[1]));
    }
    if let Some(dy) = s.get(2) {
        if *dy != s[0] {
            return Err(format!("dy {dy} differs from x {}", s[0]));
        }
    }
    Ok(s[0])
}

#[inline(always)]
fn sign<T: Real>(x: T) -> T {
    if x > T::zero() {
        T::one()
    } else if x < T::zero() {
        -T::one()
    } else {
        T::zero()
    }
}

pub fn cpu<T: Real>(x: &[T], lambda: T, out: &mut [T]) {
    for (o, &x) in out.iter_mut().zip(x) {
        *o = sign(x) * (x.abs() - lambda).max(T::zero());
    }
}

pub fn cpu_grad<T: Real>(wrt: usize, x: &[T], lambda: T, dy: &[T], out: &mut [T]) {
    for ((o, &x), &dy) in out.iter_mut().zip(x).zip(dy) {
        let pass = if x.abs() > lambda {
            T::one()
        } else {
            T::zero()
        };
        *o = if wrt == 0 {
            dy * pass
        } else {
            -(dy * sign(x) * pass)
        };
    }
}

pub fn vjp(
    g: &mut Graph,
    inputs: &[ValueId],
    dout: ValueId,
    needs: &[bool],
) -> Result<Vec<Option<ValueId>>, GraphError> {
    let (x, lambda) = (inputs[0], inputs[1]);
    let dx = if needs[0] {
        Some(g.push(Op::SoftThresholdGrad { wrt: 0 }, &[x, lambda, dout])?)
    } else {
        None
    };
    let dlambda = if needs[1] {
        let each = g.push(Op::SoftThresholdGrad { wrt: 1 }, &[x, lambda, dout])?;
        let sum = Op::Reduce(Reduce {
            kind: ReduceKind::Sum,
            axis: Axis::All,
        });
        Some(g.push(sum, &[each])?)
    } else {
        None
    };
    Ok(vec![dx, dlambda])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrinks_towards_zero_by_lambda() {
        let x = [-3.0f64, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5];
        let mut y = [0.0; 7];
        cpu(&x, 1.0, &mut y);
        assert_eq!(y, [-2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.5]);
        let mut dl = [0.0; 7];
        cpu_grad(1, &x, 1.0, &[1.0; 7], &mut dl);
        assert_eq!(dl, [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0]);
    }

    #[test]
    fn lambda_must_be_a_scalar() {
        let f32s = [crate::graph::DType::F32; 2];
        let err = Op::SoftThreshold
            .shape(&[Shape::new(2, 3), Shape::new(1, 3)], &f32s)
            .unwrap_err();
        assert_eq!(err, "the threshold λ must be [1, 1], got [1, 3]");
    }
}
