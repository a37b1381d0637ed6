//! The penalties as a caller uses them: the contractive penalty equals the squared
//! Frobenius norm of the encoder's Jacobian computed by brute force, and its gradient
//! reaches the weights through the activation; KL sparsity stays finite for dead and
//! saturated units; hand-computed values; and the shape rules' refusals.
//! (Per-op gradients: tests/gradcheck.rs; GPU against CPU: tests/parity.rs.)

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::Backend;
use aegpu::graph::{grad, EntryId, EntryKind, Graph, ParamStore, Plan, Shape, ValueId};
use aegpu::ops::penalty::KL_EPSILON;
use aegpu::ops::{Activation, Axis, BinaryOp, MatMul, Op, Penalty, Reduce, ReduceKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

// Samples, inputs and code units of the tiny encoder.
const N: usize = 3;
const D: usize = 4;
const M: usize = 3;

/// h = f(xW + b) for one sample, in f64, written out by hand.
fn encode(act: Activation, x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
    (0..M)
        .map(|j| {
            let a = b[j] + (0..D).map(|k| x[k] * w[k * M + j]).sum::<f64>();
            match act {
                Activation::Sigmoid => 1.0 / (1.0 + (-a).exp()),
                Activation::Tanh => a.tanh(),
                Activation::Relu => a.max(0.0),
                Activation::Linear => a,
                other => panic!("no brute-force encoder for {other}"),
            }
        })
        .collect()
}

/// Σ over samples of ‖∂h/∂x‖²_F, every Jacobian entry by central differences.
fn brute_force_jacobian_norm(act: Activation, x: &[f64], w: &[f64], b: &[f64]) -> f64 {
    let step = 1e-5;
    let mut total = 0.0;
    for sample in x.chunks(D) {
        for k in 0..D {
            let (mut plus, mut minus) = (sample.to_vec(), sample.to_vec());
            plus[k] += step;
            minus[k] -= step;
            let (hp, hm) = (encode(act, &plus, w, b), encode(act, &minus, w, b));
            for j in 0..M {
                let dh_dx = (hp[j] - hm[j]) / (2.0 * step);
                total += dh_dx * dh_dx;
            }
        }
    }
    total
}

/// The contractive penalty as a model builds it: h = f(xW + b) (fused matmul),
/// colnorm = Σ_rows W ⊙ W, penalty over [h, colnorm].
struct Encoder {
    graph: Graph,
    store: ParamStore,
    x: EntryId,
    w: EntryId,
    b: EntryId,
    penalty: ValueId,
    w_value: ValueId,
    b_value: ValueId,
}

fn contractive_encoder(act: Activation, seed: u64) -> Encoder {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut random =
        |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0..1.0)).collect() };
    let mut store = ParamStore::new();
    let x = store.add("x", Shape::new(N, D), EntryKind::Data, random(N * D));
    let w = store.add("w", Shape::new(D, M), EntryKind::Parameter, random(D * M));
    let b = store.add("b", Shape::new(1, M), EntryKind::Parameter, random(M));
    let mut graph = Graph::new();
    let (xv, wv, bv) = (
        graph.entry(&store, x),
        graph.entry(&store, w),
        graph.entry(&store, b),
    );
    let dense = Op::MatMul(MatMul {
        trans_a: false,
        trans_b: false,
        bias: true,
        act,
    });
    let h = graph.push(dense, &[xv, wv, bv]).expect("encoder");
    let squares = graph
        .push(Op::Binary(BinaryOp::Mul), &[wv, wv])
        .expect("W ⊙ W");
    let sum_rows = Op::Reduce(Reduce {
        kind: ReduceKind::Sum,
        axis: Axis::Rows,
    });
    let colnorm = graph.push(sum_rows, &[squares]).expect("column norms");
    let penalty = graph
        .push(Op::Penalty(Penalty::Contractive(act)), &[h, colnorm])
        .expect("penalty");
    graph.mark_output(penalty);
    Encoder {
        graph,
        store,
        x,
        w,
        b,
        penalty,
        w_value: wv,
        b_value: bv,
    }
}

fn f64_values(store: &ParamStore, id: EntryId) -> Vec<f64> {
    store.values(id).iter().map(|&v| v as f64).collect()
}

#[test]
fn contractive_penalty_is_the_jacobian_norm() {
    for act in [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::Linear,
    ] {
        let e = contractive_encoder(act, 3);
        let (x, w, b) = (
            f64_values(&e.store, e.x),
            f64_values(&e.store, e.w),
            f64_values(&e.store, e.b),
        );
        // Finite differences need every relu pre-activation away from its kink.
        for sample in x.chunks(D) {
            let a = encode(Activation::Linear, sample, &w, &b);
            assert!(a.iter().all(|a| a.abs() > 1e-3), "pre-activations {a:?}");
        }
        let mut cpu = CpuBackend::<f64>::new();
        cpu.upload_store(&e.store).expect("upload");
        let plan = cpu
            .prepare(&Plan::new(&e.graph, &e.store).expect("plan"))
            .expect("prepare");
        cpu.run(plan, &[]).expect("run");
        let closed_form = cpu.output_values(plan, e.penalty).expect("read")[0];
        let brute_force = brute_force_jacobian_norm(act, &x, &w, &b);
        // Central differences of step 1e-5: O(1e-10) truncation, 1e-11 rounding.
        assert!(
            (closed_form - brute_force).abs() <= 1e-8 * brute_force.abs().max(1.0),
            "{act}: closed form {closed_form} vs brute-force Jacobian {brute_force}"
        );
        assert!(
            brute_force > 0.1,
            "{act}: a degenerate check ({brute_force})"
        );
    }
}

/// d(penalty)/dW and d/db through the whole chain — the penalty's gradient with
/// respect to h, the activation's VJP to the pre-activation (φ'(h) f'(a) = 2 f' f''),
/// the matmul, and the column norms — against central differences of the value.
#[test]
fn contractive_gradient_reaches_the_weights() {
    for act in [Activation::Sigmoid, Activation::Tanh, Activation::Relu] {
        let mut e = contractive_encoder(act, 5);
        let grads = grad(&mut e.graph, e.penalty, &[e.w_value, e.b_value]).expect("autodiff");
        for &d in &grads {
            e.graph.mark_output(d);
        }
        let mut cpu = CpuBackend::<f64>::new();
        cpu.upload_store(&e.store).expect("upload");
        let plan = cpu
            .prepare(&Plan::new(&e.graph, &e.store).expect("plan"))
            .expect("prepare");
        cpu.run(plan, &[]).expect("run");
        // Read before any perturbed run overwrites them.
        let analytic: Vec<Vec<f64>> = grads
            .iter()
            .map(|&d| cpu.output_values(plan, d).expect("read"))
            .collect();
        for (&id, analytic) in [e.w, e.b].iter().zip(&analytic) {
            let x0 = cpu.entry_values(id).expect("read");
            let step = 1e-6;
            for j in 0..x0.len() {
                let mut value_at = |delta: f64| {
                    let mut x = x0.clone();
                    x[j] += delta;
                    cpu.set_entry_values(id, x).expect("set");
                    cpu.run(plan, &[]).expect("run");
                    cpu.output_values(plan, e.penalty).expect("read")[0]
                };
                let numeric = (value_at(step) - value_at(-step)) / (2.0 * step);
                cpu.set_entry_values(id, x0.clone()).expect("reset");
                let a = analytic[j];
                assert!(
                    (a - numeric).abs() <= 1e-6 * a.abs().max(numeric.abs()).max(1.0),
                    "{act}: entry {} element {j}: autodiff {a} vs finite differences {numeric}",
                    id.0
                );
            }
        }
    }
}

/// Runs `op` over constant f32 operands on the CPU backend in f32; returns its value.
fn run_f32(op: Op, operands: &[(Shape, Vec<f32>)]) -> Vec<f32> {
    let mut store = ParamStore::new();
    let mut g = Graph::new();
    let values: Vec<ValueId> = operands
        .iter()
        .enumerate()
        .map(|(i, (shape, v))| {
            let id = store.add(&format!("x{i}"), *shape, EntryKind::Data, v.clone());
            g.entry(&store, id)
        })
        .collect();
    let out = g.push(op, &values).expect("shape rule");
    g.mark_output(out);
    let mut cpu = CpuBackend::<f32>::new();
    cpu.upload_store(&store).expect("upload");
    let plan = cpu
        .prepare(&Plan::new(&g, &store).expect("plan"))
        .expect("prepare");
    cpu.run(plan, &[]).expect("run");
    cpu.read_output(plan, out).expect("read")
}

#[test]
fn kl_sparsity_is_finite_for_dead_and_saturated_units() {
    let rho = 0.2;
    let kl = Penalty::Kl { rho };
    // Dead (0, below 0), saturated (1, above 1), on target, and in between.
    let rho_hat = vec![0.0, -0.5, 1.0, 1.5, 0.2, 0.5];
    let shape = Shape::new(1, rho_hat.len());
    let value = run_f32(Op::Penalty(kl), &[(shape, rho_hat.clone())])[0];
    let dout = (Shape::SCALAR, vec![1.0]);
    let gradient = run_f32(
        Op::PenaltyGrad {
            penalty: kl,
            wrt: 0,
        },
        &[(shape, rho_hat.clone()), dout],
    );
    assert!(value.is_finite(), "value {value}");
    assert!(gradient.iter().all(|g| g.is_finite()), "{gradient:?}");

    // KL(ρ‖p) with p clamped to [ε, 1 − ε] (bounds as f32 holds them), by hand in f64.
    let (r, lo, hi) = (rho as f64, KL_EPSILON as f64, (1.0 - KL_EPSILON) as f64);
    let kl_of = |p: f64| {
        let p = p.clamp(lo, hi);
        r * (r / p).ln() + (1.0 - r) * ((1.0 - r) / (1.0 - p)).ln()
    };
    let expected: f64 = rho_hat.iter().map(|&p| kl_of(p as f64)).sum();
    assert!(
        ((value as f64) - expected).abs() <= 1e-5 * expected,
        "value {value} vs {expected}"
    );
    // On target the gradient vanishes; at 0.5 it is −ρ/ρ̂ + (1−ρ)/(1−ρ̂) = 1.2.
    assert!(gradient[4].abs() < 1e-6, "{gradient:?}");
    assert!((gradient[5] - 1.2).abs() < 1e-6, "{gradient:?}");
    // A dead unit is pushed up, a saturated one down.
    assert!(gradient[0] < 0.0 && gradient[1] < 0.0, "{gradient:?}");
    assert!(gradient[2] > 0.0 && gradient[3] > 0.0, "{gradient:?}");
}

#[test]
fn l1_and_squared_l2_by_hand() {
    let x = (Shape::new(1, 4), vec![1.0, -2.0, 0.5, 0.0]);
    let dout = (Shape::SCALAR, vec![2.0]);
    assert_eq!(
        run_f32(Op::Penalty(Penalty::L1), std::slice::from_ref(&x)),
        [3.5]
    );
    assert_eq!(
        run_f32(Op::Penalty(Penalty::SquaredL2), std::slice::from_ref(&x)),
        [2.625]
    );
    let grad_of = |penalty| Op::PenaltyGrad { penalty, wrt: 0 };
    // sign(x)·dout, 0 at 0.
    assert_eq!(
        run_f32(grad_of(Penalty::L1), &[x.clone(), dout.clone()]),
        [2.0, -2.0, 2.0, 0.0]
    );
    assert_eq!(
        run_f32(grad_of(Penalty::SquaredL2), &[x, dout]),
        [2.0, -4.0, 1.0, 0.0]
    );
}

#[test]
fn shape_rules_refuse_misuse() {
    let mut store = ParamStore::new();
    let mut g = Graph::new();
    let mut value = |g: &mut Graph, name: &str, rows, cols| {
        let id = store.zeros(name, Shape::new(rows, cols), EntryKind::Parameter);
        g.entry(&store, id)
    };
    let h = value(&mut g, "h", 4, 3);
    let colnorm = value(&mut g, "colnorm", 1, 3);
    let mean = value(&mut g, "mean", 1, 3);
    let wrong = value(&mut g, "wrong", 1, 4);
    let refused = |g: &mut Graph, op: Op, operands: &[ValueId], says: &str| {
        let err = g
            .push(op.clone(), operands)
            .expect_err(&op.name())
            .to_string();
        assert!(err.contains(says), "{}: {err}", op.name());
    };
    refused(
        &mut g,
        Op::Penalty(Penalty::Contractive(Activation::Softplus)),
        &[h, colnorm],
        "supports sigmoid, tanh, relu and linear encoders, not softplus",
    );
    refused(
        &mut g,
        Op::Penalty(Penalty::Contractive(Activation::Sigmoid)),
        &[h, wrong],
        "column norms must be [1, 3]",
    );
    refused(
        &mut g,
        Op::Penalty(Penalty::Kl { rho: 0.0 }),
        &[mean],
        "must lie in (0, 1)",
    );
    refused(
        &mut g,
        Op::Penalty(Penalty::Kl { rho: 0.05 }),
        &[h],
        "mean activation",
    );
    refused(
        &mut g,
        Op::PenaltyGrad {
            penalty: Penalty::L1,
            wrt: 1,
        },
        &[h, colnorm],
        "no operand 1",
    );
    // Second derivatives are refused by autodiff, not computed wrong.
    let one = g
        .push(
            Op::Fill {
                value: 1.0,
                shape: Shape::SCALAR,
            },
            &[],
        )
        .expect("fill");
    let d = g
        .push(
            Op::PenaltyGrad {
                penalty: Penalty::SquaredL2,
                wrt: 0,
            },
            &[h, one],
        )
        .expect("grad");
    let total = g
        .push(Op::Penalty(Penalty::SquaredL2), &[d])
        .expect("penalty of a gradient");
    assert!(grad(&mut g, total, &[h]).is_err());
}
