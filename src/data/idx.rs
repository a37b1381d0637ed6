//! The IDX format of MNIST and Fashion-MNIST (LeCun's `*-ubyte` files), gzipped or not.
//!
//! Layout, all integers big-endian: a `u32` magic `0x0000_08TD` where `T = 08` means
//! `u8` elements and `D` is the number of dimensions, then `D` `u32` sizes, then the
//! elements in row-major order.

use std::path::Path;

use super::{read_maybe_gzip, DataError, Dataset};

/// Magic number of a file of `u8` images: `n x rows x cols`.
const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of a file of `u8` labels: `n`.
const LABELS_MAGIC: u32 = 0x0000_0801;

/// Loads an IDX images file (`*-images-idx3-ubyte`, optionally gzipped) as one row of
/// `rows * cols` pixels per image, scaled to `[0, 1]` as `k as f32 / 255.0`, with
/// `byte_scaled` set.
pub fn load_idx_images(path: &Path) -> Result<Dataset, DataError> {
    parse_idx_images(path, &read_maybe_gzip(path)?)
}

/// [`load_idx_images`] from the file's (decompressed) bytes; `path` names it in errors.
pub(crate) fn parse_idx_images(path: &Path, bytes: &[u8]) -> Result<Dataset, DataError> {
    let (dims, pixels) = split_header(path, bytes, IMAGES_MAGIC, "images")?;
    let (n, height, width) = (dims[0], dims[1], dims[2]);
    let cols = height * width;
    if n == 0 || cols == 0 {
        return Err(DataError::Empty {
            what: format!("{} ({n} images of {height}x{width})", path.display()),
        });
    }
    let values = pixels.iter().map(|&k| f32::from(k) / 255.0).collect();
    Ok(Dataset {
        rows: n,
        cols,
        values,
        labels: None,
        byte_scaled: true,
    })
}

/// Loads an IDX labels file (`*-labels-idx1-ubyte`, optionally gzipped).
pub fn load_idx_labels(path: &Path) -> Result<Vec<u32>, DataError> {
    parse_idx_labels(path, &read_maybe_gzip(path)?)
}

/// [`load_idx_labels`] from the file's (decompressed) bytes.
pub(crate) fn parse_idx_labels(path: &Path, bytes: &[u8]) -> Result<Vec<u32>, DataError> {
    let (_, labels) = split_header(path, bytes, LABELS_MAGIC, "labels")?;
    if labels.is_empty() {
        return Err(DataError::Empty {
            what: format!("{} (0 labels)", path.display()),
        });
    }
    Ok(labels.iter().map(|&k| u32::from(k)).collect())
}

/// Checks the magic number and that the body holds exactly as many bytes as the sizes
/// in the header say; returns the sizes and the body.
fn split_header<'a>(
    path: &Path,
    bytes: &'a [u8],
    magic: u32,
    kind: &str,
) -> Result<(Vec<usize>, &'a [u8]), DataError> {
    let format_error = |detail: String| DataError::Format {
        path: path.to_path_buf(),
        detail,
    };
    let dims = (magic & 0xff) as usize;
    let header_len = 4 + 4 * dims;
    let too_short = || {
        format_error(format!(
            "expected an IDX {kind} header of {header_len} bytes, but the file holds only {} bytes",
            bytes.len()
        ))
    };
    if bytes.len() < 4 {
        return Err(too_short());
    }
    // Check the magic first, so a file of another kind is named as such even when short.
    let found_magic = read_u32(bytes, 0);
    if found_magic != magic {
        let hint = match found_magic {
            IMAGES_MAGIC => " (this is an IDX images file)",
            LABELS_MAGIC => " (this is an IDX labels file)",
            _ => "",
        };
        return Err(format_error(format!(
            "expected IDX {kind} magic number {magic:#010x}, found {found_magic:#010x}{hint}"
        )));
    }
    if bytes.len() < header_len {
        return Err(too_short());
    }
    let sizes: Vec<usize> = (0..dims)
        .map(|d| read_u32(bytes, 4 + 4 * d) as usize)
        .collect();
    let body = &bytes[header_len..];
    let expected = sizes.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    match expected {
        Some(expected) if expected == body.len() => Ok((sizes, body)),
        _ => Err(format_error(format!(
            "the header promises {kind} of shape {sizes:?}, i.e. {} bytes after the \
             {header_len}-byte header, but {} bytes follow ({})",
            expected.map_or_else(|| "more than addressable".to_string(), |n| n.to_string()),
            body.len(),
            if expected.is_some_and(|n| body.len() > n) {
                "extra bytes at the end"
            } else {
                "the file is truncated"
            }
        ))),
    }
}

/// The big-endian `u32` at `offset`; the caller has checked the bounds.
fn read_u32(bytes: &[u8], offset: usize) -> u32 {
    u32::from_be_bytes([
        bytes[offset],
        bytes[offset + 1],
        bytes[offset + 2],
        bytes[offset + 3],
    ])
}
