//! The one training loop. A run is epochs of minibatch steps; a step is a list of
//! [`Phase`]s, each an objective graph, a parameter group and an optimiser with its own
//! learning-rate schedule. The [`Task`] says what a step is; the trainer owns epochs,
//! batches, checkpoints, metrics and guards (Burn's TrainStep/Learner split). `fit`
//! (autoencoders, any kind) and `fit_classifier` are tasks run by [`train`].
//!
//! - Every phase of a step is a prepared plan, and the step's plans go to the backend
//!   as one submission ([`Backend::run_many`]) with no read-back, phase after phase: a
//!   phase sees the parameters the phases before it updated.
//! - Objectives return named scalar terms. They are accumulated on the device in one
//!   [1, T] entry (read once an epoch, or every `loss_every` steps) and reported per
//!   epoch ([`EpochReport::terms`]) to the progress callback and the metrics log.
//! - Validation measures every phase's objective in [`Mode::Eval`] (no noise, dropout
//!   or batch statistics) over the validation rows. Early stopping and the plateau
//!   schedule watch one named term (`monitor`, the first term by default); the
//!   divergence guard watches every term.
//! - A phase may end with state updates ([`Task::state_updates`]: an EMA, a
//!   re-normalisation): side effects in a plan of their own, run right after the
//!   phase's optimiser updates in the same submission, so they read what it wrote.
//! - Full-batch L-BFGS ([`RunSettings::lbfgs`]) is the other step method: an epoch is
//!   one iteration over every row, and its history is checkpointed like any state.
//! - Checkpoints hold every parameter, every group's optimiser state, the accumulator,
//!   the position, every phase's schedule and early stopping's state: a resumed run
//!   continues bit for bit.

mod full_batch;
pub(crate) mod plans;
mod task;

pub use task::{Batch, Mode, Phase, Task};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::backend::{download_entries, Backend, BackendError, Feed};
use crate::data::Dataset;
use crate::graph::{EntryData, EntryId, EntryKind, ParamStore, Shape};
use crate::io::atomic_write;
use crate::ops::random::rng_feed;
use crate::ops::Optimizer;
use crate::train::batched::inference_batch;
use crate::train::checkpoint::{self, DataFingerprint, Position, RunState};
use crate::train::lbfgs::{Lbfgs, LbfgsConfig, LbfgsReport};
use crate::train::schedule::{EarlyStopping, LearningRate, Verdict};
use crate::train::{
    put_dataset, Checkpoint, Divergence, EpochReport, Progress, RunControl, TrainError, TrainReport,
};
use full_batch::FullBatch;
use plans::{feeds_for, BatchFeed, HostValues, Prepared, StepContext, TermLayout};

/// The settings the trainer itself reads (a task's own settings go in its objective).
#[derive(Clone, Debug, PartialEq)]
pub struct RunSettings {
    pub epochs: usize,
    pub batch: usize,
    /// Seeds the epoch shuffles and every step's random key.
    pub seed: u64,
    /// Read the terms back every this many steps (0: once per epoch).
    pub loss_every: usize,
    /// Stop when the monitored validation term has not improved for this many epochs,
    /// and restore the best epoch's parameters.
    pub early_stop: Option<usize>,
    /// The term early stopping and the plateau schedule watch (the first by default).
    pub monitor: Option<String>,
    /// Train by full-batch L-BFGS instead of minibatch steps: each epoch is one
    /// iteration over every row (`batch` is not used), the phase's learning rate its
    /// first trial step. The step must be one phase without running statistics.
    pub lbfgs: Option<LbfgsConfig>,
}

/// Trains `task` on `train`, with the checkpoints, log, resume and interruption of
/// `control`. A NaN or infinite term stops the run with [`TrainError::Diverged`]; when
/// it was seen only at an epoch's end and a checkpoint exists, the run is replayed from
/// that checkpoint with the terms read after every step, to name the exact step.
pub fn train(
    task: &mut dyn Task,
    backend: &mut dyn Backend,
    data: &Dataset,
    validation: Option<&Dataset>,
    settings: &RunSettings,
    control: &RunControl,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<TrainReport, TrainError> {
    match run(
        task,
        backend,
        data,
        validation,
        settings,
        control,
        on_progress,
    ) {
        Err(TrainError::Diverged(d)) if d.first_step < d.last_step => Err(TrainError::Diverged(
            pinpoint(task, backend, data, validation, settings, d),
        )),
        other => other,
    }
}

/// Replays a run that diverged from its last good checkpoint with the terms read
/// after every step (the run is deterministic, so it stops at the first bad step).
/// Without a checkpoint the window stays.
fn pinpoint(
    task: &mut dyn Task,
    backend: &mut dyn Backend,
    data: &Dataset,
    validation: Option<&Dataset>,
    settings: &RunSettings,
    window: Divergence,
) -> Divergence {
    let Some((path, _)) = &window.last_good_checkpoint else {
        return window;
    };
    let Ok(checkpoint) = Checkpoint::load(path) else {
        return window;
    };
    let replay = RunSettings {
        loss_every: 1,
        ..settings.clone()
    };
    let control = RunControl {
        resume: Some(&checkpoint),
        ..RunControl::default()
    };
    match run(
        task,
        backend,
        data,
        validation,
        &replay,
        &control,
        &mut |_| {},
    ) {
        Err(TrainError::Diverged(exact)) => exact,
        _ => window,
    }
}

fn config(detail: impl Into<String>) -> TrainError {
    TrainError::Config(detail.into())
}

/// Refuses phases that train nothing, train a parameter twice or are not parameters.
fn check_phases(store: &ParamStore, phases: &[Phase]) -> Result<(), TrainError> {
    if phases.is_empty() {
        return Err(config("a training step needs at least one phase"));
    }
    for (i, phase) in phases.iter().enumerate() {
        if phases[..i].iter().any(|p| p.name == phase.name) {
            return Err(config(format!("two phases are named `{}`", phase.name)));
        }
        if phase.params.is_empty() {
            return Err(config(format!(
                "phase `{}` trains no parameter",
                phase.name
            )));
        }
        for (k, &p) in phase.params.iter().enumerate() {
            if p.0 as usize >= store.len() || store.get(p).kind != EntryKind::Parameter {
                return Err(config(format!(
                    "phase `{}` names entry #{} that is not a parameter",
                    phase.name, p.0
                )));
            }
            if phase.params[..k].contains(&p) {
                return Err(config(format!(
                    "phase `{}` names parameter `{}` twice",
                    phase.name,
                    store.get(p).name
                )));
            }
        }
        if let Some(c) = phase.clip_norm {
            if !(c > 0.0 && c.is_finite()) {
                return Err(config(format!("the clipping norm must be > 0, got {c}")));
            }
        }
        let other_optimizer = phases[..i]
            .iter()
            .find(|p| p.group == phase.group && p.optimizer != phase.optimizer);
        if let Some(other) = other_optimizer {
            return Err(config(format!(
                "phases `{}` and `{}` share optimiser state (group `{}`) but not their optimiser",
                other.name, phase.name, phase.group
            )));
        }
    }
    Ok(())
}

/// Zeroed optimiser state for every phase's parameters. A parameter trained by one
/// group keeps its states as `{param}.optim{k}`; one trained by several groups has
/// `{param}.{group}.optim{k}` per group. Phases of one group share the entries.
pub(crate) fn put_phase_states(store: &mut ParamStore, phases: &[Phase]) -> Vec<Vec<Vec<EntryId>>> {
    let groups_of = |p: EntryId| {
        let mut groups: Vec<&str> = phases
            .iter()
            .filter(|ph| ph.params.contains(&p))
            .map(|ph| ph.group.as_str())
            .collect();
        groups.sort_unstable();
        groups.dedup();
        groups.len()
    };
    phases
        .iter()
        .map(|phase| {
            phase
                .params
                .iter()
                .map(|&p| {
                    let (name, shape) = (store.get(p).name.clone(), store.get(p).shape);
                    let prefix = if groups_of(p) > 1 {
                        format!("{name}.{}", phase.group)
                    } else {
                        name
                    };
                    states(store, &prefix, shape, phase.optimizer)
                })
                .collect()
        })
        .collect()
}

fn states(store: &mut ParamStore, prefix: &str, shape: Shape, o: Optimizer) -> Vec<EntryId> {
    (0..o.state_count())
        .map(|k| store.put_zeros(&format!("{prefix}.optim{k}"), shape, EntryKind::State))
        .collect()
}

/// The body of [`train`].
fn run(
    task: &mut dyn Task,
    backend: &mut dyn Backend,
    data: &Dataset,
    validation: Option<&Dataset>,
    settings: &RunSettings,
    control: &RunControl,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<TrainReport, TrainError> {
    let width = task.input_width();
    for d in std::iter::once(data).chain(validation) {
        if d.cols != width {
            return Err(TrainError::Width {
                expected: width,
                got: d.cols,
            });
        }
    }
    if settings.batch == 0 || settings.epochs == 0 {
        return Err(config("batch size and epochs must be at least 1"));
    }
    if settings.early_stop.is_some() && validation.is_none() {
        return Err(config(
            "early stopping watches the validation loss: give validation data",
        ));
    }
    if settings.early_stop == Some(0) {
        return Err(config("early-stopping patience must be at least 1 epoch"));
    }
    if settings.batch > data.rows && settings.lbfgs.is_none() {
        return Err(TrainError::BatchTooLarge {
            batch: settings.batch,
            rows: data.rows,
        });
    }
    let phases = task.phases();
    check_phases(task.store(), &phases)?;
    task.check_settings()?;
    if let Some(cfg) = &settings.lbfgs {
        full_batch::check(task, &phases, cfg)?;
    }
    let full = match settings.lbfgs {
        Some(_) => data.rows,
        None => settings.batch,
    };
    let targets = task.targets(data)?;
    let target_width = targets.as_ref().map(|t| t.cols);
    let layout = TermLayout::discover(task, &phases, full, target_width)?;
    let monitor = match &settings.monitor {
        Some(name) => layout.column(name).ok_or_else(|| {
            config(format!(
                "no term `{name}` to monitor: this model reports {}",
                layout.names.join(", ")
            ))
        })?,
        None => 0,
    };
    if let Some(ck) = control.resume {
        ck.check_compatible(
            &task.kind(),
            &task.config_json(),
            &task.settings(),
            settings.epochs,
            data,
        )?;
    }

    // Resident data (bytes when every value is k/255), targets, optimiser state and
    // the terms' accumulator join the task's store.
    let validation_targets = match validation {
        Some(v) => task.targets(v)?,
        None => None,
    };
    let store = task.store_mut();
    let data_entry = put_dataset(store, "train.data", data);
    let target_entry = targets.as_ref().map(|t| {
        store.put(
            "train.targets",
            Shape::new(t.rows, t.cols),
            EntryKind::Data,
            EntryData::F32(t.values.clone()),
        )
    });
    let states = match settings.lbfgs {
        Some(_) => vec![],
        None => put_phase_states(store, &phases),
    };
    let lbfgs = settings
        .lbfgs
        .as_ref()
        .map(|cfg| Lbfgs::new(store, &phases[0].params, cfg));
    let acc = store.put_zeros(
        "train.terms",
        Shape::new(1, layout.count()),
        EntryKind::State,
    );
    let mut trained: Vec<EntryId> = vec![];
    // Kept for restore-best: every trained parameter and every buffer.
    for p in phases
        .iter()
        .flat_map(|ph| ph.params.iter())
        .chain(&task.buffers())
    {
        if !trained.contains(p) {
            trained.push(*p);
        }
    }

    let steps_per_epoch = data.rows.div_ceil(full);
    let total_steps = (steps_per_epoch * settings.epochs) as u64;
    let mut state = RunState {
        format: checkpoint::FORMAT,
        position: Position {
            next_epoch: 1,
            next_batch: 0,
            step: 0,
        },
        config: task.settings(),
        data: DataFingerprint::of(data),
        schedules: phases
            .iter()
            .map(|ph| LearningRate::new(ph.lr, ph.schedule, ph.warmup_steps, total_steps))
            .collect(),
        stopping: settings.early_stop.map(EarlyStopping::new),
        epochs: vec![],
        lbfgs: None,
    };
    // The parameters of the best epoch so far (early stopping restores them).
    let mut best_weights: Vec<(EntryId, Vec<f32>)> = vec![];
    let mut last_checkpoint = None;
    if let Some(ck) = control.resume {
        best_weights = ck.restore_into(task.store_mut())?;
        if ck.state.schedules.len() != phases.len() {
            return Err(TrainError::Checkpoint {
                path: ck.path.clone(),
                detail: format!(
                    "it holds {} phase schedules, this run has {} phases",
                    ck.state.schedules.len(),
                    phases.len()
                ),
            });
        }
        let at = ck.state.position;
        if at.next_epoch > settings.epochs + 1 || at.next_batch >= steps_per_epoch {
            return Err(TrainError::Checkpoint {
                path: ck.path.clone(),
                detail: format!(
                    "its position (epoch {}, batch {}) is outside this run",
                    at.next_epoch, at.next_batch
                ),
            });
        }
        state.position = at;
        state.schedules = ck.state.schedules.clone();
        for s in &mut state.schedules {
            s.set_total_steps(total_steps);
        }
        state.stopping = ck.state.stopping.clone();
        state.epochs = ck.state.epochs.clone();
        if ck.state.lbfgs.is_some() != lbfgs.is_some() {
            return Err(TrainError::Checkpoint {
                path: ck.path.clone(),
                detail: format!(
                    "it continues a {} run, this one asks for {}",
                    method_name(ck.state.lbfgs.is_some()),
                    method_name(lbfgs.is_some())
                ),
            });
        }
        state.lbfgs = ck.state.lbfgs.clone();
        last_checkpoint = Some((ck.path.clone(), ck.state.position.step));
    }

    let resident: Vec<EntryId> = std::iter::once(data_entry).chain(target_entry).collect();
    let ids: Vec<EntryId> = task
        .store()
        .ids()
        .filter(|id| !resident.contains(id))
        .collect();
    for id in ids {
        backend.upload_entry(task.store(), id)?;
    }
    // The data stay on the device when they fit; otherwise each batch is gathered on
    // the host and sent with the step (slower, but any size trains).
    let mut feed = BatchFeed::Resident {
        data: data_entry,
        targets: target_entry,
    };
    for &id in &resident {
        match backend.upload_entry(task.store(), id) {
            Ok(()) => {}
            Err(BackendError::TooLarge { .. }) => feed = BatchFeed::Host,
            Err(e) => return Err(e.into()),
        }
    }

    let rest = data.rows % full;
    let context = StepContext {
        feed,
        target_width,
        states: &states,
        accumulator: acc,
        layout: &layout,
        full_batch: full,
    };
    // step_plans[p][0]: phase p on a full batch; [1]: on an epoch's last rows. Each
    // is the phase's update plan, then its state-update plan when it has one.
    let mut step_plans: Vec<Vec<Vec<Prepared>>> = vec![];
    let mut full_batch = match lbfgs {
        Some(mut l) => {
            if let Some(restored) = &state.lbfgs {
                l.state = restored.clone();
            }
            Some(FullBatch::prepare(l, task, backend, &phases, &context)?)
        }
        None => None,
    };
    for p in (0..phases.len()).filter(|_| full_batch.is_none()) {
        let mut pair = vec![];
        for rows in std::iter::once(full).chain((rest > 0).then_some(rest)) {
            let mut plans = vec![plans::train_plan(
                task, backend, &phases, p, rows, &context,
            )?];
            plans.extend(plans::state_update_plan(
                task, backend, &phases, p, rows, &context,
            )?);
            pair.push(plans);
        }
        step_plans.push(pair);
    }
    let mut validator = Validator::default();

    // The shuffles are the only host-side randomness; a resumed run replays those of
    // the epochs already begun, so its batches are the original run's.
    let mut rng = StdRng::seed_from_u64(settings.seed ^ 0x5eed_da7a);
    let mut order: Vec<u32> = (0..data.rows as u32).collect();
    let resume_at = state.position;
    let epochs_begun = resume_at.next_epoch - 1 + usize::from(resume_at.next_batch > 0);
    for _ in 0..epochs_begun {
        order.shuffle(&mut rng);
    }
    let zeros = vec![0.0f32; layout.count()];
    let uses_rng = task.uses_rng();
    // Host traffic of the training steps themselves (not of validation or the final
    // download of the weights).
    let (mut loop_submissions, mut loop_readbacks) = (0u64, 0u64);
    let (mut host_batch, mut host_targets): (Vec<f32>, Vec<f32>) = (vec![], vec![]);
    let mut step_count: u64 = resume_at.step;
    // The divergence guard's window: the terms were last seen finite after this step.
    let mut last_finite_step = step_count;
    // Rows trained and seconds spent by this call (a resumed run's own throughput).
    let (mut seconds_here, mut rows_here) = (0.0, 0usize);
    let mut stopped_early = false;
    let mut interrupted = false;
    let mut step_lr = phases[0].lr;
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
    'epochs: for epoch in resume_at.next_epoch..=settings.epochs {
        let start = Instant::now();
        let before = backend.stats();
        let active: Vec<bool> = phases.iter().map(|ph| ph.runs_in(epoch)).collect();
        // The loss an epoch reports: the first term of its first running phase.
        let lead = layout.lead(&active);
        let first_batch = if epoch == resume_at.next_epoch {
            resume_at.next_batch
        } else {
            0
        };
        if first_batch == 0 {
            order.shuffle(&mut rng);
            task.store_mut().set_values(acc, zeros.clone());
            backend.upload_entry(task.store(), acc)?;
        }
        let means: Vec<f32> = if let Some(fb) = full_batch.as_mut() {
            let lr = state.schedules[0].at(step_count + 1, epoch) as f64;
            let bad = |value: f32| {
                diverged(
                    value,
                    epoch,
                    step_count + 1,
                    step_count + 1,
                    &last_checkpoint,
                )
            };
            // One key for the whole run: the line search needs a fixed objective.
            let key = rng_feed(settings.seed, 0);
            let rng_key = uses_rng.then_some(&key[..]);
            let moved = fb.epoch(backend, task.store(), data, feed, acc, lr, rng_key, &bad)?;
            state.lbfgs = Some(fb.lbfgs.state.clone());
            let Some(means) = moved else {
                break 'epochs;
            };
            step_count += 1;
            step_lr = lr as f32;
            on_progress(Progress::Step {
                epoch,
                step: 1,
                steps: 1,
                running_loss: means.first().copied(),
                samples_per_s: data.rows as f64 / start.elapsed().as_secs_f64().max(1e-9),
            });
            means
        } else {
            for (s, chunk) in order.chunks(full).enumerate().skip(first_batch) {
                step_count += 1;
                let which = usize::from(chunk.len() != full);
                if feed == BatchFeed::Host {
                    host_batch.clear();
                    host_targets.clear();
                    for &r in chunk {
                        host_batch.extend_from_slice(data.row(r as usize));
                        if let Some(t) = &targets {
                            host_targets.extend_from_slice(t.row(r as usize));
                        }
                    }
                }
                let key = rng_feed(settings.seed, step_count);
                let hypers: Vec<[f32; 4]> = phases
                    .iter()
                    .zip(&state.schedules)
                    .map(|(ph, lr)| {
                        let rate = lr.at(step_count, epoch);
                        ph.optimizer
                            .hyper(rate, step_count, ph.clip_norm.unwrap_or(0.0))
                    })
                    .collect();
                step_lr = hypers[0][0];
                let mut runs: Vec<(crate::backend::PlanId, Vec<Feed>)> = vec![];
                for (p, plan_pair) in step_plans.iter().enumerate() {
                    if !active[p] {
                        continue;
                    }
                    let values = HostValues {
                        rows: Some(chunk),
                        batch: Some(&host_batch),
                        targets: Some(&host_targets),
                        optimizer: Some(&hypers[p]),
                        rng: uses_rng.then_some(&key[..]),
                    };
                    for plan in &plan_pair[which] {
                        runs.push((plan.id, feeds_for(&plan.inputs, &values)?));
                    }
                }
                let runs: Vec<_> = runs.iter().map(|(id, f)| (*id, &f[..])).collect();
                backend.run_many(&runs)?;
                let report_now = settings.loss_every > 0 && (s + 1) % settings.loss_every == 0;
                let running_loss = if report_now {
                    let sums = backend.read_entry(acc)?;
                    let means: Vec<f32> = sums.iter().map(|v| v / (s + 1) as f32).collect();
                    if let Some(bad) = first_non_finite(&means) {
                        return Err(diverged(
                            bad,
                            epoch,
                            last_finite_step + 1,
                            step_count,
                            &last_checkpoint,
                        ));
                    }
                    last_finite_step = step_count;
                    Some(means[lead])
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
                    state.position = Position {
                        next_epoch: epoch,
                        next_batch: s + 1,
                        step: step_count,
                    };
                    interrupted = true;
                    break 'epochs;
                }
            }
            // The accumulator holds Σ batch term × rows/batch: the mean per row.
            let sums = backend.read_entry(acc)?;
            sums.iter()
                .map(|v| v * full as f32 / data.rows as f32)
                .collect()
        };
        let after = backend.stats();
        loop_submissions += after.submissions - before.submissions;
        loop_readbacks += after.readbacks - before.readbacks;
        let seconds = start.elapsed().as_secs_f64();
        seconds_here += seconds;
        let rows_this_epoch = data.rows - (first_batch * full).min(data.rows);
        rows_here += rows_this_epoch;
        let terms = layout.named(&means, &active);
        if let Some(bad) = first_non_finite(terms.values()).or(blown_up(
            &state.epochs,
            &layout.names[lead],
            means[lead],
        )) {
            return Err(diverged(
                bad,
                epoch,
                last_finite_step + 1,
                step_count,
                &last_checkpoint,
            ));
        }
        let validation_terms = match validation {
            Some(v) => {
                let values = validator.measure(
                    task,
                    backend,
                    &phases,
                    &active,
                    &layout,
                    v,
                    validation_targets.as_ref(),
                    settings.seed,
                )?;
                if let Some(bad) = first_non_finite(values.values()) {
                    return Err(diverged(
                        bad,
                        epoch,
                        last_finite_step + 1,
                        step_count,
                        &last_checkpoint,
                    ));
                }
                values
            }
            None => BTreeMap::new(),
        };
        last_finite_step = step_count;
        let monitored = validation_terms
            .get(&layout.names[monitor])
            .or_else(|| terms.get(&layout.names[monitor]))
            .copied();
        for lr in &mut state.schedules {
            lr.end_epoch(monitored.unwrap_or(means[lead]));
        }
        let report = EpochReport {
            epoch,
            step: step_count,
            train_loss: means[lead],
            validation_loss: validation_terms.get(&layout.names[lead]).copied(),
            lr: step_lr,
            samples_per_s: rows_this_epoch as f64 / seconds,
            seconds,
            terms,
            validation_terms: validation_terms.clone(),
        };
        on_progress(Progress::Epoch(report.clone()));
        state.epochs.push(report);
        if let Some(path) = &control.metrics_log {
            write_metrics_log(path, &state.epochs)?;
        }
        state.position = Position {
            next_epoch: epoch + 1,
            next_batch: 0,
            step: step_count,
        };
        let watched = validation_terms.get(&layout.names[monitor]).copied();
        if let (Some(stop), Some(v)) = (state.stopping.as_mut(), watched) {
            match stop.observe(epoch, v) {
                Verdict::Improved => {
                    best_weights.clear();
                    for &p in &trained {
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
        if epoch < settings.epochs && stop_requested() {
            interrupted = true;
            break;
        }
        let due = control.checkpoint_every > 0 && epoch % control.checkpoint_every == 0;
        if let (true, Some(path)) = (due, &control.checkpoint) {
            save_checkpoint(path, task, backend, &state, &best_weights)?;
            last_checkpoint = Some((path.clone(), step_count));
        }
        if state.lbfgs.as_ref().is_some_and(|l| l.converged.is_some()) {
            break;
        }
    }
    if interrupted {
        if let Some(path) = &control.checkpoint {
            save_checkpoint(path, task, backend, &state, &best_weights)?;
            last_checkpoint = Some((path.clone(), step_count));
        }
    }
    // Restore-best: the parameters of the epoch with the best monitored term.
    let best_epoch = state.stopping.as_ref().map(|s| s.best_epoch());
    if !interrupted && best_epoch.is_some_and(|b| b != state.epochs.len()) {
        for (id, values) in &best_weights {
            task.store_mut().set_values(*id, values.clone());
            backend.upload_entry(task.store(), *id)?;
        }
    }
    if let (false, true, Some(path)) = (interrupted, control.checkpoint_at_end, &control.checkpoint)
    {
        save_checkpoint(path, task, backend, &state, &best_weights)?;
        last_checkpoint = Some((path.clone(), step_count));
    }
    download_entries(backend, task.store_mut(), |e| {
        e.kind == EntryKind::Parameter
    })?;
    for plan in step_plans.iter().flatten().flatten() {
        backend.release(plan.id);
    }
    let lbfgs_report = full_batch.map(|fb| {
        let report = LbfgsReport {
            iterations: fb.lbfgs.state.iterations,
            evaluations: fb.lbfgs.state.evaluations,
            readbacks_per_evaluation: loop_readbacks as f64 / fb.lbfgs.losses.len().max(1) as f64,
            losses: fb.lbfgs.losses.clone(),
            converged: fb.lbfgs.state.converged.clone(),
        };
        fb.release(backend);
        report
    });
    validator.release(backend);
    let steps_here = (step_count - resume_at.step).max(1) as f64;
    Ok(TrainReport {
        epochs: state.epochs,
        samples_per_s: rows_here as f64 / seconds_here.max(1e-9),
        steps: step_count,
        submissions_per_step: loop_submissions as f64 / steps_here,
        readbacks_per_step: loop_readbacks as f64 / steps_here,
        batches_resident: feed != BatchFeed::Host,
        plan_launches: step_plans
            .iter()
            .flat_map(|pair| &pair[0])
            .map(|plan| plan.launches)
            .sum(),
        plan_peak_bytes: step_plans
            .iter()
            .flat_map(|pair| &pair[0])
            .map(|plan| plan.peak_bytes)
            .max()
            .unwrap_or(0),
        best_epoch,
        stopped_early,
        interrupted,
        resumed_from_step: control.resume.map(|c| c.state.position.step),
        checkpoint: last_checkpoint,
        lbfgs: lbfgs_report,
    })
}

fn method_name(lbfgs: bool) -> &'static str {
    if lbfgs {
        "full-batch L-BFGS"
    } else {
        "minibatch"
    }
}

/// How many times its first epoch's loss a run's loss may reach before it counts as
/// diverged: a loss that grew by three orders of magnitude is not coming back.
pub const BLOW_UP_FACTOR: f32 = 1e3;

/// The epoch's `loss` (of term `term`) when it exceeds [`BLOW_UP_FACTOR`] × the value
/// of that term in the first epoch that reported it (finite, but diverged all the
/// same: the run stops and keeps its last good checkpoint).
fn blown_up(epochs: &[EpochReport], term: &str, loss: f32) -> Option<f32> {
    let first = epochs.iter().find_map(|e| e.terms.get(term).copied())?;
    (first > 0.0 && loss > BLOW_UP_FACTOR * first).then_some(loss)
}

/// The first NaN or infinite value, if any.
fn first_non_finite<'a>(values: impl IntoIterator<Item = &'a f32>) -> Option<f32> {
    values.into_iter().copied().find(|v| !v.is_finite())
}

/// Validation plans, built on first use and kept for the run.
#[derive(Default)]
struct Validator {
    /// (phase, rows) → plan.
    plans: Vec<((usize, usize), Prepared)>,
}

impl Validator {
    /// Every term of the phases in `active`, in [`Mode::Eval`], averaged over the rows
    /// of `data` (each batch weighted by its rows). The random key, for tasks that
    /// take one, is fixed (step 0 of the seed), so the figure is the same every epoch.
    #[allow(clippy::too_many_arguments)]
    fn measure(
        &mut self,
        task: &dyn Task,
        backend: &mut dyn Backend,
        phases: &[Phase],
        active: &[bool],
        layout: &TermLayout,
        data: &Dataset,
        targets: Option<&Dataset>,
        seed: u64,
    ) -> Result<BTreeMap<String, f32>, TrainError> {
        let batch = inference_batch(task.widest_row(), data.rows);
        let key = rng_feed(seed ^ 0x0a11_da7e, 0);
        let mut sums = vec![0.0f64; layout.count()];
        for p in (0..phases.len()).filter(|&p| active[p]) {
            let (col, _) = layout.columns[p];
            for start in (0..data.rows).step_by(batch) {
                let rows = batch.min(data.rows - start);
                let at = match self.plans.iter().position(|(k, _)| *k == (p, rows)) {
                    Some(i) => i,
                    None => {
                        let plan = plans::validation_plan(
                            task,
                            backend,
                            p,
                            rows,
                            targets.map(|t| t.cols),
                        )?;
                        self.plans.push(((p, rows), plan));
                        self.plans.len() - 1
                    }
                };
                let plan = &self.plans[at].1;
                let values = HostValues {
                    batch: Some(&data.values[start * data.cols..(start + rows) * data.cols]),
                    targets: targets.map(|t| &t.values[start * t.cols..(start + rows) * t.cols]),
                    rng: Some(&key[..]),
                    ..HostValues::default()
                };
                let feeds = feeds_for(&plan.inputs, &values)?;
                backend.run(plan.id, &feeds)?;
                let out = backend.read_output(plan.id, plan.output.expect("validation plan"))?;
                let weight = rows as f64 / data.rows as f64;
                for (k, v) in out.iter().enumerate() {
                    sums[col + k] += *v as f64 * weight;
                }
            }
        }
        let means: Vec<f32> = sums.iter().map(|&s| s as f32).collect();
        Ok(layout.named(&means, active))
    }

    fn release(self, backend: &mut dyn Backend) {
        for (_, plan) in self.plans {
            backend.release(plan.id);
        }
    }
}

/// Brings the parameters and optimiser state back from the backend and writes them
/// with the run's bookkeeping as one checkpoint file.
fn save_checkpoint(
    path: &Path,
    task: &mut dyn Task,
    backend: &mut dyn Backend,
    state: &RunState,
    best_weights: &[(EntryId, Vec<f32>)],
) -> Result<(), TrainError> {
    download_entries(backend, task.store_mut(), |e| e.kind != EntryKind::Data)?;
    checkpoint::save(
        path,
        &task.kind(),
        &task.config_json(),
        task.store(),
        state,
        best_weights,
    )
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
