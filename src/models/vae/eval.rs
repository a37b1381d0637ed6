//! What a trained VAE is worth: the ELBO and its terms, the negative log-likelihood by
//! importance sampling, and the count of active latent units.
//!
//! **IWAE bound** (Burda, Grosse & Salakhutdinov 2016). With k draws z_i ~ q(z|x):
//!
//! ```text
//! log p(x) ≥ L_k = log (1/k) Σ_i w_i,   log w_i = log p(x|z_i) + log p(z_i) − log q(z_i|x)
//! log p(z) − log q(z|x) = ½ Σ_u (logvar_u + ε_u² − z_u²)      (z = μ + σ ε; the ln 2π cancel)
//! ```
//!
//! L_1 is the ELBO (in expectation) and L_k rises to log p(x) as k grows, so −L_k is an
//! upper bound on the NLL that the papers report with k = 5,000 (Burda) or 200 × 5
//! (pythae). The log-weights of every row come back from the device one draw at a
//! time and are summed on the host by a streaming log-sum-exp in f64 (running maximum
//! m and Σ exp(log w − m)), so no exp overflows and k costs no memory.
//!
//! **Active units** (Burda et al. 2016, §5.3): unit u is active when
//! Cov_x(E_q[z_u|x]) = Var_x(μ_u(x)) > 0.01.

use serde::Serialize;

use crate::backend::{Backend, Feed};
use crate::data::Dataset;
use crate::graph::{DType, Graph, GraphError, Plan, Shape, ValueId};
use crate::models::vae::task::one_hot_labels;
use crate::models::vae::{Vae, EPSILON_STREAM};
use crate::ops::random::{draw, rng_feed, Noise, Streams};
use crate::ops::{Axis, BinaryOp, Op, Reduce, ReduceKind};
use crate::train::TrainError;

/// Cov_x(E_q[z_u|x]) above this counts unit u as active (Burda et al. 2016).
pub const ACTIVE_UNIT_THRESHOLD: f64 = 0.01;

/// Rows per evaluation batch.
const BATCH: usize = 1000;

/// A VAE's figures on some data, per example (nats).
#[derive(Clone, Debug, Serialize)]
pub struct VaeEvaluation {
    pub rows: usize,
    /// Importance samples per row.
    pub samples: usize,
    /// −L_k: the IWAE bound on the negative log-likelihood with `samples` draws.
    pub nll: f64,
    /// The ELBO, E_q[log p(x|z)] − KL, its expectation estimated over the draws.
    pub elbo: f64,
    /// −E_q[log p(x|z)].
    pub reconstruction: f64,
    /// KL(q(z|x) ‖ N(0, I)), in closed form.
    pub kl: f64,
    /// Latent units whose mean code varies over the data by more than the threshold.
    pub active_units: usize,
    /// Var_x(μ_u) of every latent unit.
    pub unit_variances: Vec<f64>,
}

/// The running log-sum-exp of one row's log-weights.
#[derive(Clone, Copy)]
struct LogSumExp {
    max: f64,
    sum: f64,
}

impl LogSumExp {
    const EMPTY: LogSumExp = LogSumExp {
        max: f64::NEG_INFINITY,
        sum: 0.0,
    };

    fn add(&mut self, v: f64) {
        if v > self.max {
            self.sum = self.sum * (self.max - v).exp() + 1.0;
            self.max = v;
        } else {
            self.sum += (v - self.max).exp();
        }
    }

    fn value(self) -> f64 {
        self.max + self.sum.ln()
    }
}

/// log (1/k) Σ exp(values), computed stably (what [`evaluate_vae`] does per row).
pub fn log_mean_exp(values: &[f64]) -> f64 {
    let mut acc = LogSumExp::EMPTY;
    for &v in values {
        acc.add(v);
    }
    acc.value() - (values.len() as f64).ln()
}

/// `data` with every value x replaced by a Bernoulli(x) draw (1 when u < x), u the
/// Philox uniforms of step 0 of `seed`, stream 0 — what `Noise::Binarize` draws on
/// either backend. A fixed-seed binarised test set for the NLL.
pub fn binarized(data: &Dataset, seed: u64) -> Result<Dataset, TrainError> {
    if data.values.len() > u32::MAX as usize {
        return Err(TrainError::Config(format!(
            "{} values are too many to binarise with one key",
            data.values.len()
        )));
    }
    let key = rng_feed(seed, 0);
    let values = data
        .values
        .iter()
        .enumerate()
        .map(|(i, &x)| Noise::Binarize.apply(x, draw(key, 0, i as u32)))
        .collect();
    let mut out = Dataset::new(data.rows, data.cols, values)
        .map_err(|e| TrainError::Config(e.to_string()))?;
    out.labels = data.labels.clone();
    out.byte_scaled = true;
    Ok(out)
}

/// The outputs of the evaluation graph of one batch.
struct EvalValues {
    log_weight: ValueId,
    log_likelihood: ValueId,
    kl: ValueId,
    mu: ValueId,
}

/// Appends, for input `x` (labels `y`) and key `rng`: one draw z = μ + σ ε, its log
/// weight, log p(x|z), the closed-form KL and μ, per row.
fn eval_graph(
    model: &Vae,
    g: &mut Graph,
    x: ValueId,
    y: Option<ValueId>,
    rng: ValueId,
) -> Result<EvalValues, GraphError> {
    let (mu, log_var) = model.encode_gaussian(g, x, y)?;
    let stream = Streams::new().allocate(EPSILON_STREAM)?;
    let (z, eps) = Vae::draw_latent(g, mu, log_var, rng, stream)?;
    let output = model.decode_output(g, z, y)?;
    let log_likelihood = model.log_likelihood_rows(g, output, x)?;
    g.set_label("importance weight");
    let z2 = g.push(Op::Binary(BinaryOp::Mul), &[z, z])?;
    let e2 = g.push(Op::Binary(BinaryOp::Mul), &[eps, eps])?;
    let lv_e2 = g.push(Op::Binary(BinaryOp::Add), &[log_var, e2])?;
    let diff = g.push(Op::Binary(BinaryOp::Sub), &[lv_e2, z2])?;
    let rows = g.push(
        Op::Reduce(Reduce {
            kind: ReduceKind::Sum,
            axis: Axis::Cols,
        }),
        &[diff],
    )?;
    let prior_ratio = g.push(Op::Scale(0.5), &[rows])?;
    let log_weight = g.push(Op::Binary(BinaryOp::Add), &[log_likelihood, prior_ratio])?;
    let kl = Vae::kl_rows(g, mu, log_var)?;
    Ok(EvalValues {
        log_weight,
        log_likelihood,
        kl,
        mu,
    })
}

/// The ELBO, its terms, the IWAE bound with `samples` draws per row and the active
/// units of `model` on `data` (labels read from it for a conditional VAE). Draw s of
/// batch b uses step b·samples + s of `seed`'s key, so the figures are reproducible on
/// either backend. Uploads the model's parameters first.
pub fn evaluate_vae(
    model: &Vae,
    backend: &mut dyn Backend,
    data: &Dataset,
    samples: usize,
    seed: u64,
) -> Result<VaeEvaluation, TrainError> {
    if samples == 0 {
        return Err(TrainError::Config(
            "the NLL needs at least 1 importance sample".into(),
        ));
    }
    let (d, latent) = (model.config.input, model.config.latent);
    if data.cols != d {
        return Err(TrainError::Width {
            expected: d,
            got: data.cols,
        });
    }
    let labels = match model.config.is_conditional() {
        true => Some(one_hot_labels(data, model.config.classes)?),
        false => None,
    };
    backend.upload_store(&model.store)?;
    let batch = BATCH.min(data.rows.max(1));
    let mut plans: Vec<(usize, crate::backend::PlanId, EvalValues)> = vec![];
    let (mut log_likelihood, mut kl) = (0.0f64, 0.0f64);
    let mut nll = 0.0f64;
    let (mut mu_sum, mut mu_sq) = (vec![0.0f64; latent], vec![0.0f64; latent]);
    for (b, start) in (0..data.rows).step_by(batch).enumerate() {
        let rows = batch.min(data.rows - start);
        if !plans.iter().any(|(r, _, _)| *r == rows) {
            let mut g = Graph::new();
            g.set_label("input");
            let x = g.input("x", Shape::new(rows, d), DType::F32);
            let y = labels
                .as_ref()
                .map(|l| g.input("labels", Shape::new(rows, l.cols), DType::F32));
            let rng = g.input("rng", Shape::new(1, 4), DType::U32);
            let v = eval_graph(model, &mut g, x, y, rng)?;
            for o in [v.log_weight, v.log_likelihood, v.kl, v.mu] {
                g.mark_output(o);
            }
            let id = backend.prepare(&Plan::new(&g, &model.store)?)?;
            plans.push((rows, id, v));
        }
        let (_, id, v) = plans
            .iter()
            .find(|(r, _, _)| *r == rows)
            .expect("planned above");
        let x = &data.values[start * d..(start + rows) * d];
        let y = labels
            .as_ref()
            .map(|l| &l.values[start * l.cols..(start + rows) * l.cols]);
        let mut acc = vec![LogSumExp::EMPTY; rows];
        for s in 0..samples {
            let key = rng_feed(seed, (b * samples + s) as u64);
            let mut feeds = vec![Feed::F32(x)];
            feeds.extend(y.map(Feed::F32));
            feeds.push(Feed::U32(&key));
            backend.run(*id, &feeds)?;
            let w = backend.read_output(*id, v.log_weight)?;
            for (a, &w) in acc.iter_mut().zip(&w) {
                a.add(w as f64);
            }
            let ll = backend.read_output(*id, v.log_likelihood)?;
            log_likelihood += ll.iter().map(|&v| v as f64).sum::<f64>();
            if s == 0 {
                let k = backend.read_output(*id, v.kl)?;
                kl += k.iter().map(|&v| v as f64).sum::<f64>();
                let mu = backend.read_output(*id, v.mu)?;
                for row in mu.chunks_exact(latent) {
                    for (u, &m) in row.iter().enumerate() {
                        mu_sum[u] += m as f64;
                        mu_sq[u] += (m as f64) * (m as f64);
                    }
                }
            }
        }
        let ln_k = (samples as f64).ln();
        nll -= acc.iter().map(|a| a.value() - ln_k).sum::<f64>();
    }
    for (_, id, _) in plans {
        backend.release(id);
    }
    let n = data.rows as f64;
    let unit_variances: Vec<f64> = mu_sum
        .iter()
        .zip(&mu_sq)
        .map(|(&s, &q)| (q / n - (s / n) * (s / n)).max(0.0))
        .collect();
    let reconstruction = -log_likelihood / (n * samples as f64);
    let kl = kl / n;
    Ok(VaeEvaluation {
        rows: data.rows,
        samples,
        nll: nll / n,
        elbo: -(reconstruction + kl),
        reconstruction,
        kl,
        active_units: active_units(&unit_variances),
        unit_variances,
    })
}

/// The units whose variance (of the mean code over the data) exceeds
/// [`ACTIVE_UNIT_THRESHOLD`].
pub fn active_units(unit_variances: &[f64]) -> usize {
    unit_variances
        .iter()
        .filter(|&&v| v > ACTIVE_UNIT_THRESHOLD)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_mean_exp_is_stable_and_exact() {
        let direct = |v: &[f64]| (v.iter().map(|x| x.exp()).sum::<f64>() / v.len() as f64).ln();
        let v = [-3.0, -1.0, -2.5, 0.5];
        assert!((log_mean_exp(&v) - direct(&v)).abs() < 1e-12);
        // Log-weights of a 784-pixel image are around −100 to −500: exp underflows
        // to 0 in f64 below about −745, the streaming form does not.
        let far = [-1000.0, -1001.0, -1002.0];
        let shifted: Vec<f64> = far.iter().map(|x| x + 1000.0).collect();
        assert!((log_mean_exp(&far) - (direct(&shifted) - 1000.0)).abs() < 1e-12);
        assert!(direct(&far).is_infinite());
        assert_eq!(log_mean_exp(&[-7.25]), -7.25);
    }

    #[test]
    fn active_units_count_variances_above_the_threshold() {
        assert_eq!(active_units(&[0.0, 0.009, 0.011, 1.0]), 2);
    }
}
