//! Hamming search on binary codes (semantic hashing, Salakhutdinov & Hinton 2009): each
//! code unit thresholded to one bit, codes packed 64 bits to a word, and the distance
//! between two codes the number of differing bits, popcount(a XOR b).

use rayon::prelude::*;

use crate::neighbours::{insert_sorted, Neighbours, SearchError, SelfMatch};

/// Codes of `bits` bits each, packed into `words` u64 per code.
#[derive(Clone, Debug, PartialEq)]
pub struct BinaryCodes {
    pub bits: usize,
    words: usize,
    packed: Vec<u64>,
}

impl BinaryCodes {
    /// Bit j of a code is set when unit j exceeds `at` (0.5 for a sigmoid code).
    pub fn threshold(values: &[f32], dim: usize, at: f32) -> Result<BinaryCodes, SearchError> {
        if dim == 0 || values.len() % dim != 0 {
            return Err(SearchError::Shape {
                what: "the codes",
                len: values.len(),
                dim,
            });
        }
        let words = dim.div_ceil(64);
        let mut packed = vec![0u64; values.len() / dim * words];
        for (code, row) in packed.chunks_mut(words).zip(values.chunks(dim)) {
            for (j, _) in row.iter().enumerate().filter(|&(_, &v)| v > at) {
                code[j / 64] |= 1 << (j % 64);
            }
        }
        Ok(BinaryCodes {
            bits: dim,
            words,
            packed,
        })
    }

    pub fn count(&self) -> usize {
        self.packed.len() / self.words.max(1)
    }

    /// Bytes a code takes when stored: `bits / 8` rounded up.
    pub fn bytes_per_code(&self) -> usize {
        self.bits.div_ceil(8)
    }

    /// The codes as bytes, `bytes_per_code` per code, bit j in byte j / 8 at bit j % 8:
    /// NumPy's `np.packbits(bits, axis=1, bitorder='little')` layout, so
    /// `np.unpackbits(codes, axis=1, bitorder='little')[:, :bits]` gives the bits back.
    pub fn to_bytes(&self) -> Vec<u8> {
        let per_code = self.bytes_per_code();
        let mut out = Vec::with_capacity(self.count() * per_code);
        for code in self.packed.chunks_exact(self.words.max(1)) {
            let bytes = code.iter().flat_map(|w| w.to_le_bytes());
            out.extend(bytes.take(per_code));
        }
        out
    }

    /// Codes of `bits` bits back from [`BinaryCodes::to_bytes`]'s layout; bits past
    /// `bits` in the last byte must be zero.
    pub fn from_bytes(bytes: &[u8], bits: usize) -> Result<BinaryCodes, SearchError> {
        let per_code = bits.div_ceil(8);
        if bits == 0 || bytes.len() % per_code != 0 {
            return Err(SearchError::Shape {
                what: "the packed codes",
                len: bytes.len(),
                dim: per_code,
            });
        }
        let words = bits.div_ceil(64);
        let mut packed = vec![0u64; bytes.len() / per_code * words];
        for (code, row) in packed.chunks_mut(words).zip(bytes.chunks(per_code)) {
            for (b, &byte) in row.iter().enumerate() {
                code[b / 8] |= u64::from(byte) << (8 * (b % 8));
            }
            if bits % 64 != 0 && code[words - 1] >> (bits % 64) != 0 {
                return Err(SearchError::StrayBits { bits });
            }
        }
        Ok(BinaryCodes {
            bits,
            words,
            packed,
        })
    }

    /// Code `i`, `words` u64 of it.
    pub(crate) fn code(&self, i: usize) -> &[u64] {
        &self.packed[i * self.words..(i + 1) * self.words]
    }
}

pub(crate) fn distance(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// The `k` index codes nearest each query code in Hamming distance, nearest first;
/// ties (common: distances are small integers) go to the lower index row.
pub fn k_nearest_hamming(
    index: &BinaryCodes,
    query: &BinaryCodes,
    k: usize,
    self_match: SelfMatch,
) -> Result<Neighbours, SearchError> {
    if index.bits != query.bits {
        return Err(SearchError::Width {
            index: index.bits,
            query: query.bits,
        });
    }
    let n = index.count();
    if n == 0 {
        return Err(SearchError::EmptyIndex);
    }
    if k == 0 {
        return Err(SearchError::ZeroK);
    }
    let available = if self_match == SelfMatch::Exclude {
        n - 1
    } else {
        n
    };
    if k > available {
        return Err(SearchError::KTooLarge { k, available });
    }
    let m = query.count();
    let mut indices = vec![0u32; m * k];
    let mut distances = vec![0f32; m * k];
    indices
        .par_chunks_mut(k)
        .zip(distances.par_chunks_mut(k))
        .enumerate()
        .for_each(|(q, (ids, ds))| {
            let code = query.code(q);
            let mut best: Vec<(f32, u32)> = Vec::with_capacity(k + 1);
            // Distances are integers: compare them as such against the k-th best.
            let mut worst = u32::MAX;
            for (i, other) in index.packed.chunks_exact(index.words).enumerate() {
                let d = distance(code, other);
                if d >= worst || (self_match == SelfMatch::Exclude && i == q) {
                    continue;
                }
                insert_sorted(&mut best, k, (d as f32, i as u32));
                if best.len() == k {
                    worst = best[k - 1].0 as u32;
                }
            }
            for (slot, (d, i)) in best.into_iter().enumerate() {
                ids[slot] = i;
                ds[slot] = d;
            }
        });
    Ok(Neighbours {
        k,
        indices,
        distances,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_thresholded_and_packed_across_words() {
        // 70 units: bits 0, 64 and 69 set, the rest below the threshold.
        let mut v = vec![0.2f32; 70];
        v[0] = 0.9;
        v[64] = 0.6;
        v[69] = 1.0;
        let c = BinaryCodes::threshold(&v, 70, 0.5).unwrap();
        assert_eq!(c.packed, vec![1, 1 | 1 << 5]);
        assert_eq!(distance(c.code(0), &[0, 0]), 3);
    }

    #[test]
    fn stored_bytes_are_numpys_little_endian_packbits() {
        // 10 units: bits 0, 3 and 9 set → bytes 0b0000_1001, 0b0000_0010.
        let mut v = vec![0.0f32; 10];
        for j in [0, 3, 9] {
            v[j] = 1.0;
        }
        let c = BinaryCodes::threshold(&v, 10, 0.5).unwrap();
        assert_eq!(c.to_bytes(), vec![0b1001, 0b10]);
        assert_eq!(BinaryCodes::from_bytes(&c.to_bytes(), 10).unwrap(), c);
        // 70 bits span two words; the round trip keeps them.
        let wide: Vec<f32> = (0..140).map(|j| ((j * 7) % 3 == 0) as u8 as f32).collect();
        let c = BinaryCodes::threshold(&wide, 70, 0.5).unwrap();
        assert_eq!(c.to_bytes().len(), 2 * 9);
        assert_eq!(BinaryCodes::from_bytes(&c.to_bytes(), 70).unwrap(), c);
        // A set bit past the code's width is not a code of this width.
        assert_eq!(
            BinaryCodes::from_bytes(&[0, 0b100], 10),
            Err(SearchError::StrayBits { bits: 10 })
        );
    }

    #[test]
    fn nearest_codes_by_differing_bits_ties_to_the_lower_row() {
        let index = BinaryCodes::threshold(
            &[
                1.0, 1.0, 1.0, 1.0, // 0: 4 bits away from the query 0000
                1.0, 0.0, 0.0, 0.0, // 1: 1 bit
                0.0, 0.0, 0.0, 1.0, // 2: 1 bit, a tie with row 1
                0.0, 0.0, 0.0, 0.0, // 3: the same code
            ],
            4,
            0.5,
        )
        .unwrap();
        let query = BinaryCodes::threshold(&[0.0; 4], 4, 0.5).unwrap();
        let n = k_nearest_hamming(&index, &query, 3, SelfMatch::Allow).unwrap();
        assert_eq!(n.of(0), (&[3, 1, 2][..], &[0.0, 1.0, 1.0][..]));
        let own = k_nearest_hamming(&index, &index, 1, SelfMatch::Exclude).unwrap();
        // Row 3's nearest other code is row 1 (1 bit; row 2 ties and loses).
        assert_eq!(own.of(3).0, &[1]);
        assert_eq!(
            k_nearest_hamming(&index, &query, 5, SelfMatch::Allow),
            Err(SearchError::KTooLarge { k: 5, available: 4 })
        );
    }
}
