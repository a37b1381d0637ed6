//! Inference over a whole dataset in fixed-size batches: evaluation (MSE and BCE per
//! element), codes and reconstructions. One plan per batch size, prepared once per
//! call; the model's parameters must already be on the backend (after [`super::fit`],
//! or after `backend.upload_store(&model.store)`).

use serde::Serialize;

use crate::backend::{Backend, Feed, PlanId};
use crate::data::Dataset;
use crate::graph::{DType, Graph, Plan, Shape, ValueId};
use crate::models::{Autoencoder, DenseAutoencoder};
use crate::ops::random::{draw, gaussian, rng_feed, Noise, Streams, INPUT_NOISE};
use crate::ops::{Activation, Axis, Loss, Op, Reduce, ReduceKind};
use crate::train::objective::{exact_jacobian_fro2_sum, Regularization};
use crate::train::TrainError;

/// Rows per inference batch: big enough to keep sgemm busy, small enough for any GPU.
const INFERENCE_BATCH: usize = 1000;
/// At most this many values in one row-wide activation of an inference batch (64 MiB
/// of f32): a convolutional model's feature maps are many times its input.
const INFERENCE_VALUES: usize = 1 << 24;

/// Reconstruction quality averaged over every element of the data.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct EvalReport {
    /// Mean squared error per element.
    pub mse: f32,
    /// Binary cross-entropy per element (computed from logits when the output is a
    /// sigmoid; otherwise from the clamped reconstruction).
    pub bce: f32,
    pub rows: usize,
}

/// What [`run_rows`] returns for each row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowOutput {
    Code,
    Reconstruction,
}

/// Appends the graph of one batch to `g`, given its input, and returns its outputs.
type BuildBatch<'a> = dyn Fn(&mut Graph, ValueId) -> Result<Vec<ValueId>, TrainError> + 'a;

struct InferencePlan {
    id: PlanId,
    outputs: Vec<ValueId>,
}

pub(crate) fn check_width(model: &dyn Autoencoder, data: &Dataset) -> Result<(), TrainError> {
    let expected = model.input_width();
    if data.cols != expected {
        return Err(TrainError::Width {
            expected,
            got: data.cols,
        });
    }
    Ok(())
}

/// Runs `build` for each batch size the data needs (a full size and the remainder)
/// and calls `consume` with every batch's outputs.
fn for_each_batch(
    model: &dyn Autoencoder,
    backend: &mut dyn Backend,
    data: &Dataset,
    build: &BuildBatch,
    consume: &mut dyn FnMut(usize, usize, Vec<Vec<f32>>),
) -> Result<(), TrainError> {
    check_width(model, data)?;
    let widest = model.widest_row();
    for_each_batch_of(model.store(), widest, backend, data, build, consume)
}

/// [`for_each_batch`] for any model: its parameter store and the widest row of any
/// of its values (which bounds the batch); the data's width is the caller's to check.
pub(crate) fn for_each_batch_of(
    store: &crate::graph::ParamStore,
    widest_row: usize,
    backend: &mut dyn Backend,
    data: &Dataset,
    build: &BuildBatch,
    consume: &mut dyn FnMut(usize, usize, Vec<Vec<f32>>),
) -> Result<(), TrainError> {
    let batch = inference_batch(widest_row, data.rows);
    let mut plans: Vec<(usize, InferencePlan)> = vec![];
    for start in (0..data.rows).step_by(batch) {
        let rows = batch.min(data.rows - start);
        if !plans.iter().any(|(r, _)| *r == rows) {
            let mut g = Graph::new();
            g.set_label("input");
            let x = g.input("x", Shape::new(rows, data.cols), DType::F32);
            let outputs = build(&mut g, x)?;
            for &o in &outputs {
                g.mark_output(o);
            }
            let id = backend.prepare(&Plan::new(&g, store)?)?;
            plans.push((rows, InferencePlan { id, outputs }));
        }
        let plan = &plans
            .iter()
            .find(|(r, _)| *r == rows)
            .expect("planned above")
            .1;
        let x = &data.values[start * data.cols..(start + rows) * data.cols];
        backend.run(plan.id, &[Feed::F32(x)])?;
        let mut outs = vec![];
        for &o in &plan.outputs {
            outs.push(backend.read_output(plan.id, o)?);
        }
        consume(start, rows, outs);
    }
    for (_, plan) in plans {
        backend.release(plan.id);
    }
    Ok(())
}

/// Rows per inference batch over `rows` rows of a model whose widest value has
/// `widest_row` values per row.
pub(crate) fn inference_batch(widest_row: usize, rows: usize) -> usize {
    INFERENCE_BATCH
        .min(INFERENCE_VALUES / widest_row.max(1))
        .clamp(1, rows.max(1))
}

/// Test-set figures: MSE and BCE per element over all of `data`.
pub fn evaluate(
    model: &dyn Autoencoder,
    backend: &mut dyn Backend,
    data: &Dataset,
) -> Result<EvalReport, TrainError> {
    let sigmoid_output = model.output_activation() == Activation::Sigmoid;
    let build = |g: &mut Graph, x: ValueId| -> Result<Vec<ValueId>, TrainError> {
        let (logits, recon) = model.reconstruct_logits(g, x)?;
        g.set_label("evaluation");
        let mse = g.push(Op::Loss(Loss::Mse), &[recon, x])?;
        if sigmoid_output {
            let bce = g.push(Op::Loss(Loss::BceWithLogits), &[logits, x])?;
            Ok(vec![mse, bce])
        } else {
            Ok(vec![mse, recon])
        }
    };
    let (mut mse, mut bce) = (0.0f64, 0.0f64);
    for_each_batch(model, backend, data, &build, &mut |start, rows, outs| {
        let weight = rows as f64 / data.rows as f64;
        mse += outs[0][0] as f64 * weight;
        bce += weight
            * if sigmoid_output {
                outs[1][0] as f64
            } else {
                bce_from_probabilities(
                    &outs[1],
                    &data.values[start * data.cols..(start + rows) * data.cols],
                )
            };
    })?;
    Ok(EvalReport {
        mse: mse as f32,
        bce: bce as f32,
        rows: data.rows,
    })
}

/// Mean BCE of probabilities clamped to [1e-7, 1 − 1e-7], for non-sigmoid outputs:
/// −[t ln p + (1 − t) ln(1 − p)].
fn bce_from_probabilities(p: &[f32], t: &[f32]) -> f64 {
    let sum: f64 = p
        .iter()
        .zip(t)
        .map(|(&p, &t)| {
            let p = (p as f64).clamp(1e-7, 1.0 - 1e-7);
            let t = t as f64;
            -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())
        })
        .sum();
    sum / p.len().max(1) as f64
}

/// What the codes of a dataset look like (`aegpu eval --json`).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct CodeReport {
    /// Mean activation over every row and code unit.
    pub mean_code_activation: f32,
    /// Mean over rows of ‖J_f(x)‖²_F, the squared Frobenius norm of the encoder's
    /// Jacobian.
    pub jacobian_fro2: f32,
    /// "exact" (one-layer closed form) or "finite differences".
    pub jacobian_method: &'static str,
}

/// The mean code activation and the mean squared Frobenius norm of the encoder
/// Jacobian over `data`: exact for a one-layer encoder with a sigmoid, tanh, relu or
/// linear code (the contractive penalty's fused kernel), otherwise estimated by
/// central differences along `directions` random Gaussian directions (Hutchinson:
/// E‖Jv‖² = ‖J‖²_F) with step 1e-3.
pub fn code_report(
    model: &DenseAutoencoder,
    backend: &mut dyn Backend,
    data: &Dataset,
    directions: usize,
    seed: u64,
) -> Result<CodeReport, TrainError> {
    let exact = Regularization::contractive_is_exact(&model.config);
    let build = |g: &mut Graph, x: ValueId| -> Result<Vec<ValueId>, TrainError> {
        let code = model.encode(g, x)?;
        g.set_label("code statistics");
        let mean = g.push(
            Op::Reduce(Reduce {
                kind: ReduceKind::Mean,
                axis: Axis::All,
            }),
            &[code],
        )?;
        if !exact {
            return Ok(vec![mean]);
        }
        Ok(vec![mean, exact_jacobian_fro2_sum(model, g, code)?])
    };
    let (mut mean, mut fro2) = (0.0f64, 0.0f64);
    for_each_batch(model, backend, data, &build, &mut |_, rows, outs| {
        mean += outs[0][0] as f64 * rows as f64 / data.rows as f64;
        if exact {
            fro2 += outs[1][0] as f64 / data.rows as f64;
        }
    })?;
    if !exact {
        fro2 = jacobian_fro2_finite_differences(model, backend, data, directions, 1e-3, seed)?;
    }
    Ok(CodeReport {
        mean_code_activation: mean as f32,
        jacobian_fro2: fro2 as f32,
        jacobian_method: if exact { "exact" } else { "finite differences" },
    })
}

/// Mean over rows of ‖J_f(x)‖²_F by central differences along `directions` random
/// Gaussian directions v: (1/K) Σ_k ‖(f(x + εv_k) − f(x − εv_k)) / 2ε‖². Any encoder.
pub fn jacobian_fro2_finite_differences(
    model: &DenseAutoencoder,
    backend: &mut dyn Backend,
    data: &Dataset,
    directions: usize,
    eps: f32,
    seed: u64,
) -> Result<f64, TrainError> {
    let mut total = 0.0f64;
    for k in 0..directions.max(1) {
        // Direction k: Philox Gaussians of step k of the seed's stream.
        let key = rng_feed(seed, k as u64);
        let v: Vec<f32> = (0..data.values.len() as u32)
            .map(|i| {
                let w = draw(key, 0, i);
                gaussian(w[0], w[1])
            })
            .collect();
        let mut shifted = |sign: f32| -> Result<Vec<f32>, TrainError> {
            let values = data
                .values
                .iter()
                .zip(&v)
                .map(|(&x, &v)| x + sign * eps * v)
                .collect();
            let moved = Dataset::new(data.rows, data.cols, values)
                .map_err(|e| TrainError::Config(e.to_string()))?;
            run_rows(model, backend, &moved, RowOutput::Code)
        };
        let (plus, minus) = (shifted(1.0)?, shifted(-1.0)?);
        total += plus
            .iter()
            .zip(&minus)
            .map(|(&p, &m)| ((p - m) as f64 / (2.0 * eps as f64)).powi(2))
            .sum::<f64>();
    }
    Ok(total / (directions.max(1) * data.rows) as f64)
}

/// `data` corrupted by `noise` (the kernels training uses), batch b of 1000 rows
/// drawing from step b of the random stream of `seed`: the same corruption on every
/// backend, bit for bit for masks.
pub fn corrupt(
    backend: &mut dyn Backend,
    data: &Dataset,
    noise: Noise,
    seed: u64,
) -> Result<Dataset, TrainError> {
    noise.validate().map_err(TrainError::Config)?;
    let batch = INFERENCE_BATCH.min(data.rows.max(1));
    let mut plans: Vec<(usize, PlanId, ValueId)> = vec![];
    let store = crate::graph::ParamStore::new();
    let mut out = Vec::with_capacity(data.values.len());
    for (b, start) in (0..data.rows).step_by(batch).enumerate() {
        let rows = batch.min(data.rows - start);
        if !plans.iter().any(|(r, _, _)| *r == rows) {
            let mut g = Graph::new();
            g.set_label("corruption");
            let x = g.input("x", Shape::new(rows, data.cols), DType::F32);
            let key = g.input("rng", Shape::new(1, 4), DType::U32);
            // Training's input corruption stream, as every objective allocates it.
            let stream = Streams::new()
                .allocate(INPUT_NOISE)
                .map_err(crate::graph::GraphError::from)?;
            let y = g.push(Op::Noise { noise, stream }, &[x, key])?;
            g.mark_output(y);
            let id = backend.prepare(&Plan::new(&g, &store)?)?;
            plans.push((rows, id, y));
        }
        let &(_, id, y) = plans
            .iter()
            .find(|(r, _, _)| *r == rows)
            .expect("planned above");
        let x = &data.values[start * data.cols..(start + rows) * data.cols];
        backend.run(id, &[Feed::F32(x), Feed::U32(&rng_feed(seed, b as u64))])?;
        out.extend(backend.read_output(id, y)?);
    }
    for (_, id, _) in plans {
        backend.release(id);
    }
    let mut corrupted =
        Dataset::new(data.rows, data.cols, out).map_err(|e| TrainError::Config(e.to_string()))?;
    corrupted.labels = data.labels.clone();
    Ok(corrupted)
}

/// Codes or reconstructions of every row, row-major.
pub fn run_rows(
    model: &dyn Autoencoder,
    backend: &mut dyn Backend,
    data: &Dataset,
    what: RowOutput,
) -> Result<Vec<f32>, TrainError> {
    let build = |g: &mut Graph, x: ValueId| -> Result<Vec<ValueId>, TrainError> {
        Ok(vec![match what {
            RowOutput::Code => model.encode(g, x)?,
            RowOutput::Reconstruction => model.reconstruct(g, x)?,
        }])
    };
    let mut out = vec![];
    for_each_batch(model, backend, data, &build, &mut |_, _, mut outs| {
        out.append(&mut outs[0])
    })?;
    Ok(out)
}

/// The dense decoder on every row of `codes` (codes back to reconstructions, what
/// scikit-learn calls `inverse_transform`); the parameters must be on `backend`.
pub fn decode_rows(
    model: &DenseAutoencoder,
    backend: &mut dyn Backend,
    codes: &Dataset,
) -> Result<Vec<f32>, TrainError> {
    let expected = model.config.code_width();
    if codes.cols != expected {
        return Err(TrainError::Width {
            expected,
            got: codes.cols,
        });
    }
    let build = |g: &mut Graph, code: ValueId| -> Result<Vec<ValueId>, TrainError> {
        Ok(vec![model.decode(g, code)?])
    };
    let mut out = vec![];
    for_each_batch_of(
        model.store(),
        model.widest_row(),
        backend,
        codes,
        &build,
        &mut |_, _, mut outs| out.append(&mut outs[0]),
    )?;
    Ok(out)
}
