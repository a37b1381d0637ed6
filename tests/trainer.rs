//! The one trainer, on a model of two parameter groups trained in alternating phases.
//!
//! A linear autoencoder x̂ = x·W·V (W [4, 2] the encoder, V [2, 4] the decoder) is
//! trained by two phases per step: `encoder` updates W alone with SGD + momentum,
//! then `decoder` updates V alone with Adam, on the reconstruction MSE computed with
//! the W the first phase just updated. A hand-written f64 reference does the same
//! steps; every step's weights and both phases' terms must match it.
//!
//! MSE per element: L = 1/(n·d) Σ (x̂ − x)², so with R = 2/(n·d)·(x̂ − x):
//! ∂L/∂W = xᵀ R Vᵀ and ∂L/∂V = (xW)ᵀ R.

#[path = "common/gpu.rs"]
mod gpu;

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::{Backend, BackendError};
use aegpu::data::Dataset;
use aegpu::graph::{EntryId, EntryKind, Graph, ParamStore, Shape};
use aegpu::ops::unary::UnaryOp;
use aegpu::ops::{Activation, Axis, BinaryOp, Loss, MatMul, Op, Optimizer, Reduce, ReduceKind};
use aegpu::train::objective::Objective;
use aegpu::train::{
    train, Batch, Mode, Phase, RunControl, RunSettings, Task, TrainError, TrainReport,
};

const ROWS: usize = 6;
const D: usize = 4;
const K: usize = 2;
const SGD_LR: f64 = 0.2;
const MOMENTUM: f64 = 0.9;
const ADAM_LR: f64 = 0.05;

/// The two-group linear autoencoder as a trainer task.
#[derive(Clone)]
struct TwoGroups {
    store: ParamStore,
    w: EntryId,
    v: EntryId,
    /// Phases to hand the trainer (tests of bad phases change them).
    phases: Vec<Phase>,
    /// End the decoder phase by re-normalising every row of V to unit length.
    renormalise: bool,
}

impl TwoGroups {
    fn new() -> Self {
        let mut store = ParamStore::new();
        let w0: Vec<f32> = (0..D * K).map(|i| 0.3 * ((i as f32) * 0.7).sin()).collect();
        let v0: Vec<f32> = (0..K * D).map(|i| 0.3 * ((i as f32) * 1.3).cos()).collect();
        let w = store.add("encoder.weight", Shape::new(D, K), EntryKind::Parameter, w0);
        let v = store.add("decoder.weight", Shape::new(K, D), EntryKind::Parameter, v0);
        let sgd = Optimizer::Sgd {
            momentum: MOMENTUM as f32,
            nesterov: false,
            weight_decay: 0.0,
        };
        let phases = vec![
            Phase::new("encoder", vec![w], sgd, SGD_LR as f32),
            Phase::new("decoder", vec![v], Optimizer::adam(), ADAM_LR as f32),
        ];
        TwoGroups {
            store,
            w,
            v,
            phases,
            renormalise: false,
        }
    }
}

impl Task for TwoGroups {
    fn kind(&self) -> String {
        "two-groups".into()
    }
    fn config_json(&self) -> serde_json::Value {
        serde_json::json!({ "d": D, "k": K })
    }
    fn settings(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn store(&self) -> &ParamStore {
        &self.store
    }
    fn store_mut(&mut self) -> &mut ParamStore {
        &mut self.store
    }
    fn input_width(&self) -> usize {
        D
    }
    fn phases(&self) -> Vec<Phase> {
        self.phases.clone()
    }
    fn uses_rng(&self) -> bool {
        false
    }
    fn objective(
        &self,
        g: &mut Graph,
        phase: usize,
        batch: &Batch,
        _mode: Mode,
    ) -> Result<Objective, TrainError> {
        let plain = Op::MatMul(MatMul {
            trans_a: false,
            trans_b: false,
            bias: false,
            act: Activation::Linear,
        });
        let (w, v) = (g.entry(&self.store, self.w), g.entry(&self.store, self.v));
        let code = g.push(plain.clone(), &[batch.x, w])?;
        let recon = g.push(plain, &[code, v])?;
        let loss = g.push(Op::Loss(Loss::Mse), &[recon, batch.x])?;
        let name = ["encoder_loss", "decoder_loss"][phase];
        Ok(Objective::single(name, loss))
    }
    /// V ← V / ‖V_row‖ after the decoder's update: V², a row sum, √, 1/·, broadcast,
    /// a product, written back by an `Axpy` (y ← 1·x).
    fn state_updates(&self, g: &mut Graph, phase: usize, _: &Batch) -> Result<(), TrainError> {
        if !self.renormalise || phase != 1 {
            return Ok(());
        }
        let v = g.entry(&self.store, self.v);
        let squares = g.push(Op::Binary(BinaryOp::Mul), &[v, v])?;
        let row_sums = g.push(
            Op::Reduce(Reduce {
                kind: ReduceKind::Sum,
                axis: Axis::Cols,
            }),
            &[squares],
        )?;
        let norms = g.push(Op::Unary(UnaryOp::Sqrt), &[row_sums])?;
        let inverse = g.push(Op::Unary(UnaryOp::Reciprocal), &[norms])?;
        let stretched = g.push(Op::Broadcast(Shape::new(K, D)), &[inverse])?;
        let unit = g.push(Op::Binary(BinaryOp::Mul), &[v, stretched])?;
        let one = g.push(
            Op::Fill {
                value: 1.0,
                shape: Shape::SCALAR,
            },
            &[],
        )?;
        g.push(Op::Axpy { accumulate: false }, &[v, unit, one])?;
        Ok(())
    }
}

fn data() -> Dataset {
    let values = (0..ROWS * D)
        .map(|i| ((i * 7 % 11) as f32) / 11.0 - 0.3)
        .collect();
    Dataset::new(ROWS, D, values).unwrap()
}

/// One full batch a step: the shuffle of the rows changes no sum but its order.
fn settings(epochs: usize) -> RunSettings {
    RunSettings {
        epochs,
        batch: ROWS,
        seed: 3,
        loss_every: 0,
        early_stop: None,
        monitor: None,
        lbfgs: None,
    }
}

fn run(
    task: &mut TwoGroups,
    backend: &mut dyn Backend,
    epochs: usize,
) -> Result<TrainReport, TrainError> {
    train(
        task,
        backend,
        &data(),
        None,
        &settings(epochs),
        &RunControl::default(),
        &mut |_| {},
    )
}

/// Row-major products in f64: a [r, m] · b [m, c].
fn matmul(a: &[f64], b: &[f64], r: usize, m: usize, c: usize) -> Vec<f64> {
    let mut out = vec![0.0; r * c];
    for i in 0..r {
        for j in 0..c {
            out[i * c + j] = (0..m).map(|t| a[i * m + t] * b[t * c + j]).sum();
        }
    }
    out
}

fn transpose(a: &[f64], r: usize, c: usize) -> Vec<f64> {
    (0..c * r).map(|i| a[(i % r) * c + i / r]).collect()
}

/// The reference: per step, the encoder phase's loss and SGD-momentum update of W,
/// then the decoder phase's loss (with the new W) and Adam update of V.
struct Reference {
    x: Vec<f64>,
    w: Vec<f64>,
    v: Vec<f64>,
    velocity: Vec<f64>,
    m: Vec<f64>,
    s: Vec<f64>,
    t: i32,
    renormalise: bool,
}

impl Reference {
    fn new(task: &TwoGroups) -> Self {
        let f64s = |id| task.store.values(id).iter().map(|&v| v as f64).collect();
        Reference {
            x: data().values.iter().map(|&v| v as f64).collect(),
            w: f64s(task.w),
            v: f64s(task.v),
            velocity: vec![0.0; D * K],
            m: vec![0.0; K * D],
            s: vec![0.0; K * D],
            t: 0,
            renormalise: task.renormalise,
        }
    }

    /// The loss, the code xW and R = 2/(n·d)·(x̂ − x).
    fn forward(&self) -> (f64, Vec<f64>, Vec<f64>) {
        let code = matmul(&self.x, &self.w, ROWS, D, K);
        let recon = matmul(&code, &self.v, ROWS, K, D);
        let n = (ROWS * D) as f64;
        let loss = recon
            .iter()
            .zip(&self.x)
            .map(|(r, x)| (r - x).powi(2))
            .sum::<f64>()
            / n;
        let residual = recon.iter().zip(&self.x).map(|(r, x)| 2.0 * (r - x) / n);
        (loss, code, residual.collect())
    }

    /// One step; returns both phases' losses.
    fn step(&mut self) -> (f64, f64) {
        let (encoder_loss, _, r) = self.forward();
        let xt = transpose(&self.x, ROWS, D);
        let grad_w = matmul(
            &matmul(&xt, &r, D, ROWS, D),
            &transpose(&self.v, K, D),
            D,
            D,
            K,
        );
        for ((w, vel), g) in self.w.iter_mut().zip(&mut self.velocity).zip(grad_w) {
            *vel = MOMENTUM * *vel + g;
            *w -= SGD_LR * *vel;
        }
        let (decoder_loss, code, r) = self.forward();
        let grad_v = matmul(&transpose(&code, ROWS, K), &r, K, ROWS, D);
        self.t += 1;
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        for (((v, m), s), g) in self
            .v
            .iter_mut()
            .zip(&mut self.m)
            .zip(&mut self.s)
            .zip(grad_v)
        {
            *m = b1 * *m + (1.0 - b1) * g;
            *s = b2 * *s + (1.0 - b2) * g * g;
            let (mh, sh) = (*m / (1.0 - b1.powi(self.t)), *s / (1.0 - b2.powi(self.t)));
            *v -= ADAM_LR * mh / (sh.sqrt() + eps);
        }
        if self.renormalise {
            for row in self.v.chunks_mut(D) {
                let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt();
                row.iter_mut().for_each(|x| *x /= norm);
            }
        }
        (encoder_loss, decoder_loss)
    }
}

fn assert_close(what: &str, got: &[f32], want: &[f64], tol: f64) {
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= tol * (1.0 + w.abs()),
            "{what}[{i}]: trainer {g}, f64 reference {w}"
        );
    }
}

/// Trains 1, 2, … STEPS steps from the same start and compares each run's weights
/// and last epoch's terms with the reference after as many steps.
fn alternating_phases_match_the_reference(backend: &mut dyn Backend, tol: f64) {
    phases_match_the_reference(backend, TwoGroups::new(), tol)
}

fn phases_match_the_reference(backend: &mut dyn Backend, start: TwoGroups, tol: f64) {
    const STEPS: usize = 6;
    let mut reference = Reference::new(&start);
    for steps in 1..=STEPS {
        let (encoder_loss, decoder_loss) = reference.step();
        let mut task = start.clone();
        let report = run(&mut task, backend, steps).unwrap();
        assert_eq!(report.steps, steps as u64);
        let terms = &report.epochs.last().unwrap().terms;
        assert_close(
            "encoder_loss",
            &[terms["encoder_loss"]],
            &[encoder_loss],
            tol,
        );
        assert_close(
            "decoder_loss",
            &[terms["decoder_loss"]],
            &[decoder_loss],
            tol,
        );
        assert_close("W", task.store.values(task.w), &reference.w, tol);
        assert_close("V", task.store.values(task.v), &reference.v, tol);
    }
    // The phases really alternate: the decoder's loss is measured after the encoder's
    // update, so it differs from (here: is below) the encoder's.
    let (a, b) = reference.step();
    assert!(
        b < a,
        "decoder phase loss {b} should follow the encoder's update ({a})"
    );
}

#[test]
fn two_groups_in_alternating_phases_match_an_f64_reference_on_the_cpu() {
    // f32 arithmetic on sums of a few dozen terms: 1e-5 relative.
    alternating_phases_match_the_reference(&mut CpuBackend::<f32>::new(), 1e-5);
}

#[test]
fn two_groups_in_alternating_phases_match_an_f64_reference_on_the_gpu() {
    let Some(mut gpu) = gpu::gpu_backend() else {
        return;
    };
    let before = gpu.stats();
    let mut task = TwoGroups::new();
    let report = run(&mut task, &mut gpu, 3).unwrap();
    // Both phases of a step go to the device as one submission, with no read-back
    // inside an epoch (one epoch = one step here, so one read of the terms).
    assert_eq!(report.submissions_per_step, 1.0);
    assert!(gpu.stats().submissions - before.submissions >= 3);
    // WGSL's sqrt and fused multiply-adds: a few ulp more than the CPU.
    alternating_phases_match_the_reference(&mut gpu, 2e-5);
}

#[test]
fn a_phase_sequence_is_checked_before_training() {
    let cpu = &mut CpuBackend::<f32>::new();
    let mut message = |task: &mut TwoGroups| run(task, cpu, 1).unwrap_err().to_string();

    let mut twice = TwoGroups::new();
    twice.phases[0].params = vec![twice.w, twice.w];
    assert_eq!(
        message(&mut twice),
        "phase `encoder` names parameter `encoder.weight` twice"
    );

    let mut none = TwoGroups::new();
    none.phases[1].params.clear();
    assert_eq!(message(&mut none), "phase `decoder` trains no parameter");

    let mut same_name = TwoGroups::new();
    same_name.phases[1].name = "encoder".into();
    assert_eq!(message(&mut same_name), "two phases are named `encoder`");

    let mut no_phase = TwoGroups::new();
    no_phase.phases.clear();
    assert_eq!(
        message(&mut no_phase),
        "a training step needs at least one phase"
    );

    let mut shared = TwoGroups::new();
    shared.phases[1].group = "encoder".into();
    assert!(message(&mut shared).contains("share optimiser state"));
}

#[test]
fn early_stopping_refuses_a_term_the_model_does_not_report() {
    let cpu = &mut CpuBackend::<f32>::new();
    let mut task = TwoGroups::new();
    let s = RunSettings {
        monitor: Some("kl".into()),
        ..settings(1)
    };
    let err = train(
        &mut task,
        cpu,
        &data(),
        None,
        &s,
        &RunControl::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no term `kl` to monitor: this model reports encoder_loss, decoder_loss"
    );
}

#[test]
fn a_run_many_refuses_a_plan_twice_on_the_gpu() {
    // (The CPU backend runs plans in order and has no shared feed buffers.)
    let Some(mut gpu) = gpu::gpu_backend() else {
        return;
    };
    let mut g = Graph::new();
    let x = g.input("x", Shape::new(1, 1), aegpu::graph::DType::F32);
    let y = g.push(Op::Scale(2.0), &[x]).unwrap();
    g.mark_output(y);
    let plan = gpu
        .prepare(&aegpu::graph::Plan::new(&g, &ParamStore::new()).unwrap())
        .unwrap();
    let feeds = [aegpu::backend::Feed::F32(&[1.0])];
    let err = gpu.run_many(&[(plan, &feeds[..]), (plan, &feeds[..])]);
    assert!(matches!(err, Err(BackendError::Execution(_))));
}

/// Both groups' optimiser state (SGD's velocity, Adam's two moments) and both phases'
/// schedules go into the checkpoint: stopped in the middle of epoch 2 and resumed, the
/// run ends with the straight run's weights and terms, bit for bit.
#[test]
fn a_two_group_run_resumes_bit_for_bit() {
    use aegpu::train::{Checkpoint, Progress, Schedule};
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = std::env::temp_dir().join(format!("aegpu-trainer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("two.ckpt.safetensors");
    let s = RunSettings {
        batch: 2,
        ..settings(3)
    };
    let mut start = TwoGroups::new();
    start.phases[1].schedule = Schedule::Cosine;
    let bits = |t: &TwoGroups| -> Vec<u32> {
        let w = t.store.values(t.w).iter().chain(t.store.values(t.v));
        w.map(|v| v.to_bits()).collect()
    };
    let cpu = &mut CpuBackend::<f32>::new();

    let mut straight = start.clone();
    let r1 = train(
        &mut straight,
        cpu,
        &data(),
        None,
        &s,
        &RunControl::default(),
        &mut |_| {},
    )
    .unwrap();

    let stop = AtomicBool::new(false);
    let mut first = start.clone();
    let control = RunControl {
        checkpoint: Some(path.clone()),
        interrupt: Some(&stop),
        ..RunControl::default()
    };
    let stopped = train(&mut first, cpu, &data(), None, &s, &control, &mut |p| {
        if let Progress::Step {
            epoch: 2, step: 1, ..
        } = p
        {
            stop.store(true, Ordering::Relaxed);
        }
    })
    .unwrap();
    assert!(stopped.interrupted);
    let ck = Checkpoint::load(&path).unwrap();
    assert_eq!(ck.state.position.step, 4);
    let names: Vec<&str> = ck.tensors.iter().map(|t| t.name.as_str()).collect();
    for state in [
        "encoder.weight.optim0",
        "decoder.weight.optim0",
        "decoder.weight.optim1",
    ] {
        assert!(names.contains(&state), "{state} missing from {names:?}");
    }
    assert_eq!(ck.state.schedules.len(), 2);

    let mut resumed = start.clone();
    let control = RunControl {
        resume: Some(&ck),
        ..RunControl::default()
    };
    let r2 = train(&mut resumed, cpu, &data(), None, &s, &control, &mut |_| {}).unwrap();
    assert_eq!(bits(&resumed), bits(&straight));
    let terms = |r: &TrainReport| -> Vec<Vec<u32>> {
        r.epochs
            .iter()
            .map(|e| e.terms.values().map(|v| v.to_bits()).collect())
            .collect()
    };
    assert_eq!(terms(&r2), terms(&r1));
    std::fs::remove_dir_all(&dir).ok();
}

/// A phase may end with ordered state updates that read what its optimiser wrote:
/// here the decoder's rows are put back to unit length after every Adam step, and the
/// next step's encoder phase trains against the re-normalised V (checked against the
/// reference, which re-normalises after its update too).
#[test]
fn state_updates_run_after_the_phase_and_before_the_next_step() {
    let mut start = TwoGroups::new();
    start.renormalise = true;
    let cpu = &mut CpuBackend::<f32>::new();
    phases_match_the_reference(cpu, start.clone(), 1e-5);
    let mut task = start;
    let report = run(&mut task, cpu, 2).unwrap();
    // One more launch group: the re-normalisation is a plan of its own.
    assert!(report.plan_launches > 0);
    for row in task.store.values(task.v).chunks(D) {
        let norm: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-6, "row norm {norm}");
    }
    if let Some(mut gpu) = gpu::gpu_backend() {
        let mut start = TwoGroups::new();
        start.renormalise = true;
        phases_match_the_reference(&mut gpu, start, 2e-5);
    }
}

/// L-BFGS minimises one objective: a step of two phases is refused before anything runs.
#[test]
fn lbfgs_refuses_a_step_of_several_phases() {
    let cpu = &mut CpuBackend::<f32>::new();
    let mut task = TwoGroups::new();
    let s = RunSettings {
        lbfgs: Some(aegpu::train::LbfgsConfig::default()),
        ..settings(2)
    };
    let err = train(
        &mut task,
        cpu,
        &data(),
        None,
        &s,
        &RunControl::default(),
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("one objective"), "{err}");
}
