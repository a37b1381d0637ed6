//! Stacked autoencoders: greedy layer-wise pretraining, unrolling, fine-tuning
//! (Bengio et al. 2007; Hinton & Salakhutdinov 2006; Vincent et al. 2010 with
//! denoising stages).
//!
//! For a deep network `widths[0] → … → widths[L]`, stage k trains a shallow tied
//! autoencoder `widths[k] → widths[k+1] → widths[k]` on the codes of stage k − 1 (stage
//! 0 on the data), with the stage settings (any regulariser: each stage may be
//! denoising or sparse). The deep autoencoder is then unrolled: encoder layer k is
//! stage k's encoder, and decoder layer `L−1−k` multiplies by the transpose of that
//! weight — shared when the deep network is tied, copied and then trained freely when
//! it is not — with stage k's decoder bias. Finally the whole network is fine-tuned
//! end to end with the fine-tuning settings.
//!
//! Each stage's activations are the deep network's own: stage k's encoder uses the
//! activation of encoder layer k and its decoder that of the decoder layer it becomes,
//! so the unrolled network computes what the stages learned.
//!
//! Checkpoints ([`StackedControl`]): every stage and the fine-tuning run has a
//! checkpoint file of its own, written every `checkpoint_every` epochs, on Ctrl-C and
//! (`keep_finished`) when the run ends. Resuming loads the finished stages (their codes are recomputed
//! from the weights), continues the unfinished one bit for bit and starts the rest.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::Serialize;

use crate::backend::Backend;
use crate::data::Dataset;
use crate::models::Autoencoder;
use crate::models::{DenseAutoencoder, DenseConfig};
use crate::ops::Loss;
use crate::train::{
    fit_with, run_rows, Checkpoint, Progress, RowOutput, RunControl, TrainConfig, TrainError,
    TrainReport,
};

/// Which part of the schedule a progress event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackedStage {
    /// Pretraining stage `index` (0-based) of `of`.
    Stage {
        index: usize,
        of: usize,
    },
    FineTune,
}

#[derive(Clone, Debug, Serialize)]
pub struct StackedReport {
    pub stages: Vec<TrainReport>,
    /// None when fine-tuning was skipped (0 epochs).
    pub fine_tune: Option<TrainReport>,
}

/// How a stacked run is looked after; `StackedControl::default()` is a plain run.
#[derive(Clone, Debug, Default)]
pub struct StackedControl<'a> {
    /// The base name of the checkpoints: `run.ckpt.safetensors` gives
    /// `run.ckpt.stage1.safetensors`, … and `run.ckpt.fine-tune.safetensors`.
    pub checkpoint: Option<PathBuf>,
    /// Write each run's checkpoint every this many epochs too (0: on Ctrl-C and at its
    /// end only).
    pub checkpoint_every: usize,
    /// Write each run's checkpoint when it ends too, so that resuming loads finished
    /// stages instead of training them again (without it, only interrupted and
    /// `checkpoint_every` checkpoints are written).
    pub keep_finished: bool,
    /// Continue from the checkpoints found under the base name.
    pub resume: bool,
    /// Checked after every step: when set, the current run saves its checkpoint and
    /// the schedule stops with [`TrainError::Interrupted`].
    pub interrupt: Option<&'a AtomicBool>,
}

impl StackedControl<'_> {
    /// The checkpoint of the run called `name` (`stage1`, `fine-tune`).
    pub fn path_of(&self, name: &str) -> Option<PathBuf> {
        self.checkpoint
            .as_ref()
            .map(|base| run_checkpoint(base, name))
    }
}

/// `dir/run.ckpt.safetensors` → `dir/run.ckpt.{name}.safetensors`.
fn run_checkpoint(base: &Path, name: &str) -> PathBuf {
    let file = base
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = file.strip_suffix(".safetensors").unwrap_or(&file);
    base.with_file_name(format!("{stem}.{name}.safetensors"))
}

/// Pretrains `config` layer by layer with `stage` settings, unrolls it and fine-tunes
/// it with `fine_tune` settings (skipped when `fine_tune.epochs` is 0). Stages after
/// the first always use MSE (they reconstruct codes, not data in [0, 1]).
#[allow(clippy::too_many_arguments)]
pub fn fit_stacked(
    config: &DenseConfig,
    seed: u64,
    backend: &mut dyn Backend,
    train: &Dataset,
    validation: Option<&Dataset>,
    stage: &TrainConfig,
    fine_tune: &TrainConfig,
    on_progress: &mut dyn FnMut(StackedStage, Progress),
) -> Result<(DenseAutoencoder, StackedReport), TrainError> {
    fit_stacked_with(
        config,
        seed,
        backend,
        train,
        validation,
        stage,
        fine_tune,
        &StackedControl::default(),
        on_progress,
    )
}

/// [`fit_stacked`] with checkpoints, resuming and interruption.
#[allow(clippy::too_many_arguments)]
pub fn fit_stacked_with(
    config: &DenseConfig,
    seed: u64,
    backend: &mut dyn Backend,
    train: &Dataset,
    validation: Option<&Dataset>,
    stage: &TrainConfig,
    fine_tune: &TrainConfig,
    control: &StackedControl,
    on_progress: &mut dyn FnMut(StackedStage, Progress),
) -> Result<(DenseAutoencoder, StackedReport), TrainError> {
    config
        .validate()
        .map_err(|e| TrainError::Config(e.to_string()))?;
    let depth = config.depth();
    let mut stages = vec![];
    let mut reports = vec![];
    // Stage k's training (and validation) data: the data, then each stage's codes.
    let mut stage_train = train.clone();
    let mut stage_validation = validation.cloned();
    for k in 0..depth {
        let shallow_config = DenseConfig {
            widths: vec![config.widths[k], config.widths[k + 1]],
            activations: vec![config.activations[k], config.activations[2 * depth - 1 - k]],
            tied: true,
            init: config.init,
        };
        let mut shallow = DenseAutoencoder::new(shallow_config, seed.wrapping_add(k as u64))
            .map_err(|e| TrainError::Config(e.to_string()))?;
        let mut cfg = stage.clone();
        cfg.seed = stage.seed.wrapping_add(k as u64);
        if k > 0 {
            cfg.loss = Loss::Mse;
        }
        let phase = StackedStage::Stage {
            index: k,
            of: depth,
        };
        let report = run_one(
            &mut shallow,
            backend,
            &stage_train,
            stage_validation.as_ref(),
            &cfg,
            control,
            &format!("stage{}", k + 1),
            &mut |p| on_progress(phase, p),
        )?;
        reports.push(report);
        if k + 1 < depth {
            stage_train = codes(&shallow, backend, &stage_train)?;
            stage_validation = match &stage_validation {
                Some(v) => Some(codes(&shallow, backend, v)?),
                None => None,
            };
        }
        stages.push(shallow);
    }

    let mut deep = DenseAutoencoder::new(config.clone(), seed)
        .map_err(|e| TrainError::Config(e.to_string()))?;
    for (k, shallow) in stages.iter().enumerate() {
        let (w, b) = shallow.encoder_layer(0);
        let (_, shallow_decoder_bias) = shallow.decoder_layer(0);
        let (deep_w, deep_b) = deep.encoder_layer(k);
        let weight = shallow.store.values(w).to_vec();
        deep.store.set_values(deep_w, weight.clone());
        deep.store
            .set_values(deep_b, shallow.store.values(b).to_vec());
        let (deep_dw, deep_db) = deep.decoder_layer(depth - 1 - k);
        if let Some(deep_dw) = deep_dw {
            let (rows, cols) = (config.widths[k], config.widths[k + 1]);
            deep.store
                .set_values(deep_dw, transpose(&weight, rows, cols));
        }
        deep.store
            .set_values(deep_db, shallow.store.values(shallow_decoder_bias).to_vec());
    }
    let fine_tune_report = if fine_tune.epochs > 0 {
        Some(run_one(
            &mut deep,
            backend,
            train,
            validation,
            fine_tune,
            control,
            "fine-tune",
            &mut |p| on_progress(StackedStage::FineTune, p),
        )?)
    } else {
        // The unrolled weights are not on the backend yet; callers evaluate next.
        backend.upload_store(&deep.store)?;
        None
    };
    Ok((
        deep,
        StackedReport {
            stages: reports,
            fine_tune: fine_tune_report,
        },
    ))
}

/// Trains one run of the schedule with its own checkpoint `name`; resuming, a run
/// whose checkpoint is finished is loaded instead (its weights put on the backend),
/// and an unfinished one continues.
#[allow(clippy::too_many_arguments)]
fn run_one(
    model: &mut DenseAutoencoder,
    backend: &mut dyn Backend,
    train: &Dataset,
    validation: Option<&Dataset>,
    cfg: &TrainConfig,
    control: &StackedControl,
    name: &str,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<TrainReport, TrainError> {
    let path = control.path_of(name);
    let saved = match &path {
        Some(p) if control.resume && p.exists() => Some(Checkpoint::load(p)?),
        _ => None,
    };
    if let Some(ck) = saved.as_ref() {
        let done = ck.state.position.next_epoch - 1;
        if done >= cfg.epochs {
            // Compatible but for its length: it ran `done` epochs.
            let settings = serde_json::to_value(cfg).unwrap_or_default();
            ck.check_compatible(
                model.kind(),
                &model.config_json(),
                &settings,
                done + 1,
                train,
            )?;
            ck.restore_into(model.store_mut())?;
            backend.upload_store(model.store())?;
            return Ok(TrainReport::loaded(ck));
        }
    }
    let run = RunControl {
        checkpoint: path,
        checkpoint_every: control.checkpoint_every,
        resume: saved.as_ref(),
        metrics_log: None,
        interrupt: control.interrupt,
        checkpoint_at_end: control.keep_finished,
    };
    let report = fit_with(model, backend, train, validation, cfg, &run, on_progress)?;
    if report.interrupted {
        return Err(TrainError::Interrupted(match &report.checkpoint {
            Some((p, step)) => format!(
                "interrupted in {name} after step {step}; checkpoint saved to {}: run the \
                 same command with --resume to continue",
                p.display()
            ),
            None => format!("interrupted in {name} without a checkpoint"),
        }));
    }
    Ok(report)
}

/// The codes of every row of `data` under `model` (whose weights [`fit_with`] left on the
/// backend), as a dataset for the next stage.
fn codes(
    model: &DenseAutoencoder,
    backend: &mut dyn Backend,
    data: &Dataset,
) -> Result<Dataset, TrainError> {
    let values = run_rows(model, backend, data, RowOutput::Code)?;
    Dataset::new(data.rows, model.config.code_width(), values)
        .map_err(|e| TrainError::Config(e.to_string()))
}

/// `[rows, cols]` row-major → `[cols, rows]`.
fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0.0; x.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = x[i * cols + j];
        }
    }
    t
}
