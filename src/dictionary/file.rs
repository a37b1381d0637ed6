//! Sparse coders as safetensors files: the tensor `dictionary` `[K, n]` and, for PSD,
//! `encoder.weight` `[n, K]`, `encoder.bias` and `encoder.threshold` `[1, K]`; the settings
//! in the metadata (`aegpu.kind` = `sparse-coding`, `lambda`, `iterations`, `gamma`,
//! `encoder_lr`, `seed`). Readable from Python with `safetensors.numpy.load_file`
//! (`dictionary` is scikit-learn's `components_`).

use std::collections::BTreeMap;
use std::path::Path;

use crate::backend::Backend;
use crate::graph::ParamStore;
use crate::io::{find_tensor, load_safetensors, save_safetensors, NamedTensor};

use super::{CodingSettings, Dictionary, DictionaryError, Encoder, PsdSettings, SparseCoder};

/// The `aegpu.kind` of a sparse-coding file.
pub const KIND: &str = "sparse-coding";

impl SparseCoder {
    /// Writes the dictionary, the encoder and the settings to `path` (atomically).
    pub fn save(&mut self, path: &Path) -> Result<(), DictionaryError> {
        let d = self.dictionary().clone();
        let (k, n) = (d.atoms(), d.width());
        let mut tensors = vec![NamedTensor {
            name: "dictionary".into(),
            shape: vec![k, n],
            values: d.values().to_vec(),
        }];
        if let Some([w, b, g]) = self.encoder_values()? {
            for (name, shape, values) in [
                ("encoder.weight", vec![n, k], w),
                ("encoder.bias", vec![1, k], b),
                ("encoder.threshold", vec![1, k], g),
            ] {
                tensors.push(NamedTensor {
                    name: name.into(),
                    shape,
                    values,
                });
            }
        }
        let s = self.settings();
        let mut meta = BTreeMap::new();
        meta.insert("aegpu.kind".to_string(), KIND.to_string());
        meta.insert("lambda".into(), s.lambda.to_string());
        meta.insert("iterations".into(), s.iterations.to_string());
        meta.insert("seed".into(), s.seed.to_string());
        if let Some(psd) = s.psd {
            meta.insert("gamma".into(), psd.gamma.to_string());
            meta.insert("encoder_lr".into(), psd.learning_rate.to_string());
        }
        Ok(save_safetensors(path, &tensors, &meta)?)
    }
}

/// A sparse coder from a file written by [`SparseCoder::save`], on `backend`.
pub fn load(path: &Path, backend: Box<dyn Backend>) -> Result<SparseCoder, DictionaryError> {
    let (tensors, meta) = load_safetensors(path)?;
    let bad = |detail: String| DictionaryError::invalid(format!("{}: {detail}", path.display()));
    match meta.get("aegpu.kind") {
        Some(kind) if kind == KIND => {}
        other => {
            return Err(bad(format!(
                "not a sparse-coding file (aegpu.kind is {})",
                other.map_or("missing".to_string(), |k| format!("`{k}`"))
            )))
        }
    }
    let number = |key: &str| -> Result<Option<f64>, DictionaryError> {
        meta.get(key)
            .map(|v| {
                v.parse::<f64>()
                    .map_err(|_| bad(format!("metadata `{key}` = `{v}` is not a number")))
            })
            .transpose()
    };
    let required =
        |key: &str| number(key)?.ok_or_else(|| bad(format!("no `{key}` in the metadata")));
    let iterations = required("iterations")?;
    if iterations.fract() != 0.0 || iterations < 0.0 {
        return Err(bad(format!("`iterations` = {iterations} is not a count")));
    }
    let psd = match (number("gamma")?, number("encoder_lr")?) {
        (Some(gamma), Some(lr)) => Some(PsdSettings {
            gamma: gamma as f32,
            learning_rate: lr as f32,
        }),
        _ => None,
    };
    let settings = CodingSettings {
        lambda: required("lambda")? as f32,
        iterations: iterations as usize,
        psd,
        seed: number("seed")?.unwrap_or(0.0) as u64,
    };
    settings.validate().map_err(|e| bad(e.to_string()))?;
    let atoms = tensors
        .iter()
        .find(|t| t.name == "dictionary")
        .ok_or_else(|| bad("no tensor named `dictionary`".into()))?;
    if atoms.shape.len() != 2 {
        return Err(bad(format!(
            "`dictionary` has shape {:?}, not [K, n]",
            atoms.shape
        )));
    }
    let (k, n) = (atoms.shape[0], atoms.shape[1]);
    let dictionary =
        Dictionary::from_rows(k, n, atoms.values.clone()).map_err(|e| bad(e.to_string()))?;
    let mut store = ParamStore::new();
    let encoder = match psd {
        Some(_) => {
            let w = find_tensor(path, &tensors, "encoder.weight", &[n, k])?;
            let b = find_tensor(path, &tensors, "encoder.bias", &[1, k])?;
            let g = find_tensor(path, &tensors, "encoder.threshold", &[1, k])?;
            Some(Encoder::with_values(
                &mut store,
                (n, k),
                w.values.clone(),
                b.values.clone(),
                g.values.clone(),
            ))
        }
        None => None,
    };
    SparseCoder::with_encoder(backend, dictionary, settings, store, encoder)
}
