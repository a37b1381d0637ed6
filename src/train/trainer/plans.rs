//! The plans of a run: one per phase and batch size for training steps (forward,
//! objective, gradients, fused updates, the terms added to the step's accumulator), and
//! one per phase and batch size for validation (the objective in [`Mode::Eval`], its
//! terms as an output).
//!
//! Terms are laid out once for the run: every distinct term name gets a column of the
//! [1, T] accumulator, phase after phase; a phase's terms take consecutive columns, so
//! it adds them in one launch (concatenated, padded to T).

use std::collections::BTreeMap;

use crate::backend::{Backend, Feed, PlanId};
use crate::graph::{grad, DType, EntryId, Graph, GraphError, ParamStore, Plan, Shape, ValueId};
use crate::ops::Op;
use crate::train::trainer::task::{Batch, Mode, Phase, Task};
use crate::train::{push_updates, TrainError};

/// Where each phase's terms go in the accumulator.
#[derive(Clone, Debug)]
pub(crate) struct TermLayout {
    /// Every term, in column order.
    pub names: Vec<String>,
    /// The first column of each phase's terms and their count.
    pub columns: Vec<(usize, usize)>,
}

impl TermLayout {
    /// Builds each phase's objective once, in a scratch graph, to learn its term names.
    pub fn discover(
        task: &dyn Task,
        phases: &[Phase],
        batch: usize,
        target_width: Option<usize>,
    ) -> Result<TermLayout, TrainError> {
        let mut names: Vec<String> = vec![];
        let mut columns = vec![];
        let mut owners: Vec<usize> = vec![];
        for (p, phase) in phases.iter().enumerate() {
            let mut g = Graph::new();
            let inputs = batch_inputs(&mut g, task, BatchFeed::Host, None, batch, target_width)?;
            let objective = task.objective(&mut g, p, &inputs, Mode::Train)?;
            if objective.terms.is_empty() {
                return Err(config(format!("phase `{}` reports no terms", phase.name)));
            }
            let mut cols = vec![];
            for (name, _) in &objective.terms {
                let col = match names.iter().position(|n| n == name) {
                    Some(c) => {
                        let other = &phases[owners[c]];
                        if overlap(other, phase) || owners[c] == p {
                            return Err(config(format!(
                                "term `{name}` is named twice (phases `{}` and `{}` run in \
                                 the same epochs)",
                                other.name, phase.name
                            )));
                        }
                        c
                    }
                    None => {
                        names.push(name.clone());
                        owners.push(p);
                        names.len() - 1
                    }
                };
                cols.push(col);
            }
            if cols.windows(2).any(|w| w[1] != w[0] + 1) {
                return Err(config(format!(
                    "phase `{}` shares terms with an earlier phase in another order",
                    phase.name
                )));
            }
            columns.push((cols[0], cols.len()));
        }
        Ok(TermLayout { names, columns })
    }

    /// The column of the first term of the first phase in `active`.
    pub fn lead(&self, active: &[bool]) -> usize {
        self.columns
            .iter()
            .zip(active)
            .find(|(_, &on)| on)
            .map_or(0, |(&(first, _), _)| first)
    }

    pub fn count(&self) -> usize {
        self.names.len()
    }

    /// The column of the term called `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// `values` (one per column) by name, for the columns of the phases in `active`.
    pub fn named(&self, values: &[f32], active: &[bool]) -> BTreeMap<String, f32> {
        let mut out = BTreeMap::new();
        for (&(start, len), _) in self.columns.iter().zip(active).filter(|(_, &a)| a) {
            for (name, &value) in self.names[start..start + len]
                .iter()
                .zip(&values[start..start + len])
            {
                out.insert(name.clone(), value);
            }
        }
        out
    }
}

fn overlap(a: &Phase, b: &Phase) -> bool {
    a.epochs.start().max(b.epochs.start()) <= a.epochs.end().min(b.epochs.end())
}

fn config(detail: String) -> TrainError {
    TrainError::Config(detail)
}

/// Where a plan's batch comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BatchFeed {
    /// Gathered on the device by row indices from these data (and targets) entries.
    Resident {
        data: EntryId,
        targets: Option<EntryId>,
    },
    /// Sent from the host with each run.
    Host,
}

/// Appends the inputs of a batch of `rows` rows: `batch_rows` (U32 indices) or
/// `batch` (and `targets`) from the host, and `rng` when the task is random.
fn batch_inputs(
    g: &mut Graph,
    task: &dyn Task,
    feed: BatchFeed,
    store: Option<&ParamStore>,
    rows: usize,
    target_width: Option<usize>,
) -> Result<Batch, GraphError> {
    g.set_label("batch");
    let (x, targets) = match (feed, store) {
        (BatchFeed::Resident { data, targets }, Some(store)) => {
            let idx = g.input("batch_rows", Shape::new(rows, 1), DType::U32);
            let data_v = g.entry(store, data);
            let x = g.push(Op::GatherRows, &[data_v, idx])?;
            let t = match targets {
                Some(t) => {
                    let t_v = g.entry(store, t);
                    Some(g.push(Op::GatherRows, &[t_v, idx])?)
                }
                None => None,
            };
            (x, t)
        }
        _ => {
            let x = g.input("batch", Shape::new(rows, task.input_width()), DType::F32);
            let t = target_width.map(|w| g.input("targets", Shape::new(rows, w), DType::F32));
            (x, t)
        }
    };
    let rng = task
        .uses_rng()
        .then(|| g.input("rng", Shape::new(1, 4), DType::U32));
    Ok(Batch { x, targets, rng })
}

/// A host input of the trainer's plans, resolved from its name once, when the plan is
/// prepared (so a step matches no strings).
#[derive(Clone, Copy, Debug)]
pub(crate) enum HostInput {
    Rows,
    Batch,
    Targets,
    Optimizer,
    Rng,
}

impl HostInput {
    fn named(name: &str) -> Result<Self, TrainError> {
        Ok(match name {
            "batch_rows" => HostInput::Rows,
            "batch" => HostInput::Batch,
            "targets" => HostInput::Targets,
            "optimizer" => HostInput::Optimizer,
            "rng" => HostInput::Rng,
            other => return Err(config(format!("the trainer feeds no input `{other}`"))),
        })
    }
}

/// The host values a plan may take; [`feeds_for`] orders them.
#[derive(Default)]
pub(crate) struct HostValues<'a> {
    pub rows: Option<&'a [u32]>,
    pub batch: Option<&'a [f32]>,
    pub targets: Option<&'a [f32]>,
    pub optimizer: Option<&'a [f32]>,
    pub rng: Option<&'a [u32]>,
}

/// The feeds of a plan in its input order (the planner drops inputs nothing uses).
pub(crate) fn feeds_for<'a>(
    inputs: &[HostInput],
    values: &HostValues<'a>,
) -> Result<Vec<Feed<'a>>, TrainError> {
    inputs
        .iter()
        .map(|&input| {
            let feed = match input {
                HostInput::Rows => values.rows.map(Feed::U32),
                HostInput::Batch => values.batch.map(Feed::F32),
                HostInput::Targets => values.targets.map(Feed::F32),
                HostInput::Optimizer => values.optimizer.map(Feed::F32),
                HostInput::Rng => values.rng.map(Feed::U32),
            };
            feed.ok_or_else(|| config(format!("no value for the plan input {input:?}")))
        })
        .collect()
}

/// A prepared plan and its host inputs.
pub(crate) struct Prepared {
    pub id: PlanId,
    pub inputs: Vec<HostInput>,
    pub launches: usize,
    pub peak_bytes: u64,
    /// The value read back: a validation plan's [1, t] terms, a full-batch plan's
    /// objective.
    pub output: Option<ValueId>,
}

fn prepare(
    backend: &mut dyn Backend,
    g: &Graph,
    store: &ParamStore,
    output: Option<ValueId>,
) -> Result<Prepared, TrainError> {
    let plan = Plan::new(g, store)?;
    let inputs = plan
        .inputs
        .iter()
        .map(|(name, _, _)| HostInput::named(name))
        .collect::<Result<_, _>>()?;
    let id = backend.prepare(&plan)?;
    Ok(Prepared {
        id,
        inputs,
        launches: plan.launches.len(),
        peak_bytes: plan.peak_bytes,
        output,
    })
}

/// The terms of an objective as one [1, t] value (one concatenation per extra term).
fn concat_terms(g: &mut Graph, terms: &[ValueId]) -> Result<ValueId, GraphError> {
    let mut row = terms[0];
    for &t in &terms[1..] {
        row = g.push(Op::ConcatCols, &[row, t])?;
    }
    Ok(row)
}

/// What a training plan needs besides the task.
pub(crate) struct StepContext<'a> {
    pub feed: BatchFeed,
    pub target_width: Option<usize>,
    /// Optimiser state entries of each phase, one list per parameter.
    pub states: &'a [Vec<Vec<EntryId>>],
    pub accumulator: EntryId,
    pub layout: &'a TermLayout,
    pub full_batch: usize,
}

/// Phase `p`'s training step on `rows` rows: gather, objective, gradients of its
/// parameters, one fused update each, and its terms added to the accumulator (weighted
/// by `rows / full_batch`, so an epoch's sum × full / total rows is the mean per row).
pub(crate) fn train_plan(
    task: &dyn Task,
    backend: &mut dyn Backend,
    phases: &[Phase],
    p: usize,
    rows: usize,
    cx: &StepContext,
) -> Result<Prepared, TrainError> {
    let store = task.store();
    let phase = &phases[p];
    let mut g = Graph::new();
    let batch = batch_inputs(&mut g, task, cx.feed, Some(store), rows, cx.target_width)?;
    let hyper = g.input("optimizer", Shape::new(1, 4), DType::F32);
    g.set_label(phase.name.clone());
    let objective = task.objective(&mut g, p, &batch, Mode::Train)?;
    let params: Vec<ValueId> = phase.params.iter().map(|&e| g.entry(store, e)).collect();
    let grads = grad(&mut g, objective.total, &params)?;
    push_updates(
        &mut g,
        store,
        &params,
        grads,
        &cx.states[p],
        hyper,
        phase.optimizer,
        phase.clip_norm,
    )?;
    g.set_label(format!("{} terms", phase.name));
    let values: Vec<ValueId> = objective.terms.iter().map(|&(_, v)| v).collect();
    let mut row = concat_terms(&mut g, &values)?;
    if rows != cx.full_batch {
        row = g.push(Op::Scale(rows as f32 / cx.full_batch as f32), &[row])?;
    }
    let (start, len) = cx.layout.columns[p];
    if len != cx.layout.count() {
        row = g.push(
            Op::PadCols {
                start,
                total: cx.layout.count(),
            },
            &[row],
        )?;
    }
    let acc = g.entry(store, cx.accumulator);
    g.push(Op::Accumulate, &[acc, row])?;
    prepare(backend, &g, store, None)
}

/// Phase `p`'s objective on every training row for L-BFGS: its value as the output,
/// its gradient written into `gradients` (one entry per parameter of the phase) and
/// its terms into the accumulator (replacing what was there).
pub(crate) fn full_batch_plan(
    task: &dyn Task,
    backend: &mut dyn Backend,
    phases: &[Phase],
    p: usize,
    gradients: &[EntryId],
    cx: &StepContext,
) -> Result<Prepared, TrainError> {
    let store = task.store();
    let mut g = Graph::new();
    let batch = batch_inputs(
        &mut g,
        task,
        cx.feed,
        Some(store),
        cx.full_batch,
        cx.target_width,
    )?;
    g.set_label(phases[p].name.clone());
    let objective = task.objective(&mut g, p, &batch, Mode::Train)?;
    g.mark_output(objective.total);
    let params: Vec<ValueId> = phases[p]
        .params
        .iter()
        .map(|&e| g.entry(store, e))
        .collect();
    let grads = grad(&mut g, objective.total, &params)?;
    g.set_label("lbfgs gradient");
    let one = g.push(
        Op::Fill {
            value: 1.0,
            shape: Shape::SCALAR,
        },
        &[],
    )?;
    for (gr, &target) in grads.into_iter().zip(gradients) {
        let t = g.entry(store, target);
        g.push(Op::Axpy { accumulate: false }, &[t, gr, one])?;
    }
    g.set_label(format!("{} terms", phases[p].name));
    let values: Vec<ValueId> = objective.terms.iter().map(|&(_, v)| v).collect();
    let row = concat_terms(&mut g, &values)?;
    let acc = g.entry(store, cx.accumulator);
    g.push(Op::Axpy { accumulate: false }, &[acc, row, one])?;
    prepare(backend, &g, store, Some(objective.total))
}

/// Phase `p`'s state updates ([`Task::state_updates`]) on `rows` rows, when it has
/// any: a plan of its own, so that they read what the phase's updates wrote.
pub(crate) fn state_update_plan(
    task: &dyn Task,
    backend: &mut dyn Backend,
    phases: &[Phase],
    p: usize,
    rows: usize,
    cx: &StepContext,
) -> Result<Option<Prepared>, TrainError> {
    let store = task.store();
    let mut g = Graph::new();
    let batch = batch_inputs(&mut g, task, cx.feed, Some(store), rows, cx.target_width)?;
    let before = g.nodes.len();
    g.set_label(format!("{} state updates", phases[p].name));
    task.state_updates(&mut g, p, &batch)?;
    if !g.nodes[before..].iter().any(|n| n.op.is_effect()) {
        return Ok(None);
    }
    prepare(backend, &g, store, None).map(Some)
}

/// Phase `p`'s objective in [`Mode::Eval`] on `rows` host rows, its terms an output.
pub(crate) fn validation_plan(
    task: &dyn Task,
    backend: &mut dyn Backend,
    p: usize,
    rows: usize,
    target_width: Option<usize>,
) -> Result<Prepared, TrainError> {
    let store = task.store();
    let mut g = Graph::new();
    let batch = batch_inputs(&mut g, task, BatchFeed::Host, None, rows, target_width)?;
    let objective = task.objective(&mut g, p, &batch, Mode::Eval)?;
    let values: Vec<ValueId> = objective.terms.iter().map(|&(_, v)| v).collect();
    let row = concat_terms(&mut g, &values)?;
    g.mark_output(row);
    prepare(backend, &g, store, Some(row))
}
