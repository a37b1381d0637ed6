//! Outlier scores without an autoencoder, to compare it with: PCA reconstruction error
//! with the same code size, the distance to the k-th nearest other row (k-NN outlier
//! score; Ramaswamy, Rastogi & Shim, SIGMOD 2000), and an isolation forest (Liu, Ting
//! & Zhou, ICDM 2008).

use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};

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

/// One node of an isolation tree: a random axis-aligned cut, or a leaf holding the
/// number of training samples that reached it.
enum Node {
    Cut {
        feature: usize,
        at: f32,
        left: usize,
        right: usize,
    },
    Leaf {
        size: usize,
    },
}

/// c(n) = 2 H(n − 1) − 2(n − 1)/n, H(i) ≈ ln i + γ: the mean path length of an
/// unsuccessful search in a binary search tree of n keys, which normalises path lengths.
fn mean_path(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + 0.577_215_664_901_532_9) - 2.0 * (n - 1.0) / n
        }
    }
}

/// Grows an isolation tree on the rows `members` of `data` (row-major, `dim` wide).
fn grow(
    data: &[f32],
    dim: usize,
    members: Vec<usize>,
    depth: usize,
    limit: usize,
    rng: &mut StdRng,
    nodes: &mut Vec<Node>,
) -> usize {
    let at = nodes.len();
    nodes.push(Node::Leaf {
        size: members.len(),
    });
    if depth >= limit || members.len() <= 1 {
        return at;
    }
    // The features that still vary among these rows, with their ranges.
    let ranges: Vec<(usize, f32, f32)> = (0..dim)
        .filter_map(|j| {
            let (lo, hi) = members.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &r| {
                let v = data[r * dim + j];
                (lo.min(v), hi.max(v))
            });
            (lo < hi).then_some((j, lo, hi))
        })
        .collect();
    if ranges.is_empty() {
        return at;
    }
    let (feature, lo, hi) = ranges[rng.random_range(0..ranges.len())];
    let cut = rng.random_range(lo..hi);
    let (l, r): (Vec<usize>, Vec<usize>) = members
        .into_iter()
        .partition(|&m| data[m * dim + feature] < cut);
    let left = grow(data, dim, l, depth + 1, limit, rng, nodes);
    let right = grow(data, dim, r, depth + 1, limit, rng, nodes);
    nodes[at] = Node::Cut {
        feature,
        at: cut,
        left,
        right,
    };
    at
}

/// h(x): the depth at which `row` reaches a leaf, plus c(size) for the samples left
/// unseparated there.
fn path_length(nodes: &[Node], row: &[f32]) -> f64 {
    let (mut node, mut depth) = (0, 0.0);
    loop {
        match nodes[node] {
            Node::Cut {
                feature,
                at,
                left,
                right,
            } => {
                node = if row[feature] < at { left } else { right };
                depth += 1.0;
            }
            Node::Leaf { size } => return depth + mean_path(size),
        }
    }
}

/// Isolation-forest anomaly scores s(x) = 2^(−E[h(x)] / c(ψ)) of every row, from
/// `trees` trees each grown on `subsample` = ψ rows drawn without replacement (100 and
/// 256 in the paper and in scikit-learn), to depth ⌈log₂ ψ⌉. Near 1: isolated early,
/// an outlier; below ½: an inlier.
pub fn isolation_forest(
    data: &[f32],
    rows: usize,
    dim: usize,
    trees: usize,
    subsample: usize,
    seed: u64,
) -> Vec<f32> {
    let psi = subsample.clamp(1, rows.max(1));
    let limit = (psi as f64).log2().ceil() as usize;
    let mut rng = StdRng::seed_from_u64(seed);
    let forest: Vec<Vec<Node>> = (0..trees)
        .map(|_| {
            let members = sample(&mut rng, rows, psi).into_vec();
            let mut nodes = vec![];
            grow(data, dim, members, 0, limit, &mut rng, &mut nodes);
            nodes
        })
        .collect();
    let norm = mean_path(psi).max(f64::MIN_POSITIVE);
    data.chunks(dim)
        .map(|row| {
            let mean: f64 =
                forest.iter().map(|t| path_length(t, row)).sum::<f64>() / trees.max(1) as f64;
            2f64.powf(-mean / norm) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_path_lengths_follow_the_harmonic_formula() {
        // c(256) = 2(ln 255 + γ) − 2·255/256 ≈ 10.2448 (the paper's normaliser).
        assert!((mean_path(256) - 10.2448).abs() < 1e-3);
        assert_eq!((mean_path(1), mean_path(2)), (0.0, 1.0));
    }

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

    #[test]
    fn the_isolation_forest_isolates_a_far_point_first() {
        // A 7 × 7 grid in [0, 0.6]² and one point at (10, 10).
        let mut data: Vec<f32> = (0..49)
            .flat_map(|i| [(i % 7) as f32 * 0.1, (i / 7) as f32 * 0.1])
            .collect();
        data.extend([10.0, 10.0]);
        let s = isolation_forest(&data, 50, 2, 100, 256, 0);
        let inliers = s[..49].iter().cloned().fold(f32::MIN, f32::max);
        assert!(s[49] > 0.7 && inliers < s[49], "{s:?}");
        // The grid's centre is deep inside: s below ½ means "normal".
        assert!(s[24] < 0.5, "{}", s[24]);
    }
}
