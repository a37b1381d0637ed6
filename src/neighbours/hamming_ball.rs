//! Semantic hashing's lookup (Salakhutdinov & Hinton 2009, §4): each index code is a
//! memory address holding the rows that hash to it, and a query is answered by
//! probing every address within `radius` bits of its own code. That is
//! Σ_{d ≤ r} C(bits, d) probes (1 + 32 + 496 = 529 for 32 bits at r = 2), whatever the
//! index's size, against one popcount per index row for [`super::hamming`]'s ranking.
//! Where the ball has more addresses than the index has rows, the rows are scanned
//! instead, so the cost never exceeds the scan's.

use std::collections::HashMap;

use rayon::prelude::*;

use crate::neighbours::hamming::{distance, BinaryCodes};
use crate::neighbours::SearchError;

/// The index rows within a Hamming ball of each query, nearest first and ties to the
/// lower row: query `q`'s are `rows[offsets[q]..offsets[q + 1]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct BallMatches {
    pub radius: usize,
    pub offsets: Vec<usize>,
    pub rows: Vec<u32>,
    pub distances: Vec<u32>,
    /// Whether the index was scanned rather than probed (a ball larger than the index).
    pub scanned: bool,
}

impl BallMatches {
    pub fn queries(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Query `q`'s matches and their distances in bits.
    pub fn of(&self, q: usize) -> (&[u32], &[u32]) {
        let r = self.offsets[q]..self.offsets[q + 1];
        (&self.rows[r.clone()], &self.distances[r])
    }

    /// The share of all matches that carry their query's label (precision within the
    /// ball), or `None` where no query matched anything.
    pub fn precision(&self, query_labels: &[u32], index_labels: &[u32]) -> Option<f64> {
        let hits = (0..self.queries())
            .flat_map(|q| self.of(q).0.iter().map(move |&i| (q, i)))
            .filter(|&(q, i)| query_labels[q] == index_labels[i as usize])
            .count();
        (!self.rows.is_empty()).then(|| hits as f64 / self.rows.len() as f64)
    }
}

/// The index codes as addresses: each distinct code and the rows holding it.
pub struct HammingTable<'a> {
    index: &'a BinaryCodes,
    buckets: HashMap<&'a [u64], Vec<u32>>,
}

impl<'a> HammingTable<'a> {
    pub fn new(index: &'a BinaryCodes) -> Self {
        let mut buckets: HashMap<&[u64], Vec<u32>> = HashMap::new();
        for i in 0..index.count() {
            buckets.entry(index.code(i)).or_default().push(i as u32);
        }
        HammingTable { index, buckets }
    }

    /// Distinct codes among the index rows.
    pub fn addresses(&self) -> usize {
        self.buckets.len()
    }

    /// Addresses in a ball of `radius` bits, Σ_{d ≤ r} C(bits, d), saturating.
    pub fn probes(&self, radius: usize) -> u64 {
        let bits = self.index.bits as u64;
        let (mut total, mut choose) = (1u64, 1u64);
        for d in 1..=radius as u64 {
            // C(b, d) = C(b, d − 1) · (b − d + 1) / d, exact at every step.
            choose = choose.saturating_mul(bits - d + 1) / d;
            total = total.saturating_add(choose);
        }
        total
    }

    /// Every index row within `radius` bits of each query code.
    pub fn within(&self, queries: &BinaryCodes, radius: usize) -> Result<BallMatches, SearchError> {
        let bits = self.index.bits;
        if queries.bits != bits {
            return Err(SearchError::Width {
                index: bits,
                query: queries.bits,
            });
        }
        if radius > bits {
            return Err(SearchError::RadiusTooLarge { radius, bits });
        }
        let scanned = self.probes(radius) > self.index.count() as u64;
        let per_query: Vec<Vec<(u32, u32)>> = (0..queries.count())
            .into_par_iter()
            .map(|q| {
                let code = queries.code(q);
                let mut found = if scanned {
                    self.scan(code, radius)
                } else {
                    self.probe(code, radius)
                };
                found.sort_unstable();
                found
            })
            .collect();
        let mut matches = BallMatches {
            radius,
            offsets: vec![0],
            rows: vec![],
            distances: vec![],
            scanned,
        };
        for found in per_query {
            for (d, row) in found {
                matches.rows.push(row);
                matches.distances.push(d);
            }
            matches.offsets.push(matches.rows.len());
        }
        Ok(matches)
    }

    /// (distance, row) of the rows at every address within `radius` of `code`.
    fn probe(&self, code: &[u64], radius: usize) -> Vec<(u32, u32)> {
        let mut address = code.to_vec();
        let mut found = vec![];
        for d in 0..=radius {
            for_each_choice(self.index.bits, d, |flips| {
                let flip = |a: &mut [u64]| flips.iter().for_each(|&j| a[j / 64] ^= 1 << (j % 64));
                flip(&mut address);
                if let Some(rows) = self.buckets.get(&address[..]) {
                    found.extend(rows.iter().map(|&r| (d as u32, r)));
                }
                flip(&mut address);
            });
        }
        found
    }

    fn scan(&self, code: &[u64], radius: usize) -> Vec<(u32, u32)> {
        (0..self.index.count())
            .map(|i| (distance(code, self.index.code(i)), i as u32))
            .filter(|&(d, _)| d as usize <= radius)
            .collect()
    }
}

/// Calls `f` with every choice of `d` distinct positions out of `n`, ascending, in
/// lexicographic order (once with none for d = 0).
fn for_each_choice(n: usize, d: usize, mut f: impl FnMut(&[usize])) {
    if d > n {
        return;
    }
    let mut chosen: Vec<usize> = (0..d).collect();
    loop {
        f(&chosen);
        // The rightmost position that can still move right, then the rest packed after it.
        let Some(i) = (0..d).rev().find(|&i| chosen[i] < n - d + i) else {
            return;
        };
        chosen[i] += 1;
        for j in i + 1..d {
            chosen[j] = chosen[j - 1] + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(rows: &[&[u8]]) -> BinaryCodes {
        let bits = rows[0].len();
        let values: Vec<f32> = rows
            .iter()
            .flat_map(|r| r.iter().map(|&b| b as f32))
            .collect();
        BinaryCodes::threshold(&values, bits, 0.5).unwrap()
    }

    #[test]
    fn choices_are_every_subset_of_the_size_once() {
        let mut seen = vec![];
        for_each_choice(4, 2, |c| seen.push(c.to_vec()));
        assert_eq!(seen, [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3]]);
        let mut none = 0;
        for_each_choice(3, 0, |c| none += 1 + c.len());
        assert_eq!(none, 1);
    }

    #[test]
    fn the_ball_holds_exactly_the_rows_within_the_radius() {
        let index = codes(&[
            &[0, 0, 0, 0, 0, 0, 0, 0], // 0 bits from the query
            &[1, 1, 1, 0, 0, 0, 0, 0], // 3
            &[0, 0, 0, 0, 0, 0, 0, 1], // 1
            &[0, 0, 0, 0, 0, 0, 0, 0], // 0, the same address as row 0
            &[1, 0, 0, 0, 0, 0, 1, 0], // 2
        ]);
        let query = codes(&[&[0; 8]]);
        let table = HammingTable::new(&index);
        assert_eq!(table.addresses(), 4);
        assert_eq!(table.probes(2), 1 + 8 + 28);
        let m = table.within(&query, 2).unwrap();
        // 37 addresses against 5 rows: the rows are scanned.
        assert!(m.scanned);
        assert_eq!(m.of(0), (&[0, 3, 2, 4][..], &[0, 0, 1, 2][..]));
        assert_eq!(table.within(&query, 0).unwrap().of(0).0, &[0, 3]);
    }

    #[test]
    fn probing_and_scanning_agree() {
        // 24-bit codes of 3,000 pseudo-random rows: a radius-1 ball (25 addresses) is
        // probed, a radius-3 ball (2,325 addresses, fewer than 3,000 rows) too, and
        // radius 4 (12,951) scanned; each must equal the scan.
        let mut state = 0x9e3779b97f4a7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 4 == 0) as u8 as f32
        };
        let values: Vec<f32> = (0..3000 * 24).map(|_| next()).collect();
        let index = BinaryCodes::threshold(&values, 24, 0.5).unwrap();
        let queries = BinaryCodes::threshold(&values[..50 * 24], 24, 0.5).unwrap();
        let table = HammingTable::new(&index);
        for (radius, scanned) in [(1, false), (3, false), (4, true)] {
            let m = table.within(&queries, radius).unwrap();
            assert_eq!(m.scanned, scanned, "radius {radius}");
            for q in 0..queries.count() {
                let mut expect = table.scan(queries.code(q), radius);
                expect.sort_unstable();
                let got: Vec<(u32, u32)> = m
                    .of(q)
                    .1
                    .iter()
                    .copied()
                    .zip(m.of(q).0.iter().copied())
                    .collect();
                assert_eq!(got, expect, "query {q}, radius {radius}");
                // Each query is in the index: its own row is in its ball at distance 0.
                assert!(m.of(q).0.contains(&(q as u32)));
            }
        }
    }

    #[test]
    fn a_radius_past_the_width_or_another_width_is_refused() {
        let index = codes(&[&[0, 1, 0, 1]]);
        let table = HammingTable::new(&index);
        assert_eq!(
            table.within(&index, 5),
            Err(SearchError::RadiusTooLarge { radius: 5, bits: 4 })
        );
        assert!(matches!(
            table.within(&codes(&[&[0, 1, 0]]), 1),
            Err(SearchError::Width { index: 4, query: 3 })
        ));
    }
}
