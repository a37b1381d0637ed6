//! The hybrid discriminative + generative objective (semi-supervised learning with an
//! autoencoder): one encoder feeds both a softmax head, trained on the labelled rows,
//! and a decoder, trained to reconstruct every row, labelled or not:
//!
//! ```text
//! L = CE(head(f(x)), y) + α · MSE(g(f(x)), x)
//! ```
//!
//! (Ranzato & Szummer 2008; the seeds' "hybrid" use of autoencoders.) The reconstruction
//! term is the regulariser that lets the unlabelled rows shape the encoder while the
//! few labels train the head and steer it.
//!
//! Each step draws one batch from all rows: the unlabelled rows once and the labelled
//! rows repeated so they make about a quarter of every batch (100 labels among 60,000
//! rows would otherwise appear in one batch of 600). Unlabelled rows carry an all-zero
//! target, so the cross-entropy (a mean over the batch's rows) counts only the
//! labelled ones; its scale is therefore about a quarter of a classifier's.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::Serialize;

use crate::backend::Backend;
use crate::data::Dataset;
use crate::graph::{EntryId, Graph, ParamStore};
use crate::models::Classifier;
use crate::nn::{init::Init, Forward, Linear, Mode, Module, Scope};
use crate::ops::elementwise::sum_all;
use crate::ops::{Activation, Loss, Op};
use crate::train::classify::{ClassifyConfig, ClassifyReport, CROSS_ENTROPY};
use crate::train::objective::{Objective, RECONSTRUCTION};
use crate::train::{trainer, Batch, Phase, Progress, RunControl, RunSettings, Task, TrainError};

/// A label no class has: the row is unlabelled (its target row is all zeros).
const UNLABELLED: u32 = u32::MAX;

/// The settings of a hybrid run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HybridConfig {
    /// α, the weight of the reconstruction term.
    pub alpha: f32,
    /// Epochs (over all rows), batch, optimiser, learning rate, seed.
    pub classify: ClassifyConfig,
}

/// The decoder mirroring `model`'s encoder, registered in its store under `decoder.{i}`:
/// relu hidden layers and a sigmoid output (data in [0, 1]).
fn decoder(model: &mut Classifier, seed: u64) -> Result<Vec<Linear>, TrainError> {
    let widths: Vec<usize> = model.config.widths.iter().rev().copied().collect();
    let mut rng = StdRng::seed_from_u64(seed ^ 0xdec0_de00);
    let scope = Scope::root().child("decoder");
    let mut layers = vec![];
    for i in 0..widths.len() - 1 {
        let last = i + 2 == widths.len();
        let act = if last {
            Activation::Sigmoid
        } else {
            Activation::Relu
        };
        let init = if last { Init::Glorot } else { Init::He };
        let layer = Linear::new(
            &mut model.store,
            &scope.child(i),
            (widths[i], widths[i + 1]),
            act,
            init,
            &mut rng,
        )
        .map_err(|e| TrainError::Config(e.to_string()))?;
        layers.push(layer);
    }
    Ok(layers)
}

/// The labelled rows repeated among the unlabelled ones (see the module docs), with
/// [`UNLABELLED`] marking the rows without a label.
fn mixed_rows(labelled: &Dataset, unlabelled: &Dataset) -> Result<Dataset, TrainError> {
    let labels = labelled
        .labels
        .as_ref()
        .ok_or_else(|| TrainError::Config("the labelled rows have no labels".into()))?;
    if labelled.cols != unlabelled.cols {
        return Err(TrainError::Width {
            expected: labelled.cols,
            got: unlabelled.cols,
        });
    }
    let repeat = (unlabelled.rows / (3 * labelled.rows.max(1))).max(1);
    let rows = unlabelled.rows + repeat * labelled.rows;
    let mut values = Vec::with_capacity(rows * labelled.cols);
    values.extend_from_slice(&unlabelled.values);
    let mut all_labels = vec![UNLABELLED; unlabelled.rows];
    for _ in 0..repeat {
        values.extend_from_slice(&labelled.values);
        all_labels.extend_from_slice(labels);
    }
    let mut mixed =
        Dataset::new(rows, labelled.cols, values).map_err(|e| TrainError::Config(e.to_string()))?;
    mixed.labels = Some(all_labels);
    Ok(mixed)
}

/// Trains `model` (encoder and head) by the hybrid objective on its `labelled` rows and
/// `unlabelled` ones. The weights end in `model.store` and on the backend, so
/// [`crate::train::accuracy`] can follow directly.
pub fn fit_hybrid(
    model: &mut Classifier,
    backend: &mut dyn Backend,
    labelled: &Dataset,
    unlabelled: &Dataset,
    cfg: &HybridConfig,
    on_epoch: &mut dyn FnMut(usize, f32),
) -> Result<ClassifyReport, TrainError> {
    cfg.classify.check_ranges()?;
    if !(cfg.alpha >= 0.0 && cfg.alpha.is_finite()) {
        return Err(TrainError::Config(format!(
            "the reconstruction weight α must be ≥ 0, got {}",
            cfg.alpha
        )));
    }
    let data = mixed_rows(labelled, unlabelled)?;
    let decoder = decoder(model, cfg.classify.seed)?;
    let settings = RunSettings {
        epochs: cfg.classify.epochs,
        batch: cfg.classify.batch.min(data.rows),
        seed: cfg.classify.seed,
        loss_every: 0,
        early_stop: None,
        monitor: None,
        lbfgs: None,
    };
    let (start, before) = (Instant::now(), backend.stats());
    let mut task = HybridTask {
        model,
        decoder,
        cfg,
    };
    let report = trainer::train(
        &mut task,
        backend,
        &data,
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

struct HybridTask<'a> {
    model: &'a mut Classifier,
    decoder: Vec<Linear>,
    cfg: &'a HybridConfig,
}

impl Task for HybridTask<'_> {
    fn kind(&self) -> String {
        "hybrid".into()
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
        let mut params: Vec<EntryId> = self.model.parameters();
        params.extend(self.decoder.iter().flat_map(Module::parameters));
        let c = &self.cfg.classify;
        vec![Phase {
            clip_norm: c.clip_norm,
            ..Phase::new("hybrid", params, c.optimizer, c.lr)
        }]
    }
    fn uses_rng(&self) -> bool {
        false
    }
    fn objective(
        &self,
        g: &mut Graph,
        _phase: usize,
        batch: &Batch,
        _mode: trainer::Mode,
    ) -> Result<Objective, TrainError> {
        let targets = batch
            .targets
            .ok_or_else(|| TrainError::Config("the hybrid objective needs targets".into()))?;
        let code = self.model.code(g, batch.x)?;
        let logits = self.model.head(g, code)?;
        g.set_label("cross-entropy");
        let ce = g.push(Op::SoftmaxCrossEntropy, &[logits, targets])?;
        g.set_label("decoder");
        let mut h = code;
        for layer in &self.decoder {
            h = layer.forward(&mut Forward::new(g, &self.model.store, Mode::Eval), h)?;
        }
        g.set_label("reconstruction");
        let mse = g.push(Op::Loss(Loss::Mse), &[h, batch.x])?;
        let weighted = g.push(Op::Scale(self.cfg.alpha), &[mse])?;
        let total = sum_all(g, &[ce, weighted])?.unwrap_or(ce);
        Ok(Objective {
            total,
            terms: vec![
                (CROSS_ENTROPY.to_string(), ce),
                (RECONSTRUCTION.to_string(), weighted),
            ],
        })
    }
    /// One-hot rows for the labelled rows, zero rows for the unlabelled ones.
    fn targets(&self, data: &Dataset) -> Result<Option<Dataset>, TrainError> {
        let classes = self.model.config.classes;
        let labels = data.labels.as_deref().unwrap_or(&[]);
        let mut hot = vec![0.0; data.rows * classes];
        for (i, &y) in labels.iter().enumerate() {
            if y == UNLABELLED {
                continue;
            }
            if y as usize >= classes {
                return Err(TrainError::Config(format!(
                    "a labelled row has label {y}, but the head has {classes} classes"
                )));
            }
            hot[i * classes + y as usize] = 1.0;
        }
        Dataset::new(data.rows, classes, hot)
            .map(Some)
            .map_err(|e| TrainError::Config(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labelled_rows_make_about_a_quarter_of_the_mix() {
        let mut labelled = Dataset::new(2, 1, vec![1.0, 2.0]).unwrap();
        labelled.labels = Some(vec![0, 1]);
        let unlabelled = Dataset::new(12, 1, vec![0.5; 12]).unwrap();
        let mixed = mixed_rows(&labelled, &unlabelled).unwrap();
        assert_eq!(mixed.rows, 16);
        let labels = mixed.labels.unwrap();
        assert_eq!(labels.iter().filter(|&&l| l != UNLABELLED).count(), 4);
        assert_eq!(&mixed.values[12..], [1.0, 2.0, 1.0, 2.0]);
        let mut bare = labelled.clone();
        bare.labels = None;
        assert!(mixed_rows(&bare, &unlabelled).is_err());
    }
}
