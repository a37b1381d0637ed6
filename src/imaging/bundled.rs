//! The two blind denoisers embedded in the binary (`assets/denoise/`): a colour one
//! (RGB in and out, denoised jointly) and a grey one, both trained over noise levels
//! σ ∈ [0, 50] (0–255 scale) by `scripts/train_bundled_denoisers.sh`, whose logs and
//! figures are committed beside them. `aegpu denoise` uses them when no `--model` is
//! given. They are read through the same checks as any model file
//! ([`registry::load_bytes`]: checksum, finite weights, names and shapes).

use std::path::Path;

use crate::imaging::DenoiseError;
use crate::models::{downcast_ref, registry, Denoiser, ModelError};

static COLOUR: &[u8] = include_bytes!("../../assets/denoise/colour.safetensors");
static GREY: &[u8] = include_bytes!("../../assets/denoise/grey.safetensors");

/// Which bundled model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bundled {
    Grey,
    Colour,
}

impl Bundled {
    /// The bundled model for images of `channels` channels (1 grey, else colour).
    pub fn for_channels(channels: usize) -> Self {
        if channels == 1 {
            Bundled::Grey
        } else {
            Bundled::Colour
        }
    }

    /// `bundled colour` / `bundled grey`, as the CLI names it.
    pub fn name(self) -> &'static str {
        match self {
            Bundled::Grey => "bundled grey",
            Bundled::Colour => "bundled colour",
        }
    }

    /// The model, loaded from the bytes embedded in the binary.
    pub fn load(self) -> Result<Denoiser, DenoiseError> {
        let (bytes, label) = match self {
            Bundled::Grey => (GREY, "<embedded>/assets/denoise/grey.safetensors"),
            Bundled::Colour => (COLOUR, "<embedded>/assets/denoise/colour.safetensors"),
        };
        let (model, _) = registry::load_bytes(Path::new(label), bytes)?;
        let denoiser = downcast_ref::<Denoiser>(model.as_ref()).ok_or_else(|| {
            ModelError::Config(format!(
                "{label} is a {} model, not a denoiser",
                model.kind()
            ))
        })?;
        Ok(denoiser.clone())
    }
}
