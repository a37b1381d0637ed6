//! Inference over a whole dataset in fixed-size batches: evaluation (MSE and BCE per
//! element), codes and reconstructions. One plan per batch size, prepared once per
//! call; the model's parameters must already be on the backend (after [`super::fit`],
//! or after `backend.upload_store(&model.store)`).

use serde::Serialize;

use crate::backend::{Backend, Feed, PlanId};
use crate::data::Dataset;
use crate::graph::{DType, Graph, Plan, Shape, ValueId};
use crate::models::DenseAutoencoder;
use crate::ops::{Activation, Loss, Op};
use crate::train::TrainError;

/// Rows per inference batch: big enough to keep sgemm busy, small enough for any GPU.
const INFERENCE_BATCH: usize = 1000;

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

fn check_width(model: &DenseAutoencoder, data: &Dataset) -> Result<(), TrainError> {
    let expected = model.config.input_width();
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
    model: &DenseAutoencoder,
    backend: &mut dyn Backend,
    data: &Dataset,
    build: &BuildBatch,
    consume: &mut dyn FnMut(usize, usize, Vec<Vec<f32>>),
) -> Result<(), TrainError> {
    check_width(model, data)?;
    let batch = INFERENCE_BATCH.min(data.rows.max(1));
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
            let id = backend.prepare(&Plan::new(&g, &model.store)?)?;
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

/// Test-set figures: MSE and BCE per element over all of `data`.
pub fn evaluate(
    model: &DenseAutoencoder,
    backend: &mut dyn Backend,
    data: &Dataset,
) -> Result<EvalReport, TrainError> {
    let sigmoid_output = model.config.output_activation() == Activation::Sigmoid;
    let build = |g: &mut Graph, x: ValueId| -> Result<Vec<ValueId>, TrainError> {
        let code = model.encode(g, x)?;
        let (logits, recon) = model.decode_logits(g, code)?;
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

/// Codes or reconstructions of every row, row-major.
pub fn run_rows(
    model: &DenseAutoencoder,
    backend: &mut dyn Backend,
    data: &Dataset,
    what: RowOutput,
) -> Result<Vec<f32>, TrainError> {
    let build = |g: &mut Graph, x: ValueId| -> Result<Vec<ValueId>, TrainError> {
        let code = model.encode(g, x)?;
        Ok(vec![match what {
            RowOutput::Code => code,
            RowOutput::Reconstruction => model.decode(g, code)?,
        }])
    };
    let mut out = vec![];
    for_each_batch(model, backend, data, &build, &mut |_, _, mut outs| {
        out.append(&mut outs[0])
    })?;
    Ok(out)
}
