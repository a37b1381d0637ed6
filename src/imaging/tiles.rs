//! Running a fully convolutional network over an image of any size, tile by tile.

use super::{reflect, Image};

/// `f` applied to `image` in overlapping square tiles, keeping only each tile's centre.
///
/// Each tile is `tile` × `tile` pixels: a centre of `tile − 2·margin` pixels and
/// `margin` more on every side. Centres tile the image exactly (the last one in a row
/// or column is shifted back to end at the border, so it overlaps its neighbour
/// instead of running past the image); the margins read the neighbouring pixels, and
/// beyond the image its reflection (`d c b a | a b c d`, [`reflect`]). `f` gets
/// `count` ≤ `batch` tiles at a time as rows `[count, C·tile·tile]` (NCHW, one tile
/// per row) and must return outputs of the same shape; the result is the kept centres.
///
/// When `margin` is at least the receptive-field radius of `f` (a network of L 3 × 3
/// convolutions has radius L), whatever `f` does at a tile's edge (zero padding) never
/// reaches a kept centre, so the result has no seams: it equals `f` applied to the whole
/// image reflected by `margin` on every side, then cropped back.
///
/// # Panics
/// If `tile < 2·margin + 1`, if `batch` is 0, or if `f` returns a number of values
/// other than `count·C·tile·tile`.
pub fn map_tiles<E>(
    image: &Image,
    tile: usize,
    margin: usize,
    batch: usize,
    f: impl FnMut(&[f32], usize) -> Result<Vec<f32>, E>,
) -> Result<Image, E> {
    map_tiles_aligned(image, tile, margin, 1, batch, f)
}

/// [`map_tiles`] for a network that is only shift-equivariant by multiples of `align`
/// pixels (one that halves the image L times: `align` = 2^L). Every tile then starts
/// at a multiple of `align` (counting from the reflected image's origin, `margin`
/// before the image), so each pixel is computed on the same grid as in the whole
/// image: the last centre of a row or column is shifted back only to end at the side
/// rounded up to a multiple of `align`, running up to `align − 1` pixels into the
/// reflection, and only its part inside the image is kept. The result again equals
/// `f` on the whole reflected image, cropped back.
///
/// # Panics
/// As [`map_tiles`], and if `align` is 0 or does not divide `tile` and `margin`.
pub fn map_tiles_aligned<E>(
    image: &Image,
    tile: usize,
    margin: usize,
    align: usize,
    batch: usize,
    mut f: impl FnMut(&[f32], usize) -> Result<Vec<f32>, E>,
) -> Result<Image, E> {
    assert!(
        align > 0 && tile % align == 0 && margin % align == 0,
        "tiles of {tile} pixels with margins of {margin} are not on a grid of {align}"
    );
    assert!(
        tile > 2 * margin,
        "a tile of {tile} pixels has no centre left inside a margin of {margin} on both sides"
    );
    assert!(batch > 0, "tiles go to the network at least one at a time");
    let centre = tile - 2 * margin;
    let channels = image.channels();
    let tile_len = channels * tile * tile;
    let origins: Vec<(usize, usize)> = starts(image.height(), centre, align)
        .flat_map(|y| starts(image.width(), centre, align).map(move |x| (y, x)))
        .collect();

    let mut out = vec![0.0; image.data().len()];
    let mut rows = Vec::with_capacity(batch.min(origins.len()) * tile_len);
    for group in origins.chunks(batch) {
        rows.clear();
        for &(y, x) in group {
            for c in 0..channels {
                let plane = image.plane(c);
                for i in 0..tile {
                    let source = reflect((y + i) as isize - margin as isize, image.height());
                    let source = &plane[source * image.width()..][..image.width()];
                    rows.extend((0..tile).map(|j| {
                        source[reflect((x + j) as isize - margin as isize, image.width())]
                    }));
                }
            }
        }
        let outputs = f(&rows, group.len())?;
        assert_eq!(
            outputs.len(),
            rows.len(),
            "map_tiles: f returned {} values for {} tiles of {channels}×{tile}×{tile}",
            outputs.len(),
            group.len()
        );
        for (&(y, x), output) in group.iter().zip(outputs.chunks_exact(tile_len)) {
            let kept_rows = centre.min(image.height() - y);
            let kept_cols = centre.min(image.width() - x);
            for (c, tile_plane) in output.chunks_exact(tile * tile).enumerate() {
                for i in 0..kept_rows {
                    let from = (margin + i) * tile + margin;
                    let to = (c * image.height() + y + i) * image.width() + x;
                    out[to..to + kept_cols].copy_from_slice(&tile_plane[from..from + kept_cols]);
                }
            }
        }
    }
    Ok(image.with_data(out))
}

/// Where the centres along an axis of `n` pixels start: every `centre` pixels, the
/// last shifted back to end at `n` rounded up to a multiple of `align` (a single one at
/// 0 when that is at most `centre`). With `centre` a multiple of `align`, every start is.
fn starts(n: usize, centre: usize, align: usize) -> impl Iterator<Item = usize> + Clone {
    let count = n.div_ceil(centre);
    let last = n.next_multiple_of(align).saturating_sub(centre);
    (0..count).map(move |i| (i * centre).min(last))
}
