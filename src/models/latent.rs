//! Walking a generative model's code space, written once for every kind that has one
//! (the VAE, whose codes are its posterior means, and the adversarial AE): a straight
//! path between the codes of two inputs, decoded, and the 2-D latent manifold as the
//! Keras VAE example draws it.

use crate::backend::Backend;
use crate::models::aae::Aae;
use crate::models::vae::{self, Vae};
use crate::train::{run_rows, RowOutput, TrainError};

fn config(detail: impl Into<String>) -> TrainError {
    TrainError::Config(detail.into())
}

/// A model whose codes can be computed from data and decoded back to data.
pub trait LatentSpace {
    /// Values per code.
    fn latent_width(&self) -> usize;
    /// Values per data row.
    fn data_width(&self) -> usize;
    /// Classes of the label the encoder and decoder read beside the data or code (a
    /// conditional VAE), or `None` where codes decode without a label.
    fn code_label_classes(&self) -> Option<usize>;
    /// The code of each row of `x` (a VAE's posterior mean); uploads the parameters.
    fn encode_codes(
        &self,
        backend: &mut dyn Backend,
        x: &[f32],
        labels: Option<&[u32]>,
    ) -> Result<Vec<f32>, TrainError>;
    /// Each code of `z` decoded to a data row (a VAE's decoder mean); uploads the
    /// parameters.
    fn decode_codes(
        &self,
        backend: &mut dyn Backend,
        z: &[f32],
        labels: Option<&[u32]>,
    ) -> Result<Vec<f32>, TrainError>;
}

impl LatentSpace for Vae {
    fn latent_width(&self) -> usize {
        self.config.latent
    }
    fn data_width(&self) -> usize {
        self.config.input
    }
    fn code_label_classes(&self) -> Option<usize> {
        self.config.is_conditional().then_some(self.config.classes)
    }
    fn encode_codes(
        &self,
        backend: &mut dyn Backend,
        x: &[f32],
        labels: Option<&[u32]>,
    ) -> Result<Vec<f32>, TrainError> {
        vae::encode_means(self, backend, x, labels)
    }
    fn decode_codes(
        &self,
        backend: &mut dyn Backend,
        z: &[f32],
        labels: Option<&[u32]>,
    ) -> Result<Vec<f32>, TrainError> {
        vae::decode_latents(self, backend, z, labels)
    }
}

impl LatentSpace for Aae {
    fn latent_width(&self) -> usize {
        self.config.latent
    }
    fn data_width(&self) -> usize {
        self.config.input
    }
    /// The label of a mixture prior goes to the discriminator only.
    fn code_label_classes(&self) -> Option<usize> {
        None
    }
    fn encode_codes(
        &self,
        backend: &mut dyn Backend,
        x: &[f32],
        _labels: Option<&[u32]>,
    ) -> Result<Vec<f32>, TrainError> {
        let rows = whole_rows(x, self.config.input)?;
        backend.upload_store(&self.store)?;
        let data = crate::data::Dataset::new(rows, self.config.input, x.to_vec())
            .map_err(|e| config(e.to_string()))?;
        run_rows(self, backend, &data, RowOutput::Code)
    }
    fn decode_codes(
        &self,
        backend: &mut dyn Backend,
        z: &[f32],
        _labels: Option<&[u32]>,
    ) -> Result<Vec<f32>, TrainError> {
        whole_rows(z, self.config.latent)?;
        self.decode(backend, z)
    }
}

fn whole_rows(values: &[f32], width: usize) -> Result<usize, TrainError> {
    if values.is_empty() || values.len() % width != 0 {
        return Err(config(format!(
            "{} values are not whole rows of {width}",
            values.len()
        )));
    }
    Ok(values.len() / width)
}

/// Checks the label asked for a path or grid: a model whose codes read a label needs
/// one of its classes, and one whose codes do not takes none.
fn check_code_label(
    model: &dyn LatentSpace,
    label: Option<u32>,
    what: &str,
) -> Result<(), TrainError> {
    match (model.code_label_classes(), label) {
        (Some(_), None) => Err(config(format!(
            "a conditional model draws the {what} of one class: give a label"
        ))),
        (Some(classes), Some(l)) if l as usize >= classes => Err(config(format!(
            "label {l} is out of range: the model has {classes} classes (0–{})",
            classes - 1
        ))),
        (None, Some(_)) => Err(config(format!(
            "this model decodes codes without a label: a label does not go with the {what}"
        ))),
        _ => Ok(()),
    }
}

/// `steps` decoded points on the straight line between the codes of the rows `a` and
/// `b` (both ends included); a conditional model decodes them all as `label`.
pub fn interpolate(
    model: &dyn LatentSpace,
    backend: &mut dyn Backend,
    a: &[f32],
    b: &[f32],
    steps: usize,
    label: Option<u32>,
) -> Result<Vec<f32>, TrainError> {
    if steps < 2 {
        return Err(config("an interpolation needs at least 2 steps"));
    }
    let d = model.data_width();
    if a.len() != d || b.len() != d {
        return Err(config(format!(
            "interpolation ends must be rows of {d} values, got {} and {}",
            a.len(),
            b.len()
        )));
    }
    check_code_label(model, label, "interpolation")?;
    let ends: Vec<f32> = a.iter().chain(b).copied().collect();
    let end_labels = label.map(|l| vec![l, l]);
    let codes = model.encode_codes(backend, &ends, end_labels.as_deref())?;
    let (za, zb) = codes.split_at(model.latent_width());
    let mut z = Vec::with_capacity(steps * za.len());
    for s in 0..steps {
        let t = s as f32 / (steps - 1) as f32;
        z.extend(za.iter().zip(zb).map(|(&p, &q)| (1.0 - t) * p + t * q));
    }
    let labels = label.map(|l| vec![l; steps]);
    model.decode_codes(backend, &z, labels.as_deref())
}

/// The 2-D latent manifold: a `side × side` grid of codes with the first two latent
/// units running over [−scale, scale] (left to right, bottom to top, as the Keras VAE
/// example) and the others at 0, decoded; rows in reading order (top row first).
pub fn manifold_grid(
    model: &dyn LatentSpace,
    backend: &mut dyn Backend,
    side: usize,
    scale: f32,
    label: Option<u32>,
) -> Result<Vec<f32>, TrainError> {
    let latent = model.latent_width();
    if latent < 2 {
        return Err(config("a 2-D manifold needs at least 2 latent units"));
    }
    if side < 2 {
        return Err(config("a manifold grid needs at least 2 points a side"));
    }
    if !(scale > 0.0 && scale.is_finite()) {
        return Err(config(format!("the grid's scale must be > 0, got {scale}")));
    }
    let cells = side
        .checked_mul(side)
        .filter(|&c| c.saturating_mul(latent.max(model.data_width())) <= 1 << 28)
        .ok_or_else(|| config(format!("a manifold of {side} × {side} is too large")))?;
    check_code_label(model, label, "manifold")?;
    let at = |k: usize| -scale + 2.0 * scale * k as f32 / (side - 1) as f32;
    let mut z = vec![0.0f32; cells * latent];
    for row in 0..side {
        for col in 0..side {
            let code = &mut z[(row * side + col) * latent..][..2];
            code[0] = at(col);
            code[1] = at(side - 1 - row);
        }
    }
    let labels = label.map(|l| vec![l; cells]);
    model.decode_codes(backend, &z, labels.as_deref())
}
