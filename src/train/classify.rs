//! Supervised training of a [`Classifier`]: every layer (encoder and head) fine-tuned on
//! labelled rows with the softmax cross-entropy, and test accuracy.
//!
//! The loop is the one trainer's ([`crate::train::trainer`]): the images and their
//! one-hot labels stay resident on the backend, each step feeds only the batch's row
//! indices and the optimiser's hyper-parameters, and one plan — gather both, forward,
//! loss, `grad`, one fused `Update` per parameter, accumulate the loss — runs as one
//! submission per step.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::data::Dataset;
use crate::graph::{EntryId, Graph, ParamStore};
use crate::models::Classifier;
use crate::ops::loss::softmax_xent::argmax_rows;
use crate::ops::{Op, Optimizer};
use crate::train::batched::for_each_batch_of;
use crate::train::objective::Objective;
use crate::train::{
    trainer, Batch, Mode, Phase, Progress, RunControl, RunSettings, Task, TrainError,
};

/// The settings of a fine-tuning run; saved with the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifyConfig {
    pub epochs: usize,
    /// Rows per step (capped at the number of labelled rows).
    pub batch: usize,
    pub lr: f32,
    pub optimizer: Optimizer,
    /// Shuffling of the rows each epoch.
    pub seed: u64,
    pub clip_norm: Option<f32>,
    /// Train only the head for this many epochs first (a linear probe on the code,
    /// which keeps a random head's first gradients out of a pretrained encoder), then
    /// every layer for the rest of `epochs`.
    #[serde(default)]
    pub head_epochs: usize,
}

/// Adam at 1e-3, batch 32, 50 epochs: 100 labels make 4 steps an epoch.
impl Default for ClassifyConfig {
    fn default() -> Self {
        ClassifyConfig {
            epochs: 50,
            batch: 32,
            lr: 1e-3,
            optimizer: Optimizer::adam(),
            seed: 0,
            clip_norm: None,
            head_epochs: 0,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ClassifyReport {
    /// Mean cross-entropy per row of every epoch.
    pub epoch_losses: Vec<f32>,
    pub steps: u64,
    pub seconds: f64,
    pub submissions_per_step: f64,
}

/// The labels of `data` as one-hot rows [rows, classes], or why they can't be.
pub fn one_hot(data: &Dataset, classes: usize) -> Result<Vec<f32>, TrainError> {
    let labels = labels(data)?;
    let mut hot = vec![0.0; labels.len() * classes];
    for (i, &y) in labels.iter().enumerate() {
        if y as usize >= classes {
            return Err(TrainError::Config(format!(
                "row {i} has label {y}, but the classifier has {classes} classes (0 to {})",
                classes - 1
            )));
        }
        hot[i * classes + y as usize] = 1.0;
    }
    Ok(hot)
}

fn labels(data: &Dataset) -> Result<&[u32], TrainError> {
    data.labels
        .as_deref()
        .ok_or_else(|| TrainError::Config("the data has no labels".into()))
}

fn check_width(model: &Classifier, data: &Dataset) -> Result<(), TrainError> {
    if data.cols != model.input_width() {
        return Err(TrainError::Width {
            expected: model.input_width(),
            got: data.cols,
        });
    }
    Ok(())
}

/// Trains every layer of `model` on the labelled rows of `train` (after the head
/// alone for `head_epochs`), on the one [`crate::train::trainer`]. Weights end up in
/// `model.store` and on the backend (so [`accuracy`] can follow directly).
pub fn fit_classifier(
    model: &mut Classifier,
    backend: &mut dyn Backend,
    train: &Dataset,
    cfg: &ClassifyConfig,
    on_epoch: &mut dyn FnMut(usize, f32),
) -> Result<ClassifyReport, TrainError> {
    check_width(model, train)?;
    cfg.check_ranges()?;
    let classes_seen = labels(train)?;
    if let Some(&first) = classes_seen.first() {
        if classes_seen.iter().all(|&y| y == first) {
            return Err(TrainError::Config(format!(
                "every labelled row is of class {first}: a classifier needs rows of at \
                 least two classes (label more rows)"
            )));
        }
    }
    if cfg.batch == 0 || cfg.epochs == 0 {
        return Err(TrainError::Config(
            "batch size and epochs must be at least 1".into(),
        ));
    }
    let settings = RunSettings {
        epochs: cfg.epochs,
        batch: cfg.batch.min(train.rows),
        seed: cfg.seed,
        loss_every: 0,
        early_stop: None,
        monitor: None,
        lbfgs: None,
    };
    let (start, before) = (Instant::now(), backend.stats());
    let mut task = ClassifierTask { model, cfg };
    let report = trainer::train(
        &mut task,
        backend,
        train,
        None,
        &settings,
        &RunControl::default(),
        &mut |p| {
            if let Progress::Epoch(e) = p {
                on_epoch(e.epoch, e.train_loss)
            }
        },
    )?;
    let submissions = backend.stats().submissions - before.submissions;
    Ok(ClassifyReport {
        epoch_losses: report.epochs.iter().map(|e| e.train_loss).collect(),
        steps: report.steps,
        seconds: start.elapsed().as_secs_f64(),
        submissions_per_step: submissions as f64 / report.steps.max(1) as f64,
    })
}

/// A classifier with its [`ClassifyConfig`]: the softmax cross-entropy of its logits
/// against one-hot labels kept resident beside the rows. Two phases of one optimiser
/// group (so the head keeps its moments): the head alone for `head_epochs`, then
/// every parameter.
struct ClassifierTask<'a> {
    model: &'a mut Classifier,
    cfg: &'a ClassifyConfig,
}

impl Task for ClassifierTask<'_> {
    fn kind(&self) -> String {
        "classifier".into()
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
        self.model.input_width()
    }
    fn widest_row(&self) -> usize {
        self.model.widest_row()
    }
    fn phases(&self) -> Vec<Phase> {
        let (cfg, all) = (self.cfg, self.model.parameters());
        // The head is the last two parameters (its weight and bias).
        let head = all[all.len().saturating_sub(2)..].to_vec();
        let phase = |name: &str, params: Vec<EntryId>, epochs| Phase {
            group: "classifier".into(),
            clip_norm: cfg.clip_norm,
            epochs,
            ..Phase::new(name, params, cfg.optimizer, cfg.lr)
        };
        let mut phases = vec![];
        if cfg.head_epochs > 0 {
            phases.push(phase("head", head, 1..=cfg.head_epochs));
        }
        phases.push(phase("all", all, cfg.head_epochs + 1..=usize::MAX));
        phases
    }
    fn uses_rng(&self) -> bool {
        false
    }
    fn objective(
        &self,
        g: &mut Graph,
        _phase: usize,
        batch: &Batch,
        _mode: Mode,
    ) -> Result<Objective, TrainError> {
        let targets = batch
            .targets
            .ok_or_else(|| TrainError::Config("a classifier trains on labelled rows".into()))?;
        let logits = self.model.logits(g, batch.x)?;
        g.set_label("loss");
        let loss = g.push(Op::SoftmaxCrossEntropy, &[logits, targets])?;
        Ok(Objective::single(CROSS_ENTROPY, loss))
    }
    fn targets(&self, data: &Dataset) -> Result<Option<Dataset>, TrainError> {
        let classes = self.model.config.classes;
        let hot = one_hot(data, classes)?;
        Dataset::new(data.rows, classes, hot)
            .map(Some)
            .map_err(|e| TrainError::Config(e.to_string()))
    }
}

/// The name of a classifier's loss term.
pub const CROSS_ENTROPY: &str = "cross_entropy";

/// The logits of every row of `data`, row-major [rows, classes]. The parameters must
/// be on the backend (after [`fit_classifier`], or `backend.upload_store(&model.store)`).
pub fn logits(
    model: &Classifier,
    backend: &mut dyn Backend,
    data: &Dataset,
) -> Result<Vec<f32>, TrainError> {
    check_width(model, data)?;
    let mut all = Vec::with_capacity(data.rows * model.config.classes);
    let build = |g: &mut Graph, x| Ok(vec![model.logits(g, x)?]);
    for_each_batch_of(
        &model.store,
        model.widest_row(),
        backend,
        data,
        &build,
        &mut |_, _, outs| all.extend_from_slice(&outs[0]),
    )?;
    Ok(all)
}

/// The predicted class of every row: the largest logit.
pub fn predict(
    model: &Classifier,
    backend: &mut dyn Backend,
    data: &Dataset,
) -> Result<Vec<u32>, TrainError> {
    let z = logits(model, backend, data)?;
    Ok(argmax_rows(&z, model.config.classes))
}

/// The fraction of the rows of `data` whose predicted class is their label.
pub fn accuracy(
    model: &Classifier,
    backend: &mut dyn Backend,
    data: &Dataset,
) -> Result<f32, TrainError> {
    let truth = labels(data)?;
    let predicted = predict(model, backend, data)?;
    let right = predicted.iter().zip(truth).filter(|(p, t)| p == t).count();
    Ok(right as f32 / data.rows.max(1) as f32)
}
