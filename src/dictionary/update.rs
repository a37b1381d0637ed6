//! The dictionary step of online dictionary learning (Mairal, Bach, Ponce & Sapiro,
//! "Online dictionary learning for sparse coding", ICML 2009, Algorithms 1 and 2), on
//! the host: the minibatches' codes are summarised by
//!
//! ```text
//! A ← β·A + HᵀH / B      [K, K]
//! B ← β·B + XᵀH / B      [n, K]      (B rows of X and H in the minibatch)
//! ```
//!
//! with scikit-learn's forgetting factor β (`MiniBatchDictionaryLearning.
//! _update_inner_stats`), and one sweep of block-coordinate descent over the atoms
//! minimises the surrogate ½ tr(D A Dᵀ) − tr(D B) one atom at a time:
//!
//! ```text
//! r_k = b_k − Σ_{i≠k} A_ki d_i = A_kk d_k + b_k − Σ_i A_ki d_i,    d_k ← r_k / ‖r_k‖
//! ```
//!
//! With the other atoms fixed, the surrogate in d_k is ½ A_kk ‖d_k‖² − ⟨d_k, r_k⟩,
//! whose first term is constant on the unit sphere, so r_k/‖r_k‖ is the exact
//! minimiser over unit-norm atoms and every atom step lowers the surrogate.
//! (scikit-learn takes the same step and projects onto the unit *ball*, ‖d_k‖ ≤ 1;
//! atoms in use end at norm 1 either way, since a shorter atom costs more ℓ1.)
//! An atom with A_kk ≤ 10⁻⁶ is unused: as in scikit-learn it restarts from a random
//! row of the minibatch plus 1 % noise.

use rand::rngs::StdRng;
use rand::Rng;

use super::Dictionary;

/// Below this A_kk, atom k counts as unused (scikit-learn's and SPAMS' threshold).
const UNUSED: f64 = 1e-6;

/// Mairal's A and B accumulated over minibatches, in f64.
#[derive(Clone, Debug)]
pub struct SufficientStatistics {
    atoms: usize,
    width: usize,
    /// A = Σ β-weighted HᵀH / B, `[K, K]`.
    pub a: Vec<f64>,
    /// B = Σ β-weighted XᵀH / B, `[n, K]`.
    pub b: Vec<f64>,
    steps: u64,
}

impl SufficientStatistics {
    pub fn new(atoms: usize, width: usize) -> Self {
        SufficientStatistics {
            atoms,
            width,
            a: vec![0.0; atoms * atoms],
            b: vec![0.0; width * atoms],
            steps: 0,
        }
    }

    /// Folds in one minibatch of `batch` rows from its HᵀH `[K, K]` and XᵀH `[n, K]`.
    ///
    /// β = (θ + 1 − B)/(θ + 1) with θ = (t + 1)·B for the first B − 1 steps t and
    /// θ = B² + t + 1 − B afterwards (scikit-learn 1.9, after Mairal et al. §3.4): old
    /// minibatches fade while the dictionary moves most, then are kept.
    pub fn add_batch(&mut self, hth: &[f32], xth: &[f32], batch: usize) {
        let (t, bs) = (self.steps as f64, batch as f64);
        let theta = if t < bs - 1.0 {
            (t + 1.0) * bs
        } else {
            bs * bs + t + 1.0 - bs
        };
        let beta = (theta + 1.0 - bs) / (theta + 1.0);
        for (a, &h) in self.a.iter_mut().zip(hth) {
            *a = beta * *a + h as f64 / bs;
        }
        for (b, &x) in self.b.iter_mut().zip(xth) {
            *b = beta * *b + x as f64 / bs;
        }
        self.steps += 1;
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }
}

/// One block-coordinate sweep over the atoms (see the module docs). Unused atoms
/// restart from a random non-flat row of `batch` (`[rows, n]`) with 1 % noise.
/// Returns how many atoms restarted.
pub fn update_atoms(
    dictionary: &mut Dictionary,
    stats: &SufficientStatistics,
    batch: &[f32],
    rng: &mut StdRng,
) -> usize {
    let (k, n) = (stats.atoms, stats.width);
    debug_assert_eq!((dictionary.atoms(), dictionary.width()), (k, n));
    let mut restarted = 0;
    let mut r = vec![0.0f64; n];
    for j in 0..k {
        let a_jj = stats.a[j * k + j];
        let mut moved = false;
        if a_jj > UNUSED {
            for (p, r_p) in r.iter_mut().enumerate() {
                *r_p = stats.b[p * k + j];
            }
            for i in 0..k {
                let a_ji = stats.a[j * k + i];
                if i == j || a_ji == 0.0 {
                    continue;
                }
                for (r_p, &d) in r.iter_mut().zip(dictionary.atom(i)) {
                    *r_p -= a_ji * d as f64;
                }
            }
            let norm = r.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm > 1e-12 {
                dictionary.set_atom(j, &r);
                moved = true;
            }
        }
        if !moved && restart_atom(dictionary, j, batch, rng) {
            restarted += 1;
        }
    }
    restarted
}

/// Atom j ← a random non-flat row of `batch` plus Gaussian noise of 1 % of its
/// standard deviation, at unit norm. False when the batch has only flat rows.
fn restart_atom(dictionary: &mut Dictionary, j: usize, batch: &[f32], rng: &mut StdRng) -> bool {
    let n = dictionary.width();
    let rows: Vec<&[f32]> = batch
        .chunks_exact(n)
        .filter(|row| row.iter().any(|&v| v != 0.0))
        .collect();
    if rows.is_empty() {
        return false;
    }
    let row = rows[rng.random_range(0..rows.len())];
    let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
    let level = 0.01 * if var > 0.0 { var.sqrt() } else { 1.0 };
    let v: Vec<f64> = row
        .iter()
        .map(|&x| x as f64 + level * standard_normal(rng))
        .collect();
    dictionary.set_atom(j, &v);
    true
}

/// A standard normal draw (Box–Muller).
fn standard_normal(rng: &mut StdRng) -> f64 {
    let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}
