//! Training and inference loops over any [`Backend`]. The loops own no math: they
//! build graphs from the model, plan them once, keep the dataset and every parameter
//! resident on the backend, and feed only batch indices and the optimiser's
//! hyper-parameters each step.

mod batched;
pub mod checkpoint;
pub mod classify;
pub mod lbfgs;
mod line_search;
pub mod objective;
pub mod schedule;
pub mod stacked;

pub use batched::{
    code_report, corrupt, evaluate, jacobian_fro2_finite_differences, run_rows, CodeReport,
    EvalReport, RowOutput,
};
pub use checkpoint::Checkpoint;
pub use classify::{accuracy, fit_classifier, predict, ClassifyConfig, ClassifyReport};
pub use lbfgs::{fit_lbfgs, LbfgsConfig, LbfgsReport};
pub use objective::{Regularization, SparseKl};
pub use schedule::{EarlyStopping, LearningRate, Schedule, Verdict};
pub use stacked::{fit_stacked, Phase, StackedReport};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::backend::{download_entries, Backend, BackendError, Feed, PlanId};
use crate::data::Dataset;
use crate::graph::{
    grad, DType, EntryData, EntryId, EntryKind, Graph, GraphError, ParamStore, Plan, Shape, ValueId,
};
use crate::io::{atomic_write, IoError};
use crate::models::Autoencoder;
use crate::ops::optim::global_norm_sq;
use crate::ops::random::rng_feed;
use crate::ops::{Loss, Op, Optimizer};
use checkpoint::{DataFingerprint, Position, RunState};

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
        write!(f, "the loss became {} ", self.value)?;
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
    pub train_loss: f32,
    pub validation_loss: Option<f32>,
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
}

/// Where a training step's batch comes from.
#[derive(Clone, Copy, Debug)]
enum BatchSource {
    /// Gathered on the device from this store entry by row indices.
    Resident(EntryId),
    /// Gathered on the host and sent with each step.
    Host,
}

/// One fixed-batch training plan: gather the batch from the resident data, forward,
/// loss, backward, one fused update per parameter, accumulate the loss.
struct TrainPlan {
    id: PlanId,
    launches: usize,
    peak_bytes: u64,
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

/// [`fit`] with checkpoints, a metrics log, resuming and interruption.
///
/// A resumed run continues bit for bit: the same batches in the same order, the same
/// noise, the same optimiser moments, so its weights and epoch losses equal those of
/// the run that was never stopped. The loss is checked after every epoch (and at every
/// `loss_every` read): a NaN or infinite loss stops the run with
/// [`TrainError::Diverged`], naming the step (found by replaying from the last good
/// checkpoint when the loss was only read at the epoch's end), and no checkpoint is
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
    match run(model, backend, train, validation, cfg, control, on_progress) {
        Err(TrainError::Diverged(d)) if d.first_step < d.last_step => Err(TrainError::Diverged(
            pinpoint(model, backend, train, validation, cfg, d),
        )),
        other => other,
    }
}

/// Names the first bad step of a divergence seen only at an epoch's end: the run is
/// deterministic, so replaying it from the last good checkpoint with the loss read
/// after every step stops exactly there. Without a checkpoint the window stays.
fn pinpoint(
    model: &mut dyn Autoencoder,
    backend: &mut dyn Backend,
    train: &Dataset,
    validation: Option<&Dataset>,
    cfg: &TrainConfig,
    window: Divergence,
) -> Divergence {
    let Some((path, _)) = &window.last_good_checkpoint else {
        return window;
    };
    let Ok(checkpoint) = Checkpoint::load(path) else {
        return window;
    };
    let replay = TrainConfig {
        loss_every: 1,
        ..cfg.clone()
    };
    let control = RunControl {
        resume: Some(&checkpoint),
        ..RunControl::default()
    };
    match run(
        model,
        backend,
        train,
        validation,
        &replay,
        &control,
        &mut |_| {},
    ) {
        Err(TrainError::Diverged(exact)) => exact,
        _ => window,
    }
}

/// The body of [`fit_with`].
fn run(
    model: &mut dyn Autoencoder,
    backend: &mut dyn Backend,
    train: &Dataset,
    validation: Option<&Dataset>,
    cfg: &TrainConfig,
    control: &RunControl,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<TrainReport, TrainError> {
    let width = model.input_width();
    for d in std::iter::once(train).chain(validation) {
        if d.cols != width {
            return Err(TrainError::Width {
                expected: width,
                got: d.cols,
            });
        }
    }
    model
        .validate_regularization(&cfg.regularization)
        .map_err(TrainError::Config)?;
    if cfg.batch == 0 || cfg.epochs == 0 {
        return Err(TrainError::Config(
            "batch size and epochs must be at least 1".into(),
        ));
    }
    if cfg.early_stop.is_some() && validation.is_none() {
        return Err(TrainError::Config(
            "early stopping watches the validation loss: give validation data".into(),
        ));
    }
    if cfg.early_stop == Some(0) {
        return Err(TrainError::Config(
            "early-stopping patience must be at least 1 epoch".into(),
        ));
    }
    if cfg.batch > train.rows {
        return Err(TrainError::BatchTooLarge {
            batch: cfg.batch,
            rows: train.rows,
        });
    }
    if cfg.loss == Loss::BceWithLogits
        && model.output_activation() != crate::ops::Activation::Sigmoid
    {
        return Err(TrainError::Config(
            "binary cross-entropy needs a sigmoid output layer".into(),
        ));
    }
    if let Some(c) = cfg.clip_norm {
        if !(c > 0.0 && c.is_finite()) {
            return Err(TrainError::Config(format!(
                "the clipping norm must be > 0, got {c}"
            )));
        }
    }
    if let Some(ck) = control.resume {
        ck.check_compatible(model, cfg, train)?;
    }

    // Resident data (bytes when every value is k/255, a quarter of the memory),
    // optimiser state and the loss accumulator join the model's store.
    let data = put_dataset(model.store_mut(), "train.data", train);
    let params = model.parameters();
    let store = model.store_mut();
    let states = put_optimizer_states(store, &params, cfg.optimizer);
    let acc = store.put_zeros("train.loss_sum", Shape::SCALAR, EntryKind::State);

    let full = cfg.batch;
    let steps_per_epoch = train.rows.div_ceil(full);
    let mut run = RunState {
        format: checkpoint::FORMAT,
        position: Position {
            next_epoch: 1,
            next_batch: 0,
            step: 0,
        },
        config: cfg.clone(),
        data: DataFingerprint::of(train),
        schedule: LearningRate::new(
            cfg.lr,
            cfg.schedule,
            cfg.warmup_steps,
            (steps_per_epoch * cfg.epochs) as u64,
        ),
        stopping: cfg.early_stop.map(EarlyStopping::new),
        epochs: vec![],
    };
    // The parameters of the best epoch so far (early stopping restores them).
    let mut best_weights: Vec<(EntryId, Vec<f32>)> = vec![];
    let mut last_checkpoint = None;
    if let Some(ck) = control.resume {
        best_weights = ck.restore_into(model.store_mut())?;
        run.position = ck.state.position;
        run.schedule = ck.state.schedule.clone();
        run.schedule
            .set_total_steps((steps_per_epoch * cfg.epochs) as u64);
        run.stopping = ck.state.stopping.clone();
        run.epochs = ck.state.epochs.clone();
        last_checkpoint = Some((ck.path.clone(), ck.state.position.step));
    }

    let ids: Vec<EntryId> = model.store().ids().filter(|&id| id != data).collect();
    for id in ids {
        backend.upload_entry(model.store(), id)?;
    }
    // The dataset stays on the device when it fits; otherwise each batch is gathered
    // on the host and sent with the step (slower, but any size trains).
    let source = match backend.upload_entry(model.store(), data) {
        Ok(()) => BatchSource::Resident(data),
        Err(BackendError::TooLarge { .. }) => BatchSource::Host,
        Err(e) => return Err(e.into()),
    };

    let rest = train.rows % full;
    let mut plans = vec![build_train_plan(
        model, backend, source, &states, acc, cfg, full, full,
    )?];
    if rest > 0 {
        plans.push(build_train_plan(
            model, backend, source, &states, acc, cfg, rest, full,
        )?);
    }

    let uses_rng = model.uses_rng(&cfg.regularization);
    // The shuffles are the only host-side randomness; a resumed run replays those of
    // the epochs already begun, so its batches are the original run's.
    let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x5eed_da7a);
    let mut order: Vec<u32> = (0..train.rows as u32).collect();
    let resume_at = run.position;
    let epochs_begun = resume_at.next_epoch - 1 + usize::from(resume_at.next_batch > 0);
    for _ in 0..epochs_begun {
        order.shuffle(&mut rng);
    }
    let zero = [0.0f32];
    // Host traffic of the training steps themselves (not of validation or the final
    // download of the weights).
    let (mut loop_submissions, mut loop_readbacks) = (0u64, 0u64);
    let mut host_batch: Vec<f32> = vec![];
    let mut step_count: u64 = resume_at.step;
    // The NaN guard's window: the loss was last seen finite after this step.
    let mut last_finite_step = step_count;
    // Rows trained and seconds spent by this call (a resumed run's own throughput).
    let (mut seconds_here, mut rows_here) = (0.0, 0usize);
    let mut stopped_early = false;
    let mut interrupted = false;
    let mut step_lr = cfg.lr;
    let stop_requested = || control.interrupt.is_some_and(|f| f.load(Ordering::Relaxed));
    let diverged = |value: f32, epoch: usize, from: u64, to: u64, kept: &Option<(PathBuf, u64)>| {
        TrainError::Diverged(Divergence {
            value,
            epoch,
            first_step: from,
            last_step: to,
            last_good_checkpoint: kept.clone(),
        })
    };
    'epochs: for epoch in resume_at.next_epoch..=cfg.epochs {
        let start = Instant::now();
        let before = backend.stats();
        let first_batch = if epoch == resume_at.next_epoch {
            resume_at.next_batch
        } else {
            0
        };
        if first_batch == 0 {
            order.shuffle(&mut rng);
            model.store_mut().set_values(acc, zero.to_vec());
            backend.upload_entry(model.store(), acc)?;
        }
        for (s, chunk) in order.chunks(full).enumerate().skip(first_batch) {
            step_count += 1;
            let plan = if chunk.len() == full {
                &plans[0]
            } else {
                &plans[1]
            };
            step_lr = run.schedule.at(step_count, epoch);
            let hyper = cfg
                .optimizer
                .hyper(step_lr, step_count, cfg.clip_norm.unwrap_or(0.0));
            let batch = match source {
                BatchSource::Resident(_) => Feed::U32(chunk),
                BatchSource::Host => {
                    host_batch.clear();
                    for &r in chunk {
                        host_batch.extend_from_slice(train.row(r as usize));
                    }
                    Feed::F32(&host_batch)
                }
            };
            let key = rng_feed(cfg.seed, step_count);
            let feeds = [batch, Feed::F32(&hyper), Feed::U32(&key)];
            backend.run(plan.id, &feeds[..if uses_rng { 3 } else { 2 }])?;
            let report_now = cfg.loss_every > 0 && (s + 1) % cfg.loss_every == 0;
            let running_loss = if report_now {
                let loss = backend.read_entry(acc)?[0] / (s + 1) as f32;
                if !loss.is_finite() {
                    return Err(diverged(
                        loss,
                        epoch,
                        last_finite_step + 1,
                        step_count,
                        &last_checkpoint,
                    ));
                }
                last_finite_step = step_count;
                Some(loss)
            } else {
                None
            };
            on_progress(Progress::Step {
                epoch,
                step: s + 1,
                steps: steps_per_epoch,
                running_loss,
                samples_per_s: (((s - first_batch) * full + chunk.len()) as f64)
                    / start.elapsed().as_secs_f64().max(1e-9),
            });
            if s + 1 < steps_per_epoch && stop_requested() {
                run.position = Position {
                    next_epoch: epoch,
                    next_batch: s + 1,
                    step: step_count,
                };
                interrupted = true;
                break 'epochs;
            }
        }
        // The accumulator holds Σ batch loss × rows/batch: the mean over every element.
        let train_loss = backend.read_entry(acc)?[0] * full as f32 / train.rows as f32;
        let after = backend.stats();
        loop_submissions += after.submissions - before.submissions;
        loop_readbacks += after.readbacks - before.readbacks;
        let seconds = start.elapsed().as_secs_f64();
        seconds_here += seconds;
        let rows_this_epoch = train.rows - (first_batch * full).min(train.rows);
        rows_here += rows_this_epoch;
        if !train_loss.is_finite() {
            return Err(diverged(
                train_loss,
                epoch,
                last_finite_step + 1,
                step_count,
                &last_checkpoint,
            ));
        }
        let validation_loss = match validation {
            Some(v) => {
                let r = evaluate(model, backend, v)?;
                let loss = match cfg.loss {
                    Loss::Mse => r.mse,
                    Loss::BceWithLogits => r.bce,
                };
                if !loss.is_finite() {
                    return Err(diverged(
                        loss,
                        epoch,
                        last_finite_step + 1,
                        step_count,
                        &last_checkpoint,
                    ));
                }
                Some(loss)
            }
            None => None,
        };
        last_finite_step = step_count;
        run.schedule
            .end_epoch(validation_loss.unwrap_or(train_loss));
        let report = EpochReport {
            epoch,
            step: step_count,
            train_loss,
            validation_loss,
            lr: step_lr,
            samples_per_s: rows_this_epoch as f64 / seconds,
            seconds,
        };
        on_progress(Progress::Epoch(report.clone()));
        run.epochs.push(report);
        if let Some(path) = &control.metrics_log {
            write_metrics_log(path, &run.epochs)?;
        }
        if let (Some(stop), Some(v)) = (run.stopping.as_mut(), validation_loss) {
            match stop.observe(epoch, v) {
                Verdict::Improved => {
                    best_weights.clear();
                    for &p in &params {
                        best_weights.push((p, backend.read_entry(p)?));
                    }
                }
                Verdict::Continue => {}
                Verdict::Stop => {
                    stopped_early = true;
                    break;
                }
            }
        }
        run.position = Position {
            next_epoch: epoch + 1,
            next_batch: 0,
            step: step_count,
        };
        if epoch < cfg.epochs && stop_requested() {
            interrupted = true;
            break;
        }
        let due = control.checkpoint_every > 0 && epoch % control.checkpoint_every == 0;
        if let (true, Some(path)) = (due, &control.checkpoint) {
            save_checkpoint(path, model, backend, &run, &best_weights)?;
            last_checkpoint = Some((path.clone(), step_count));
        }
    }
    if interrupted {
        if let Some(path) = &control.checkpoint {
            save_checkpoint(path, model, backend, &run, &best_weights)?;
            last_checkpoint = Some((path.clone(), step_count));
        }
    }
    // Restore-best: the weights of the epoch with the lowest validation loss.
    let best_epoch = run.stopping.as_ref().map(|s| s.best_epoch());
    if !interrupted && best_epoch.is_some_and(|b| b != run.epochs.len()) {
        for (id, values) in best_weights {
            model.store_mut().set_values(id, values);
            backend.upload_entry(model.store(), id)?;
        }
    }
    download_entries(backend, model.store_mut(), |e| {
        e.kind == EntryKind::Parameter
    })?;
    for plan in &plans {
        backend.release(plan.id);
    }
    let steps_here = (step_count - resume_at.step).max(1) as f64;
    Ok(TrainReport {
        epochs: run.epochs,
        samples_per_s: rows_here as f64 / seconds_here.max(1e-9),
        steps: step_count,
        submissions_per_step: loop_submissions as f64 / steps_here,
        readbacks_per_step: loop_readbacks as f64 / steps_here,
        batches_resident: matches!(source, BatchSource::Resident(_)),
        plan_launches: plans[0].launches,
        plan_peak_bytes: plans[0].peak_bytes,
        best_epoch,
        stopped_early,
        interrupted,
        resumed_from_step: control.resume.map(|c| c.state.position.step),
        checkpoint: last_checkpoint,
    })
}

/// Brings the parameters and optimiser state back from the backend and writes them
/// with the run's bookkeeping as one checkpoint file.
fn save_checkpoint(
    path: &Path,
    model: &mut dyn Autoencoder,
    backend: &mut dyn Backend,
    run: &RunState,
    best_weights: &[(EntryId, Vec<f32>)],
) -> Result<(), TrainError> {
    download_entries(backend, model.store_mut(), |e| e.kind != EntryKind::Data)?;
    checkpoint::save(path, model, run, best_weights)
}

/// Rewrites the metrics log, one JSON object per epoch, atomically: a crash leaves
/// the previous version, never half a line.
fn write_metrics_log(path: &Path, epochs: &[EpochReport]) -> Result<(), TrainError> {
    let mut text = String::new();
    for e in epochs {
        text += &serde_json::to_string(e).map_err(|e| TrainError::Config(e.to_string()))?;
        text.push('\n');
    }
    Ok(atomic_write(path, text.as_bytes())?)
}

/// `batch` rows per step; a batch smaller than `full_batch` (an epoch's last) adds its
/// loss to the accumulator weighted by `batch / full_batch`.
#[allow(clippy::too_many_arguments)]
fn build_train_plan(
    model: &dyn Autoencoder,
    backend: &mut dyn Backend,
    source: BatchSource,
    states: &[Vec<EntryId>],
    acc: EntryId,
    cfg: &TrainConfig,
    batch: usize,
    full_batch: usize,
) -> Result<TrainPlan, TrainError> {
    let store = model.store();
    let mut g = Graph::new();
    g.set_label("batch");
    let width = model.input_width();
    // Host inputs, in feed order: the batch (row indices or rows), then the optimiser's.
    let x = match source {
        BatchSource::Resident(data) => {
            let idx = g.input("batch_rows", Shape::new(batch, 1), DType::U32);
            let data_v = g.entry(store, data);
            g.push(Op::GatherRows, &[data_v, idx])?
        }
        BatchSource::Host => g.input("batch", Shape::new(batch, width), DType::F32),
    };
    let hyper = g.input("optimizer", Shape::new(1, 4), DType::F32);
    let rng = model
        .uses_rng(&cfg.regularization)
        .then(|| g.input("rng", Shape::new(1, 4), DType::U32));
    let objective = model.objective(&mut g, x, cfg.loss, &cfg.regularization, rng)?;
    let params = model.parameters();
    // `Graph::entry` returns the one node of an entry, so a tied weight used by the
    // encoder and the decoder gets the sum of both gradients.
    let param_values: Vec<_> = params.iter().map(|&p| g.entry(store, p)).collect();
    let grads = grad(&mut g, objective.total, &param_values)?;
    push_updates(
        &mut g,
        store,
        &param_values,
        grads,
        states,
        hyper,
        cfg.optimizer,
        cfg.clip_norm,
    )?;
    let loss = objective.primary();
    let acc_v = g.entry(store, acc);
    let weighted = if batch == full_batch {
        loss
    } else {
        g.push(Op::Scale(batch as f32 / full_batch as f32), &[loss])?
    };
    g.push(Op::Accumulate, &[acc_v, weighted])?;
    let plan = Plan::new(&g, store)?;
    let id = backend.prepare(&plan)?;
    Ok(TrainPlan {
        id,
        launches: plan.launches.len(),
        peak_bytes: plan.peak_bytes,
    })
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

/// Zeroed optimiser state entries (`{param}.optim{k}`) for every parameter.
pub(crate) fn put_optimizer_states(
    store: &mut ParamStore,
    params: &[EntryId],
    optimizer: Optimizer,
) -> Vec<Vec<EntryId>> {
    params
        .iter()
        .map(|&p| {
            let (name, shape) = (store.get(p).name.clone(), store.get(p).shape);
            (0..optimizer.state_count())
                .map(|k| store.put_zeros(&format!("{name}.optim{k}"), shape, EntryKind::State))
                .collect()
        })
        .collect()
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
