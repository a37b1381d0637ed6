//! The scalar type the CPU reference computes in: `f32` for training and parity,
//! `f64` for the finite-difference gradient check. Only what the ops use.

use std::fmt::Debug;
use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

pub trait Real:
    Copy
    + Debug
    + Default
    + PartialOrd
    + Send
    + Sync
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + 'static
{
    fn from_f32(x: f32) -> Self;
    /// A row index held in a value of this type (f32: the bits, exact for any u32;
    /// f64: the number).
    fn from_index(i: u32) -> Self;
    fn to_index(self) -> usize;
    fn from_f64(x: f64) -> Self;
    fn to_f64(self) -> f64;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn exp_m1(self) -> Self;
    fn tanh(self) -> Self;
    fn sqrt(self) -> Self;
    fn abs(self) -> Self;
    fn powi(self, n: i32) -> Self;
    fn zero() -> Self {
        Self::from_f32(0.0)
    }
    fn one() -> Self {
        Self::from_f32(1.0)
    }
    fn max(self, other: Self) -> Self {
        if self > other {
            self
        } else {
            other
        }
    }
    /// `C = op(A) · op(B) + β·C` (row-major `m × n`, rows `ldc ≥ n` apart), with A
    /// (`m × k`) and B (`k × n`) given by non-negative (row, column) strides, so
    /// transposes are strides, not copies. β is 0 (overwrite) or 1 (accumulate).
    /// Panics on negative strides or operands too short.
    #[allow(clippy::too_many_arguments)]
    fn gemm_ld(
        m: usize,
        k: usize,
        n: usize,
        a: &[Self],
        a_strides: (isize, isize),
        b: &[Self],
        b_strides: (isize, isize),
        beta: Self,
        c: &mut [Self],
        ldc: usize,
    );
    /// [`Real::gemm_ld`] with C's rows packed (`ldc = n`).
    #[allow(clippy::too_many_arguments)]
    fn gemm_beta(
        m: usize,
        k: usize,
        n: usize,
        a: &[Self],
        a_strides: (isize, isize),
        b: &[Self],
        b_strides: (isize, isize),
        beta: Self,
        c: &mut [Self],
    ) {
        Self::gemm_ld(m, k, n, a, a_strides, b, b_strides, beta, c, n)
    }
    /// `C = op(A) · op(B)`, C overwritten (see [`Real::gemm_beta`]).
    #[allow(clippy::too_many_arguments)]
    fn gemm(
        m: usize,
        k: usize,
        n: usize,
        a: &[Self],
        a_strides: (isize, isize),
        b: &[Self],
        b_strides: (isize, isize),
        c: &mut [Self],
    ) {
        Self::gemm_beta(m, k, n, a, a_strides, b, b_strides, Self::zero(), c)
    }
    /// `C += op(A) · op(B)` (see [`Real::gemm_beta`]).
    #[allow(clippy::too_many_arguments)]
    fn gemm_accumulate(
        m: usize,
        k: usize,
        n: usize,
        a: &[Self],
        a_strides: (isize, isize),
        b: &[Self],
        b_strides: (isize, isize),
        c: &mut [Self],
    ) {
        Self::gemm_beta(m, k, n, a, a_strides, b, b_strides, Self::one(), c)
    }
}

macro_rules! impl_real {
    ($t:ty, $gemm:path, $from_index:expr, $to_index:expr) => {
        impl Real for $t {
            fn from_f32(x: f32) -> Self {
                x as $t
            }
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            fn from_index(i: u32) -> Self {
                $from_index(i)
            }
            fn to_index(self) -> usize {
                $to_index(self)
            }
            fn to_f64(self) -> f64 {
                self as f64
            }
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            fn exp_m1(self) -> Self {
                <$t>::exp_m1(self)
            }
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            fn powi(self, n: i32) -> Self {
                <$t>::powi(self, n)
            }
            fn gemm_ld(
                m: usize,
                k: usize,
                n: usize,
                a: &[Self],
                (rsa, csa): (isize, isize),
                b: &[Self],
                (rsb, csb): (isize, isize),
                beta: Self,
                c: &mut [Self],
                ldc: usize,
            ) {
                if m == 0 || n == 0 {
                    return;
                }
                assert!(ldc >= n && c.len() >= (m - 1) * ldc + n);
                if k == 0 {
                    if beta == 0.0 {
                        for row in c.chunks_mut(ldc).take(m) {
                            row[..n].iter_mut().for_each(|x| *x = 0.0);
                        }
                    }
                    return;
                }
                // Extents checked so the raw-pointer call below stays in bounds.
                let last = |rows: usize, cols: usize, rs: isize, cs: isize| {
                    (rows as isize - 1) * rs + (cols as isize - 1) * cs
                };
                assert!(
                    rsa >= 0 && csa >= 0 && rsb >= 0 && csb >= 0,
                    "gemm strides must be non-negative"
                );
                assert!((last(m, k, rsa, csa) as usize) < a.len());
                assert!((last(k, n, rsb, csb) as usize) < b.len());
                // SAFETY: all strides are non-negative and the last element of each
                // operand was checked to lie inside its slice.
                unsafe {
                    $gemm(
                        m,
                        k,
                        n,
                        1.0,
                        a.as_ptr(),
                        rsa,
                        csa,
                        b.as_ptr(),
                        rsb,
                        csb,
                        beta,
                        c.as_mut_ptr(),
                        ldc as isize,
                        1,
                    )
                }
            }
        }
    };
}

impl_real!(
    f32,
    matrixmultiply::sgemm,
    f32::from_bits,
    |x: f32| x.to_bits() as usize
);
impl_real!(f64, matrixmultiply::dgemm, f64::from, |x: f64| x as usize);
