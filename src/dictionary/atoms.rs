//! The dictionary itself: K atoms of width n, each a row of unit Euclidean norm, and
//! the host-side quantities FISTA's step needs from it (the Gram matrix D·Dᵀ and its
//! largest eigenvalue, the Lipschitz constant of the reconstruction term's gradient).

use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::SeedableRng;

use super::DictionaryError;

/// A patch whose norm is below this counts as flat (nothing to learn from it).
const FLAT_NORM: f64 = 1e-8;

/// K atoms, rows of `[K, n]` in row-major order, the layout of scikit-learn's
/// `components_` (`n_components × n_features`), so a code row h reconstructs x̂ = h·D.
#[derive(Clone, Debug, PartialEq)]
pub struct Dictionary {
    atoms: usize,
    width: usize,
    values: Vec<f32>,
}

impl Dictionary {
    /// A dictionary from rows that are already there (a loaded file, a test); each
    /// row is rescaled to unit norm. Refuses empty shapes, non-finite values and
    /// zero rows.
    pub fn from_rows(
        atoms: usize,
        width: usize,
        values: Vec<f32>,
    ) -> Result<Self, DictionaryError> {
        if atoms == 0 || width == 0 {
            return Err(DictionaryError::invalid(format!(
                "a dictionary needs at least one atom of at least one value, got {atoms} × {width}"
            )));
        }
        if values.len() != atoms * width {
            return Err(DictionaryError::invalid(format!(
                "{} values do not fill {atoms} atoms of width {width}",
                values.len()
            )));
        }
        let mut d = Dictionary {
            atoms,
            width,
            values,
        };
        for j in 0..atoms {
            let norm = norm(d.atom(j));
            if !norm.is_finite() || norm < FLAT_NORM {
                return Err(DictionaryError::invalid(format!(
                    "atom {j} has norm {norm}: atoms must be finite and non-zero"
                )));
            }
            d.set_atom(j, &d.atom(j).iter().map(|&v| v as f64).collect::<Vec<_>>());
        }
        Ok(d)
    }

    /// K distinct rows of `data` ([rows, width]) drawn at random among the rows that
    /// are not flat, each rescaled to unit norm: atoms start on the data, as in
    /// Mairal et al. 2009 (scikit-learn starts from an SVD of the data instead).
    ///
    /// Refuses a dictionary larger than its data: more atoms than non-flat rows.
    pub fn from_data(
        data: &[f32],
        width: usize,
        atoms: usize,
        seed: u64,
    ) -> Result<Self, DictionaryError> {
        let rows = super::check_data(data, width)?;
        if atoms == 0 {
            return Err(DictionaryError::invalid(
                "a dictionary needs at least 1 atom",
            ));
        }
        let usable: Vec<usize> = (0..rows)
            .filter(|&r| norm(&data[r * width..(r + 1) * width]) >= FLAT_NORM)
            .collect();
        if atoms > usable.len() {
            return Err(DictionaryError::invalid(format!(
                "{atoms} atoms is more than the {} non-constant training rows ({rows} rows in all); \
                 use at most {} atoms or more data",
                usable.len(),
                usable.len()
            )));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let picked = sample(&mut rng, usable.len(), atoms);
        let mut values = Vec::with_capacity(atoms * width);
        for i in picked {
            let r = usable[i];
            values.extend_from_slice(&data[r * width..(r + 1) * width]);
        }
        Dictionary::from_rows(atoms, width, values)
    }

    pub fn atoms(&self) -> usize {
        self.atoms
    }
    pub fn width(&self) -> usize {
        self.width
    }
    /// `[K, n]`, row-major.
    pub fn values(&self) -> &[f32] {
        &self.values
    }
    pub fn atom(&self, j: usize) -> &[f32] {
        &self.values[j * self.width..(j + 1) * self.width]
    }

    /// Replaces atom j by `v / ‖v‖` (v must be non-zero).
    pub(crate) fn set_atom(&mut self, j: usize, v: &[f64]) {
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        for (d, &x) in self.values[j * self.width..(j + 1) * self.width]
            .iter_mut()
            .zip(v)
        {
            *d = (x / n) as f32;
        }
    }

    /// G = D·Dᵀ, `[K, K]` in f64.
    pub fn gram(&self) -> Vec<f64> {
        let k = self.atoms;
        let mut g = vec![0.0; k * k];
        for i in 0..k {
            for j in i..k {
                let dot: f64 = self
                    .atom(i)
                    .iter()
                    .zip(self.atom(j))
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum();
                g[i * k + j] = dot;
                g[j * k + i] = dot;
            }
        }
        g
    }
}

/// The largest eigenvalue of the symmetric positive semi-definite `gram` ([k, k]) by
/// power iteration, the Lipschitz constant L of ∇_h ½‖x − D h‖² = Dᵀ(D h − x).
///
/// The Rayleigh quotient approaches λ_max from below, so the result is raised by
/// 0.1 %: FISTA's step 1/L must not exceed the inverse of the true constant. Atoms of
/// unit norm give 1 ≤ λ_max ≤ K (the trace), which bounds the search.
pub fn largest_eigenvalue(gram: &[f64], k: usize) -> f64 {
    let mut v = vec![1.0 / (k as f64).sqrt(); k];
    let mut estimate = 0.0;
    for _ in 0..1000 {
        let w: Vec<f64> = (0..k)
            .map(|i| (0..k).map(|j| gram[i * k + j] * v[j]).sum())
            .collect();
        let rayleigh: f64 = w.iter().zip(&v).map(|(a, b)| a * b).sum();
        let n = w.iter().map(|x| x * x).sum::<f64>().sqrt();
        if n == 0.0 {
            return 0.0;
        }
        v = w.iter().map(|x| x / n).collect();
        let settled = (rayleigh - estimate).abs() <= 1e-9 * rayleigh.abs();
        estimate = rayleigh;
        if settled {
            break;
        }
    }
    estimate * 1.001
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_iteration_finds_the_largest_eigenvalue() {
        // diag(1, 4, 2) rotated is still {1, 4, 2}: a plain diagonal suffices here.
        let g = [1.0, 0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 2.0];
        let l = largest_eigenvalue(&g, 3);
        assert!((l - 4.004).abs() < 1e-6, "{l}");
    }

    #[test]
    fn atoms_start_on_non_flat_rows_at_unit_norm() {
        let data = [0.0, 0.0, 3.0, 4.0, 1.0, 0.0];
        let d = Dictionary::from_data(&data, 2, 2, 7).unwrap();
        let mut atoms: Vec<Vec<f32>> = (0..2).map(|j| d.atom(j).to_vec()).collect();
        atoms.sort_by(|a, b| a[0].total_cmp(&b[0]));
        assert_eq!(atoms, vec![vec![0.6, 0.8], vec![1.0, 0.0]]);
        let err = Dictionary::from_data(&data, 2, 3, 7).unwrap_err();
        assert_eq!(
            err.to_string(),
            "3 atoms is more than the 2 non-constant training rows (3 rows in all); \
             use at most 2 atoms or more data"
        );
    }
}
