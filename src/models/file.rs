//! The model file every kind shares: its parameters as safetensors tensors under their
//! store names, with `aegpu.kind` and the kind's config (`aegpu.config`, JSON) in the
//! metadata. Reading checks the kind, the config and every tensor's name and shape.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::graph::{EntryId, ParamStore, Shape};
use crate::io::{load_safetensors, save_safetensors, NamedTensor};
use crate::models::{Autoencoder, ModelError};

/// Saves the `params` of `store` with `kind`, `config` and `extra` metadata, atomically.
pub(crate) fn save_model<C: Serialize>(
    path: &Path,
    store: &ParamStore,
    params: &[EntryId],
    kind: &str,
    config: &C,
    extra: &BTreeMap<String, String>,
) -> Result<(), ModelError> {
    let tensors: Vec<NamedTensor> = params
        .iter()
        .map(|&id| {
            let e = store.get(id);
            NamedTensor {
                name: e.name.clone(),
                shape: vec![e.shape.rows, e.shape.cols],
                values: store.values(id).to_vec(),
            }
        })
        .collect();
    let mut meta = extra.clone();
    meta.insert("aegpu.kind".into(), kind.into());
    meta.insert(
        "aegpu.config".into(),
        serde_json::to_string(config).map_err(|e| ModelError::Config(e.to_string()))?,
    );
    save_safetensors(path, &tensors, &meta)?;
    Ok(())
}

/// Reads a model file that must be of `kind` (`what` names it in the refusal of a file
/// of another kind, e.g. "a dense autoencoder").
pub(crate) fn read_kind(
    path: &Path,
    kind: &str,
    what: &str,
) -> Result<(Vec<NamedTensor>, BTreeMap<String, String>), ModelError> {
    let (tensors, meta) = load_safetensors(path)?;
    match meta.get("aegpu.kind").map(String::as_str) {
        Some(k) if k == kind => Ok((tensors, meta)),
        Some(other) => Err(incompatible(
            path,
            format!("model kind `{other}` is not {what}"),
        )),
        None => Err(incompatible(
            path,
            "no `aegpu.kind` in the metadata: not an aegpu model file".into(),
        )),
    }
}

/// The config a model file records (`aegpu.config`).
pub(crate) fn read_config<C: DeserializeOwned>(
    path: &Path,
    meta: &BTreeMap<String, String>,
) -> Result<C, ModelError> {
    let bad = |detail: String| incompatible(path, detail);
    meta.get("aegpu.config")
        .ok_or_else(|| bad("no `aegpu.config` in the metadata".into()))
        .and_then(|c| serde_json::from_str(c).map_err(|e| bad(format!("unreadable config: {e}"))))
}

/// The model a file holds: `build` makes the architecture of the file's config, then
/// every entry it saves (parameters and buffers) is filled from the tensor of the same
/// name and shape. A missing or misshapen tensor is refused.
pub(crate) fn restore<C: DeserializeOwned, M: Autoencoder>(
    path: &Path,
    tensors: &[NamedTensor],
    meta: &BTreeMap<String, String>,
    build: impl FnOnce(C) -> Result<M, ModelError>,
) -> Result<M, ModelError> {
    let config: C = read_config(path, meta)?;
    let mut model = build(config).map_err(|e| match e {
        e @ ModelError::Incompatible { .. } => e,
        e => incompatible(path, e.to_string()),
    })?;
    // Other tensors are left alone: a checkpoint is a model file with optimiser state.
    let ids = model.saved_entries();
    fill_parameters(path, model.store_mut(), &ids, tensors)?;
    Ok(model)
}

/// The tensor of each `(name, shape)`, in order: missing or misshapen ones are refused
/// (before anything is allocated for them).
pub(crate) fn find_parameters<'a>(
    path: &Path,
    tensors: &'a [NamedTensor],
    shapes: &[(String, Shape)],
) -> Result<Vec<&'a NamedTensor>, ModelError> {
    shapes
        .iter()
        .map(|(name, shape)| {
            let t = tensors
                .iter()
                .find(|t| &t.name == name)
                .ok_or_else(|| incompatible(path, format!("tensor `{name}` is missing")))?;
            if t.shape != [shape.rows, shape.cols] {
                return Err(incompatible(
                    path,
                    format!(
                        "tensor `{name}` has shape {:?}, the architecture needs {shape}",
                        t.shape
                    ),
                ));
            }
            Ok(t)
        })
        .collect()
}

/// Copies the file's tensor of each of `params` (by its store name) into `store`.
pub(crate) fn fill_parameters(
    path: &Path,
    store: &mut ParamStore,
    params: &[EntryId],
    tensors: &[NamedTensor],
) -> Result<(), ModelError> {
    let shapes: Vec<(String, Shape)> = params
        .iter()
        .map(|&id| (store.get(id).name.clone(), store.get(id).shape))
        .collect();
    let found = find_parameters(path, tensors, &shapes)?;
    for (&id, t) in params.iter().zip(found) {
        store.set_values(id, t.values.clone());
    }
    Ok(())
}

pub(crate) fn incompatible(path: &Path, detail: String) -> ModelError {
    ModelError::Incompatible {
        path: path.display().to_string(),
        detail,
    }
}
