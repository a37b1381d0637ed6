//! New data from a VAE: samples from the prior, a path between the codes of two
//! inputs, and the 2-D latent manifold (as the Keras VAE example draws it), each
//! decoded to the decoder's mean (pixel probabilities for a Bernoulli decoder); and a
//! grid of images to look at them.

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

/// `steps` decoded points on the straight line between the mean codes of the rows `a`
/// and `b` (both ends included); a conditional model decodes them all as `label`.
pub fn interpolate(
    model: &Vae,
    backend: &mut dyn Backend,
    a: &[f32],
    b: &[f32],
    steps: usize,
    label: Option<u32>,
) -> Result<Vec<f32>, TrainError> {
    if steps < 2 {
        return Err(config("an interpolation needs at least 2 steps"));
    }
    let d = model.config.input;
    if a.len() != d || b.len() != d {
        return Err(config(format!(
            "interpolation ends must be rows of {d} values, got {} and {}",
            a.len(),
            b.len()
        )));
    }
    if model.config.is_conditional() && label.is_none() {
        return Err(config(
            "a conditional VAE interpolates within a class: give a label",
        ));
    }
    check_label(model, label)?;
    let ends: Vec<f32> = a.iter().chain(b).copied().collect();
    let end_labels = label.map(|l| vec![l, l]);
    let mu = encode_means(model, backend, &ends, end_labels.as_deref())?;
    let latent = model.config.latent;
    let (za, zb) = mu.split_at(latent);
    let mut z = Vec::with_capacity(steps * latent);
    for s in 0..steps {
        let t = s as f32 / (steps - 1) as f32;
        z.extend(za.iter().zip(zb).map(|(&p, &q)| (1.0 - t) * p + t * q));
    }
    let labels = label.map(|l| vec![l; steps]);
    decode_latents(model, backend, &z, labels.as_deref())
}

/// The 2-D latent manifold: a `side × side` grid of codes with the first two latent
/// units running over [−scale, scale] (left to right, bottom to top, as the Keras VAE
/// example) and the others at 0, decoded; rows in reading order (top row first).
pub fn manifold_grid(
    model: &Vae,
    backend: &mut dyn Backend,
    side: usize,
    scale: f32,
    label: Option<u32>,
) -> Result<Vec<f32>, TrainError> {
    let latent = model.config.latent;
    if latent < 2 {
        return Err(config("a 2-D manifold needs at least 2 latent units"));
    }
    if side < 2 {
        return Err(config("a manifold grid needs at least 2 points a side"));
    }
    if !(scale > 0.0 && scale.is_finite()) {
        return Err(config(format!("the grid's scale must be > 0, got {scale}")));
    }
    if model.config.is_conditional() && label.is_none() {
        return Err(config(
            "a conditional VAE draws the manifold of one class: give a label",
        ));
    }
    check_label(model, label)?;
    let at = |k: usize| -scale + 2.0 * scale * k as f32 / (side - 1) as f32;
    let mut z = vec![0.0f32; side * side * latent];
    for row in 0..side {
        for col in 0..side {
            let code = &mut z[(row * side + col) * latent..][..2];
            code[0] = at(col);
            code[1] = at(side - 1 - row);
        }
    }
    let labels = label.map(|l| vec![l; side * side]);
    decode_latents(model, backend, &z, labels.as_deref())
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
