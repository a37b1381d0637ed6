//! How the trainer trains a VAE: one phase per warm-up epoch (β rising linearly, each
//! phase its own plan with its β built in) and one for the rest of the run, all in one
//! optimiser group so the moments carry over; a conditional VAE's one-hot labels are
//! the task's targets, resident beside the data.

use crate::backend::Backend;
use crate::data::Dataset;
use crate::graph::{EntryId, Graph, ParamStore};
use crate::models::vae::Vae;
use crate::train::objective::Objective;
use crate::train::{
    fit_with, Batch, Mode, Phase, Progress, RunControl, Task, TrainConfig, TrainError, TrainReport,
};

/// The optimiser group every phase of a VAE shares.
const GROUP: &str = "vae";

/// A VAE with its training settings.
pub struct VaeTask<'a> {
    pub model: &'a mut Vae,
    pub cfg: &'a TrainConfig,
}

impl VaeTask<'_> {
    /// β of phase `phase`: warm-up phase e (0-based) runs in epoch e + 1.
    fn beta(&self, phase: usize) -> f32 {
        self.model.config.beta_at(phase + 1)
    }
}

impl Task for VaeTask<'_> {
    fn kind(&self) -> String {
        super::KIND.name.into()
    }
    fn config_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.model.config).unwrap_or(serde_json::Value::Null)
    }
    fn settings(&self) -> serde_json::Value {
        serde_json::to_value(self.cfg).unwrap_or(serde_json::Value::Null)
    }
    fn store(&self) -> &ParamStore {
        &self.model.store
    }
    fn store_mut(&mut self) -> &mut ParamStore {
        &mut self.model.store
    }
    fn input_width(&self) -> usize {
        self.model.config.input
    }
    fn widest_row(&self) -> usize {
        crate::models::Autoencoder::widest_row(&*self.model)
    }
    /// Warm-up over W epochs: phases `warmup.1` … `warmup.W` (epoch e only, β·(e−1)/W)
    /// then `vae` (epochs W + 1 on, β); without warm-up the one phase `vae`.
    fn phases(&self) -> Vec<Phase> {
        let cfg = self.cfg;
        let warmup = self.model.config.beta_warmup;
        let phase = |name: String, epochs| Phase {
            group: GROUP.into(),
            schedule: cfg.schedule,
            warmup_steps: cfg.warmup_steps,
            clip_norm: cfg.clip_norm,
            epochs,
            ..Phase::new(&name, self.model.parameters(), cfg.optimizer, cfg.lr)
        };
        let mut phases: Vec<Phase> = (1..=warmup)
            .map(|e| phase(format!("warmup.{e}"), e..=e))
            .collect();
        phases.push(phase(GROUP.into(), warmup + 1..=usize::MAX));
        phases
    }
    fn buffers(&self) -> Vec<EntryId> {
        vec![]
    }
    fn uses_rng(&self) -> bool {
        true
    }
    /// Training and validation both draw z (validation with its own key), so the
    /// validation terms estimate the same negative ELBO.
    fn objective(
        &self,
        g: &mut Graph,
        phase: usize,
        batch: &Batch,
        _mode: Mode,
    ) -> Result<Objective, TrainError> {
        self.model
            .elbo_objective(g, batch.x, batch.targets, batch.rng, self.beta(phase))
    }
    fn targets(&self, data: &Dataset) -> Result<Option<Dataset>, TrainError> {
        if !self.model.config.is_conditional() {
            return Ok(None);
        }
        one_hot_labels(data, self.model.config.classes).map(Some)
    }
}

/// The one-hot labels of `data` as rows of `classes` columns; refuses data without
/// labels or with a label out of range.
pub fn one_hot_labels(data: &Dataset, classes: usize) -> Result<Dataset, TrainError> {
    let labels = data.labels.as_ref().ok_or_else(|| {
        TrainError::Config(
            "a conditional VAE needs labelled data (--label-column for a CSV)".into(),
        )
    })?;
    one_hot(labels, classes)
}

/// `labels` as one-hot rows of `classes` columns.
pub fn one_hot(labels: &[u32], classes: usize) -> Result<Dataset, TrainError> {
    let mut values = vec![0.0f32; labels.len() * classes];
    for (row, &label) in labels.iter().enumerate() {
        if label as usize >= classes {
            return Err(TrainError::Config(format!(
                "label {label} of row {row} is out of range for a model of {classes} classes"
            )));
        }
        values[row * classes + label as usize] = 1.0;
    }
    Dataset::new(labels.len(), classes, values).map_err(|e| TrainError::Config(e.to_string()))
}

/// Trains `model` on `train` (labels read from it for a conditional VAE) with `cfg`'s
/// optimiser, batches and seed; `cfg.loss` and `cfg.regularization` are not read (the
/// decoder's distribution is the loss, the KL term the regulariser).
pub fn fit_vae(
    model: &mut Vae,
    backend: &mut dyn Backend,
    train: &Dataset,
    validation: Option<&Dataset>,
    cfg: &TrainConfig,
    control: &RunControl,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<TrainReport, TrainError> {
    fit_with(model, backend, train, validation, cfg, control, on_progress)
}
