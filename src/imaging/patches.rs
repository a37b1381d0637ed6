//! Random training patches from a set of photos, with the eight dihedral augmentations
//! and, for colour, optionally the six orders of the channels.

use super::{Image, ImagingError, Symmetry};
use crate::ops::random::philox4x32_10;

/// The Philox stream the sampler draws from: its own, apart from the engine's noise
/// streams, so the same seed for both gives unrelated numbers.
const PATCH_STREAM: u32 = 0x5041_5443; // "PATC"

/// Draws square patches, each from an image chosen with probability proportional to
/// its area, at a uniformly random position, under one of the 8 symmetries of the
/// square (identity, 3 rotations, 4 reflections) chosen uniformly.
///
/// Patch number k (counting from 0 over the sampler's life) is a pure function of
/// (seed, k): its four words are `philox4x32_10([k_lo, k_hi, PATCH_STREAM, 0], seed)`,
/// giving the image, the row, the column and the symmetry (the top 3 bits of the last
/// word; its low 29 bits pick the channel order when [`PatchSampler::permuting_channels`]
/// is on). So one seed gives the same patches on every machine, and `sample(3)` then
/// `sample(5)` equals `sample(8)`.
#[derive(Clone, Debug)]
pub struct PatchSampler {
    images: Vec<Image>,
    /// Cumulative pixel counts: image i owns pixel indices `ends[i - 1]..ends[i]`.
    ends: Vec<u64>,
    /// All the images' pixels, `ends`' last entry.
    pixels: u64,
    patch: usize,
    key: [u32; 2],
    drawn: u64,
    permute_channels: bool,
}

/// The six orders of three channels: output channel c of a patch is source channel
/// `CHANNEL_ORDERS[k][c]`.
const CHANNEL_ORDERS: [[usize; 3]; 6] = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
];

impl PatchSampler {
    /// A sampler of `patch` × `patch` patches. The images must all have the same number
    /// of channels and each be at least `patch` pixels high and wide.
    pub fn new(images: Vec<Image>, patch: usize, seed: u64) -> Result<Self, ImagingError> {
        let first = images
            .first()
            .ok_or_else(|| ImagingError::shape("a patch sampler needs at least one image"))?;
        if patch == 0 {
            return Err(ImagingError::shape(
                "patches need a side of at least 1 pixel",
            ));
        }
        let channels = first.channels();
        let mut ends = Vec::with_capacity(images.len());
        let mut total = 0u64;
        for (i, image) in images.iter().enumerate() {
            if image.channels() != channels {
                return Err(ImagingError::shape(format!(
                    "image {i} has {} channels but image 0 has {channels}; \
                     convert them all to grey or all to colour",
                    image.channels()
                )));
            }
            if image.height() < patch || image.width() < patch {
                return Err(ImagingError::shape(format!(
                    "image {i} ({}×{} pixels) is smaller than a {patch}×{patch} patch",
                    image.height(),
                    image.width()
                )));
            }
            total += (image.height() * image.width()) as u64;
            ends.push(total);
        }
        if total > u64::from(u32::MAX) {
            return Err(ImagingError::shape(format!(
                "images of {total} pixels in all; the sampler handles at most 2³² − 1"
            )));
        }
        Ok(PatchSampler {
            images,
            ends,
            pixels: total,
            patch,
            key: [seed as u32, (seed >> 32) as u32],
            drawn: 0,
            permute_channels: false,
        })
    }

    /// With `on`, each colour patch also comes with its channels in one of their six
    /// orders, drawn uniformly (grey patches are unchanged). For noise that is
    /// independent and alike in every channel (Gaussian, σ the same in R, G and B), a
    /// clean patch with its channels reordered is as good a training example as the
    /// patch itself, and it shows the network six times the colours: the ten bundled
    /// training photos have few greens and teals, and a colour model trained longer
    /// without it turned the teal background of a held-out photo blue
    /// (`docs/denoiser-archs/colour-stage2-rejected.log`).
    pub fn permuting_channels(mut self, on: bool) -> Self {
        self.permute_channels = on;
        self
    }

    /// Values per patch: C·p·p.
    pub fn patch_len(&self) -> usize {
        self.images[0].channels() * self.patch * self.patch
    }

    /// The next `n` patches as rows `[n, C·p·p]`, each row planar (NCHW per row), on the
    /// images' 0–1 scale.
    pub fn sample(&mut self, n: usize) -> Vec<f32> {
        let mut out = vec![0.0; n * self.patch_len()];
        for row in out.chunks_exact_mut(self.patch_len()) {
            let k = self.drawn;
            self.drawn += 1;
            let words = philox4x32_10([k as u32, (k >> 32) as u32, PATCH_STREAM, 0], self.key);
            self.write_patch(words, row);
        }
        out
    }

    fn write_patch(&self, [w_image, w_row, w_col, w_symmetry]: [u32; 4], out: &mut [f32]) {
        let pixel = below(w_image, self.pixels);
        let index = self.ends.partition_point(|&end| end <= pixel);
        let image = &self.images[index];
        let p = self.patch;
        let top = below(w_row, (image.height() - p + 1) as u64) as usize;
        let left = below(w_col, (image.width() - p + 1) as u64) as usize;
        let symmetry = Symmetry::from_bits(w_symmetry >> 29); // the top 3 bits: 0..8
        let order = if self.permute_channels && image.channels() == 3 {
            // The low 29 bits, uniform on 0..2^29: ⌊v · 6 / 2^29⌋ is one of the 6 orders.
            CHANNEL_ORDERS[((u64::from(w_symmetry & ((1 << 29) - 1)) * 6) >> 29) as usize]
        } else {
            CHANNEL_ORDERS[0]
        };
        for (c, plane) in out.chunks_exact_mut(p * p).enumerate() {
            let source = order[c]; // grey: c = 0, itself
            for (i, row) in plane.chunks_exact_mut(p).enumerate() {
                for (j, value) in row.iter_mut().enumerate() {
                    let (y, x) = symmetry.source(i, j, p, p);
                    *value = image.get(source, top + y, left + x);
                }
            }
        }
    }
}

/// A number in `0..n` from a uniform 32-bit word, ⌊w · n / 2³²⌋ (Lemire's multiply;
/// the bias is below n / 2³²).
fn below(word: u32, n: u64) -> u64 {
    (u64::from(word) * n) >> 32
}
