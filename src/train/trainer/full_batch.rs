//! The full-batch step method: an epoch is one L-BFGS iteration ([`crate::train::lbfgs`])
//! over every training row, whose objective and gradient come from one prepared plan.

use crate::backend::Backend;
use crate::data::Dataset;
use crate::graph::ParamStore;
use crate::train::lbfgs::{Lbfgs, LbfgsConfig};
use crate::train::trainer::plans::{self, feeds_for, BatchFeed, HostValues, Prepared, StepContext};
use crate::train::trainer::task::{Phase, Task};
use crate::train::TrainError;

/// Refuses what L-BFGS cannot train: several phases (one objective is minimised),
/// running statistics (every evaluation would move them), schedules and clipping
/// (the line search chooses the step).
pub(crate) fn check(
    task: &dyn Task,
    phases: &[Phase],
    cfg: &LbfgsConfig,
) -> Result<(), TrainError> {
    cfg.check_ranges()?;
    let refuse = |why: &str| Err(TrainError::Config(format!("L-BFGS {why}")));
    if phases.len() != 1 {
        return refuse(&format!(
            "minimises one objective, and this model's step has {} phases",
            phases.len()
        ));
    }
    if !task.buffers().is_empty() {
        return refuse(
            "evaluates the objective many times an iteration, which would move batch \
             norm's running statistics: train this model with a minibatch optimiser",
        );
    }
    let phase = &phases[0];
    if phase.schedule != crate::train::Schedule::Constant
        || phase.warmup_steps > 0
        || phase.clip_norm.is_some()
    {
        return refuse(
            "chooses its steps by line search: it takes no schedule, warm-up or clipping",
        );
    }
    if !(phase.lr > 0.0 && phase.lr.is_finite()) {
        return refuse(&format!("needs a first trial step > 0, got {}", phase.lr));
    }
    Ok(())
}

/// L-BFGS and the plan of its objective.
pub(crate) struct FullBatch {
    pub lbfgs: Lbfgs,
    plan: Prepared,
    /// Every row, in order (the plan gathers them from the resident data).
    rows: Vec<u32>,
}

impl FullBatch {
    /// Prepares the objective's plan; `lbfgs` was made (and, on resume, restored)
    /// before. Refuses a task whose phase has state updates.
    pub fn prepare(
        lbfgs: Lbfgs,
        task: &dyn Task,
        backend: &mut dyn Backend,
        phases: &[Phase],
        cx: &StepContext,
    ) -> Result<FullBatch, TrainError> {
        if let Some(updates) =
            plans::state_update_plan(task, backend, phases, 0, cx.full_batch, cx)?
        {
            backend.release(updates.id);
            return Err(TrainError::Config(format!(
                "L-BFGS cannot run phase `{}`: it ends with state updates, which need \
                 minibatch steps",
                phases[0].name
            )));
        }
        let plan = plans::full_batch_plan(task, backend, phases, 0, lbfgs.gradient_entries(), cx)?;
        Ok(FullBatch {
            lbfgs,
            plan,
            rows: (0..cx.full_batch as u32).collect(),
        })
    }

    /// One iteration with first trial step `lr`; returns the terms at the new point
    /// (read from the accumulator), or `None` when L-BFGS has stopped without moving.
    /// A non-finite objective at any evaluation is `diverged(value)`.
    #[allow(clippy::too_many_arguments)]
    pub fn epoch(
        &mut self,
        backend: &mut dyn Backend,
        store: &ParamStore,
        data: &Dataset,
        feed: BatchFeed,
        accumulator: crate::graph::EntryId,
        lr: f64,
        rng: Option<&[u32]>,
        diverged: &dyn Fn(f32) -> TrainError,
    ) -> Result<Option<Vec<f32>>, TrainError> {
        let (plan, rows) = (&self.plan, &self.rows);
        let values = HostValues {
            rows: Some(rows),
            batch: (feed == BatchFeed::Host).then_some(&data.values[..]),
            rng,
            ..HostValues::default()
        };
        let feeds = feeds_for(&plan.inputs, &values)?;
        let total = plan.output.expect("full-batch plan");
        let mut evaluate = |backend: &mut dyn Backend| -> Result<f64, TrainError> {
            backend.run(plan.id, &feeds)?;
            let f = backend.read_output(plan.id, total)?[0];
            if !f.is_finite() {
                return Err(diverged(f));
            }
            Ok(f as f64)
        };
        if !self.lbfgs.iterate(backend, store, lr, &mut evaluate)? {
            return Ok(None);
        }
        Ok(Some(backend.read_entry(accumulator)?))
    }

    pub fn release(self, backend: &mut dyn Backend) {
        backend.release(self.plan.id);
        self.lbfgs.release(backend);
    }
}
