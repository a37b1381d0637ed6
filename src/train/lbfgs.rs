//! L-BFGS for full-batch problems (Nocedal 1980; Liu & Nocedal 1989), in the form
//! of PyTorch's `torch.optim.LBFGS` with `line_search_fn="strong_wolfe"`, as a step
//! method of the one trainer ([`crate::train::RunSettings::lbfgs`]): an epoch is one
//! iteration over all the training rows, so validation, early stopping, the metrics
//! log, checkpoints, resume and interruption work as they do for minibatch runs.
//!
//! The parameters, the gradient, the search direction and the history pairs
//! (s_k = x_{k+1} − x_k, y_k = g_{k+1} − g_k) all live on the backend as store entries
//! of the parameters' shapes (`{param}.lbfgs.{set}`, saved in checkpoints); the host
//! keeps only scalars ([`LbfgsState`], saved beside them). Every vector operation is a
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

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Feed, PlanId};
use crate::graph::{EntryId, EntryKind, Graph, ParamStore, Plan, Shape, ValueId};
use crate::ops::elementwise::sum_all;
use crate::ops::{Axis, BinaryOp, Op, Reduce, ReduceKind};
use crate::train::line_search::{strong_wolfe, WolfeParams};
use crate::train::TrainError;

/// The settings of L-BFGS; its first trial step is the phase's learning rate and its
/// iterations are the run's epochs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LbfgsConfig {
    /// History pairs kept (PyTorch's `history_size`).
    pub history: usize,
    /// Stop after this many loss-and-gradient evaluations in all (PyTorch's
    /// `max_eval`; none: only the line search's own limit of 25 per iteration).
    pub max_evaluations: Option<usize>,
    /// Stop when ‖g‖ falls below this.
    pub tolerance_grad: f32,
    /// Stop when the loss or the step changes less than this.
    pub tolerance_change: f32,
}

impl Default for LbfgsConfig {
    fn default() -> Self {
        LbfgsConfig {
            history: 10,
            max_evaluations: None,
            tolerance_grad: 1e-7,
            tolerance_change: 1e-9,
        }
    }
}

/// The host half of L-BFGS's state (the vectors are store entries), saved in
/// checkpoints so that a resumed run continues bit for bit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LbfgsState {
    /// The history pairs' slots and ρ = 1 / yᵀs, oldest first.
    pub pairs: Vec<(usize, f64)>,
    /// The slot the next pair takes while the history is not full.
    pub next_slot: usize,
    /// The step length of the last iteration (its pair is s = t·d).
    pub last_step: f64,
    /// The scale of the initial inverse Hessian, sᵀy / yᵀy of the newest pair.
    pub gamma: f64,
    /// The objective at the current point, and the gradient set holds its gradient
    /// (none before the first evaluation).
    pub loss: Option<f64>,
    pub iterations: usize,
    pub evaluations: usize,
    /// Why the method stopped, once it has (the gradient or the change fell below
    /// its tolerance, or the evaluation budget ran out).
    pub converged: Option<String>,
}

/// What a full-batch run reports besides its epochs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LbfgsReport {
    pub iterations: usize,
    pub evaluations: usize,
    /// The full-batch objective at every evaluation made by this call, in order.
    pub losses: Vec<f32>,
    pub converged: Option<String>,
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
    /// Σ over tensors of aᵀb.
    fn dot(
        &mut self,
        backend: &mut dyn Backend,
        store: &ParamStore,
        a: usize,
        b: usize,
    ) -> Result<f64, TrainError> {
        let key = (a.min(b), a.max(b));
        if !self.dots.contains_key(&key) {
            let mut g = Graph::new();
            g.set_label("lbfgs dot");
            let mut sums = vec![];
            for (&ea, &eb) in self.sets[a].iter().zip(&self.sets[b]) {
                let (va, vb) = (g.entry(store, ea), g.entry(store, eb));
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
            let id = backend.prepare(&Plan::new(&g, store)?)?;
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
        store: &ParamStore,
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
                let (vy, vx) = (g.entry(store, ey), g.entry(store, ex));
                g.push(Op::Axpy { accumulate }, &[vy, vx, coefficient])?;
            }
            let id = backend.prepare(&Plan::new(&g, store)?)?;
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

/// Evaluates the objective at the parameters as they are on the backend, writing its
/// gradient into [`Lbfgs::gradient_entries`]; returns its value.
pub(crate) type Evaluate<'a> = dyn FnMut(&mut dyn Backend) -> Result<f64, TrainError> + 'a;

/// L-BFGS over one set of parameters, one [`Lbfgs::iterate`] per epoch.
pub(crate) struct Lbfgs {
    cfg: LbfgsConfig,
    v: Vectors,
    pub state: LbfgsState,
    /// The objective at every evaluation of this call.
    pub losses: Vec<f32>,
}

impl Lbfgs {
    /// Adds the gradient, direction and history sets for `params` to `store` (zeros;
    /// a checkpoint restores them by name).
    pub fn new(store: &mut ParamStore, params: &[EntryId], cfg: &LbfgsConfig) -> Self {
        let mut sets = vec![params.to_vec()];
        let set_names: Vec<String> = ["grad", "direction", "grad_old"]
            .into_iter()
            .map(String::from)
            .chain((0..cfg.history).map(|i| format!("s{i}")))
            .chain((0..cfg.history).map(|i| format!("y{i}")))
            .collect();
        for set in &set_names {
            let ids = params
                .iter()
                .map(|&p| {
                    let (name, shape) = (store.get(p).name.clone(), store.get(p).shape);
                    store.put_zeros(&format!("{name}.lbfgs.{set}"), shape, EntryKind::State)
                })
                .collect();
            sets.push(ids);
        }
        Lbfgs {
            cfg: cfg.clone(),
            v: Vectors {
                sets,
                dots: HashMap::new(),
                axpys: HashMap::new(),
            },
            state: LbfgsState {
                gamma: 1.0,
                ..LbfgsState::default()
            },
            losses: vec![],
        }
    }

    /// Where the objective's plan writes its gradient, one entry per parameter.
    pub fn gradient_entries(&self) -> &[EntryId] {
        &self.v.sets[G]
    }

    fn s_set(&self, i: usize) -> usize {
        FIRST_PAIR + i
    }

    fn y_set(&self, i: usize) -> usize {
        FIRST_PAIR + self.cfg.history + i
    }

    fn budget_left(&self) -> usize {
        self.cfg
            .max_evaluations
            .map_or(usize::MAX, |m| m.saturating_sub(self.state.evaluations))
    }

    fn evaluate(
        &mut self,
        backend: &mut dyn Backend,
        evaluate: &mut Evaluate,
    ) -> Result<f64, TrainError> {
        let f = evaluate(backend)?;
        self.state.evaluations += 1;
        self.losses.push(f as f32);
        Ok(f)
    }

    /// One iteration from the current point: a direction from the history, a
    /// strong-Wolfe search along it with first trial step `lr` (the first iteration's
    /// scaled to min(1, 1/‖g‖)·lr), and the new point. Returns whether it moved; when
    /// it did not, or when the move was below the tolerances, `state.converged` says
    /// why and later calls return `false` at once.
    pub fn iterate(
        &mut self,
        backend: &mut dyn Backend,
        store: &ParamStore,
        lr: f64,
        evaluate: &mut Evaluate,
    ) -> Result<bool, TrainError> {
        if self.state.converged.is_some() {
            return Ok(false);
        }
        let f = match self.state.loss {
            Some(f) => f,
            None => {
                let f = self.evaluate(backend, evaluate)?;
                self.state.loss = Some(f);
                f
            }
        };
        let tol_change = self.cfg.tolerance_change as f64;
        let grad_norm = self.v.dot(backend, store, G, G)?.sqrt();
        if grad_norm <= self.cfg.tolerance_grad as f64 {
            return Ok(self.stop(format!(
                "the gradient's norm {grad_norm:.3e} is below the tolerance"
            )));
        }
        if self.budget_left() == 0 {
            return Ok(self.stop("the evaluation budget is spent".into()));
        }
        self.state.iterations += 1;
        if self.state.iterations > 1 {
            self.push_pair(backend, store)?;
        }
        self.direction(backend, store)?;
        let gtd = self.v.dot(backend, store, G, D)?;
        if gtd > -tol_change {
            return Ok(self.stop("the direction is no longer one of descent".into()));
        }
        let d_norm = self.v.dot(backend, store, D, D)?.sqrt();
        let first = if self.state.iterations == 1 {
            (1.0f64).min(1.0 / grad_norm) * lr
        } else {
            lr
        };
        // φ(t) = f(x0 + t·d): the parameters move by the difference to the last trial.
        let at = std::cell::Cell::new(0.0f64);
        let max_evaluations = WolfeParams::default()
            .max_evaluations
            .min(self.budget_left().max(1));
        let mut phi = |trial: f64| -> Result<(f64, f64), TrainError> {
            self.v.axpy(backend, store, X, trial - at.get(), D, true)?;
            at.set(trial);
            let value = self.evaluate(backend, evaluate)?;
            Ok((value, self.v.dot(backend, store, G, D)?))
        };
        let step = strong_wolfe(
            &mut phi,
            f,
            gtd,
            first,
            d_norm,
            WolfeParams {
                tolerance_change: tol_change,
                max_evaluations,
                ..WolfeParams::default()
            },
        )?;
        if at.get() != step.t {
            // The search ended on an earlier trial: go back there, and evaluate so the
            // gradient set matches the parameters.
            phi(step.t)?;
        }
        self.state.last_step = step.t;
        self.state.loss = Some(step.f);
        if (f - step.f).abs() < tol_change || step.t * d_norm <= tol_change {
            self.state.converged =
                Some("the loss or the step changed less than the tolerance".into());
        }
        Ok(true)
    }

    fn stop(&mut self, why: String) -> bool {
        self.state.converged = Some(why);
        false
    }

    /// Records the last step's pair s = t·d, y = g − g_old (skipped when yᵀs ≤ 1e-10).
    fn push_pair(
        &mut self,
        backend: &mut dyn Backend,
        store: &ParamStore,
    ) -> Result<(), TrainError> {
        let st = &mut self.state;
        let slot = if st.pairs.len() == self.cfg.history {
            st.pairs.remove(0).0
        } else {
            st.next_slot += 1;
            st.next_slot - 1
        };
        let (s, y, t) = (self.s_set(slot), self.y_set(slot), self.state.last_step);
        self.v.axpy(backend, store, s, t, D, false)?;
        self.v.axpy(backend, store, y, 1.0, G, false)?;
        self.v.axpy(backend, store, y, -1.0, G_OLD, true)?;
        let ys = self.v.dot(backend, store, y, s)?;
        if ys > 1e-10 {
            self.state.pairs.push((slot, 1.0 / ys));
            self.state.gamma = ys / self.v.dot(backend, store, y, y)?;
        } else if self.state.pairs.len() < self.cfg.history {
            self.state.next_slot -= 1;
        }
        Ok(())
    }

    /// The two-loop recursion into the direction set (as q, then r); keeps the
    /// gradient in `G_OLD` for the next pair.
    fn direction(
        &mut self,
        backend: &mut dyn Backend,
        store: &ParamStore,
    ) -> Result<(), TrainError> {
        let pairs = self.state.pairs.clone();
        self.v.axpy(backend, store, D, -1.0, G, false)?;
        let mut alphas = vec![0.0; pairs.len()];
        for (k, &(slot, rho)) in pairs.iter().enumerate().rev() {
            alphas[k] = rho * self.v.dot(backend, store, self.s_set(slot), D)?;
            self.v
                .axpy(backend, store, D, -alphas[k], self.y_set(slot), true)?;
        }
        if !pairs.is_empty() {
            // r = γ q, through a scratch set (an entry is never both read and written
            // by one launch).
            self.v
                .axpy(backend, store, G_OLD, self.state.gamma, D, false)?;
            self.v.axpy(backend, store, D, 1.0, G_OLD, false)?;
        }
        for (k, &(slot, rho)) in pairs.iter().enumerate() {
            let beta = rho * self.v.dot(backend, store, self.y_set(slot), D)?;
            self.v
                .axpy(backend, store, D, alphas[k] - beta, self.s_set(slot), true)?;
        }
        self.v.axpy(backend, store, G_OLD, 1.0, G, false)?;
        Ok(())
    }

    pub fn release(&self, backend: &mut dyn Backend) {
        self.v.release(backend);
    }
}
