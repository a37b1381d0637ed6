//! Patch-based denoising with a learned dictionary (Elad & Aharon 2006, without the
//! K-SVD step on the noisy image itself): every overlapping p×p patch of the noisy
//! grey image, its mean removed, is sparse-coded by FISTA; its reconstruction plus the
//! mean is put back, and each pixel is the average of the patches that cover it.
//!
//! The coder's λ sets how much each patch is shrunk towards the dictionary; for noise
//! of deviation σ a λ proportional to σ works (tune the factor on training images).

use crate::imaging::Image;

use super::{DictionaryError, SparseCoder};

/// Patches coded per FISTA run (the last run is padded with zero rows).
const PATCHES_PER_RUN: usize = 4096;

/// Patch positions 0, stride, 2·stride, … along a side of `len`, always ending with
/// the last position `len − patch` so every pixel is covered.
fn positions(len: usize, patch: usize, stride: usize) -> Vec<usize> {
    let last = len - patch;
    let mut p: Vec<usize> = (0..=last).step_by(stride).collect();
    if p.last() != Some(&last) {
        p.push(last);
    }
    p
}

/// Denoises the one-channel `noisy` image with `coder` (atoms of p×p values, `patch`
/// = p), taking patches every `stride` pixels and `iterations` FISTA steps each.
pub fn denoise_image(
    coder: &mut SparseCoder,
    noisy: &Image,
    patch: usize,
    stride: usize,
    iterations: usize,
) -> Result<Image, DictionaryError> {
    let n = patch * patch;
    if noisy.channels() != 1 {
        return Err(DictionaryError::invalid(format!(
            "patch denoising works on grey images; this one has {} channels",
            noisy.channels()
        )));
    }
    if patch == 0 || coder.dictionary().width() != n {
        return Err(DictionaryError::invalid(format!(
            "the dictionary's atoms have {} values, not {patch}×{patch}",
            coder.dictionary().width()
        )));
    }
    if stride == 0 {
        return Err(DictionaryError::invalid(
            "the patch stride must be at least 1",
        ));
    }
    let (h, w) = (noisy.height(), noisy.width());
    if h < patch || w < patch {
        return Err(DictionaryError::invalid(format!(
            "the image ({h}×{w}) is smaller than a {patch}×{patch} patch"
        )));
    }
    let corners: Vec<(usize, usize)> = positions(h, patch, stride)
        .into_iter()
        .flat_map(|y| positions(w, patch, stride).into_iter().map(move |x| (y, x)))
        .collect();
    let mut sum = vec![0.0f64; h * w];
    let mut count = vec![0u32; h * w];
    for chunk in corners.chunks(PATCHES_PER_RUN) {
        let mut rows = vec![0.0f32; PATCHES_PER_RUN * n];
        let mut means = Vec::with_capacity(chunk.len());
        for (row, &(y, x)) in rows.chunks_exact_mut(n).zip(chunk) {
            for i in 0..patch {
                for j in 0..patch {
                    row[i * patch + j] = noisy.get(0, y + i, x + j);
                }
            }
            let mean = row.iter().sum::<f32>() / n as f32;
            row.iter_mut().for_each(|v| *v -= mean);
            means.push(mean);
        }
        let codes = coder.encode_fista(&rows, iterations)?;
        for ((recon, &(y, x)), mean) in codes.reconstruction.chunks_exact(n).zip(chunk).zip(means) {
            for i in 0..patch {
                for j in 0..patch {
                    let at = (y + i) * w + x + j;
                    sum[at] += (recon[i * patch + j] + mean) as f64;
                    count[at] += 1;
                }
            }
        }
    }
    let data = sum
        .iter()
        .zip(&count)
        .map(|(&s, &c)| (s / c as f64) as f32)
        .collect();
    Image::new(noisy.shape(), data).map_err(|e| DictionaryError::invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::positions;

    #[test]
    fn positions_cover_the_last_pixel() {
        assert_eq!(positions(10, 4, 3), vec![0, 3, 6]);
        assert_eq!(positions(11, 4, 3), vec![0, 3, 6, 7]);
        assert_eq!(positions(4, 4, 2), vec![0]);
    }
}
