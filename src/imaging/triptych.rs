//! Figures: images side by side (noisy | denoised | clean) in one PNG.

use std::path::Path;

use super::{Image, ImageShape, ImagingError};

/// `images` left to right, tops aligned, `gap` white pixels between neighbours and
/// white below the shorter ones. Grey if every image is grey; otherwise grey images
/// are repeated into R, G and B and the result is colour.
pub fn side_by_side(images: &[&Image], gap: usize) -> Result<Image, ImagingError> {
    if images.is_empty() {
        return Err(ImagingError::shape("side_by_side needs at least one image"));
    }
    let channels = images.iter().map(|im| im.channels()).max().unwrap_or(1);
    let height = images.iter().map(|im| im.height()).max().unwrap_or(0);
    let width = images.iter().map(|im| im.width()).sum::<usize>() + gap * (images.len() - 1);
    let shape = ImageShape::new(channels, height, width);
    let mut data = vec![1.0; shape.len()];
    let mut left = 0;
    for image in images {
        for c in 0..channels {
            // A grey image gives its one plane to every colour channel.
            let source = image.plane(c.min(image.channels() - 1));
            for (y, row) in source.chunks_exact(image.width()).enumerate() {
                let start = (c * height + y) * width + left;
                data[start..start + image.width()].copy_from_slice(row);
            }
        }
        left += image.width() + gap;
    }
    Image::new(shape, data)
}

/// Writes [`side_by_side`]`(images, gap)` as a PNG (atomically, values clamped to
/// [0, 1]), e.g. `save_triptych(path, &[&noisy, &denoised, &clean], 4)`.
pub fn save_triptych(
    path: impl AsRef<Path>,
    images: &[&Image],
    gap: usize,
) -> Result<(), ImagingError> {
    side_by_side(images, gap)?.save_png(path)
}
