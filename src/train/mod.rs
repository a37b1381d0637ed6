//! Training and inference loops over any [`Backend`]. The loops own no math: they
//! build graphs from the model, plan them once, keep the dataset and every parameter
//! resident on the backend, and feed only batch indices and the optimiser's
//! hyper-parameters each step.

mod batched;
pub(crate) use batched::{check_width, for_each_batch_of};
pub mod checkpoint;
pub mod classify;
pub mod distributed;
pub mod hybrid;
pub mod lbfgs;
mod line_search;
pub mod objective;
pub mod schedule;
pub mod stacked;
pub mod trainer;

pub use batched::{
    code_report, corrupt, decode_rows, evaluate, jacobian_fro2_finite_differences, run_rows,
    CodeReport, EvalReport, RowOutput,
};
pub use checkpoint::Checkpoint;
pub use classify::{accuracy, fit_classifier, predict, ClassifyConfig, ClassifyReport};
pub use hybrid::{fit_hybrid, HybridConfig};
pub use lbfgs::{LbfgsConfig, LbfgsReport, LbfgsState};
pub use objective::{Regularization, SparseKl};
pub use schedule::{EarlyStopping, LearningRate, Schedule, Verdict};
pub use stacked::{fit_stacked, fit_stacked_with, StackedControl, StackedReport, StackedStage};
pub use trainer::{train, Batch, Mode, Phase, RunSettings, Task};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, BackendError};
use crate::data::Dataset;
use crate::graph::{EntryData, EntryId, EntryKind, Graph, GraphError, ParamStore, Shape, ValueId};
use crate::io::IoError;
use crate::models::Autoencoder;
use crate::ops::optim::global_norm_sq;
use crate::ops::{Loss, Op, Optimizer};
use objective::Objective;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("data has {got} columns, the model expects {expected}")]
    Width { expected: usize, got: usize },
    #[error("batch size {batch} is larger than the {rows} training rows")]
    BatchTooLarge { batch: usize, rows: usize },
    #[error("{0}")]
    Config(String),
    #[error("training diverged: {0}")]
    Diverged(Divergence),
    #[error(transparent)]
    File(#[from] IoError),
    #[error("cannot resume from {}: {detail}", path.display())]
    Checkpoint { path: PathBuf, detail: String },
    /// Stopped on request (Ctrl-C) in the middle of a schedule of several runs.
    #[error("{0}")]
    Interrupted(String),
}

/// Where a run's loss stopped being a number.
#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    /// The non-finite loss (NaN or ±inf).
    pub value: f32,
    pub epoch: usize,
    /// The first bad step lies in `first_step..=last_step` (one step when the loss is
    /// read after every step: `loss_every = 1`).
    pub first_step: u64,
    pub last_step: u64,
    /// The last checkpoint written before the loss went bad, and its step: left as
    /// it was.
    pub last_good_checkpoint: Option<(PathBuf, u64)>,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.value.is_finite() {
            write!(
                f,
                "the loss blew up to {:e} (over {:e} times the first epoch's) ",
                self.value,
                trainer::BLOW_UP_FACTOR
            )?;
        } else {
            write!(f, "the loss became {} ", self.value)?;
        }
        if self.first_step >= self.last_step {
            write!(f, "at step {}", self.last_step)?;
        } else {
            write!(
                f,
                "between steps {} and {}",
                self.first_step, self.last_step
            )?;
        }
        write!(f, " (epoch {})", self.epoch)?;
        match &self.last_good_checkpoint {
            Some((path, step)) => write!(
                f,
                "; the last good checkpoint, from step {step}, is kept at {}",
                path.display()
            ),
            None => write!(f, "; try a lower learning rate or --clip-norm"),
        }
    }
}

/// The settings of a training run; saved with the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f32,
    pub optimizer: Optimizer,
    pub loss: Loss,
    pub seed: u64,
    /// Read the running loss back every this many steps for progress display
    /// (0: once per epoch only).
    pub loss_every: usize,
    /// How the learning rate changes over the run.
    #[serde(default)]
    pub schedule: Schedule,
    /// Linear warm-up of the learning rate over this many steps (0: none).
    #[serde(default)]
    pub warmup_steps: u64,
    /// Stop when the validation loss has not improved for this many epochs and
    /// restore the weights of the best epoch (needs validation data).
    #[serde(default)]
    pub early_stop: Option<usize>,
    /// Scale the gradient down to this global norm (over all parameters) when longer.
    #[serde(default)]
    pub clip_norm: Option<f32>,
    /// Noise, dropout, sparsity and contractive penalties.
    #[serde(default)]
    pub regularization: Regularization,
    /// The objective term early stopping and the plateau schedule watch (on the
    /// validation data): `reconstruction` (the default), or a penalty's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<String>,
    /// Train by full-batch L-BFGS: `epochs` iterations over every row, `lr` the first
    /// trial step of each line search (1 is PyTorch's default); `batch`, `optimizer`
    /// and `schedule` are not used. Needs a deterministic objective (no noise or
    /// dropout) and a model without batch norm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lbfgs: Option<LbfgsConfig>,
}

/// Defaults: Adam at 5e-3, batch 256, MSE, 5 epochs. On MNIST 784-256-64 the
/// learning rate is what moves the 5-epoch test MSE most (1e-3: 0.0096, 5e-3: 0.0048,
/// measured with `examples/dense_defaults.rs`).
impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 5,
            batch: 256,
            lr: 5e-3,
            optimizer: Optimizer::adam(),
            loss: Loss::Mse,
            seed: 0,
            loss_every: 0,
            schedule: Schedule::Constant,
            warmup_steps: 0,
            early_stop: None,
            clip_norm: None,
            regularization: Regularization::default(),
            monitor: None,
            lbfgs: None,
        }
    }
}

impl TrainConfig {
    /// Full-batch L-BFGS for `iterations` iterations (one per epoch), first trial step
    /// 1, history 10, as PyTorch's `LBFGS(line_search_fn="strong_wolfe")`.
    pub fn lbfgs(iterations: usize) -> Self {
        TrainConfig {
            epochs: iterations,
            lr: 1.0,
            lbfgs: Some(LbfgsConfig::default()),
            ..TrainConfig::default()
        }
    }
}

/// What the trainer reports as it goes.
#[derive(Clone, Debug)]
pub enum Progress {
    Step {
        epoch: usize,
        step: usize,
        steps: usize,
        running_loss: Option<f32>,
        samples_per_s: f64,
    },
    Epoch(EpochReport),
}

/// One finished epoch: one line of the metrics log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    /// Steps done over the whole run when the epoch ended.
    pub step: u64,
    /// The first term of the objective (an autoencoder's reconstruction loss), mean
    /// per row over the epoch.
    pub train_loss: f32,
    /// The same term on the validation data, after the epoch.
    pub validation_loss: Option<f32>,
    /// Every term of the objective (mean per row over the epoch), by name.
    #[serde(default)]
    pub terms: BTreeMap<String, f32>,
    /// Every term on the validation data, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub validation_terms: BTreeMap<String, f32>,
    /// The learning rate of the epoch's last step.
    pub lr: f32,
    pub samples_per_s: f64,
    pub seconds: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    /// Every epoch of the run, those before a resume included.
    pub epochs: Vec<EpochReport>,
    /// Mean training throughput over the epochs trained by this call.
    pub samples_per_s: f64,
    /// Steps over the whole run.
    pub steps: u64,
    pub submissions_per_step: f64,
    pub readbacks_per_step: f64,
    pub plan_launches: usize,
    pub plan_peak_bytes: u64,
    /// Whether batches were gathered from data resident on the backend (false: the
    /// data exceeded the device's limits and batches were sent from the host).
    pub batches_resident: bool,
    /// With early stopping: the epoch whose weights the model ends with, and whether
    /// training stopped before `epochs`.
    pub best_epoch: Option<usize>,
    pub stopped_early: bool,
    /// Stopped on [`RunControl::interrupt`] before the last epoch: the model holds the
    /// weights of that moment, and the checkpoint (when asked for) continues from it.
    pub interrupted: bool,
    /// The step this call resumed from, when it continued a checkpoint.
    pub resumed_from_step: Option<u64>,
    /// The last checkpoint written, and the step it holds.
    pub checkpoint: Option<(PathBuf, u64)>,
    /// Full-batch L-BFGS runs: iterations, evaluations and why it stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lbfgs: Option<LbfgsReport>,
}

impl TrainReport {
    /// The report of a finished run read back from its checkpoint (nothing trained by
    /// this call: no throughput or traffic figures).
    pub fn loaded(checkpoint: &Checkpoint) -> Self {
        let step = checkpoint.state.position.step;
        TrainReport {
            epochs: checkpoint.state.epochs.clone(),
            samples_per_s: 0.0,
            steps: step,
            submissions_per_step: 0.0,
            readbacks_per_step: 0.0,
            plan_launches: 0,
            plan_peak_bytes: 0,
            batches_resident: true,
            best_epoch: checkpoint.state.stopping.as_ref().map(|s| s.best_epoch()),
            stopped_early: false,
            interrupted: false,
            resumed_from_step: Some(step),
            checkpoint: Some((checkpoint.path.clone(), step)),
            lbfgs: None,
        }
    }
}

/// How a run is looked after: checkpoints, a metrics log, resuming, and stopping on
/// request. `RunControl::default()` is a plain run.
#[derive(Clone, Debug, Default)]
pub struct RunControl<'a> {
    /// Where checkpoints go (written atomically, each replacing the last).
    pub checkpoint: Option<PathBuf>,
    /// Write a checkpoint every this many epochs (0: only when interrupted).
    pub checkpoint_every: usize,
    /// Continue this checkpoint's run instead of starting afresh.
    pub resume: Option<&'a Checkpoint>,
    /// Rewrite this JSON-lines file (one [`EpochReport`] per line) after every epoch.
    pub metrics_log: Option<PathBuf>,
    /// Checked after every step: when set, the run saves a checkpoint and returns
    /// (e.g. set by a Ctrl-C handler).
    pub interrupt: Option<&'a AtomicBool>,
    /// Also write the checkpoint when the run ends (after early stopping restored the
    /// best weights): a finished run that can be reloaded, as stacked pretraining's
    /// stages are.
    pub checkpoint_at_end: bool,
}

/// Trains `model` on `train` (rows shuffled every epoch; the last, smaller batch of
/// an epoch runs through a second plan of its own). Weights end up in `model.store`.
pub fn fit(
    model: &mut dyn Autoencoder,
    backend: &mut dyn Backend,
    train: &Dataset,
    validation: Option<&Dataset>,
    cfg: &TrainConfig,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<TrainReport, TrainError> {
    fit_with(
        model,
        backend,
        train,
        validation,
        cfg,
        &RunControl::default(),
        on_progress,
    )
}

/// [`fit`] with checkpoints, a metrics log, resuming and interruption, on the one
/// [`trainer`].
///
/// A resumed run continues bit for bit: the same batches in the same order, the same
/// noise, the same optimiser moments, so its weights and epoch losses equal those of
/// the run that was never stopped. Every term of the objective is checked after every
/// epoch (and at every `loss_every` read): a NaN or infinite one stops the run with
/// [`TrainError::Diverged`], naming the step (found by replaying from the last good
/// checkpoint when the terms were only read at the epoch's end), and no checkpoint is
/// written after it, so the last one on disk is the last good state.
pub fn fit_with(
    model: &mut dyn Autoencoder,
    backend: &mut dyn Backend,
    train: &Dataset,
    validation: Option<&Dataset>,
    cfg: &TrainConfig,
    control: &RunControl,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<TrainReport, TrainError> {
    cfg.check_ranges()?;
    model
        .validate_regularization(&cfg.regularization)
        .map_err(TrainError::Config)?;
    model.check_data(train.rows).map_err(TrainError::Config)?;
    if cfg.loss == Loss::BceWithLogits
        && model.output_activation() != crate::ops::Activation::Sigmoid
    {
        return Err(TrainError::Config(
            "binary cross-entropy needs a sigmoid output layer".into(),
        ));
    }
    let settings = RunSettings {
        epochs: cfg.epochs,
        batch: cfg.batch,
        seed: cfg.seed,
        loss_every: cfg.loss_every,
        early_stop: cfg.early_stop,
        monitor: cfg.monitor.clone(),
        lbfgs: cfg.lbfgs.clone(),
    };
    if cfg.lbfgs.is_some() && cfg.regularization.is_stochastic() {
        return Err(TrainError::Config(
            "L-BFGS needs a deterministic objective: no input noise and no dropout".into(),
        ));
    }
    if let Some(mut task) = model.training_task(cfg) {
        return trainer::train(
            task.as_mut(),
            backend,
            train,
            validation,
            &settings,
            control,
            on_progress,
        );
    }
    let mut task = AutoencoderTask { model, cfg };
    trainer::train(
        &mut task,
        backend,
        train,
        validation,
        &settings,
        control,
        on_progress,
    )
}

/// An autoencoder of any kind with its [`TrainConfig`]: one phase training every
/// parameter on the kind's objective (reconstruction plus its regularisers).
struct AutoencoderTask<'a> {
    model: &'a mut dyn Autoencoder,
    cfg: &'a TrainConfig,
}

impl Task for AutoencoderTask<'_> {
    fn kind(&self) -> String {
        self.model.kind().to_string()
    }
    fn config_json(&self) -> serde_json::Value {
        self.model.config_json()
    }
    fn settings(&self) -> serde_json::Value {
        serde_json::to_value(self.cfg).unwrap_or(serde_json::Value::Null)
    }
    fn store(&self) -> &ParamStore {
        self.model.store()
    }
    fn store_mut(&mut self) -> &mut ParamStore {
        self.model.store_mut()
    }
    fn input_width(&self) -> usize {
        self.model.input_width()
    }
    fn widest_row(&self) -> usize {
        self.model.widest_row()
    }
    fn phases(&self) -> Vec<Phase> {
        let cfg = self.cfg;
        vec![Phase {
            schedule: cfg.schedule,
            warmup_steps: cfg.warmup_steps,
            clip_norm: cfg.clip_norm,
            ..Phase::new(
                "autoencoder",
                self.model.parameters(),
                cfg.optimizer,
                cfg.lr,
            )
        }]
    }
    fn buffers(&self) -> Vec<EntryId> {
        self.model.buffers()
    }
    fn uses_rng(&self) -> bool {
        self.model.uses_rng(&self.cfg.regularization)
    }
    fn state_updates(&self, g: &mut Graph, _phase: usize, batch: &Batch) -> Result<(), TrainError> {
        self.model
            .state_updates(g, batch.x, &self.cfg.regularization, batch.rng)
    }
    /// Validation measures the kind's [`Autoencoder::eval_objective`]: the clean
    /// reconstruction in inference mode, and the penalties where the kind has them.
    fn objective(
        &self,
        g: &mut Graph,
        _phase: usize,
        batch: &Batch,
        mode: Mode,
    ) -> Result<Objective, TrainError> {
        let (cfg, x, rng) = (self.cfg, batch.x, batch.rng);
        match mode {
            Mode::Train => self
                .model
                .objective(g, x, cfg.loss, &cfg.regularization, rng),
            Mode::Eval => self
                .model
                .eval_objective(g, x, cfg.loss, &cfg.regularization, rng),
        }
    }
}

/// Puts `data` in `store` as a resident dataset entry: bytes when every value is
/// k/255 (a quarter of the memory; gathered and rescaled on the device), else f32.
pub(crate) fn put_dataset(store: &mut ParamStore, name: &str, data: &Dataset) -> EntryId {
    let contents = if data.byte_scaled {
        EntryData::U8(
            data.values
                .iter()
                .map(|&v| (v * 255.0).round() as u8)
                .collect(),
        )
    } else {
        EntryData::F32(data.values.clone())
    };
    store.put(
        name,
        Shape::new(data.rows, data.cols),
        EntryKind::Data,
        contents,
    )
}

/// One fused `Update` per parameter from its gradient, the [1, 4] `hyper` feed and its
/// states; with `clip_norm`, every update scales its gradient by min(1, max_norm / ‖g‖),
/// ‖g‖² over all parameters.
#[allow(clippy::too_many_arguments)]
pub(crate) fn push_updates(
    g: &mut Graph,
    store: &ParamStore,
    params: &[ValueId],
    grads: Vec<ValueId>,
    states: &[Vec<EntryId>],
    hyper: ValueId,
    optimizer: Optimizer,
    clip_norm: Option<f32>,
) -> Result<(), GraphError> {
    g.set_label("optimizer");
    let norm_sq = match clip_norm {
        Some(_) => Some(global_norm_sq(g, &grads)?),
        None => None,
    };
    for ((&p, gr), st) in params.iter().zip(grads).zip(states) {
        let mut ins = vec![p, gr, hyper];
        ins.extend(st.iter().map(|&s| g.entry(store, s)));
        ins.extend(norm_sq);
        g.push(Op::Update(optimizer), &ins)?;
    }
    Ok(())
}
