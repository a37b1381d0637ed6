//! Outlier scores without an autoencoder, to compare it with: PCA reconstruction error
//! with the same code size, and the distance to the k-th nearest other row (k-NN
//! outlier score; Ramaswamy, Rastogi & Shim, SIGMOD 2000).

use crate::linalg::Pca;
use crate::neighbours::{k_nearest, Rows, SearchError, SelfMatch};
use crate::outliers::row_mse;

/// Mean squared error per row of the rank-`k` PCA reconstruction fitted on the same
/// `rows × dim` data: x̂ = μ + VᵀV(x − μ), V the top `k` principal directions.
pub fn pca_errors(data: &[f32], rows: usize, dim: usize, k: usize) -> Vec<f32> {
    let pca = Pca::fit(data, rows, dim, k, 100);
    let recon = pca.decode(&pca.encode(data, rows), rows);
    row_mse(data, &recon, dim)
}

/// Each row's Euclidean distance to its k-th nearest other row of `data`.
pub fn knn_distances(data: &[f32], dim: usize, k: usize) -> Result<Vec<f32>, SearchError> {
    let rows = Rows::new(data, dim);
    Ok(k_nearest(rows, rows, k, SelfMatch::Exclude)?.kth_distances())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_point_off_the_line_scores_highest_on_both() {
        // Nine points on the line y = 2x and one far off it.
        let mut data: Vec<f32> = (0..9).flat_map(|i| [i as f32, 2.0 * i as f32]).collect();
        data.extend([4.0, -6.0]);
        let pca = pca_errors(&data, 10, 2, 1);
        let knn = knn_distances(&data, 2, 2).unwrap();
        let argmax = |v: &[f32]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
        assert_eq!(argmax(&pca), 9);
        assert_eq!(argmax(&knn), 9);
        // Neighbours 1 and 2 of (0, 0) are (1, 2) and (2, 4): distance √20.
        assert!((knn[0] - 20f32.sqrt()).abs() < 1e-6);
    }
}
