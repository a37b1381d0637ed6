//! Reconstruction grids: a row of inputs with their reconstructions in the row
//! beneath, as many such pairs of rows as the images need.

use std::path::Path;

use super::PlotError;
use crate::imaging::{Image, ImageShape};

/// How the images are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GridLayout {
    /// Images per row.
    pub columns: usize,
    /// Each pixel drawn as a `zoom × zoom` block (28-pixel digits are tiny on screen).
    pub zoom: usize,
    /// Pixels between neighbouring images; a pair of rows is set three gaps apart from
    /// the next so that each input reads with the reconstruction under it.
    pub gap: usize,
}

impl GridLayout {
    /// `columns` per row, zoomed so that an image is about 96 pixels across, 4 pixels apart.
    pub fn for_images(shape: ImageShape, columns: usize) -> Self {
        GridLayout {
            columns,
            zoom: (96 / shape.height.max(shape.width)).max(1),
            gap: 4,
        }
    }
}

/// The image shape of a plain row of `width` values, when it is unambiguous: a square
/// grey image (784 = 1×28×28) or a square RGB one (3072 = 3×32×32), at least 8 pixels
/// across (4 or 9 columns are far likelier a table than a 2×2 or 3×3 picture). No
/// width is both, since 3·n² is never a square.
pub fn guess_image_shape(width: usize) -> Option<ImageShape> {
    const SMALLEST_SIDE: usize = 8;
    let square_side = |n: usize| {
        let side = (n as f64).sqrt().round() as usize;
        (side >= SMALLEST_SIDE && side * side == n).then_some(side)
    };
    if let Some(side) = square_side(width) {
        return Some(ImageShape::new(1, side, side));
    }
    if width % 3 == 0 {
        if let Some(side) = square_side(width / 3) {
            return Some(ImageShape::new(3, side, side));
        }
    }
    None
}

/// `inputs` (rows of `shape`, planar CHW) over their `reconstructions` on a light grey
/// background. Values already on the 0–1 scale are drawn as they are; otherwise both
/// sets are mapped by the inputs' range onto 0–1 (the same map, so a reconstruction
/// that is too dark looks too dark).
pub fn reconstruction_grid(
    inputs: &[f32],
    reconstructions: &[f32],
    shape: ImageShape,
    layout: GridLayout,
) -> Result<Image, PlotError> {
    if shape.channels != 1 && shape.channels != 3 {
        return Err(PlotError::data(format!(
            "images of {shape} cannot be drawn: use 1 (grey) or 3 (RGB) channels"
        )));
    }
    if shape.is_empty() || inputs.is_empty() || inputs.len() % shape.len() != 0 {
        return Err(PlotError::data(format!(
            "{} input values are not whole images of {shape}",
            inputs.len()
        )));
    }
    if reconstructions.len() != inputs.len() {
        return Err(PlotError::data(format!(
            "{} inputs but {} reconstruction values for them",
            inputs.len(),
            reconstructions.len()
        )));
    }
    if layout.columns == 0 || layout.zoom == 0 {
        return Err(PlotError::data(
            "a grid needs at least one column and a zoom of 1",
        ));
    }
    let count = inputs.len() / shape.len();
    let columns = layout.columns.min(count);
    let pairs = count.div_ceil(columns);
    let (tile_h, tile_w) = (shape.height * layout.zoom, shape.width * layout.zoom);
    let gap = layout.gap;
    let width = columns * tile_w + (columns + 1) * gap;
    let pair_height = 2 * tile_h + gap;
    let height = pairs * pair_height + (pairs - 1) * 3 * gap + 2 * gap;
    let out_shape = ImageShape::new(shape.channels, height, width);
    let mut grid = vec![0.85f32; out_shape.len()];
    let to_unit = unit_scale(inputs);
    for (k, (input, output)) in inputs
        .chunks_exact(shape.len())
        .zip(reconstructions.chunks_exact(shape.len()))
        .enumerate()
    {
        let left = gap + (k % columns) * (tile_w + gap);
        let top = gap + (k / columns) * (pair_height + 3 * gap);
        for (image, top) in [(input, top), (output, top + tile_h + gap)] {
            for c in 0..shape.channels {
                for y in 0..tile_h {
                    let source = (c * shape.height + y / layout.zoom) * shape.width;
                    let target = (c * height + top + y) * width + left;
                    for x in 0..tile_w {
                        grid[target + x] = to_unit(image[source + x / layout.zoom]);
                    }
                }
            }
        }
    }
    Ok(Image::new(out_shape, grid)?)
}

/// Writes [`reconstruction_grid`] as a PNG, atomically.
pub fn save_reconstruction_grid(
    path: impl AsRef<Path>,
    inputs: &[f32],
    reconstructions: &[f32],
    shape: ImageShape,
    layout: GridLayout,
) -> Result<(), PlotError> {
    Ok(reconstruction_grid(inputs, reconstructions, shape, layout)?.save_png(path)?)
}

/// The identity when every input is on 0–1, else the linear map of the inputs'
/// min..max onto 0–1.
fn unit_scale(inputs: &[f32]) -> impl Fn(f32) -> f32 {
    let (lo, hi) = inputs
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let (offset, span) = if lo >= 0.0 && hi <= 1.0 || hi <= lo {
        (0.0, 1.0)
    } else {
        (lo, hi - lo)
    };
    move |v| (v - offset) / span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_widths_are_grey_images_and_three_squares_are_colour() {
        assert_eq!(guess_image_shape(784), Some(ImageShape::new(1, 28, 28)));
        assert_eq!(guess_image_shape(3072), Some(ImageShape::new(3, 32, 32)));
        assert_eq!(guess_image_shape(64), Some(ImageShape::new(1, 8, 8)));
        assert_eq!(guess_image_shape(4), None);
        assert_eq!(guess_image_shape(30), None);
    }

    #[test]
    fn each_input_sits_over_its_reconstruction() {
        // Three 1×2×2 images, two per row, zoom 2, gap 1: two pairs of rows.
        let shape = ImageShape::new(1, 2, 2);
        let inputs = [[1.0; 4], [0.5; 4], [0.25; 4]].concat();
        let outputs = [[0.0; 4], [0.1; 4], [0.2; 4]].concat();
        let layout = GridLayout {
            columns: 2,
            zoom: 2,
            gap: 1,
        };
        let grid = reconstruction_grid(&inputs, &outputs, shape, layout).unwrap();
        // width 1 + 4 + 1 + 4 + 1; height per pair 4 + 1 + 4, 3 between pairs, 1 each edge.
        assert_eq!((grid.width(), grid.height()), (11, 23));
        assert_eq!(grid.get(0, 1, 1), 1.0); // first input, top left
        assert_eq!(grid.get(0, 4, 4), 1.0); // its last pixel
        assert_eq!(grid.get(0, 6, 1), 0.0); // its reconstruction, below the gap
        assert_eq!(grid.get(0, 1, 6), 0.5); // second input, right of the first
        assert_eq!(grid.get(0, 6, 9), 0.1);
        assert_eq!(grid.get(0, 13, 1), 0.25); // third input starts the second pair
        assert_eq!(grid.get(0, 18, 4), 0.2);
        assert_eq!(grid.get(0, 13, 6), 0.85); // no fourth image: background
    }

    #[test]
    fn values_off_the_unit_scale_are_mapped_by_the_inputs_range() {
        let shape = ImageShape::new(1, 1, 2);
        let layout = GridLayout {
            columns: 1,
            zoom: 1,
            gap: 0,
        };
        let grid = reconstruction_grid(&[0.0, 255.0], &[51.0, 255.0], shape, layout).unwrap();
        assert_eq!(grid.data(), &[0.0, 1.0, 0.2, 1.0]);
    }

    #[test]
    fn colour_images_stay_colour_and_bad_shapes_are_refused() {
        let shape = ImageShape::new(3, 2, 2);
        let layout = GridLayout::for_images(shape, 4);
        let grid = reconstruction_grid(&[0.5; 24], &[0.5; 24], shape, layout).unwrap();
        assert_eq!(grid.channels(), 3);
        assert!(reconstruction_grid(&[0.5; 10], &[0.5; 10], shape, layout).is_err());
        assert!(reconstruction_grid(&[0.5; 12], &[0.5; 24], shape, layout).is_err());
        let two_channels = ImageShape::new(2, 2, 2);
        assert!(reconstruction_grid(&[0.5; 8], &[0.5; 8], two_channels, layout).is_err());
    }
}
