//! The eight symmetries of the square (the dihedral group D4: the identity, three
//! rotations, four reflections) acting on images. The patch sampler draws training
//! patches under them; the self-ensemble ([`crate::imaging::TileOptions::ensemble`])
//! denoises an image under several of them and averages the results mapped back.

use super::Image;
use crate::ops::spatial::ImageShape;

/// One symmetry of the square, as "transpose, then flip the rows, then flip the
/// columns": pixel (i, j) of the result is pixel (y, x) of the source, where
/// (y, x) = (j, i) when transposed, else (i, j), then y → H − 1 − y when the rows flip
/// and x → W − 1 − x when the columns flip (H × W the source's size). Every element of
/// D4 is exactly one such triple.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Symmetry {
    pub transpose: bool,
    pub flip_rows: bool,
    pub flip_cols: bool,
}

impl Symmetry {
    /// All eight, ordered so that each prefix of length 1, 2 or 4 is a subgroup: the
    /// identity, the mirror (columns flipped), the upside-down (rows flipped), the
    /// half turn, then the four that transpose.
    pub const ALL: [Symmetry; 8] = [
        Symmetry::from_bits(0),
        Symmetry::from_bits(2),
        Symmetry::from_bits(1),
        Symmetry::from_bits(3),
        Symmetry::from_bits(4),
        Symmetry::from_bits(6),
        Symmetry::from_bits(5),
        Symmetry::from_bits(7),
    ];

    /// The symmetry with bits 1 = flip rows, 2 = flip columns, 4 = transpose (the
    /// patch sampler's encoding of a 3-bit random draw).
    pub const fn from_bits(bits: u32) -> Symmetry {
        Symmetry {
            transpose: bits & 4 != 0,
            flip_rows: bits & 1 != 0,
            flip_cols: bits & 2 != 0,
        }
    }

    /// The symmetry that undoes this one: `s.inverse().apply(&s.apply(x)) == x`. A
    /// flip undoes itself; under a transpose the source's rows are the result's
    /// columns, so the inverse transposes and swaps the two flips.
    pub fn inverse(self) -> Symmetry {
        if self.transpose {
            Symmetry {
                transpose: true,
                flip_rows: self.flip_cols,
                flip_cols: self.flip_rows,
            }
        } else {
            self
        }
    }

    /// The (height, width) of the result for a source of `height` × `width`.
    pub fn output_size(self, height: usize, width: usize) -> (usize, usize) {
        if self.transpose {
            (width, height)
        } else {
            (height, width)
        }
    }

    /// Where pixel (i, j) of the result is read from in a `height` × `width` source.
    #[inline]
    pub fn source(self, i: usize, j: usize, height: usize, width: usize) -> (usize, usize) {
        let (mut y, mut x) = if self.transpose { (j, i) } else { (i, j) };
        if self.flip_rows {
            y = height - 1 - y;
        }
        if self.flip_cols {
            x = width - 1 - x;
        }
        (y, x)
    }

    /// `image` under this symmetry (each channel alike).
    pub fn apply(self, image: &Image) -> Image {
        let (height, width) = (image.height(), image.width());
        let (out_h, out_w) = self.output_size(height, width);
        let mut data = Vec::with_capacity(image.data().len());
        for c in 0..image.channels() {
            let plane = image.plane(c);
            for i in 0..out_h {
                data.extend((0..out_w).map(|j| {
                    let (y, x) = self.source(i, j, height, width);
                    plane[y * width + x]
                }));
            }
        }
        Image::new(ImageShape::new(image.channels(), out_h, out_w), data)
            .expect("a symmetry keeps the channels and the number of pixels")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(channels: usize, height: usize, width: usize) -> Image {
        let shape = ImageShape::new(channels, height, width);
        Image::new(shape, (0..shape.len()).map(|v| v as f32).collect()).unwrap()
    }

    #[test]
    fn each_symmetry_is_undone_by_its_inverse_on_a_non_square_image() {
        let image = ramp(3, 4, 7);
        for s in Symmetry::ALL {
            let moved = s.apply(&image);
            assert_eq!(moved.height(), if s.transpose { 7 } else { 4 });
            assert_eq!(s.inverse().apply(&moved), image, "{s:?}");
        }
    }

    #[test]
    fn the_eight_are_distinct_and_prefixes_are_closed_under_composition() {
        let image = ramp(1, 5, 5);
        let results: Vec<Image> = Symmetry::ALL.iter().map(|s| s.apply(&image)).collect();
        for a in 0..8 {
            for b in a + 1..8 {
                assert_ne!(results[a], results[b], "symmetries {a} and {b} agree");
            }
        }
        // Composing two of the first n gives one of the first n (n = 1, 2, 4, 8).
        for n in [1, 2, 4, 8] {
            for a in &Symmetry::ALL[..n] {
                for b in &Symmetry::ALL[..n] {
                    let composed = b.apply(&a.apply(&image));
                    assert!(results[..n].contains(&composed), "prefix {n} not closed");
                }
            }
        }
    }

    #[test]
    fn the_half_turn_reverses_the_pixels() {
        let image = ramp(1, 3, 4);
        let turned = Symmetry::ALL[3].apply(&image);
        let reversed: Vec<f32> = image.data().iter().rev().copied().collect();
        assert_eq!(turned.data(), &reversed[..]);
    }
}
