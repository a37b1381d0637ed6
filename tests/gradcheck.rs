//! Every op's vector-Jacobian rule against central finite differences, in f64.
//!
//! For an op `y = f(x₁ … xₙ)` the check builds the scalar `L = Σ y ⊙ R` with a fixed
//! random `R`, differentiates it with the graph's own autodiff, and compares each
//! element of each dL/dxᵢ with (L(x + h eᵢ) − L(x − h eᵢ)) / 2h, h = 1e-6, all on the
//! CPU reference backend running in f64. Central differences are accurate to O(h²)
//! ≈ 1e-12 plus rounding ≈ 1e-16/h ≈ 1e-10, so a relative error above 1e-6 means a
//! wrong rule, not noise.

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::Backend;
use aegpu::graph::{grad, EntryId, EntryKind, Graph, ParamStore, Plan, Shape, ValueId};
use aegpu::ops::{
    Activation, Axis, BatchNorm, BinaryOp, ImageShape, Loss, MatMul, Op, Penalty, Reduce,
    ReduceKind, UnaryOp,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const H: f64 = 1e-6;
const TOLERANCE: f64 = 1e-6;

/// An operand: its shape and the range its random values are drawn from.
#[derive(Clone, Copy)]
struct Operand {
    shape: Shape,
    lo: f32,
    hi: f32,
    differentiate: bool,
}

fn arg(rows: usize, cols: usize) -> Operand {
    Operand {
        shape: Shape::new(rows, cols),
        lo: -1.0,
        hi: 1.0,
        differentiate: true,
    }
}

/// A differentiated operand drawn from [lo, hi] (away from a kink, inside a domain).
fn within(rows: usize, cols: usize, lo: f32, hi: f32) -> Operand {
    Operand {
        shape: Shape::new(rows, cols),
        lo,
        hi,
        differentiate: true,
    }
}

/// Data operands (loss targets) are not differentiated.
fn target(rows: usize, cols: usize) -> Operand {
    Operand {
        shape: Shape::new(rows, cols),
        lo: 0.0,
        hi: 1.0,
        differentiate: false,
    }
}

/// An operand drawn from [lo, hi] and not differentiated (batch norm's running
/// statistics, which no gradient trains).
fn fixed(rows: usize, cols: usize, lo: f32, hi: f32) -> Operand {
    Operand {
        shape: Shape::new(rows, cols),
        lo,
        hi,
        differentiate: false,
    }
}

fn gradcheck(op: Op, operands: &[Operand]) {
    let mut rng = StdRng::seed_from_u64(7);
    let mut store = ParamStore::new();
    let ids: Vec<EntryId> = operands
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let v = (0..o.shape.len())
                .map(|_| rng.random_range(o.lo..o.hi))
                .collect();
            store.add(&format!("x{i}"), o.shape, EntryKind::Parameter, v)
        })
        .collect();

    let mut g = Graph::new();
    let xs: Vec<ValueId> = ids.iter().map(|&id| g.entry(&store, id)).collect();
    let y = g
        .push(op.clone(), &xs)
        .expect("shape rule accepts the operands");
    let r_shape = g.shape(y);
    let r_values = (0..r_shape.len())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let r_id = store.add("r", r_shape, EntryKind::Data, r_values);
    let r = g.entry(&store, r_id);
    let weighted = g.push(Op::Binary(BinaryOp::Mul), &[y, r]).unwrap();
    let loss = g
        .push(
            Op::Reduce(Reduce {
                kind: ReduceKind::Sum,
                axis: Axis::All,
            }),
            &[weighted],
        )
        .unwrap();
    let wrt: Vec<ValueId> = xs
        .iter()
        .zip(operands)
        .filter(|(_, o)| o.differentiate)
        .map(|(&x, _)| x)
        .collect();
    let grads = grad(&mut g, loss, &wrt).unwrap_or_else(|e| panic!("{}: {e}", op.name()));
    g.mark_output(loss);
    for &d in &grads {
        g.mark_output(d);
    }

    let mut cpu = CpuBackend::<f64>::new();
    cpu.upload_store(&store).unwrap();
    let plan = cpu.prepare(&Plan::new(&g, &store).unwrap()).unwrap();
    cpu.run(plan, &[]).unwrap();
    let analytic: Vec<Vec<f64>> = grads
        .iter()
        .map(|&d| cpu.output_values(plan, d).unwrap())
        .collect();

    let eval_loss = |cpu: &mut CpuBackend<f64>, id: EntryId, values: Vec<f64>| {
        cpu.set_entry_values(id, values).unwrap();
        cpu.run(plan, &[]).unwrap();
        cpu.output_values(plan, loss).unwrap()[0]
    };
    let diff_ids: Vec<EntryId> = ids
        .iter()
        .zip(operands)
        .filter(|(_, o)| o.differentiate)
        .map(|(&i, _)| i)
        .collect();
    for (k, &id) in diff_ids.iter().enumerate() {
        let x0 = cpu.entry_values(id).unwrap();
        for j in 0..x0.len() {
            let mut plus = x0.clone();
            plus[j] += H;
            let mut minus = x0.clone();
            minus[j] -= H;
            let numeric =
                (eval_loss(&mut cpu, id, plus) - eval_loss(&mut cpu, id, minus)) / (2.0 * H);
            cpu.set_entry_values(id, x0.clone()).unwrap();
            let a = analytic[k][j];
            let err = (a - numeric).abs() / (1.0f64).max(a.abs()).max(numeric.abs());
            assert!(
                err < TOLERANCE,
                "{}: d/d operand {k} element {j}: autodiff {a}, finite differences {numeric} (relative error {err:.2e})",
                op.name()
            );
        }
    }
}

fn matmul(trans_a: bool, trans_b: bool, bias: bool, act: Activation) -> Op {
    Op::MatMul(MatMul {
        trans_a,
        trans_b,
        bias,
        act,
    })
}

#[test]
fn matmul_all_transpose_combinations() {
    // op(A) is 3×4, op(B) is 4×5.
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let a = if ta { arg(4, 3) } else { arg(3, 4) };
        let b = if tb { arg(5, 4) } else { arg(4, 5) };
        gradcheck(matmul(ta, tb, false, Activation::Linear), &[a, b]);
        gradcheck(matmul(ta, tb, true, Activation::Tanh), &[a, b, arg(1, 5)]);
    }
}

#[test]
fn matmul_fused_epilogue_every_activation() {
    for act in all_activations() {
        gradcheck(
            matmul(false, false, true, act),
            &[arg(3, 4), arg(4, 5), arg(1, 5)],
        );
    }
}

#[test]
fn activations() {
    for act in all_activations() {
        gradcheck(Op::Activate(act), &[arg(4, 6)]);
    }
}

#[test]
fn elementwise() {
    for b in [BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul] {
        gradcheck(Op::Binary(b), &[arg(3, 5), arg(3, 5)]);
    }
    gradcheck(Op::Scale(-2.5), &[arg(3, 5)]);
}

/// exp, log, sqrt, 1/x (inside their domains: positive operands, and 1/x on negative
/// ones too), division (both operands, denominators away from 0), soft-thresholding
/// (x on both sides of ±λ, and λ), the transposes.
#[test]
fn primitives() {
    gradcheck(Op::Unary(UnaryOp::Exp), &[arg(3, 5)]);
    for u in [UnaryOp::Log, UnaryOp::Sqrt, UnaryOp::Reciprocal] {
        gradcheck(Op::Unary(u), &[within(3, 5, 0.3, 2.0)]);
    }
    gradcheck(Op::Unary(UnaryOp::Reciprocal), &[within(3, 5, -2.0, -0.3)]);
    gradcheck(
        Op::Binary(BinaryOp::Div),
        &[arg(3, 5), within(3, 5, 0.3, 2.0)],
    );
    gradcheck(
        Op::Binary(BinaryOp::Div),
        &[arg(3, 5), within(3, 5, -2.0, -0.3)],
    );
    // |x| up to 1 with λ in [0.2, 0.4]: elements below, above and beyond −λ and λ
    // (none within h of a kink for this seed).
    gradcheck(Op::SoftThreshold, &[arg(4, 6), within(1, 1, 0.2, 0.4)]);
    gradcheck(Op::Transpose, &[arg(3, 5)]);
    gradcheck(Op::Transpose, &[arg(1, 4)]);
    let image = ImageShape::new(3, 2, 2);
    gradcheck(Op::ToPixelRows(image), &[arg(2, image.len())]);
    gradcheck(Op::FromPixelRows(image), &[arg(2 * image.plane(), 3)]);
    gradcheck(Op::Reshape { cols: 3 }, &[arg(2, 6)]);
}

#[test]
fn reductions_and_broadcast() {
    for kind in [ReduceKind::Sum, ReduceKind::Mean] {
        for axis in [Axis::Rows, Axis::Cols, Axis::All] {
            gradcheck(Op::Reduce(Reduce { kind, axis }), &[arg(4, 3)]);
        }
    }
    gradcheck(Op::Broadcast(Shape::new(4, 3)), &[arg(1, 3)]);
    gradcheck(Op::Broadcast(Shape::new(4, 3)), &[arg(4, 1)]);
    gradcheck(Op::Broadcast(Shape::new(4, 3)), &[arg(1, 1)]);
}

#[test]
fn losses() {
    gradcheck(Op::Loss(Loss::Mse), &[arg(3, 7), target(3, 7)]);
    // Logits over a wide range: the stable form must hold for large |z| too.
    let logits = Operand {
        shape: Shape::new(3, 7),
        lo: -12.0,
        hi: 12.0,
        differentiate: true,
    };
    gradcheck(Op::Loss(Loss::BceWithLogits), &[logits, target(3, 7)]);
}

#[test]
fn softmax_cross_entropy() {
    // Soft targets in [0, 1] exercise the general rule (s·Σt − t)/B, one-hot rows
    // included; one class; logits spread wide enough that softmax saturates.
    gradcheck(Op::SoftmaxCrossEntropy, &[arg(3, 7), target(3, 7)]);
    gradcheck(Op::SoftmaxCrossEntropy, &[arg(5, 1), target(5, 1)]);
    gradcheck(
        Op::SoftmaxCrossEntropy,
        &[within(4, 10, -8.0, 8.0), target(4, 10)],
    );
}

#[test]
fn penalties() {
    // L1 on each side of its kink at 0.
    gradcheck(Op::Penalty(Penalty::L1), &[within(3, 5, 0.1, 1.0)]);
    gradcheck(Op::Penalty(Penalty::L1), &[within(3, 5, -1.0, -0.1)]);
    gradcheck(Op::Penalty(Penalty::SquaredL2), &[arg(3, 5)]);
    // ρ̂ inside (0, 1), away from the clamp.
    gradcheck(
        Op::Penalty(Penalty::Kl { rho: 0.1 }),
        &[within(1, 6, 0.02, 0.98)],
    );
    // [h, colnorm]: h in the activation's range; both operands differentiated.
    let colnorm = within(1, 5, 0.1, 2.0);
    for (act, h) in [
        (Activation::Sigmoid, within(4, 5, 0.02, 0.98)),
        (Activation::Tanh, within(4, 5, -0.98, 0.98)),
        (Activation::Relu, arg(4, 5)),
        (Activation::Linear, arg(4, 5)),
    ] {
        gradcheck(Op::Penalty(Penalty::Contractive(act)), &[h, colnorm]);
    }
}

fn all_activations() -> Vec<Activation> {
    vec![
        Activation::Linear,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu { alpha: 0.1 },
        Activation::Softplus,
    ]
}

/// Pooling, upsampling and the column copies, on batches of 2 images.
///
/// Max pooling is differentiable wherever each window's maximum leads the rest by
/// more than the step h = 1e-6, so that a nudge of ±h cannot move the argmax. The
/// values are drawn uniformly from [−1, 1): the chance that two of a window's ≤ 9
/// values (36 pairs) lie within h of each other is about 36·h ≈ 4e-5 per window, and
/// the draw is fixed by the seed, so no window here has a near tie. (Exact ties,
/// routed to the first maximum, are tested in `tests/parity.rs` and the op's unit
/// tests.)
#[test]
fn spatial_and_column_ops() {
    use aegpu::ops::{ImageShape, Pool, PoolKind, Upsample, UpsampleMode};
    for input in [ImageShape::new(1, 7, 5), ImageShape::new(3, 4, 5)] {
        let x = arg(2, input.len());
        for kind in [PoolKind::Max, PoolKind::Avg] {
            // Tiling, overlapping and gapped windows.
            for (size, stride) in [(2, 2), (3, 1), (2, 3)] {
                let p = Pool {
                    kind,
                    input,
                    size,
                    stride,
                };
                gradcheck(Op::Pool(p), &[x]);
            }
        }
        for mode in [UpsampleMode::Nearest, UpsampleMode::Bilinear] {
            for factor in [1, 2, 3] {
                let u = Upsample {
                    mode,
                    input,
                    factor,
                };
                gradcheck(Op::Upsample(u), &[x]);
                gradcheck(Op::UpsampleGrad(u), &[arg(2, u.output().len())]);
            }
        }
    }
    gradcheck(Op::ConcatCols, &[arg(3, 4), arg(3, 2)]);
    gradcheck(Op::SliceCols { start: 1, len: 3 }, &[arg(3, 5)]);
    gradcheck(Op::PadCols { start: 2, total: 7 }, &[arg(3, 4)]);
}

/// The fused LSTM cell: the gradient wrt the gate pre-activations (all four gates) and
/// wrt the state (its cell half; its hidden half is unused by the cell, so zero).
/// Pre-activations in [−2, 2] reach the gates' curved parts.
#[test]
fn lstm_cell() {
    gradcheck(Op::LstmCell, &[within(3, 4 * 5, -2.0, 2.0), arg(3, 2 * 5)]);
    gradcheck(Op::LstmCell, &[within(1, 4, -2.0, 2.0), arg(1, 2)]);
}

#[test]
fn batch_norm() {
    // Training mode differentiates x, γ and β (the fused BatchNormTrainGrad wrt 0, 1,
    // 2), through the batch statistics; eval mode x, γ and β with the running
    // statistics fixed. Batches of 2 and 3 (the smallest with a variance), images with
    // several pixels per channel, dense features (1×1 images).
    for (rows, image) in [
        (2, ImageShape::new(2, 2, 3)),
        (3, ImageShape::new(3, 1, 1)),
        (2, ImageShape::new(1, 1, 1)),
        (4, ImageShape::new(2, 3, 1)),
    ] {
        let bn = BatchNorm::new(image, 1e-5);
        let (cols, c) = (image.len(), image.channels);
        let affine = [within(1, c, 0.5, 1.5), arg(1, c)];
        gradcheck(
            Op::BatchNormTrain(bn),
            &[arg(rows, cols), affine[0], affine[1]],
        );
        let running = [fixed(1, c, -0.5, 0.5), fixed(1, c, 0.5, 2.0)];
        gradcheck(
            Op::BatchNormEval(bn),
            &[
                arg(rows, cols),
                affine[0],
                affine[1],
                running[0],
                running[1],
            ],
        );
    }
    // A large ε (the gradient's γ/√(σ² + ε) factor, not just 1/σ).
    let bn = BatchNorm::new(ImageShape::new(2, 1, 2), 0.5);
    gradcheck(Op::BatchNormTrain(bn), &[arg(3, 4), arg(1, 2), arg(1, 2)]);
}

/// Convolutions forward and transposed (x, weight, bias through the fused epilogue),
/// on strided, padded and pointwise geometries.
#[test]
fn convolutions() {
    use aegpu::ops::{Conv, ConvGeometry, Direction, ImageShape};
    for (image, oc, kernel, stride, padding) in [
        (ImageShape::new(2, 5, 4), 3, 3, 1, 1),
        (ImageShape::new(1, 7, 6), 2, 3, 2, 1),
        (ImageShape::new(3, 4, 4), 2, 2, 2, 0),
        (ImageShape::new(2, 3, 3), 2, 1, 1, 0),
    ] {
        let g = ConvGeometry::conv(image, oc, kernel, stride, padding).unwrap();
        for (direction, act) in [
            (Direction::Forward, Activation::Tanh),
            (Direction::Transposed, Activation::Sigmoid),
        ] {
            let conv = Conv {
                geometry: g,
                direction,
                bias: true,
                act,
            };
            let (input, output) = conv.sides();
            gradcheck(
                Op::Conv(conv),
                &[
                    arg(2, input.len()),
                    arg(g.features.channels, g.window()),
                    arg(1, output.channels),
                ],
            );
        }
    }
}

/// Runs `g` on the f64 CPU backend (no feeds) and returns the values of `outputs`.
fn run_f64(g: &Graph, store: &ParamStore, outputs: &[ValueId]) -> Vec<Vec<f64>> {
    let mut cpu = CpuBackend::<f64>::new();
    cpu.upload_store(store).unwrap();
    let plan = cpu.prepare(&Plan::new(g, store).unwrap()).unwrap();
    cpu.run(plan, &[]).unwrap();
    outputs
        .iter()
        .map(|&v| cpu.output_values(plan, v).unwrap())
        .collect()
}

/// Integer values stop autodiff: through `one_hot(argmin_rows(x))` no gradient reaches
/// x and asking for one is no error; x's other uses still get theirs. (The index ops'
/// own rules refuse: the stop is `graph::grad`'s, for every u32 value.)
#[test]
fn integer_values_stop_differentiation() {
    let mut store = ParamStore::new();
    let values = vec![0.3, -0.2, 0.9, 0.1, 0.5, -0.7];
    let id = store.add("x", Shape::new(2, 3), EntryKind::Parameter, values.clone());
    let mut g = Graph::new();
    let x = g.entry(&store, id);
    let idx = g.push(Op::ArgMinRows, &[x]).unwrap();
    let hot = g.push(Op::OneHot { classes: 3 }, &[idx]).unwrap();
    let sum = Op::Reduce(Reduce {
        kind: ReduceKind::Sum,
        axis: Axis::All,
    });
    // Only through the index: L = Σ one_hot(argmin(x)) has no gradient wrt x.
    let only_index = g.push(sum.clone(), &[hot]).unwrap();
    // Through the index and directly: L = Σ one_hot(argmin(x)) ⊙ x = Σ_rows min x,
    // whose gradient is the one-hot itself.
    let picked = g.push(Op::Binary(BinaryOp::Mul), &[hot, x]).unwrap();
    let mins = g.push(sum, &[picked]).unwrap();
    let d_index = grad(&mut g, only_index, &[x]).expect("no error through an index")[0];
    let d_mins = grad(&mut g, mins, &[x]).expect("no error through an index")[0];
    g.mark_output(d_index);
    g.mark_output(d_mins);
    let got = run_f64(&g, &store, &[d_index, d_mins]);
    assert_eq!(got[0], vec![0.0; 6]);
    // Row minima: −0.2 at column 1, −0.7 at column 2.
    assert_eq!(got[1], vec![0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
}

/// Stop-gradient: the identity forward, no gradient back. The straight-through
/// estimator z + sg(q − z) has the value q and the gradient of z.
#[test]
fn stop_gradient_passes_values_not_gradients() {
    let mut store = ParamStore::new();
    let z_id = store.add(
        "z",
        Shape::new(1, 3),
        EntryKind::Parameter,
        vec![0.5, -1.0, 2.0],
    );
    let q_id = store.add(
        "q",
        Shape::new(1, 3),
        EntryKind::Parameter,
        vec![1.0, 0.0, -3.0],
    );
    let mut g = Graph::new();
    let (z, q) = (g.entry(&store, z_id), g.entry(&store, q_id));
    let diff = g.push(Op::Binary(BinaryOp::Sub), &[q, z]).unwrap();
    let held = g.push(Op::StopGradient, &[diff]).unwrap();
    let st = g.push(Op::Binary(BinaryOp::Add), &[z, held]).unwrap();
    let weights = g.push(Op::Unary(UnaryOp::Exp), &[st]).unwrap();
    let loss = g
        .push(
            Op::Reduce(Reduce {
                kind: ReduceKind::Sum,
                axis: Axis::All,
            }),
            &[weights],
        )
        .unwrap();
    let grads = grad(&mut g, loss, &[z, q]).unwrap();
    g.mark_output(st);
    g.mark_output(grads[0]);
    g.mark_output(grads[1]);
    let got = run_f64(&g, &store, &[st, grads[0], grads[1]]);
    assert_eq!(got[0], vec![1.0, 0.0, -3.0], "the value is q");
    let want: Vec<f64> = [1.0f64, 0.0, -3.0].iter().map(|v| v.exp()).collect();
    assert_eq!(got[1], want, "dL/dz = e^q (the straight-through gradient)");
    assert_eq!(got[2], vec![0.0; 3], "q gets nothing through the stop");
}
