//! Denoising whole images of any size with a trained convolutional denoiser: the image
//! goes through the network in overlapping tiles ([`map_tiles`]) whose margins cover
//! the network's receptive field, so the result has no seams; a model trained on
//! grey images denoises a colour image channel by channel.

use crate::backend::Backend;
use crate::data::Dataset;
use crate::imaging::{map_tiles, Image, ImageShape, ImagingError};
use crate::models::{Autoencoder, ConvAutoencoder, ModelError};
use crate::train::{run_rows, RowOutput, TrainError};

/// What can go wrong denoising.
#[derive(thiserror::Error, Debug)]
pub enum DenoiseError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Image(#[from] ImagingError),
    #[error("{0}")]
    Unsuitable(String),
}

/// How images are cut for the network.
#[derive(Clone, Copy, Debug)]
pub struct TileOptions {
    /// Tile side in pixels, margins included.
    pub tile: usize,
}

impl Default for TileOptions {
    /// 128-pixel tiles: small enough that a batch of them fits any device, large enough
    /// that the margins (the receptive field, 16 pixels for 16 layers) cost little.
    fn default() -> Self {
        TileOptions { tile: 128 }
    }
}

/// The receptive-field radius of a stride-1 model: k/2 pixels per convolution.
pub fn receptive_radius(model: &ConvAutoencoder) -> Result<usize, DenoiseError> {
    let c = &model.config;
    if c.code.is_some() || c.strides.iter().any(|&s| s != 1) {
        return Err(DenoiseError::Unsuitable(
            "denoising images of any size needs a fully convolutional stride-1 model \
             (no dense code, no strided layers)"
                .into(),
        ));
    }
    Ok(2 * c.channels.len() * (c.kernel / 2))
}

/// `image` denoised by `model` on `backend`, tile by tile (the weights are uploaded
/// here). A one-channel model denoises each channel of a colour image separately;
/// otherwise the channels must match.
pub fn denoise(
    model: &ConvAutoencoder,
    backend: &mut dyn Backend,
    image: &Image,
    options: TileOptions,
) -> Result<Image, DenoiseError> {
    let model_channels = model.config.input.channels;
    if model_channels == 1 && image.channels() > 1 {
        let planes = (0..image.channels())
            .map(|c| denoise(model, backend, &image.channel(c), options))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Image::from_channels(&planes)?);
    }
    if model_channels != image.channels() {
        return Err(DenoiseError::Unsuitable(format!(
            "the model denoises {model_channels}-channel images, this one has {}",
            image.channels()
        )));
    }
    let margin = receptive_radius(model)?;
    if options.tile <= 2 * margin {
        return Err(DenoiseError::Unsuitable(format!(
            "tiles of {} pixels leave nothing inside the {margin}-pixel margins the \
             network's receptive field needs: use tiles over {}",
            options.tile,
            2 * margin
        )));
    }
    let tiled = model.with_input(ImageShape::new(model_channels, options.tile, options.tile))?;
    // The tile-sized copy has a store of its own: its weights go to the backend here.
    backend
        .upload_store(&tiled.store)
        .map_err(TrainError::from)?;
    // Every tile of the image in one call: run_rows batches them by the widest layer.
    map_tiles(image, options.tile, margin, usize::MAX, |rows, count| {
        let data = Dataset::new(count, tiled.input_width(), rows.to_vec())
            .map_err(|e| DenoiseError::Unsuitable(e.to_string()))?;
        Ok::<_, DenoiseError>(run_rows(&tiled, backend, &data, RowOutput::Reconstruction)?)
    })
}
