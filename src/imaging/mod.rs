//! Pictures for image denoising: loading and saving photographs, the quality figures
//! (PSNR, SSIM), synthetic noise, the classical baselines (Gaussian filter, non-local
//! means), collaborative Wiener refinement of a network's output, training patches, whole-image inference by tiles, and side-by-side figures.
//!
//! An [`Image`] is planar CHW f32 on the 0–1 scale, exactly one row of the engine's
//! `[N, C·H·W]` image batches ([`ImageShape`]), so a network's input and output are the
//! image's own values with no reshaping.
//!
//! Every border is handled by the same reflection ([`reflect`]): scipy's `reflect`
//! mode, NumPy's `symmetric`, `d c b a | a b c d | d c b a`.

mod bundled;
mod denoise;
mod filter;
mod image;
mod metrics;
mod nlm;
mod noise;
mod patches;
mod symmetry;
mod tiles;
mod triptych;
mod wiener;

use std::path::PathBuf;

pub use self::image::Image;
pub use bundled::Bundled;
pub use denoise::{
    as_denoiser, auto_tile, denoise, receptive_radius, Channels, DenoiseError, TileOptions,
    TiledDenoiser, ENSEMBLE_SIZES,
};
pub use filter::{best_gaussian_filter, gaussian_filter, BestFilter};
pub use metrics::{psnr, ssim};
pub use nlm::NonLocalMeans;
pub use noise::{add_gaussian_noise, estimate_noise_sigma};
pub use patches::PatchSampler;
pub use symmetry::Symmetry;
pub use tiles::{map_tiles, map_tiles_aligned};
pub use triptych::{save_triptych, side_by_side};
pub use wiener::{residual_sigma, CollaborativeWiener};

use crate::io::IoError;
pub use crate::ops::spatial::ImageShape;

/// What can go wrong reading, writing or combining images.
#[derive(thiserror::Error, Debug)]
pub enum ImagingError {
    /// The file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a well-formed PNG or JPEG image.
    #[error("{} is not a readable image: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    /// A well-formed file of a kind or pixel format this crate does not read.
    #[error("{}: {detail}", path.display())]
    Unsupported { path: PathBuf, detail: String },
    /// A file of no bytes, or an image of no pixels.
    #[error("{} is empty: {detail}", path.display())]
    Empty { path: PathBuf, detail: String },
    /// Values, shapes or arguments that do not agree.
    #[error("{detail}")]
    Shape { detail: String },
    /// Encoding a PNG failed.
    #[error("cannot encode {} as PNG: {detail}", path.display())]
    Encode { path: PathBuf, detail: String },
    /// Writing an output file failed (the previous file, if any, is intact).
    #[error(transparent)]
    Write(#[from] IoError),
}

impl ImagingError {
    fn shape(detail: impl Into<String>) -> Self {
        ImagingError::Shape {
            detail: detail.into(),
        }
    }
}

/// The index `i` (any integer) reflected into `0..n` as scipy's `reflect` mode does,
/// `d c b a | a b c d | d c b a`, repeating for offsets longer than the image.
/// `n` must be at least 1.
pub fn reflect(i: isize, n: usize) -> usize {
    let period = 2 * n as isize;
    let r = i.rem_euclid(period);
    if r < n as isize {
        r as usize
    } else {
        (period - 1 - r) as usize
    }
}
