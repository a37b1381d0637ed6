//! The fused optimiser updates against independent scalar f64 implementations of
//! PyTorch's definitions (the algorithm boxes of `torch.optim.*`), step by step, and
//! clipping by global norm against PyTorch's `clip_grad_norm_`.
//!
//! The engine runs on `CpuBackend<f64>` from the same f32 inputs (initial parameters,
//! gradients, learning rate, hyper-parameters) the references start from, so the two
//! differ only by the order of rounding in f64: 1e-12 relative. Adam is the exception:
//! its bias corrections 1/(1−βᵗ) travel to the device as f32 in the hyper vector,
//! which moves a step by up to 6e-8 of itself, hence 1e-6 there.

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::{Backend, Feed};
use aegpu::graph::{DType, EntryId, EntryKind, Graph, ParamStore, Plan, Shape, ValueId};
use aegpu::ops::optim::{global_norm_sq, CLIP_EPSILON};
use aegpu::ops::{Op, Optimizer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const N: usize = 6;
const STEPS: usize = 5;
const LR: f32 = 0.05;

/// Random f32 values in [lo, hi].
fn values(rng: &mut StdRng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..=hi)).collect()
}

/// The engine: one `Update` of a [1, N] parameter per run, gradients fed from the
/// host. Returns the parameter after each step.
fn engine_steps(opt: Optimizer, init: &[f32], grads: &[Vec<f32>]) -> Vec<Vec<f64>> {
    let shape = Shape::new(1, init.len());
    let mut store = ParamStore::new();
    let p = store.add("p", shape, EntryKind::Parameter, init.to_vec());
    let states: Vec<EntryId> = (0..opt.state_count())
        .map(|i| store.zeros(&format!("state {i}"), shape, EntryKind::State))
        .collect();
    let mut g = Graph::new();
    let grad = g.input("grad", shape, DType::F32);
    let hyper = g.input("hyper", Shape::new(1, 4), DType::F32);
    let mut operands = vec![g.entry(&store, p), grad, hyper];
    operands.extend(states.iter().map(|&s| g.entry(&store, s)));
    g.push(Op::Update(opt), &operands).expect("update");
    let plan = Plan::new(&g, &store).expect("plan");

    let mut cpu = CpuBackend::<f64>::new();
    cpu.upload_store(&store).expect("upload");
    let id = cpu.prepare(&plan).expect("prepare");
    let mut after = vec![];
    for (t, grad) in grads.iter().enumerate() {
        let h = opt.hyper(LR, t as u64 + 1, 0.0);
        cpu.run(id, &[Feed::F32(grad), Feed::F32(&h)]).expect("run");
        after.push(cpu.entry_values(p).expect("read"));
    }
    after
}

/// One step of PyTorch's algorithm on scalars, with its state, in f64.
type Reference = Box<dyn FnMut(f64, f64, usize) -> f64>;

/// torch.optim.Adagrad (lr_decay 0, initial_accumulator_value 0):
/// g ← g + λθ;  state_sum ← state_sum + g²;  θ ← θ − lr · g / (√state_sum + ε).
fn adagrad_reference(eps: f32, weight_decay: f32) -> Reference {
    let (eps, wd) = (eps as f64, weight_decay as f64);
    let mut state_sum = 0.0;
    Box::new(move |theta, g, _t| {
        let g = g + wd * theta;
        state_sum += g * g;
        theta - LR as f64 * g / (state_sum.sqrt() + eps)
    })
}

/// torch.optim.RMSprop (centered = False):
/// g ← g + λθ;  v ← αv + (1−α)g²;
/// μ > 0: b ← μb + g / (√v + ε), θ ← θ − lr·b;  else θ ← θ − lr · g / (√v + ε).
fn rmsprop_reference(alpha: f32, eps: f32, momentum: f32, weight_decay: f32) -> Reference {
    let (alpha, eps, mu, wd) = (
        alpha as f64,
        eps as f64,
        momentum as f64,
        weight_decay as f64,
    );
    let (mut v, mut b) = (0.0, 0.0);
    Box::new(move |theta, g, _t| {
        let g = g + wd * theta;
        v = alpha * v + (1.0 - alpha) * g * g;
        if mu > 0.0 {
            b = mu * b + g / (v.sqrt() + eps);
            theta - LR as f64 * b
        } else {
            theta - LR as f64 * g / (v.sqrt() + eps)
        }
    })
}

/// torch.optim.SGD: g ← g + λθ;  b ← μb + g (b = g at the first step, the same from
/// b = 0);  θ ← θ − lr · (nesterov ? g + μb : b).
fn sgd_reference(momentum: f32, nesterov: bool, weight_decay: f32) -> Reference {
    let (mu, wd) = (momentum as f64, weight_decay as f64);
    let mut b = 0.0;
    Box::new(move |theta, g, _t| {
        let g = g + wd * theta;
        b = mu * b + g;
        theta - LR as f64 * if nesterov { g + mu * b } else { b }
    })
}

/// torch.optim.Adam / AdamW: (AdamW: θ ← θ − lr·λθ first; Adam: g ← g + λθ);
/// m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;
/// θ ← θ − lr · (m / (1−β1ᵗ)) / (√(v / (1−β2ᵗ)) + ε).
fn adam_reference(weight_decay: f32, decoupled: bool) -> Reference {
    let (b1, b2, eps, wd) = (
        0.9f32 as f64,
        0.999f32 as f64,
        1e-8f32 as f64,
        weight_decay as f64,
    );
    let (mut m, mut v) = (0.0, 0.0);
    Box::new(move |theta, g, t| {
        let lr = LR as f64;
        let (theta, g) = if decoupled {
            (theta - lr * wd * theta, g)
        } else {
            (theta, g + wd * theta)
        };
        m = b1 * m + (1.0 - b1) * g;
        v = b2 * v + (1.0 - b2) * g * g;
        let t = t as i32;
        let m_hat = m / (1.0 - b1.powi(t));
        let v_hat = v / (1.0 - b2.powi(t));
        theta - lr * m_hat / (v_hat.sqrt() + eps)
    })
}

/// Runs `opt` in the engine and `reference` (one instance per element) for STEPS
/// steps and compares every parameter after every step.
fn check_against_reference(
    name: &str,
    opt: Optimizer,
    make_reference: impl Fn() -> Reference,
    tolerance: f64,
) {
    let mut rng = StdRng::seed_from_u64(11);
    let init = values(&mut rng, N, -1.0, 1.0);
    // Gradients of both signs and magnitudes, and an exact zero.
    let mut grads: Vec<Vec<f32>> = (0..STEPS).map(|_| values(&mut rng, N, -2.0, 2.0)).collect();
    grads[1][0] = 0.0;
    let engine = engine_steps(opt, &init, &grads);

    let mut references: Vec<Reference> = (0..N).map(|_| make_reference()).collect();
    let mut theta: Vec<f64> = init.iter().map(|&x| x as f64).collect();
    for (t, (grad, got)) in grads.iter().zip(&engine).enumerate() {
        for (j, reference) in references.iter_mut().enumerate() {
            theta[j] = reference(theta[j], grad[j] as f64, t + 1);
            let error = (got[j] - theta[j]).abs();
            assert!(
                error <= tolerance * (1.0 + theta[j].abs()),
                "{name}: step {} element {j}: engine {} vs reference {} (error {error:e})",
                t + 1,
                got[j],
                theta[j]
            );
        }
    }
}

#[test]
fn adagrad_matches_pytorch() {
    check_against_reference(
        "adagrad",
        Optimizer::adagrad(),
        || adagrad_reference(1e-10, 0.0),
        1e-12,
    );
    // A large ε shows where it is added: √s + ε, not √(s + ε).
    let big_eps = Optimizer::AdaGrad {
        eps: 0.5,
        weight_decay: 0.1,
    };
    check_against_reference(
        "adagrad ε 0.5, decay 0.1",
        big_eps,
        || adagrad_reference(0.5, 0.1),
        1e-12,
    );
}

#[test]
fn rmsprop_matches_pytorch() {
    let rmsprop = |alpha, eps, momentum, weight_decay| Optimizer::RmsProp {
        alpha,
        eps,
        momentum,
        weight_decay,
    };
    assert_eq!(Optimizer::rmsprop(), rmsprop(0.99, 1e-8, 0.0, 0.0));
    for (alpha, eps, momentum, weight_decay) in [
        (0.99, 1e-8, 0.0, 0.0),
        (0.99, 1e-8, 0.9, 0.0),
        (0.9, 0.5, 0.0, 0.1),
        (0.9, 0.5, 0.8, 0.1),
    ] {
        check_against_reference(
            &format!("rmsprop α {alpha} ε {eps} μ {momentum} decay {weight_decay}"),
            rmsprop(alpha, eps, momentum, weight_decay),
            || rmsprop_reference(alpha, eps, momentum, weight_decay),
            1e-12,
        );
    }
}

#[test]
fn sgd_and_adam_match_pytorch() {
    for (momentum, nesterov, weight_decay) in
        [(0.0, false, 0.0), (0.9, false, 0.1), (0.9, true, 0.1)]
    {
        let opt = Optimizer::Sgd {
            momentum,
            nesterov,
            weight_decay,
        };
        check_against_reference(
            &format!("sgd μ {momentum} nesterov {nesterov} decay {weight_decay}"),
            opt,
            || sgd_reference(momentum, nesterov, weight_decay),
            1e-12,
        );
    }
    check_against_reference(
        "adam",
        Optimizer::adam().with_weight_decay(0.1),
        || adam_reference(0.1, false),
        1e-6,
    );
    check_against_reference(
        "adamw",
        Optimizer::adamw(0.1),
        || adam_reference(0.1, true),
        1e-6,
    );
}

/// Two [1, 2] parameter tensors with gradients `grads` fed from the host, one update
/// each, given norm_sq from `global_norm_sq` when `clip` is set. Returns both
/// parameters after `steps` steps, and norm_sq.
fn two_tensor_steps(
    opt: Optimizer,
    grads: [[f32; 2]; 2],
    clip: bool,
    max_norm: f32,
    steps: u64,
) -> (Vec<f64>, f64) {
    let mut store = ParamStore::new();
    let shape = Shape::new(1, 2);
    let params = [
        store.add("a", shape, EntryKind::Parameter, vec![0.5, -0.25]),
        store.add("b", shape, EntryKind::Parameter, vec![1.0, 2.0]),
    ];
    let mut g = Graph::new();
    let hyper = g.input("hyper", Shape::new(1, 4), DType::F32);
    let grad_values: Vec<ValueId> = (0..2)
        .map(|i| g.input(&format!("grad {i}"), shape, DType::F32))
        .collect();
    let norm_sq = global_norm_sq(&mut g, &grad_values).expect("norm");
    g.mark_output(norm_sq);
    for (&p, &grad) in params.iter().zip(&grad_values) {
        let mut operands = vec![g.entry(&store, p), grad, hyper];
        for i in 0..opt.state_count() {
            let s = store.zeros(&format!("state {i}"), shape, EntryKind::State);
            operands.push(g.entry(&store, s));
        }
        if clip {
            operands.push(norm_sq);
        }
        g.push(Op::Update(opt), &operands).expect("update");
    }
    let plan = Plan::new(&g, &store).expect("plan");
    let mut cpu = CpuBackend::<f64>::new();
    cpu.upload_store(&store).expect("upload");
    let id = cpu.prepare(&plan).expect("prepare");
    for t in 1..=steps {
        let h = opt.hyper(LR, t, max_norm);
        cpu.run(
            id,
            &[Feed::F32(&h), Feed::F32(&grads[0]), Feed::F32(&grads[1])],
        )
        .expect("run");
    }
    let mut after = cpu.entry_values(params[0]).expect("read");
    after.extend(cpu.entry_values(params[1]).expect("read"));
    let norm_sq = cpu.output_values(id, norm_sq).expect("norm")[0];
    (after, norm_sq)
}

#[test]
fn clipping_by_global_norm_matches_scaled_gradients() {
    let grads = [[6.0, 0.0], [0.0, 8.0]];
    // PyTorch's clip_grad_norm_ factor: max_norm / (‖g‖ + 1e-6), here ≈ 0.1.
    let factor = 1.0 / (10.0 + CLIP_EPSILON as f64);
    let scaled = grads.map(|g| g.map(|x| (x as f64 * factor) as f32));
    let optimizers = [
        Optimizer::Sgd {
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.01,
        },
        Optimizer::adam(),
        Optimizer::adagrad(),
        Optimizer::RmsProp {
            alpha: 0.99,
            eps: 1e-8,
            momentum: 0.9,
            weight_decay: 0.0,
        },
    ];
    for opt in optimizers {
        let (clipped, norm_sq) = two_tensor_steps(opt, grads, true, 1.0, 3);
        assert_eq!(norm_sq, 100.0, "global_norm_sq over both tensors");
        let (by_hand, _) = two_tensor_steps(opt, scaled, false, 0.0, 3);
        // The scaled gradients were rounded to f32: 6e-8 of a gradient.
        for (i, (c, s)) in clipped.iter().zip(&by_hand).enumerate() {
            assert!(
                (c - s).abs() <= 1e-6 * (1.0 + s.abs()),
                "{opt:?}: element {i}: clipped {c} vs scaled by hand {s}"
            );
        }
        // A threshold above the norm, max_norm 0, or no norm operand: no clipping.
        let (plain, _) = two_tensor_steps(opt, grads, false, 0.0, 3);
        assert_eq!(
            two_tensor_steps(opt, grads, true, 20.0, 3).0,
            plain,
            "{opt:?}"
        );
        assert_eq!(
            two_tensor_steps(opt, grads, true, 0.0, 3).0,
            plain,
            "{opt:?}"
        );
        assert_eq!(
            two_tensor_steps(opt, grads, false, 1.0, 3).0,
            plain,
            "{opt:?}"
        );
        // And clipping did change the steps.
        assert!(clipped != plain, "{opt:?}: clipping had no effect");
    }
}

#[test]
fn update_shape_rule_takes_an_optional_scalar_norm() {
    let mut store = ParamStore::new();
    let shape = Shape::new(2, 3);
    let p = store.zeros("p", shape, EntryKind::Parameter);
    let s = store.zeros("s", shape, EntryKind::State);
    let mut g = Graph::new();
    let (p, s) = (g.entry(&store, p), g.entry(&store, s));
    let grad = g.input("grad", shape, DType::F32);
    let hyper = g.input("hyper", Shape::new(1, 4), DType::F32);
    let norm = g.input("norm", Shape::SCALAR, DType::F32);
    let opt = Optimizer::adagrad();
    g.push(Op::Update(opt), &[p, grad, hyper, s])
        .expect("without the norm");
    g.push(Op::Update(opt), &[p, grad, hyper, s, norm])
        .expect("with the norm");
    let err = g
        .push(Op::Update(opt), &[p, grad, hyper, s, grad])
        .expect_err("a norm that is not [1, 1]")
        .to_string();
    assert!(
        err.contains("squared gradient norm must be [1, 1]"),
        "{err}"
    );
    let err = g
        .push(Op::Update(opt), &[p, grad, hyper])
        .expect_err("a missing state")
        .to_string();
    assert!(err.contains("expects 4 operands, or 5"), "{err}");
}
