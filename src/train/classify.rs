//! Supervised training of a [`Classifier`]: every layer (encoder and head) fine-tuned on
//! labelled rows with the softmax cross-entropy, and test accuracy.
//!
//! The loop is [`super::fit`]'s, minus the autoencoder's regularisers and schedules:
//! the images and their one-hot labels stay resident on the backend, each step feeds
//! only the batch's row indices and the optimiser's hyper-parameters, and one plan —
//! gather both, forward, loss, `grad`, one fused `Update` per parameter, accumulate
//! the loss — runs as one submission per step. The resident data, the optimiser state
//! and the updates come from the helpers `fit` uses.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::backend::{download_entries, Backend, Feed, PlanId};
use crate::data::Dataset;
use crate::graph::{grad, DType, EntryData, EntryId, EntryKind, Graph, Plan, Shape};
use crate::models::Classifier;
use crate::ops::loss::softmax_xent::argmax_rows;
use crate::ops::{Op, Optimizer};
use crate::train::batched::for_each_batch_of;
use crate::train::{push_updates, put_dataset, put_optimizer_states, Divergence, TrainError};

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

/// Trains every layer of `model` on the labelled rows of `train`. Weights end up in
/// `model.store` and on the backend (so [`accuracy`] can follow directly).
pub fn fit_classifier(
    model: &mut Classifier,
    backend: &mut dyn Backend,
    train: &Dataset,
    cfg: &ClassifyConfig,
    on_epoch: &mut dyn FnMut(usize, f32),
) -> Result<ClassifyReport, TrainError> {
    check_width(model, train)?;
    if cfg.batch == 0 || cfg.epochs == 0 {
        return Err(TrainError::Config(
            "batch size and epochs must be at least 1".into(),
        ));
    }
    let classes = model.config.classes;
    let targets = one_hot(train, classes)?;
    let params = model.parameters();
    let store = &mut model.store;
    let data = put_dataset(store, "train.data", train);
    let hot = store.put(
        "train.targets",
        Shape::new(train.rows, classes),
        EntryKind::Data,
        EntryData::F32(targets),
    );
    let states = put_optimizer_states(store, &params, cfg.optimizer);
    let acc = store.put_zeros("train.loss_sum", Shape::SCALAR, EntryKind::State);
    backend.upload_store(store)?;

    let full = cfg.batch.min(train.rows);
    let rest = train.rows % full;
    // One pair of plans (full batch, last batch) per phase: the head alone, then all.
    let head_params = 2;
    let mut phases: Vec<Vec<PlanId>> = vec![];
    for trained in [head_params, params.len()] {
        let mut pair = vec![];
        if trained == head_params && cfg.head_epochs == 0 {
            phases.push(pair);
            continue;
        }
        for batch in std::iter::once(full).chain((rest > 0).then_some(rest)) {
            pair.push(build_plan(
                model,
                backend,
                [data, hot],
                &states,
                acc,
                cfg,
                trained,
                batch,
                full,
            )?);
        }
        phases.push(pair);
    }

    let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x5eed_da7a);
    let mut order: Vec<u32> = (0..train.rows as u32).collect();
    let (start, before) = (Instant::now(), backend.stats());
    let mut steps = 0u64;
    let mut epoch_losses = vec![];
    // The NaN guard's window: the loss was last seen finite after this step.
    let mut last_finite_step = 0;
    for epoch in 1..=cfg.epochs {
        order.shuffle(&mut rng);
        model.store.set_values(acc, vec![0.0]);
        backend.upload_entry(&model.store, acc)?;
        for chunk in order.chunks(full) {
            steps += 1;
            let plans = &phases[usize::from(epoch > cfg.head_epochs)];
            let plan = plans[usize::from(chunk.len() != full)];
            let hyper = cfg
                .optimizer
                .hyper(cfg.lr, steps, cfg.clip_norm.unwrap_or(0.0));
            backend.run(plan, &[Feed::U32(chunk), Feed::F32(&hyper)])?;
        }
        // Σ batch mean × rows/full over the epoch: the mean per row.
        let loss = backend.read_entry(acc)?[0] * full as f32 / train.rows as f32;
        if !loss.is_finite() {
            return Err(TrainError::Diverged(Divergence {
                value: loss,
                epoch,
                first_step: last_finite_step + 1,
                last_step: steps,
                last_good_checkpoint: None,
            }));
        }
        last_finite_step = steps;
        on_epoch(epoch, loss);
        epoch_losses.push(loss);
    }
    let submissions = backend.stats().submissions - before.submissions;
    download_entries(backend, &mut model.store, |e| {
        e.kind == EntryKind::Parameter
    })?;
    for plan in phases.into_iter().flatten() {
        backend.release(plan);
    }
    Ok(ClassifyReport {
        epoch_losses,
        steps,
        seconds: start.elapsed().as_secs_f64(),
        submissions_per_step: submissions as f64 / steps.max(1) as f64,
    })
}

/// One step on `batch` rows updating the last `trained` parameters (the head is the
/// last two); a batch smaller than `full_batch` (an epoch's last) adds its loss to the
/// accumulator weighted by `batch / full_batch`.
#[allow(clippy::too_many_arguments)]
fn build_plan(
    model: &Classifier,
    backend: &mut dyn Backend,
    [data, targets]: [EntryId; 2],
    states: &[Vec<EntryId>],
    acc: EntryId,
    cfg: &ClassifyConfig,
    trained: usize,
    batch: usize,
    full_batch: usize,
) -> Result<PlanId, TrainError> {
    let store = &model.store;
    let mut g = Graph::new();
    g.set_label("batch");
    let idx = g.input("batch_rows", Shape::new(batch, 1), DType::U32);
    let hyper = g.input("optimizer", Shape::new(1, 4), DType::F32);
    let (data_v, targets_v) = (g.entry(store, data), g.entry(store, targets));
    let x = g.push(Op::GatherRows, &[data_v, idx])?;
    let t = g.push(Op::GatherRows, &[targets_v, idx])?;
    let logits = model.logits(&mut g, x)?;
    g.set_label("loss");
    let loss = g.push(Op::SoftmaxCrossEntropy, &[logits, t])?;
    let all = model.parameters();
    let first = all.len() - trained;
    let params: Vec<_> = all[first..].iter().map(|&p| g.entry(store, p)).collect();
    let grads = grad(&mut g, loss, &params)?;
    push_updates(
        &mut g,
        store,
        &params,
        grads,
        &states[first..],
        hyper,
        cfg.optimizer,
        cfg.clip_norm,
    )?;
    let weighted = if batch == full_batch {
        loss
    } else {
        g.push(Op::Scale(batch as f32 / full_batch as f32), &[loss])?
    };
    let acc_v = g.entry(store, acc);
    g.push(Op::Accumulate, &[acc_v, weighted])?;
    Ok(backend.prepare(&Plan::new(&g, store)?)?)
}

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
