//! Data-parallel training, one worker's half: compute the gradient of a batch, hand it
//! out, and apply a gradient handed in. Whatever averages the gradients of N workers
//! (Ray's object store, a collective) sits outside; every worker applies the same
//! average with the same optimiser state, so their weights stay identical.
//!
//! With N workers on equal shards of b rows, the average of their gradients is the
//! gradient of the objective's mean over the N·b rows (the objectives here are means
//! over a batch), so N steps of [`DataParallel`] equal N steps of [`super::fit`] on
//! the summed batch up to the order of f32 summation.
//!
//! The plans are the trainer's: [`plans::full_batch_plan`] (objective, gradients
//! written into one entry per parameter, terms into the accumulator) for the gradient,
//! and [`push_updates`] (the fused optimiser updates) reading those entries for the
//! update.

use crate::backend::{Backend, PlanId};
use crate::graph::{DType, EntryId, EntryKind, Graph, Plan, Shape, ValueId};
use crate::models::Autoencoder;
use crate::ops::random::rng_feed;
use crate::train::schedule::{LearningRate, Schedule};
use crate::train::trainer::plans::{
    self, feeds_for, BatchFeed, HostValues, Prepared, StepContext, TermLayout,
};
use crate::train::trainer::{put_phase_states, Phase, Task};
use crate::train::{push_updates, AutoencoderTask, TrainConfig, TrainError};

/// The gradient of one batch's objective, one vector per parameter (in
/// [`DataParallel::parameter_names`] order), and the objective's terms on the batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Gradients {
    pub values: Vec<Vec<f32>>,
    pub terms: Vec<(String, f32)>,
}

/// One data-parallel worker: a model, its backend, its optimiser state and the
/// prepared plans of a gradient and of an update.
pub struct DataParallel {
    model: Box<dyn Autoencoder>,
    backend: Box<dyn Backend>,
    cfg: TrainConfig,
    phase: Phase,
    gradients: Vec<EntryId>,
    accumulator: EntryId,
    states: Vec<Vec<Vec<EntryId>>>,
    layout: TermLayout,
    /// Gradient plans by batch rows.
    gradient_plans: Vec<(usize, Prepared)>,
    update_plan: PlanId,
    lr: LearningRate,
    step: u64,
}

/// Runs `f` on the training task of `model` (the kind's own, or one phase on its
/// objective).
fn with_task<R>(
    model: &mut dyn Autoencoder,
    cfg: &TrainConfig,
    f: impl FnOnce(&mut dyn Task) -> R,
) -> R {
    if model.training_task(cfg).is_some() {
        let mut task = model.training_task(cfg).expect("the kind has its own task");
        f(task.as_mut())
    } else {
        f(&mut AutoencoderTask { model, cfg })
    }
}

fn config(detail: impl Into<String>) -> TrainError {
    TrainError::Config(detail.into())
}

impl DataParallel {
    /// A worker training `model` on `backend` with `cfg`'s optimiser, learning rate,
    /// warm-up, clipping, loss and regularisers (the batch size is the caller's, the
    /// schedule may be constant or cosine over `total_steps`). Every worker of a job
    /// must start from the same weights and settings.
    pub fn new(
        mut model: Box<dyn Autoencoder>,
        mut backend: Box<dyn Backend>,
        cfg: TrainConfig,
        total_steps: u64,
    ) -> Result<Self, TrainError> {
        cfg.check_ranges()?;
        model
            .validate_regularization(&cfg.regularization)
            .map_err(TrainError::Config)?;
        if cfg.lbfgs.is_some() {
            return Err(config(
                "data-parallel training runs minibatch steps, not L-BFGS",
            ));
        }
        if cfg.early_stop.is_some() {
            return Err(config(
                "data-parallel training has no validation data to stop early on",
            ));
        }
        if matches!(
            cfg.schedule,
            Schedule::Step { .. } | Schedule::Plateau { .. }
        ) {
            return Err(config(
                "data-parallel training counts steps, not epochs: use a constant or cosine schedule",
            ));
        }
        let phases = with_task(model.as_mut(), &cfg, |task| task.phases());
        let [phase] = &phases[..] else {
            return Err(config(format!(
                "data-parallel training takes kinds whose step is one phase; a {} step has {}",
                model.kind(),
                phases.len()
            )));
        };
        let phase = phase.clone();
        let store = model.store_mut();
        let gradients: Vec<EntryId> = phase
            .params
            .iter()
            .map(|&p| {
                let (name, shape) = (store.get(p).name.clone(), store.get(p).shape);
                store.put_zeros(&format!("{name}.gradient"), shape, EntryKind::State)
            })
            .collect();
        let states = put_phase_states(store, std::slice::from_ref(&phase));
        let layout = with_task(model.as_mut(), &cfg, |task| {
            TermLayout::discover(task, std::slice::from_ref(&phase), 1, None)
        })?;
        let accumulator = model.store_mut().put_zeros(
            "train.terms",
            Shape::new(1, layout.count()),
            EntryKind::State,
        );
        backend.upload_store(model.store())?;

        let mut g = Graph::new();
        let store = model.store();
        let hyper = g.input("optimizer", Shape::new(1, 4), DType::F32);
        let params: Vec<ValueId> = phase.params.iter().map(|&e| g.entry(store, e)).collect();
        let grads: Vec<ValueId> = gradients.iter().map(|&e| g.entry(store, e)).collect();
        push_updates(
            &mut g,
            store,
            &params,
            grads,
            &states[0],
            hyper,
            phase.optimizer,
            phase.clip_norm,
        )?;
        let plan = Plan::new(&g, store)?;
        if plan.inputs.len() != 1 {
            return Err(config("the update plan takes the optimiser's feed alone"));
        }
        let update_plan = backend.prepare(&plan)?;
        let lr = LearningRate::new(phase.lr, phase.schedule, phase.warmup_steps, total_steps);
        Ok(DataParallel {
            model,
            backend,
            cfg,
            phase,
            gradients,
            accumulator,
            states,
            layout,
            gradient_plans: vec![],
            update_plan,
            lr,
            step: 0,
        })
    }

    /// The parameters' store names (`encoder.0.weight`, …), in gradient order.
    pub fn parameter_names(&self) -> Vec<String> {
        let store = self.model.store();
        self.phase
            .params
            .iter()
            .map(|&p| store.get(p).name.clone())
            .collect()
    }

    /// Updates applied so far.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The gradient of the objective (its mean over the batch) on `rows` rows of
    /// `batch` (row-major) at the current weights. Random objectives (noise, dropout)
    /// draw the key of the next step, as the trainer does.
    pub fn gradients(&mut self, batch: &[f32], rows: usize) -> Result<Gradients, TrainError> {
        let width = self.model.input_width();
        if rows == 0 || batch.len() != rows * width {
            return Err(config(format!(
                "a batch of {rows} rows of {width} values needs {} values, got {}",
                rows * width,
                batch.len()
            )));
        }
        if let Some(bad) = batch.iter().position(|v| !v.is_finite()) {
            return Err(config(format!(
                "batch value {} (row {}, column {}) is not finite",
                batch[bad],
                bad / width,
                bad % width
            )));
        }
        let at = match self.gradient_plans.iter().position(|(r, _)| *r == rows) {
            Some(i) => i,
            None => {
                let DataParallel {
                    model,
                    backend,
                    cfg,
                    phase,
                    gradients,
                    accumulator,
                    states,
                    layout,
                    ..
                } = self;
                let context = StepContext {
                    feed: BatchFeed::Host,
                    target_width: None,
                    states,
                    accumulator: *accumulator,
                    layout,
                    full_batch: rows,
                };
                let phases = std::slice::from_ref(&*phase);
                let plan = with_task(model.as_mut(), cfg, |task| {
                    if plans::state_update_plan(task, backend.as_mut(), phases, 0, rows, &context)?
                        .is_some()
                    {
                        return Err(config(
                            "data-parallel training does not keep state updates (running \
                             statistics, codebook averages) in step across workers",
                        ));
                    }
                    plans::full_batch_plan(task, backend.as_mut(), phases, 0, gradients, &context)
                })?;
                self.gradient_plans.push((rows, plan));
                self.gradient_plans.len() - 1
            }
        };
        let plan = &self.gradient_plans[at].1;
        let key = rng_feed(self.cfg.seed, self.step + 1);
        let values = HostValues {
            batch: Some(batch),
            rng: Some(&key[..]),
            ..HostValues::default()
        };
        let feeds = feeds_for(&plan.inputs, &values)?;
        self.backend.run(plan.id, &feeds)?;
        let values = self
            .gradients
            .iter()
            .map(|&g| self.backend.read_entry(g))
            .collect::<Result<Vec<_>, _>>()?;
        let sums = self.backend.read_entry(self.accumulator)?;
        let terms = self.layout.names.iter().cloned().zip(sums).collect();
        Ok(Gradients { values, terms })
    }

    /// One optimiser step with `gradient` (one vector per parameter, e.g. the average
    /// of every worker's [`DataParallel::gradients`]).
    pub fn apply(&mut self, gradient: &[Vec<f32>]) -> Result<(), TrainError> {
        if gradient.len() != self.gradients.len() {
            return Err(config(format!(
                "the model has {} parameters, the gradient has {} tensors",
                self.gradients.len(),
                gradient.len()
            )));
        }
        for ((&entry, values), name) in self
            .gradients
            .iter()
            .zip(gradient)
            .zip(self.parameter_names())
        {
            let expected = self.model.store().get(entry).shape.len();
            if values.len() != expected {
                return Err(config(format!(
                    "the gradient of `{name}` needs {expected} values, got {}",
                    values.len()
                )));
            }
            if values.iter().any(|v| !v.is_finite()) {
                return Err(config(format!("the gradient of `{name}` is not finite")));
            }
        }
        for (&entry, values) in self.gradients.iter().zip(gradient) {
            self.model.store_mut().set_values(entry, values.clone());
            self.backend.upload_entry(self.model.store(), entry)?;
        }
        self.step += 1;
        let rate = self.lr.at(self.step, 1);
        let hyper =
            self.phase
                .optimizer
                .hyper(rate, self.step, self.phase.clip_norm.unwrap_or(0.0));
        let values = HostValues {
            optimizer: Some(&hyper),
            ..HostValues::default()
        };
        // The update plan's only host input is the optimiser's [1, 4] feed.
        let inputs = [plans::HostInput::Optimizer];
        let feeds = feeds_for(&inputs, &values)?;
        self.backend.run(self.update_plan, &feeds)?;
        Ok(())
    }

    /// The current weights, one vector per parameter (in gradient order).
    pub fn parameters(&mut self) -> Result<Vec<Vec<f32>>, TrainError> {
        Ok(self
            .phase
            .params
            .iter()
            .map(|&p| self.backend.read_entry(p))
            .collect::<Result<Vec<_>, _>>()?)
    }

    /// The model with the trained weights (its store back from the backend).
    pub fn into_model(mut self) -> Result<Box<dyn Autoencoder>, TrainError> {
        crate::backend::download_entries(self.backend.as_mut(), self.model.store_mut(), |e| {
            e.kind == EntryKind::Parameter
        })?;
        for (_, plan) in &self.gradient_plans {
            self.backend.release(plan.id);
        }
        self.backend.release(self.update_plan);
        Ok(self.model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::cpu::CpuBackend;
    use crate::data::Dataset;
    use crate::models::{DenseAutoencoder, DenseConfig};
    use crate::ops::Optimizer;
    use crate::train::fit;

    fn rows(n: usize, width: usize, seed: u32) -> Vec<f32> {
        (0..n * width)
            .map(|i| {
                ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 1000.0
            })
            .collect()
    }

    /// Two workers on two shards of 16 rows, gradients averaged, against `fit` with one
    /// batch of all 32 rows (one step per epoch): the same weights up to f32 summation
    /// order. Both workers end bit-identical to each other.
    fn two_workers_match_fit(optimizer: Optimizer, lr: f32, clip_norm: Option<f32>, tol: f32) {
        let (width, shard, steps) = (12, 16, 8);
        let data = rows(2 * shard, width, 7);
        let config = DenseConfig::new(&[width, 8, 3]);
        let cfg = TrainConfig {
            epochs: steps,
            batch: 2 * shard,
            lr,
            optimizer,
            clip_norm,
            ..TrainConfig::default()
        };
        let mut workers: Vec<DataParallel> = (0..2)
            .map(|_| {
                let model = DenseAutoencoder::new(config.clone(), 3).unwrap();
                DataParallel::new(
                    Box::new(model),
                    Box::new(CpuBackend::<f32>::new()),
                    cfg.clone(),
                    steps as u64,
                )
                .unwrap()
            })
            .collect();
        for _ in 0..steps {
            let grads: Vec<Gradients> = workers
                .iter_mut()
                .enumerate()
                .map(|(w, worker)| {
                    worker
                        .gradients(&data[w * shard * width..(w + 1) * shard * width], shard)
                        .unwrap()
                })
                .collect();
            let mean: Vec<Vec<f32>> = (0..grads[0].values.len())
                .map(|t| {
                    grads[0].values[t]
                        .iter()
                        .zip(&grads[1].values[t])
                        .map(|(a, b)| (a + b) / 2.0)
                        .collect()
                })
                .collect();
            for worker in &mut workers {
                worker.apply(&mean).unwrap();
            }
        }
        let a = workers[0].parameters().unwrap();
        let b = workers[1].parameters().unwrap();
        assert_eq!(a, b, "workers drifted apart");

        let mut single = DenseAutoencoder::new(config, 3).unwrap();
        let dataset = Dataset::new(2 * shard, width, data).unwrap();
        let mut backend = CpuBackend::<f32>::new();
        fit(&mut single, &mut backend, &dataset, None, &cfg, &mut |_| {}).unwrap();
        let start = DenseAutoencoder::new(single.config.clone(), 3).unwrap();
        let (mut worst, mut moved) = (0.0f32, 0.0f32);
        for (name, got) in workers[0].parameter_names().iter().zip(&a) {
            let id = single.store.find(name).unwrap();
            let pairs = got.iter().zip(single.store.values(id));
            for ((x, y), x0) in pairs.zip(start.store.values(id)) {
                worst = worst.max((x - y).abs());
                moved = moved.max((x - x0).abs());
            }
        }
        eprintln!("{optimizer:?}: largest difference {worst:e}, largest move {moved:e}");
        assert!(
            moved > 100.0 * tol,
            "training moved the weights by {moved:e} only"
        );
        assert!(
            worst <= tol,
            "largest weight difference {worst:e} over {tol:e}"
        );
    }

    // SGD with momentum: the difference is the gradient's summation order times the
    // learning rate, ~1e-8 per step on weights of order 0.5; 1e-6 after 8 steps.
    #[test]
    fn two_workers_equal_one_process_sgd_momentum() {
        let sgd = Optimizer::Sgd {
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.0,
        };
        two_workers_match_fit(sgd, 0.1, None, 1e-6);
    }

    // Adam divides by √v̂: an update is ~lr whatever the gradient's size, so a
    // summation-order difference in a near-zero gradient moves a weight by up to a
    // fraction of lr; 1e-5 with lr 1e-3 after 8 steps, with the global-norm clip on.
    #[test]
    fn two_workers_equal_one_process_adam_clipped() {
        two_workers_match_fit(Optimizer::adam(), 1e-3, Some(0.5), 1e-5);
    }

    #[test]
    fn wrong_gradients_are_refused() {
        let model = DenseAutoencoder::new(DenseConfig::new(&[4, 2]), 0).unwrap();
        let mut worker = DataParallel::new(
            Box::new(model),
            Box::new(CpuBackend::<f32>::new()),
            TrainConfig::default(),
            1,
        )
        .unwrap();
        let e = worker.apply(&[vec![0.0; 3]]).unwrap_err().to_string();
        assert_eq!(e, "the model has 4 parameters, the gradient has 1 tensors");
        let e = worker.gradients(&[0.0; 7], 2).unwrap_err().to_string();
        assert_eq!(e, "a batch of 2 rows of 4 values needs 8 values, got 7");
        let e = worker
            .gradients(&[f32::NAN, 0.0, 0.0, 0.0], 1)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "batch value NaN (row 0, column 0) is not finite");
        assert_eq!(worker.step(), 0);
    }
}
