//! Safetensors files of F32 tensors with string metadata, the format PyTorch, Burn and
//! candle all read.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use super::{atomic_write, limits, IoError};

/// One named tensor: its shape and its values in row-major (C) order.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// The key safetensors reserves in the header for the free-form string metadata.
const METADATA_KEY: &str = "__metadata__";
/// The metadata key of the content checksum: `crc32:` and 8 hex digits over every
/// tensor's name, shape and bytes, in name order. It catches a file damaged or edited
/// after it was written (not a deliberate forgery: anyone can recompute a CRC).
pub const CHECKSUM_KEY: &str = "aegpu.checksum";

/// The content checksum of `tensors` (any order: they are taken in name order).
fn checksum(tensors: &[NamedTensor]) -> String {
    let mut order: Vec<&NamedTensor> = tensors.iter().collect();
    order.sort_by(|a, b| a.name.cmp(&b.name));
    let mut crc = flate2::Crc::new();
    for t in order {
        crc.update(t.name.as_bytes());
        crc.update(&[0]);
        for &d in &t.shape {
            crc.update(&(d as u64).to_le_bytes());
        }
        for v in &t.values {
            crc.update(&v.to_le_bytes());
        }
    }
    format!("crc32:{:08x}", crc.sum())
}

/// Saves `tensors` as F32 tensors, with `metadata` in the header's `__metadata__`
/// entry, writing the file atomically.
///
/// Every tensor's values must fill its shape exactly and names must be unique.
/// The file loads in Python with `safetensors.torch.load_file(path)`, and the
/// metadata with `safe_open(path, "pt").metadata()`.
pub fn save_safetensors(
    path: &Path,
    tensors: &[NamedTensor],
    metadata: &BTreeMap<String, String>,
) -> Result<(), IoError> {
    let mut seen = HashSet::new();
    let mut encoded = Vec::with_capacity(tensors.len());
    for tensor in tensors {
        if tensor.name == METADATA_KEY || !seen.insert(tensor.name.as_str()) {
            return Err(IoError::Metadata {
                path: path.to_path_buf(),
                detail: format!(
                    "tensor name `{}` is reserved or used twice; each tensor needs its own name",
                    tensor.name
                ),
            });
        }
        let needed = tensor
            .shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d));
        if needed != Some(tensor.values.len()) {
            return Err(IoError::ShapeMismatch {
                path: path.to_path_buf(),
                name: tensor.name.clone(),
                expected: tensor.shape.clone(),
                found: vec![tensor.values.len()],
            });
        }
        let bytes: Vec<u8> = tensor.values.iter().flat_map(|v| v.to_le_bytes()).collect();
        encoded.push((tensor, bytes));
    }

    let views = encoded
        .iter()
        .map(|(tensor, bytes)| {
            safetensors::tensor::TensorView::new(Dtype::F32, tensor.shape.clone(), bytes)
                .map(|view| (tensor.name.as_str(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| IoError::Metadata {
            path: path.to_path_buf(),
            detail: format!("cannot lay out tensors: {e}"),
        })?;
    let mut header_metadata: HashMap<String, String> = metadata.clone().into_iter().collect();
    header_metadata.insert(CHECKSUM_KEY.to_string(), checksum(tensors));
    let bytes =
        safetensors::serialize(views, Some(header_metadata)).map_err(|e| IoError::Metadata {
            path: path.to_path_buf(),
            detail: format!("cannot encode the safetensors header: {e}"),
        })?;
    atomic_write(path, &bytes)
}

/// Loads every tensor (sorted by name) and the string metadata from a safetensors file.
///
/// A missing, truncated or corrupt file is an error that names the path; so is a
/// tensor stored as anything other than F32, a NaN or infinite value (naming the
/// tensor), and tensors that do not match the file's content checksum
/// ([`CHECKSUM_KEY`]). Files written before checksums were recorded have none and load
/// unchecked. Only regular files are read (see [`limits::read_regular`]).
pub fn load_safetensors(
    path: &Path,
) -> Result<(Vec<NamedTensor>, BTreeMap<String, String>), IoError> {
    let bytes = limits::read_regular(path)?;
    parse_safetensors(path, &bytes)
}

/// [`load_safetensors`] of bytes already in memory (a model embedded in the binary),
/// with the same checks; `path` only names them in errors.
pub fn parse_safetensors(
    path: &Path,
    bytes: &[u8],
) -> Result<(Vec<NamedTensor>, BTreeMap<String, String>), IoError> {
    let corrupt = |e: safetensors::SafeTensorError| IoError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("{e} (file is {} bytes)", bytes.len()),
    };
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(corrupt)?;
    let file = SafeTensors::deserialize(bytes).map_err(corrupt)?;

    let mut tensors = Vec::with_capacity(file.len());
    for (name, view) in file.iter() {
        if view.dtype() != Dtype::F32 {
            return Err(IoError::UnsupportedDtype {
                path: path.to_path_buf(),
                name: name.to_string(),
                dtype: view.dtype().to_string(),
            });
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(IoError::NonFinite {
                path: path.to_path_buf(),
                name: name.to_string(),
                index,
                value: values[index],
            });
        }
        tensors.push(NamedTensor {
            name: name.to_string(),
            shape: view.shape().to_vec(),
            values,
        });
    }
    tensors.sort_by(|a, b| a.name.cmp(&b.name));

    let mut metadata: BTreeMap<String, String> = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    // Verified here and not handed on: the caller gets back the metadata it saved.
    if let Some(expected) = metadata.remove(CHECKSUM_KEY) {
        let found = checksum(&tensors);
        if expected != found {
            return Err(IoError::Checksum {
                path: path.to_path_buf(),
                expected: limits::shorten(&expected, 40),
                found,
            });
        }
    }
    Ok((tensors, metadata))
}

/// Finds the tensor called `name` among tensors loaded from `path` and checks that
/// it has `shape`; the errors name the file, the tensor and both shapes.
pub fn find_tensor<'a>(
    path: &Path,
    tensors: &'a [NamedTensor],
    name: &str,
    shape: &[usize],
) -> Result<&'a NamedTensor, IoError> {
    let tensor = tensors
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| IoError::MissingTensor {
            path: path.to_path_buf(),
            name: name.to_string(),
        })?;
    if tensor.shape != shape {
        return Err(IoError::ShapeMismatch {
            path: path.to_path_buf(),
            name: name.to_string(),
            expected: shape.to_vec(),
            found: tensor.shape.clone(),
        });
    }
    Ok(tensor)
}
