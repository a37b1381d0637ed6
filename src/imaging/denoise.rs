//! Denoising whole images of any size with a trained convolutional denoiser: the image
//! goes through the network in overlapping tiles ([`map_tiles`]) whose margins cover
//! the network's receptive field, so the result has no seams.
//!
//! Channels: a colour (3-channel) model denoises a colour image jointly; a grey model
//! denoises a grey image, and a colour image only when [`Channels::PerChannel`] is
//! asked for (each of R, G, B on its own, which ignores what the channels share);
//! otherwise a mismatch is refused ([`DenoiseError::Channels`]).

use crate::backend::Backend;
use crate::data::Dataset;
use crate::imaging::{map_tiles_aligned, Image, ImageShape, ImagingError, Symmetry};
use crate::models::{downcast_ref, Autoencoder, ConvAutoencoder, Denoiser, ModelError};
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
    /// The model's channels and the image's differ, with no fallback allowed.
    #[error(
        "the model denoises {model}-channel images and this one has {image}{hint}",
        hint = if *model == 1 { "; allow the per-channel fallback or use a colour model" } else { "; use a grey model" }
    )]
    Channels { model: usize, image: usize },
}

/// What a grey model does with a colour image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Channels {
    /// Refuse an image whose channels differ from the model's.
    #[default]
    Exact,
    /// A grey model denoises each channel of a colour image on its own.
    PerChannel,
}

/// How images are cut for the network, the channel policy and the self-ensemble.
#[derive(Clone, Copy, Debug)]
pub struct TileOptions {
    /// Tile side in pixels, margins included.
    pub tile: usize,
    pub channels: Channels,
    /// The self-ensemble: 1, 2, 4 or 8 symmetries of the square ([`Symmetry::ALL`]'s
    /// first `ensemble`). The image is denoised under each, mapped back, and the
    /// results averaged (the "×8" of the denoising literature: the network's errors
    /// under different orientations are partly independent, so the mean is closer to
    /// the clean image). It costs `ensemble` times the time of one pass.
    pub ensemble: usize,
}

impl Default for TileOptions {
    /// 128-pixel tiles: small enough that a batch of them fits any device, large enough
    /// that the margins (the receptive field, 16 pixels for 16 layers) cost little.
    /// The grey-model-on-colour fallback is allowed.
    fn default() -> Self {
        TileOptions {
            tile: 128,
            channels: Channels::PerChannel,
            ensemble: 1,
        }
    }
}

impl TileOptions {
    /// The default options with the tile `model` runs best on: 128 pixels, or eight
    /// margins when its receptive field is wider (a deep U-Net), so that at least
    /// (6/8)² ≈ 56 % of every tile is kept (the bundled U-Net: 512-pixel tiles, 0.50
    /// Mpixel/s on two CPU cores against 0.36 with four margins).
    pub fn for_model(model: &dyn TiledDenoiser) -> Result<Self, DenoiseError> {
        Ok(TileOptions {
            tile: auto_tile(model)?,
            ..TileOptions::default()
        })
    }
}

/// 128 pixels, or eight margins (on the model's grid) when that is more.
pub fn auto_tile(model: &dyn TiledDenoiser) -> Result<usize, DenoiseError> {
    Ok(TileOptions::default().tile.max(8 * model.grid_margin()?))
}

/// A fully convolutional denoiser that runs on tiles of any size.
pub trait TiledDenoiser {
    /// Channels of the images it denoises (1 grey, 3 colour).
    fn channels(&self) -> usize;
    /// The receptive-field radius in pixels: the margin every tile needs.
    fn margin(&self) -> Result<usize, DenoiseError>;
    /// The grid the network is shift-equivariant on (2^L for a network that halves
    /// the image L times): tiles, margins and tile origins are kept on it.
    fn alignment(&self) -> usize {
        1
    }
    /// The margin tiles get: the receptive-field radius rounded up to the grid.
    fn grid_margin(&self) -> Result<usize, DenoiseError> {
        Ok(self.margin()?.next_multiple_of(self.alignment()))
    }
    /// The same weights for `shape`-sized inputs.
    fn tiled(&self, shape: ImageShape) -> Result<Box<dyn Autoencoder>, DenoiseError>;
}

impl TiledDenoiser for ConvAutoencoder {
    fn channels(&self) -> usize {
        self.config.input.channels
    }
    fn margin(&self) -> Result<usize, DenoiseError> {
        receptive_radius(self)
    }
    fn tiled(&self, shape: ImageShape) -> Result<Box<dyn Autoencoder>, DenoiseError> {
        Ok(Box::new(self.with_input(shape)?))
    }
}

impl TiledDenoiser for Denoiser {
    fn channels(&self) -> usize {
        self.config.input.channels
    }
    fn margin(&self) -> Result<usize, DenoiseError> {
        Ok(self.receptive_radius())
    }
    fn alignment(&self) -> usize {
        self.config.alignment()
    }
    fn tiled(&self, shape: ImageShape) -> Result<Box<dyn Autoencoder>, DenoiseError> {
        Ok(Box::new(self.with_input(shape)?))
    }
}

/// The model as a tiled denoiser, when its kind is one (a blind `denoiser`, or a
/// stride-1 `conv` model).
pub fn as_denoiser(model: &dyn Autoencoder) -> Option<&dyn TiledDenoiser> {
    if let Some(m) = downcast_ref::<Denoiser>(model) {
        return Some(m);
    }
    downcast_ref::<ConvAutoencoder>(model).map(|m| m as &dyn TiledDenoiser)
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

/// The sizes of self-ensemble [`TileOptions::ensemble`] takes.
pub const ENSEMBLE_SIZES: [usize; 4] = [1, 2, 4, 8];

/// `image` denoised by `model` on `backend`, tile by tile (the weights are uploaded
/// here), averaged over the self-ensemble's symmetries. A grey model denoises each
/// channel of a colour image separately when `options.channels` allows it; otherwise
/// the channels must match.
pub fn denoise(
    model: &dyn TiledDenoiser,
    backend: &mut dyn Backend,
    image: &Image,
    options: TileOptions,
) -> Result<Image, DenoiseError> {
    let model_channels = model.channels();
    if model_channels == 1 && image.channels() > 1 && options.channels == Channels::PerChannel {
        let planes = (0..image.channels())
            .map(|c| denoise(model, backend, &image.channel(c), options))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Image::from_channels(&planes)?);
    }
    if model_channels != image.channels() {
        return Err(DenoiseError::Channels {
            model: model_channels,
            image: image.channels(),
        });
    }
    // A U-Net's tiles and margins lie on its grid of 2^L pixels.
    let align = model.alignment();
    let margin = model.grid_margin()?;
    let tile = options
        .tile
        .checked_next_multiple_of(align)
        .ok_or_else(|| DenoiseError::Unsuitable(format!("tiles of {} pixels", options.tile)))?;
    if tile <= 2 * margin {
        return Err(DenoiseError::Unsuitable(format!(
            "tiles of {} pixels leave nothing inside the {margin}-pixel margins the \
             network's receptive field needs: use tiles over {}",
            options.tile,
            2 * margin
        )));
    }
    if !ENSEMBLE_SIZES.contains(&options.ensemble) {
        return Err(DenoiseError::Unsuitable(format!(
            "a self-ensemble of {} symmetries: use 1, 2, 4 or 8",
            options.ensemble
        )));
    }
    let tiled = model.tiled(ImageShape::new(model_channels, tile, tile))?;
    // The tile-sized copy has a store of its own: its weights go to the backend here.
    backend
        .upload_store(tiled.store())
        .map_err(TrainError::from)?;
    // Tiles are square, so the one tile-sized network serves every orientation.
    let mut pass = |image: &Image| {
        // Every tile of the image in one call: run_rows batches them by the widest layer.
        map_tiles_aligned(image, tile, margin, align, usize::MAX, |rows, count| {
            let data = Dataset::new(count, tiled.input_width(), rows.to_vec())
                .map_err(|e| DenoiseError::Unsuitable(e.to_string()))?;
            Ok::<_, DenoiseError>(run_rows(
                tiled.as_ref(),
                backend,
                &data,
                RowOutput::Reconstruction,
            )?)
        })
    };
    let mut sum = pass(image)?;
    for symmetry in &Symmetry::ALL[1..options.ensemble] {
        let denoised = symmetry.inverse().apply(&pass(&symmetry.apply(image))?);
        for (total, value) in sum.data_mut().iter_mut().zip(denoised.data()) {
            *total += value;
        }
    }
    if options.ensemble > 1 {
        let scale = 1.0 / options.ensemble as f32;
        sum.data_mut().iter_mut().for_each(|v| *v *= scale);
    }
    Ok(sum)
}
