//! [`AnyAutoencoder`]: a saved model of whatever kind, loaded by the `aegpu.kind` its
//! file records, for the code (the command line) that applies any model to data.

use std::collections::BTreeMap;
use std::path::Path;

use crate::io::load_safetensors;
use crate::models::{Autoencoder, ConvAutoencoder, DenseAutoencoder, ModelError};

/// A dense or a convolutional autoencoder.
#[derive(Clone, Debug)]
pub enum AnyAutoencoder {
    Dense(DenseAutoencoder),
    Conv(ConvAutoencoder),
}

impl From<DenseAutoencoder> for AnyAutoencoder {
    fn from(m: DenseAutoencoder) -> Self {
        AnyAutoencoder::Dense(m)
    }
}

impl From<ConvAutoencoder> for AnyAutoencoder {
    fn from(m: ConvAutoencoder) -> Self {
        AnyAutoencoder::Conv(m)
    }
}

impl AnyAutoencoder {
    /// Loads a model saved by [`DenseAutoencoder::save`] or [`ConvAutoencoder::save`],
    /// whichever `aegpu.kind` the file names, with the file's metadata.
    pub fn load(path: &Path) -> Result<(Self, BTreeMap<String, String>), ModelError> {
        let (_, meta) = load_safetensors(path)?;
        match meta.get("aegpu.kind").map(String::as_str) {
            Some("conv") => {
                let (m, meta) = ConvAutoencoder::load(path)?;
                Ok((m.into(), meta))
            }
            Some("dense") => {
                let (m, meta) = DenseAutoencoder::load(path)?;
                Ok((m.into(), meta))
            }
            Some("classifier") => Err(ModelError::Incompatible {
                path: path.display().to_string(),
                detail: "a classifier, not an autoencoder: run it with `aegpu predict`".into(),
            }),
            Some(other) => Err(ModelError::Incompatible {
                path: path.display().to_string(),
                detail: format!("unknown model kind `{other}` (expected dense or conv)"),
            }),
            None => Err(ModelError::Incompatible {
                path: path.display().to_string(),
                detail: "no `aegpu.kind` in the metadata: not an aegpu model file".into(),
            }),
        }
    }

    /// Saves the model (its kind's own format) with `extra` metadata, atomically.
    pub fn save(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<(), ModelError> {
        match self {
            AnyAutoencoder::Dense(m) => m.save(path, extra),
            AnyAutoencoder::Conv(m) => m.save(path, extra),
        }
    }

    /// The model as the training and inference loops take it.
    pub fn as_dyn(&self) -> &(dyn Autoencoder + 'static) {
        match self {
            AnyAutoencoder::Dense(m) => m,
            AnyAutoencoder::Conv(m) => m,
        }
    }

    pub fn as_dyn_mut(&mut self) -> &mut dyn Autoencoder {
        match self {
            AnyAutoencoder::Dense(m) => m,
            AnyAutoencoder::Conv(m) => m,
        }
    }

    /// Values per code row (what `encode` writes).
    pub fn code_width(&self) -> usize {
        match self {
            AnyAutoencoder::Dense(m) => m.config.code_width(),
            AnyAutoencoder::Conv(m) => m.code_width(),
        }
    }

    /// The architecture in one short phrase: `784-256-64` for a dense model,
    /// `conv 1×28×28 16,32 stride 2,2 k3 transposed` for a convolutional one.
    pub fn describe(&self) -> String {
        match self {
            AnyAutoencoder::Dense(m) => {
                let w: Vec<String> = m.config.widths.iter().map(|w| w.to_string()).collect();
                w.join("-")
            }
            AnyAutoencoder::Conv(m) => m.config.describe(),
        }
    }
}

impl std::ops::Deref for AnyAutoencoder {
    type Target = dyn Autoencoder;
    fn deref(&self) -> &Self::Target {
        self.as_dyn()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{ConvConfig, DenseConfig};

    #[test]
    fn load_dispatches_on_the_saved_kind() {
        let dir = std::env::temp_dir().join(format!("aegpu-any-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (dense_path, conv_path) = (dir.join("d.safetensors"), dir.join("c.safetensors"));
        let dense = DenseAutoencoder::new(DenseConfig::new(&[6, 3]), 1).unwrap();
        let conv = ConvAutoencoder::new(ConvConfig::mnist(), 1).unwrap();
        dense.save(&dense_path, &BTreeMap::new()).unwrap();
        AnyAutoencoder::from(conv.clone())
            .save(&conv_path, &BTreeMap::new())
            .unwrap();
        let (d, _) = AnyAutoencoder::load(&dense_path).unwrap();
        let (c, _) = AnyAutoencoder::load(&conv_path).unwrap();
        assert_eq!(
            (d.kind(), d.code_width(), d.describe()),
            ("dense", 3, "6-3".into())
        );
        assert_eq!(c.kind(), "conv");
        assert_eq!(c.code_width(), 32 * 7 * 7);
        assert_eq!(c.parameter_count(), conv.parameter_count());
        assert_eq!(c.describe(), "conv 1×28×28 16,32 stride 2,2 k3 transposed");
        std::fs::remove_dir_all(&dir).ok();
    }
}
