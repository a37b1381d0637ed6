//! New data from a VAE: samples from the prior decoded to the decoder's mean (pixel
//! probabilities for a Bernoulli decoder), the encoder's and decoder's means that
//! [`crate::models::latent`] walks the code space with, and a grid of images to look
//! at them.

use std::path::Path;

use crate::backend::{Backend, Feed};
use crate::graph::{DType, Graph, Plan, Shape};
use crate::imaging::{Image, ImageShape};
use crate::models::vae::task::one_hot;
use crate::models::vae::Vae;
use crate::ops::random::{draw, gaussian, rng_feed};
use crate::train::TrainError;

fn config(detail: impl Into<String>) -> TrainError {
    TrainError::Config(detail.into())
}

/// Checks a requested label against the model: only a conditional VAE takes one, and
/// it must be one of its classes.
pub fn check_label(model: &Vae, label: Option<u32>) -> Result<(), TrainError> {
    let classes = model.config.classes;
    match label {
        Some(_) if classes == 0 => Err(config(
            "--label needs a conditional VAE; this one was trained without --conditional",
        )),
        Some(l) if l as usize >= classes => Err(config(format!(
            "label {l} is out of range: the model has {classes} classes (0–{})",
            classes - 1
        ))),
        _ => Ok(()),
    }
}

/// The label of each of `n` rows: `label` for all of them, or for a conditional model
/// without one, the classes in turn (row i gets i mod classes).
fn row_labels(model: &Vae, n: usize, label: Option<u32>) -> Result<Option<Vec<u32>>, TrainError> {
    check_label(model, label)?;
    let classes = model.config.classes;
    Ok((classes > 0).then(|| {
        (0..n)
            .map(|i| label.unwrap_or((i % classes) as u32))
            .collect()
    }))
}

/// Decodes the latent rows `z` ([n, latent], row-major) to the decoder's mean; a
/// conditional model reads `labels` (one per row). Uploads the parameters first.
pub fn decode_latents(
    model: &Vae,
    backend: &mut dyn Backend,
    z: &[f32],
    labels: Option<&[u32]>,
) -> Result<Vec<f32>, TrainError> {
    let latent = model.config.latent;
    if z.is_empty() || z.len() % latent != 0 {
        return Err(config(format!(
            "{} values are not whole latent rows of {latent}",
            z.len()
        )));
    }
    let n = z.len() / latent;
    let y = match (model.config.is_conditional(), labels) {
        (true, Some(l)) if l.len() == n => Some(one_hot(l, model.config.classes)?),
        (true, Some(l)) => {
            return Err(config(format!("{} labels for {n} latent rows", l.len())));
        }
        (true, None) => return Err(config(super::NEEDS_LABELS)),
        (false, Some(_)) => return Err(config("labels given to an unconditional VAE")),
        (false, None) => None,
    };
    backend.upload_store(&model.store)?;
    let mut g = Graph::new();
    let zv = g.input("z", Shape::new(n, latent), DType::F32);
    let yv = y
        .as_ref()
        .map(|y| g.input("labels", Shape::new(n, y.cols), DType::F32));
    let output = model.decode_output(&mut g, zv, yv)?;
    let mean = model.decoder_mean(&mut g, output)?;
    g.mark_output(mean);
    let id = backend.prepare(&Plan::new(&g, &model.store)?)?;
    let mut feeds = vec![Feed::F32(z)];
    feeds.extend(y.as_ref().map(|y| Feed::F32(&y.values)));
    let result = backend
        .run(id, &feeds)
        .and_then(|()| backend.read_output(id, mean));
    backend.release(id);
    Ok(result?)
}

/// `n` draws from the prior N(0, I) (Philox Gaussians of step 0 of `seed`, the same on
/// every backend), decoded; of class `label` for a conditional model (without one, the
/// classes in turn). Rows of `model.config.input` values.
pub fn sample(
    model: &Vae,
    backend: &mut dyn Backend,
    n: usize,
    label: Option<u32>,
    seed: u64,
) -> Result<Vec<f32>, TrainError> {
    if n == 0 {
        return Err(config("asked for 0 samples"));
    }
    let labels = row_labels(model, n, label)?;
    let key = rng_feed(seed, 0);
    let count = n
        .checked_mul(model.config.latent)
        .filter(|&c| c <= u32::MAX as usize)
        .ok_or_else(|| config(format!("{n} samples are too many")))?;
    let z: Vec<f32> = (0..count as u32)
        .map(|i| {
            let w = draw(key, 0, i);
            gaussian(w[0], w[1])
        })
        .collect();
    decode_latents(model, backend, &z, labels.as_deref())
}

/// The mean codes μ(x) of the rows `x` (and their labels).
pub fn encode_means(
    model: &Vae,
    backend: &mut dyn Backend,
    x: &[f32],
    labels: Option<&[u32]>,
) -> Result<Vec<f32>, TrainError> {
    let d = model.config.input;
    if x.is_empty() || x.len() % d != 0 {
        return Err(config(format!(
            "{} values are not whole rows of {d}",
            x.len()
        )));
    }
    let n = x.len() / d;
    let y = match labels {
        Some(l) if model.config.is_conditional() => Some(one_hot(l, model.config.classes)?),
        _ => None,
    };
    backend.upload_store(&model.store)?;
    let mut g = Graph::new();
    let xv = g.input("x", Shape::new(n, d), DType::F32);
    let yv = y
        .as_ref()
        .map(|y| g.input("labels", Shape::new(n, y.cols), DType::F32));
    let (mu, _) = model.encode_gaussian(&mut g, xv, yv)?;
    g.mark_output(mu);
    let id = backend.prepare(&Plan::new(&g, &model.store)?)?;
    let mut feeds = vec![Feed::F32(x)];
    feeds.extend(y.as_ref().map(|y| Feed::F32(&y.values)));
    let result = backend
        .run(id, &feeds)
        .and_then(|()| backend.read_output(id, mu));
    backend.release(id);
    Ok(result?)
}

/// Draws the rows of `images` (each of `shape`, values in [0, 1]) as a grid of
/// `columns` tiles a row, 2 pixels apart on a mid-grey background, and saves it as a
/// PNG (atomically).
pub fn save_image_grid(
    path: &Path,
    images: &[f32],
    shape: ImageShape,
    columns: usize,
) -> Result<(), TrainError> {
    let per = shape.len();
    if per == 0 || images.is_empty() || images.len() % per != 0 || columns == 0 {
        return Err(config(format!(
            "{} values are not whole images of {shape} in {columns} columns",
            images.len()
        )));
    }
    let count = images.len() / per;
    let columns = columns.min(count);
    let rows = count.div_ceil(columns);
    let gap = 2;
    let (h, w) = (shape.height, shape.width);
    let (height, width) = (rows * (h + gap) + gap, columns * (w + gap) + gap);
    let out = ImageShape::new(shape.channels, height, width);
    let mut grid = vec![0.5f32; out.len()];
    for (k, image) in images.chunks_exact(per).enumerate() {
        let (top, left) = (
            gap + (k / columns) * (h + gap),
            gap + (k % columns) * (w + gap),
        );
        for c in 0..shape.channels {
            for y in 0..h {
                for x in 0..w {
                    grid[(c * height + top + y) * width + left + x] =
                        image[(c * h + y) * w + x].clamp(0.0, 1.0);
                }
            }
        }
    }
    let image = Image::new(out, grid).map_err(|e| config(e.to_string()))?;
    image
        .save_png(path)
        .map_err(|e| config(format!("{}: {e}", path.display())))
}
