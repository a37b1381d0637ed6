//! L-BFGS for full-batch problems (Nocedal 1980; Liu & Nocedal 1989), in the form
//! of PyTorch's `torch.optim.LBFGS` with `line_search_fn="strong_wolfe"`.
//!
//! The parameters, the gradient, the search direction and the history pairs
//! (s_k = x_{k+1} − x_k, y_k = g_{k+1} − g_k) all live on the backend as store entries
//! of the parameters' shapes; the host only sees scalars. Every vector operation is a
//! small plan prepared once: a dot product (one read-back) or an in-place
//! `y ← a·x (+ y)` ([`Op::Axpy`]). The direction is the two-loop recursion
//!
//! ```text
//! q = −g
//! for i = newest … oldest:  α_i = ρ_i s_iᵀq;  q −= α_i y_i          (ρ_i = 1 / y_iᵀs_i)
//! r = γ q,  γ = s_kᵀy_k / y_kᵀy_k
//! for i = oldest … newest:  β = ρ_i y_iᵀr;   r += (α_i − β) s_i
//! d = r
//! ```
//!
//! and the step along it comes from the strong-Wolfe search (`line_search.rs`). A pair
//! with y_kᵀs_k ≤ 1e-10 is skipped, which keeps the implicit inverse Hessian positive
//! definite. Differences from PyTorch: norms are Euclidean (PyTorch takes max-abs and
//! the 1-norm for its tolerances and first step).

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Feed, PlanId};
use crate::data::Dataset;
use crate::graph::{grad, EntryData, EntryId, EntryKind, Graph, Plan, Shape, ValueId};
use crate::models::Autoencoder;
use crate::ops::elementwise::sum_all;
use crate::ops::random::rng_feed;
use crate::ops::{Axis, BinaryOp, Loss, Op, Reduce, ReduceKind};
use crate::train::line_search::{strong_wolfe, WolfeParams};
use crate::train::objective::Regularization;
use crate::train::TrainError;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LbfgsConfig {
    /// Iterations: each picks a direction and searches along it.
    pub iterations: usize,
    /// Loss-and-gradient evaluations in all (PyTorch's `max_eval`).
    pub max_evaluations: usize,
    /// History pairs kept (PyTorch's `history_size`).
    pub history: usize,
    /// The first trial step of every line search (the first iteration's is scaled
    /// down to min(1, 1/‖g‖)·lr).
    pub lr: f32,
    /// Stop when ‖g‖ falls below this.
    pub tolerance_grad: f32,
    /// Stop when the loss or the step changes less than this.
    pub tolerance_change: f32,
    pub loss: Loss,
    /// Only deterministic regularisers: no noise, no dropout.
    pub regularization: Regularization,
}

impl Default for LbfgsConfig {
    fn default() -> Self {
        LbfgsConfig {
            iterations: 100,
            max_evaluations: 125,
            history: 10,
            lr: 1.0,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
            loss: Loss::Mse,
            regularization: Regularization::default(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct LbfgsReport {
    /// The full-batch objective at every evaluation, in order (the first is at the
    /// starting point).
    pub losses: Vec<f32>,
    /// The objective after each iteration.
    pub iteration_losses: Vec<f32>,
    pub iterations: usize,
    pub evaluations: usize,
    pub seconds: f64,
    /// Read-backs per evaluation: the loss, the directional derivative, and the
    /// two-loop recursion's dot products amortised over the line search.
    pub readbacks_per_evaluation: f64,
}

/// Vector sets: each is one entry per parameter tensor.
const X: usize = 0;
const G: usize = 1;
const D: usize = 2;
const G_OLD: usize = 3;
const FIRST_PAIR: usize = 4;

/// Host-driven vector algebra over sets of entries, one cached plan per operation.
struct Vectors {
    sets: Vec<Vec<EntryId>>,
    dots: HashMap<(usize, usize), (PlanId, ValueId)>,
    axpys: HashMap<(usize, usize, bool), PlanId>,
}

impl Vectors {
    fn plan(
        backend: &mut dyn Backend,
        model: &dyn Autoencoder,
        g: &Graph,
    ) -> Result<PlanId, TrainError> {
        Ok(backend.prepare(&Plan::new(g, model.store())?)?)
    }

    /// Σ over tensors of aᵀb.
    fn dot(
        &mut self,
        backend: &mut dyn Backend,
        model: &dyn Autoencoder,
        a: usize,
        b: usize,
    ) -> Result<f64, TrainError> {
        let key = (a.min(b), a.max(b));
        if !self.dots.contains_key(&key) {
            let mut g = Graph::new();
            g.set_label("lbfgs dot");
            let mut sums = vec![];
            for (&ea, &eb) in self.sets[a].iter().zip(&self.sets[b]) {
                let (va, vb) = (g.entry(model.store(), ea), g.entry(model.store(), eb));
                let product = g.push(Op::Binary(BinaryOp::Mul), &[va, vb])?;
                sums.push(g.push(
                    Op::Reduce(Reduce {
                        kind: ReduceKind::Sum,
                        axis: Axis::All,
                    }),
                    &[product],
                )?);
            }
            let total = sum_all(&mut g, &sums)?
                .ok_or_else(|| TrainError::Config("no parameters".into()))?;
            g.mark_output(total);
            let id = Self::plan(backend, model, &g)?;
            self.dots.insert(key, (id, total));
        }
        let (id, out) = self.dots[&key];
        backend.run(id, &[])?;
        Ok(backend.read_output(id, out)?[0] as f64)
    }

    /// y ← a·x, or y ← y + a·x when `accumulate`.
    fn axpy(
        &mut self,
        backend: &mut dyn Backend,
        model: &dyn Autoencoder,
        y: usize,
        a: f64,
        x: usize,
        accumulate: bool,
    ) -> Result<(), TrainError> {
        let key = (y, x, accumulate);
        if !self.axpys.contains_key(&key) {
            let mut g = Graph::new();
            g.set_label("lbfgs axpy");
            let coefficient = g.input("a", Shape::SCALAR, crate::graph::DType::F32);
            for (&ey, &ex) in self.sets[y].iter().zip(&self.sets[x]) {
                let (vy, vx) = (g.entry(model.store(), ey), g.entry(model.store(), ex));
                g.push(Op::Axpy { accumulate }, &[vy, vx, coefficient])?;
            }
            let id = Self::plan(backend, model, &g)?;
            self.axpys.insert(key, id);
        }
        backend.run(self.axpys[&key], &[Feed::F32(&[a as f32])])?;
        Ok(())
    }

    fn release(&self, backend: &mut dyn Backend) {
        for &(id, _) in self.dots.values() {
            backend.release(id);
        }
        for &id in self.axpys.values() {
            backend.release(id);
        }
    }
}

/// Minimises the full-batch objective of `model` on all of `train` with L-BFGS;
/// `on_iteration(iteration, loss)` after each iteration. Weights end up in
/// `model.store`.
pub fn fit_lbfgs(
    model: &mut dyn Autoencoder,
    backend: &mut dyn Backend,
    train: &Dataset,
    cfg: &LbfgsConfig,
    on_iteration: &mut dyn FnMut(usize, f32),
) -> Result<LbfgsReport, TrainError> {
    cfg.check_ranges()?;
    if train.cols != model.input_width() {
        return Err(TrainError::Width {
            expected: model.input_width(),
            got: train.cols,
        });
    }
    model
        .validate_regularization(&cfg.regularization)
        .map_err(TrainError::Config)?;
    if cfg.regularization.is_stochastic() {
        return Err(TrainError::Config(
            "L-BFGS needs a deterministic objective: no input noise and no dropout".into(),
        ));
    }
    if cfg.history == 0 || cfg.iterations == 0 || cfg.max_evaluations == 0 {
        return Err(TrainError::Config(
            "L-BFGS needs history, iterations and evaluations of at least 1".into(),
        ));
    }
    let start = Instant::now();
    let readbacks_before = backend.stats().readbacks;
    let params = model.parameters();
    // The data and every vector set join the model's store.
    let data_shape = Shape::new(train.rows, train.cols);
    let data = model.store_mut().put(
        "lbfgs.data",
        data_shape,
        EntryKind::Data,
        EntryData::F32(train.values.clone()),
    );
    let mut sets = vec![params.clone()];
    let set_names: Vec<String> = ["grad", "direction", "grad_old"]
        .into_iter()
        .map(String::from)
        .chain((0..cfg.history).map(|i| format!("s{i}")))
        .chain((0..cfg.history).map(|i| format!("y{i}")))
        .collect();
    for set in &set_names {
        let mut ids = vec![];
        for &p in &params {
            let (name, shape) = (
                model.store().get(p).name.clone(),
                model.store().get(p).shape,
            );
            ids.push(model.store_mut().put_zeros(
                &format!("{name}.lbfgs.{set}"),
                shape,
                EntryKind::State,
            ));
        }
        sets.push(ids);
    }
    backend.upload_store(model.store())?;
    let s_set = |i: usize| FIRST_PAIR + i;
    let y_set = |i: usize| FIRST_PAIR + cfg.history + i;

    // The objective and its gradient, written into the gradient set.
    let mut g = Graph::new();
    g.set_label("input");
    let x = g.entry(model.store(), data);
    // A deep contractive penalty draws its directions once: a fixed key keeps the
    // objective deterministic, as a line search needs.
    let rng = model
        .uses_rng(&cfg.regularization)
        .then(|| g.input("rng", Shape::new(1, 4), crate::graph::DType::U32));
    let objective = model.objective(&mut g, x, cfg.loss, &cfg.regularization, rng)?;
    g.mark_output(objective.total);
    let param_values: Vec<_> = params.iter().map(|&p| g.entry(model.store(), p)).collect();
    let grads = grad(&mut g, objective.total, &param_values)?;
    g.set_label("lbfgs gradient");
    let one = g.push(
        Op::Fill {
            value: 1.0,
            shape: Shape::SCALAR,
        },
        &[],
    )?;
    for (gr, &target) in grads.into_iter().zip(&sets[G]) {
        let t = g.entry(model.store(), target);
        g.push(Op::Axpy { accumulate: false }, &[t, gr, one])?;
    }
    let eval_plan = backend.prepare(&Plan::new(&g, model.store())?)?;
    let total = objective.total;

    let mut v = Vectors {
        sets,
        dots: HashMap::new(),
        axpys: HashMap::new(),
    };
    let mut losses = vec![];
    let key = rng_feed(0, 0);
    let feeds: Vec<Feed> = rng.iter().map(|_| Feed::U32(&key)).collect();
    let evaluate = |backend: &mut dyn Backend, losses: &mut Vec<f32>| {
        backend.run(eval_plan, &feeds)?;
        let f = backend.read_output(eval_plan, total)?[0];
        losses.push(f);
        Ok::<f64, TrainError>(f as f64)
    };

    let mut f = evaluate(backend, &mut losses)?;
    let mut iteration_losses = vec![];
    let mut history: VecDeque<(usize, f64)> = VecDeque::new(); // (slot, ρ), oldest first
    let mut next_slot = 0;
    let (mut t, mut iterations) = (0.0f64, 0);
    let params_wolfe = WolfeParams {
        tolerance_change: cfg.tolerance_change as f64,
        ..WolfeParams::default()
    };
    let mut gamma = 1.0;
    while iterations < cfg.iterations && losses.len() < cfg.max_evaluations {
        let grad_norm = v.dot(backend, &*model, G, G)?.sqrt();
        if !f.is_finite() {
            return Err(TrainError::Diverged(crate::train::Divergence {
                value: f as f32,
                epoch: 1,
                first_step: iterations as u64,
                last_step: iterations as u64,
                last_good_checkpoint: None,
            }));
        }
        if grad_norm <= cfg.tolerance_grad as f64 {
            break;
        }
        iterations += 1;
        if iterations > 1 {
            // The pair of the last step: s = t·d, y = g − g_old.
            let slot = if history.len() == cfg.history {
                history.pop_front().map(|(s, _)| s).unwrap_or(0)
            } else {
                let s = next_slot;
                next_slot += 1;
                s
            };
            v.axpy(backend, &*model, s_set(slot), t, D, false)?;
            v.axpy(backend, &*model, y_set(slot), 1.0, G, false)?;
            v.axpy(backend, &*model, y_set(slot), -1.0, G_OLD, true)?;
            let ys = v.dot(backend, &*model, y_set(slot), s_set(slot))?;
            if ys > 1e-10 {
                history.push_back((slot, 1.0 / ys));
                gamma = ys / v.dot(backend, &*model, y_set(slot), y_set(slot))?;
            } else if history.len() < cfg.history {
                next_slot -= 1;
            }
        }
        // The two-loop recursion, with the direction set as q and then r.
        v.axpy(backend, &*model, D, -1.0, G, false)?;
        let mut alphas = vec![0.0; history.len()];
        for (k, &(slot, rho)) in history.iter().enumerate().rev() {
            alphas[k] = rho * v.dot(backend, &*model, s_set(slot), D)?;
            v.axpy(backend, &*model, D, -alphas[k], y_set(slot), true)?;
        }
        if !history.is_empty() {
            // r = γ q, through a scratch set (an entry is never both read and written
            // by one launch).
            v.axpy(backend, &*model, G_OLD, gamma, D, false)?;
            v.axpy(backend, &*model, D, 1.0, G_OLD, false)?;
        }
        for (k, &(slot, rho)) in history.iter().enumerate() {
            let beta = rho * v.dot(backend, &*model, y_set(slot), D)?;
            v.axpy(backend, &*model, D, alphas[k] - beta, s_set(slot), true)?;
        }
        v.axpy(backend, &*model, G_OLD, 1.0, G, false)?;
        let gtd = v.dot(backend, &*model, G, D)?;
        if gtd > -(cfg.tolerance_change as f64) {
            break;
        }
        let d_norm = v.dot(backend, &*model, D, D)?.sqrt();
        let first = if iterations == 1 {
            (1.0f64).min(1.0 / grad_norm) * cfg.lr as f64
        } else {
            cfg.lr as f64
        };
        // φ(t) = f(x0 + t·d): the parameters move by the difference to the last trial.
        let at = std::cell::Cell::new(0.0f64);
        let budget = cfg.max_evaluations - losses.len();
        let mut phi = |trial: f64| -> Result<(f64, f64), TrainError> {
            v.axpy(backend, &*model, X, trial - at.get(), D, true)?;
            at.set(trial);
            let value = evaluate(backend, &mut losses)?;
            Ok((value, v.dot(backend, &*model, G, D)?))
        };
        let step = strong_wolfe(
            &mut phi,
            f,
            gtd,
            first,
            d_norm,
            WolfeParams {
                max_evaluations: params_wolfe.max_evaluations.min(budget.max(1)),
                ..params_wolfe
            },
        )?;
        if at.get() != step.t {
            // The search ended on an earlier trial: go back there, and evaluate so the
            // gradient set matches the parameters.
            phi(step.t)?;
        }
        t = step.t;
        let change = (f - step.f).abs();
        f = step.f;
        iteration_losses.push(f as f32);
        on_iteration(iterations, f as f32);
        if change < cfg.tolerance_change as f64 || t * d_norm <= cfg.tolerance_change as f64 {
            break;
        }
    }
    crate::backend::download_entries(backend, model.store_mut(), |e| {
        e.kind == EntryKind::Parameter
    })?;
    backend.release(eval_plan);
    v.release(backend);
    let evaluations = losses.len();
    let readbacks = backend.stats().readbacks - readbacks_before;
    Ok(LbfgsReport {
        losses,
        iteration_losses,
        iterations,
        evaluations,
        seconds: start.elapsed().as_secs_f64(),
        readbacks_per_evaluation: readbacks as f64 / evaluations.max(1) as f64,
    })
}
