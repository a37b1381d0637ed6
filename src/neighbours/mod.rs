//! Brute-force k nearest neighbours under the Euclidean distance: similarity search on
//! codes (`aegpu search`) and the k-NN outlier baseline.
//!
//! ```text
//! ‖q − x‖² = ‖q‖² + ‖x‖² − 2 q·x
//! ```
//!
//! The q·x of a block of queries against a block of index rows is one sgemm (the CPU
//! backend's), so the search runs at matrix-multiply speed; each query keeps its k best
//! candidates as it goes (a partial selection, never a full sort of the index). The
//! expansion loses digits when ‖q‖ ≫ ‖q − x‖, so the k distances returned are computed
//! again directly, in f64, and the k neighbours sorted by them. Blocks of queries run in
//! parallel on the rayon pool. [`hamming`] searches binary codes by Hamming distance, and [`hamming_ball`] looks
//! them up as memory addresses.

pub mod hamming;
pub mod hamming_ball;

use rayon::prelude::*;
use thiserror::Error;

use crate::ops::Real;

/// Queries per parallel task, and index rows per sgemm: 64 × 1024 f32 distances
/// (256 KiB) stay in a core's L2 cache.
const QUERY_BLOCK: usize = 64;
const INDEX_BLOCK: usize = 1024;

#[derive(Debug, Error, PartialEq)]
pub enum SearchError {
    #[error("k must be at least 1")]
    ZeroK,
    #[error("k = {k} is more than the {available} index rows a query can have as neighbours")]
    KTooLarge { k: usize, available: usize },
    #[error("the index has {index} columns but the queries have {query}")]
    Width { index: usize, query: usize },
    #[error("{what} holds {len} values, not a whole number of rows of {dim}")]
    Shape {
        what: &'static str,
        len: usize,
        dim: usize,
    },
    #[error("the index is empty")]
    EmptyIndex,
    #[error("a packed code has bits set past its {bits} bits")]
    StrayBits { bits: usize },
    #[error("a Hamming radius of {radius} is more than the codes' {bits} bits")]
    RadiusTooLarge { radius: usize, bits: usize },
}

/// Rows of `dim` values, row-major: the index searched or the queries.
#[derive(Clone, Copy, Debug)]
pub struct Rows<'a> {
    pub values: &'a [f32],
    pub dim: usize,
}

impl<'a> Rows<'a> {
    pub fn new(values: &'a [f32], dim: usize) -> Self {
        Rows { values, dim }
    }

    pub fn count(&self) -> usize {
        self.values.len() / self.dim.max(1)
    }

    fn row(&self, i: usize) -> &'a [f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    fn check(&self, what: &'static str) -> Result<(), SearchError> {
        if self.dim == 0 || self.values.len() % self.dim != 0 {
            return Err(SearchError::Shape {
                what,
                len: self.values.len(),
                dim: self.dim,
            });
        }
        Ok(())
    }
}

/// Whether a query may be its own neighbour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelfMatch {
    /// Queries and index are different sets: every index row is a candidate.
    Allow,
    /// The queries are the index itself (query i is index row i) and a row is not its
    /// own neighbour: the k-NN outlier score of a row is its distance to the k-th
    /// *other* row.
    Exclude,
}

/// The k nearest index rows of each query, nearest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbours {
    pub k: usize,
    /// `queries × k` index rows.
    pub indices: Vec<u32>,
    /// `queries × k` Euclidean distances, ascending per query.
    pub distances: Vec<f32>,
}

impl Neighbours {
    pub fn queries(&self) -> usize {
        self.indices.len() / self.k.max(1)
    }

    /// The neighbours of query `q` and their distances.
    pub fn of(&self, q: usize) -> (&[u32], &[f32]) {
        let r = q * self.k..(q + 1) * self.k;
        (&self.indices[r.clone()], &self.distances[r])
    }

    /// Each query's distance to its k-th nearest neighbour.
    pub fn kth_distances(&self) -> Vec<f32> {
        self.distances
            .chunks(self.k)
            .map(|d| d[self.k - 1])
            .collect()
    }

    /// Precision@k: the fraction of a query's k neighbours whose label is the query's,
    /// averaged over the queries.
    pub fn precision_at_k(&self, query_labels: &[u32], index_labels: &[u32]) -> f64 {
        let hits: usize = (0..self.queries())
            .map(|q| {
                self.of(q)
                    .0
                    .iter()
                    .filter(|&&i| index_labels[i as usize] == query_labels[q])
                    .count()
            })
            .sum();
        hits as f64 / (self.queries() * self.k).max(1) as f64
    }
}

/// The `k` nearest rows of `index` to each row of `query` (Euclidean), nearest first;
/// ties go to the lower index row.
pub fn k_nearest(
    index: Rows,
    query: Rows,
    k: usize,
    self_match: SelfMatch,
) -> Result<Neighbours, SearchError> {
    index.check("the index")?;
    query.check("the queries")?;
    if index.dim != query.dim {
        return Err(SearchError::Width {
            index: index.dim,
            query: query.dim,
        });
    }
    let n = index.count();
    if n == 0 {
        return Err(SearchError::EmptyIndex);
    }
    if k == 0 {
        return Err(SearchError::ZeroK);
    }
    let available = match self_match {
        SelfMatch::Allow => n,
        SelfMatch::Exclude => n - 1,
    };
    if k > available {
        return Err(SearchError::KTooLarge { k, available });
    }
    let index_norms: Vec<f32> = (0..n).map(|i| squared_norm(index.row(i))).collect();
    let m = query.count();
    let mut indices = vec![0u32; m * k];
    let mut distances = vec![0f32; m * k];
    indices
        .par_chunks_mut(QUERY_BLOCK * k)
        .zip(distances.par_chunks_mut(QUERY_BLOCK * k))
        .enumerate()
        .for_each(|(block, (idx_out, dist_out))| {
            let first = block * QUERY_BLOCK;
            let rows = idx_out.len() / k;
            let q = Rows::new(
                &query.values[first * query.dim..(first + rows) * query.dim],
                query.dim,
            );
            let skip = |local: usize| match self_match {
                SelfMatch::Allow => None,
                SelfMatch::Exclude => Some(first + local),
            };
            let mut best = search_block(index, &index_norms, q, k, skip);
            for (local, cand) in best.iter_mut().enumerate() {
                refine(cand, q.row(local), index);
                for (slot, &(d, i)) in cand.iter().enumerate() {
                    idx_out[local * k + slot] = i;
                    dist_out[local * k + slot] = d;
                }
            }
        });
    Ok(Neighbours {
        k,
        indices,
        distances,
    })
}

fn squared_norm(row: &[f32]) -> f32 {
    row.iter().map(|&v| v as f64 * v as f64).sum::<f64>() as f32
}

/// The k best (squared distance, index row) candidates of each query in `q`, by the
/// norm expansion, sorted ascending.
fn search_block(
    index: Rows,
    index_norms: &[f32],
    q: Rows,
    k: usize,
    skip: impl Fn(usize) -> Option<usize>,
) -> Vec<Vec<(f32, u32)>> {
    let rows = q.count();
    let dim = q.dim;
    let query_norms: Vec<f32> = (0..rows).map(|r| squared_norm(q.row(r))).collect();
    let mut best: Vec<Vec<(f32, u32)>> = vec![Vec::with_capacity(k + 1); rows];
    let mut dots = vec![0f32; rows * INDEX_BLOCK];
    for start in (0..index.count()).step_by(INDEX_BLOCK) {
        let cols = INDEX_BLOCK.min(index.count() - start);
        let block = &index.values[start * dim..(start + cols) * dim];
        // dots[r, j] = q_r · x_{start+j}: Q [rows, dim] times Xᵀ [dim, cols].
        f32::gemm(
            rows,
            dim,
            cols,
            q.values,
            (dim as isize, 1),
            block,
            (1, dim as isize),
            &mut dots[..rows * cols],
        );
        for r in 0..rows {
            let skipped = skip(r);
            let list = &mut best[r];
            for (j, &dot) in dots[r * cols..(r + 1) * cols].iter().enumerate() {
                let i = start + j;
                let d = (query_norms[r] + index_norms[i] - 2.0 * dot).max(0.0);
                if skipped == Some(i) || (list.len() == k && d >= list[k - 1].0) {
                    continue;
                }
                insert_sorted(list, k, (d, i as u32));
            }
        }
    }
    best
}

/// Inserts `c` into `list` (ascending, at most `k` long), after any equal distances so
/// that earlier index rows win ties.
pub(crate) fn insert_sorted(list: &mut Vec<(f32, u32)>, k: usize, c: (f32, u32)) {
    let at = list.partition_point(|e| e.0 <= c.0);
    list.insert(at, c);
    list.truncate(k);
}

/// Replaces the candidates' squared distances by the exact Euclidean distances (f64
/// sums) and sorts them again, ties by index row.
fn refine(cand: &mut [(f32, u32)], q: &[f32], index: Rows) {
    for c in cand.iter_mut() {
        let x = index.row(c.1 as usize);
        let d2: f64 = q
            .iter()
            .zip(x)
            .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
            .sum();
        c.0 = d2.sqrt() as f32;
    }
    cand.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Every distance by a plain double loop, then a full sort.
    fn naive(
        index: &[f32],
        query: &[f32],
        dim: usize,
        k: usize,
        exclude: bool,
    ) -> Vec<Vec<(f32, u32)>> {
        query
            .chunks(dim)
            .enumerate()
            .map(|(qi, q)| {
                let mut all: Vec<(f32, u32)> = index
                    .chunks(dim)
                    .enumerate()
                    .filter(|&(i, _)| !(exclude && i == qi))
                    .map(|(i, x)| {
                        let d: f64 = q
                            .iter()
                            .zip(x)
                            .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                            .sum();
                        (d.sqrt() as f32, i as u32)
                    })
                    .collect();
                all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                all.truncate(k);
                all
            })
            .collect()
    }

    fn random(rows: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (0..rows * dim)
            .map(|_| rng.random_range(-1.0..1.0f32))
            .collect()
    }

    fn assert_matches_naive(
        index_rows: usize,
        query_rows: usize,
        dim: usize,
        k: usize,
        self_match: SelfMatch,
    ) {
        let index = random(index_rows, dim, 1);
        let query = match self_match {
            SelfMatch::Allow => random(query_rows, dim, 2),
            SelfMatch::Exclude => index.clone(),
        };
        let got = k_nearest(
            Rows::new(&index, dim),
            Rows::new(&query, dim),
            k,
            self_match,
        )
        .unwrap();
        let want = naive(&index, &query, dim, k, self_match == SelfMatch::Exclude);
        for (q, want) in want.iter().enumerate() {
            let (ids, ds) = got.of(q);
            let want_ids: Vec<u32> = want.iter().map(|w| w.1).collect();
            assert_eq!(ids, &want_ids[..], "query {q} of {index_rows}×{dim}, k {k}");
            for (d, w) in ds.iter().zip(want) {
                assert!(
                    (d - w.0).abs() <= 1e-6 * w.0.max(1.0),
                    "query {q}: {d} vs {}",
                    w.0
                );
            }
        }
    }

    #[test]
    fn matches_a_naive_loop_on_awkward_sizes() {
        // Sizes straddle the 64-query and 1024-row blocks; random reals have no ties.
        assert_matches_naive(1, 3, 5, 1, SelfMatch::Allow);
        assert_matches_naive(7, 1, 3, 7, SelfMatch::Allow);
        assert_matches_naive(1030, 65, 33, 10, SelfMatch::Allow);
        assert_matches_naive(2100, 130, 2, 5, SelfMatch::Allow);
    }

    #[test]
    fn excluding_self_finds_the_nearest_other_rows() {
        assert_matches_naive(300, 300, 9, 5, SelfMatch::Exclude);
        assert_matches_naive(2, 2, 4, 1, SelfMatch::Exclude);
    }

    #[test]
    fn exact_duplicates_are_at_distance_zero_and_ties_go_to_the_lower_row() {
        // Rows 0 and 2 are the same point; a query there finds both at distance 0.
        let index = [0.0, 0.0, 3.0, 4.0, 0.0, 0.0];
        let n = k_nearest(
            Rows::new(&index, 2),
            Rows::new(&[0.0, 0.0], 2),
            3,
            SelfMatch::Allow,
        )
        .unwrap();
        assert_eq!(n.of(0).0, &[0, 2, 1]);
        assert_eq!(n.of(0).1, &[0.0, 0.0, 5.0]);
        assert_eq!(n.kth_distances(), vec![5.0]);
    }

    #[test]
    fn distances_stay_exact_far_from_the_origin() {
        // ‖q‖² ≈ 2·10⁸ swamps ‖q − x‖² = 1 in f32; the refined distance is still 1.
        let index = [1e4, 1e4, 1e4 + 1.0, 1e4];
        let n = k_nearest(
            Rows::new(&index, 2),
            Rows::new(&[1e4 + 1.0, 1e4 + 1.0], 2),
            2,
            SelfMatch::Allow,
        )
        .unwrap();
        assert_eq!(n.of(0).1[0], 1.0);
    }

    #[test]
    fn precision_at_k_counts_neighbours_sharing_the_label() {
        let n = Neighbours {
            k: 2,
            indices: vec![0, 1, 2, 0],
            distances: vec![0.0; 4],
        };
        // Query 0 (label 5): neighbours labelled 5, 6; query 1 (label 6): 6, 5.
        assert_eq!(n.precision_at_k(&[5, 6], &[5, 6, 6]), 0.5);
    }

    #[test]
    fn bad_requests_are_errors() {
        let x = [0.0f32; 6];
        let rows = Rows::new(&x, 2);
        assert_eq!(
            k_nearest(rows, rows, 0, SelfMatch::Allow),
            Err(SearchError::ZeroK)
        );
        assert_eq!(
            k_nearest(rows, rows, 4, SelfMatch::Allow),
            Err(SearchError::KTooLarge { k: 4, available: 3 })
        );
        assert_eq!(
            k_nearest(rows, rows, 3, SelfMatch::Exclude),
            Err(SearchError::KTooLarge { k: 3, available: 2 })
        );
        assert_eq!(
            k_nearest(rows, Rows::new(&x, 3), 1, SelfMatch::Allow),
            Err(SearchError::Width { index: 2, query: 3 })
        );
    }
}
