//! Small dense linear algebra on the host: the PCA baseline every autoencoder is
//! compared with. Products go through the same sgemm as the CPU backend.

use crate::ops::Real;

/// Principal component analysis: the mean and the top `k` principal directions.
#[derive(Clone, Debug)]
pub struct Pca {
    pub dim: usize,
    pub mean: Vec<f32>,
    /// `k` orthonormal directions, row-major `[k, dim]`, by decreasing variance.
    pub components: Vec<f32>,
    /// Variance along each direction.
    pub variances: Vec<f32>,
}

impl Pca {
    pub fn k(&self) -> usize {
        self.variances.len()
    }

    /// Fits on `rows × dim` data by subspace iteration on the covariance matrix
    /// (block power method with Gram–Schmidt and a Rayleigh–Ritz step at the end),
    /// in f64. `iterations` ≈ 100 is plenty for reconstruction error.
    pub fn fit(data: &[f32], rows: usize, dim: usize, k: usize, iterations: usize) -> Pca {
        assert!(k <= dim && rows > 0 && data.len() == rows * dim);
        let mut mean = vec![0.0f64; dim];
        for r in data.chunks(dim) {
            for (m, &x) in mean.iter_mut().zip(r) {
                *m += x as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= rows as f64);
        let centred: Vec<f64> = data
            .chunks(dim)
            .flat_map(|r| r.iter().zip(&mean).map(|(&x, &m)| x as f64 - m))
            .collect();
        // C = Xᵀ X / (n − 1)
        let mut cov = vec![0.0f64; dim * dim];
        f64::gemm(
            dim,
            rows,
            dim,
            &centred,
            (1, dim as isize),
            &centred,
            (dim as isize, 1),
            &mut cov,
        );
        let scale = 1.0 / (rows.max(2) - 1) as f64;
        cov.iter_mut().for_each(|c| *c *= scale);

        // Q: [dim, k], start from a deterministic, well-spread basis.
        let mut q: Vec<f64> = (0..dim * k)
            .map(|i| (((i * 7919) % 104729) as f64 / 104729.0) - 0.5)
            .collect();
        orthonormalise_columns(&mut q, dim, k);
        let mut cq = vec![0.0f64; dim * k];
        let times_cov = |q: &[f64], cq: &mut [f64]| {
            f64::gemm(dim, dim, k, &cov, (dim as isize, 1), q, (k as isize, 1), cq)
        };
        for _ in 0..iterations {
            times_cov(&q, &mut cq);
            std::mem::swap(&mut q, &mut cq);
            orthonormalise_columns(&mut q, dim, k);
        }
        // Rayleigh–Ritz: diagonalise H = Qᵀ C Q (k × k) by Jacobi rotations.
        times_cov(&q, &mut cq);
        let mut h = vec![0.0f64; k * k];
        f64::gemm(k, dim, k, &q, (1, k as isize), &cq, (k as isize, 1), &mut h);
        let (evals, evecs) = jacobi_eigen(&mut h, k);
        let mut order: Vec<usize> = (0..k).collect();
        order.sort_by(|&a, &b| evals[b].total_cmp(&evals[a]));
        let mut components = vec![0.0f32; k * dim];
        for (row, &j) in order.iter().enumerate() {
            for d in 0..dim {
                let v: f64 = (0..k).map(|i| q[d * k + i] * evecs[i * k + j]).sum();
                components[row * dim + d] = v as f32;
            }
        }
        Pca {
            dim,
            mean: mean.iter().map(|&m| m as f32).collect(),
            components,
            variances: order.iter().map(|&j| evals[j] as f32).collect(),
        }
    }

    /// Codes `[rows, k]` of `rows × dim` data.
    pub fn encode(&self, data: &[f32], rows: usize) -> Vec<f32> {
        let centred: Vec<f32> = data
            .chunks(self.dim)
            .flat_map(|r| r.iter().zip(&self.mean).map(|(&x, &m)| x - m))
            .collect();
        let k = self.k();
        let mut codes = vec![0.0f32; rows * k];
        f32::gemm(
            rows,
            self.dim,
            k,
            &centred,
            (self.dim as isize, 1),
            &self.components,
            (1, self.dim as isize),
            &mut codes,
        );
        codes
    }

    /// Reconstructions `[rows, dim]` from codes.
    pub fn decode(&self, codes: &[f32], rows: usize) -> Vec<f32> {
        let k = self.k();
        let mut out = vec![0.0f32; rows * self.dim];
        f32::gemm(
            rows,
            k,
            self.dim,
            codes,
            (k as isize, 1),
            &self.components,
            (self.dim as isize, 1),
            &mut out,
        );
        for r in out.chunks_mut(self.dim) {
            for (x, &m) in r.iter_mut().zip(&self.mean) {
                *x += m;
            }
        }
        out
    }

    /// Mean squared reconstruction error per element.
    pub fn reconstruction_mse(&self, data: &[f32], rows: usize) -> f64 {
        let recon = self.decode(&self.encode(data, rows), rows);
        let sum: f64 = recon
            .iter()
            .zip(data)
            .map(|(&r, &x)| ((r - x) as f64).powi(2))
            .sum();
        sum / data.len() as f64
    }
}

/// The principal angles (radians, ascending) between the subspaces spanned by the
/// `k` rows of `a` and the `k` rows of `b`, both row-major `[k, dim]` and of full
/// rank: θ_i = arccos σ_i(Q_aᵀ Q_b) with Q orthonormal bases (Björck & Golub 1973).
/// All zero when the subspaces coincide.
pub fn principal_angles(a: &[f32], b: &[f32], k: usize, dim: usize) -> Vec<f64> {
    assert!(a.len() == k * dim && b.len() == k * dim);
    // Rows of [k, dim] are the columns of its transpose [dim, k].
    let basis = |m: &[f32]| {
        let mut q = vec![0.0f64; dim * k];
        for i in 0..k {
            for d in 0..dim {
                q[d * k + i] = m[i * dim + d] as f64;
            }
        }
        orthonormalise_columns(&mut q, dim, k);
        q
    };
    let (qa, qb) = (basis(a), basis(b));
    // M = Q_aᵀ Q_b [k, k]; the singular values of M are √eig(MᵀM).
    let mut m = vec![0.0f64; k * k];
    for i in 0..k {
        for j in 0..k {
            m[i * k + j] = (0..dim).map(|d| qa[d * k + i] * qb[d * k + j]).sum();
        }
    }
    let mut mtm = vec![0.0f64; k * k];
    for i in 0..k {
        for j in 0..k {
            mtm[i * k + j] = (0..k).map(|r| m[r * k + i] * m[r * k + j]).sum();
        }
    }
    let (eig, _) = jacobi_eigen(&mut mtm, k);
    let mut angles: Vec<f64> = eig
        .into_iter()
        .map(|e| e.max(0.0).sqrt().min(1.0).acos())
        .collect();
    angles.sort_by(f64::total_cmp);
    angles
}

/// Modified Gram–Schmidt on the `k` columns of a row-major `[dim, k]` matrix.
fn orthonormalise_columns(q: &mut [f64], dim: usize, k: usize) {
    for j in 0..k {
        for i in 0..j {
            let dot: f64 = (0..dim).map(|d| q[d * k + i] * q[d * k + j]).sum();
            for d in 0..dim {
                q[d * k + j] -= dot * q[d * k + i];
            }
        }
        let norm = (0..dim)
            .map(|d| q[d * k + j].powi(2))
            .sum::<f64>()
            .sqrt()
            .max(1e-300);
        for d in 0..dim {
            q[d * k + j] /= norm;
        }
    }
}

/// Eigen-decomposition of a symmetric `n × n` matrix by cyclic Jacobi rotations.
/// Returns the eigenvalues and the eigenvectors as columns of a row-major matrix.
fn jacobi_eigen(a: &mut [f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0f64; n * n];
    for i in 0..n {
        v[i * n + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        if off < 1e-22 {
            break;
        }
        for p in 0..n {
            for r in p + 1..n {
                let apr = a[p * n + r];
                if apr.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[r * n + r] - a[p * n + p]) / (2.0 * apr);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for kk in 0..n {
                    let (akp, akr) = (a[kk * n + p], a[kk * n + r]);
                    a[kk * n + p] = c * akp - s * akr;
                    a[kk * n + r] = s * akp + c * akr;
                }
                for kk in 0..n {
                    let (apk, ark) = (a[p * n + kk], a[r * n + kk]);
                    a[p * n + kk] = c * apk - s * ark;
                    a[r * n + kk] = s * apk + c * ark;
                }
                for kk in 0..n {
                    let (vkp, vkr) = (v[kk * n + p], v[kk * n + r]);
                    v[kk * n + p] = c * vkp - s * vkr;
                    v[kk * n + r] = s * vkp + c * vkr;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_angles_of_a_subspace_with_itself_rotated_are_zero() {
        // span{e0, e1} given by two different bases, against span{e0, e2}.
        let a = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
        let a_mixed = [1.0, 1.0, 0.0, 1.0, -2.0, 0.0];
        let b = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        let same = principal_angles(&a, &a_mixed, 2, 3);
        assert!(same.iter().all(|&t| t < 1e-7), "{same:?}");
        let other = principal_angles(&a, &b, 2, 3);
        assert!(other[0] < 1e-7 && (other[1] - std::f64::consts::FRAC_PI_2).abs() < 1e-7);
    }
}
