//! A run that is interrupted and resumed from its checkpoint ends exactly where the run
//! that was never stopped ends: the same epoch losses and the same weights, bit for
//! bit, with noise, dropout, a cosine schedule and Adam's moments in play. A checkpoint
//! of another model, other settings or other data is refused, and a diverging run
//! stops with the steps named and its last good checkpoint untouched.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

#[path = "common/gpu.rs"]
mod gpu;

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::Backend;
use aegpu::data::{bundled_mnist_dir, load_mnist, Dataset, Split};
use aegpu::models::{downcast_ref, registry, Autoencoder, DenseAutoencoder, DenseConfig};
use aegpu::ops::random::Noise;
use aegpu::train::{
    fit_with, Checkpoint, Progress, Regularization, RunControl, Schedule, TrainConfig, TrainError,
    TrainReport,
};

fn digits(n: usize) -> Dataset {
    load_mnist(&bundled_mnist_dir(), Split::Train)
        .expect("bundled MNIST")
        .head(n)
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aegpu-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Masking noise and dropout draw from the random streams every step; the cosine
/// schedule depends on the step count; 650 rows in batches of 100 leave a short last
/// batch (a second plan).
fn config() -> TrainConfig {
    TrainConfig {
        epochs: 4,
        batch: 100,
        lr: 3e-3,
        schedule: Schedule::Cosine,
        warmup_steps: 5,
        seed: 11,
        regularization: Regularization {
            noise: Some(Noise::Mask { p: 0.2 }),
            dropout: 0.1,
            ..Regularization::default()
        },
        ..TrainConfig::default()
    }
}

fn model() -> DenseAutoencoder {
    DenseAutoencoder::new(DenseConfig::new(&[784, 48, 16]), 5).unwrap()
}

fn weights(m: &DenseAutoencoder) -> Vec<Vec<u32>> {
    m.parameters()
        .iter()
        .map(|&p| m.store.values(p).iter().map(|v| v.to_bits()).collect())
        .collect()
}

fn losses(r: &TrainReport) -> Vec<(usize, u64, u32)> {
    r.epochs
        .iter()
        .map(|e| (e.epoch, e.step, e.train_loss.to_bits()))
        .collect()
}

/// Runs `config()` and asks it to stop once `stop_at(epoch, step)` holds.
fn run_interrupted(
    data: &Dataset,
    checkpoint: &Path,
    stop_at: impl Fn(usize, usize) -> bool,
) -> TrainReport {
    run_interrupted_on(&mut CpuBackend::<f32>::new(), data, checkpoint, stop_at)
}

fn run_interrupted_on(
    backend: &mut dyn Backend,
    data: &Dataset,
    checkpoint: &Path,
    stop_at: impl Fn(usize, usize) -> bool,
) -> TrainReport {
    let stop = AtomicBool::new(false);
    let control = RunControl {
        checkpoint: Some(checkpoint.to_path_buf()),
        interrupt: Some(&stop),
        ..RunControl::default()
    };
    let mut m = model();
    fit_with(&mut m, backend, data, None, &config(), &control, &mut |p| {
        if let Progress::Step { epoch, step, .. } = p {
            if stop_at(epoch, step) {
                stop.store(true, Ordering::Relaxed);
            }
        }
    })
    .unwrap()
}

fn resume(data: &Dataset, checkpoint: &Path, cfg: &TrainConfig) -> (DenseAutoencoder, TrainReport) {
    resume_on(&mut CpuBackend::<f32>::new(), data, checkpoint, cfg)
}

fn resume_on(
    backend: &mut dyn Backend,
    data: &Dataset,
    checkpoint: &Path,
    cfg: &TrainConfig,
) -> (DenseAutoencoder, TrainReport) {
    let ck = Checkpoint::load(checkpoint).unwrap();
    let control = RunControl {
        resume: Some(&ck),
        ..RunControl::default()
    };
    let mut m = model();
    let r = fit_with(&mut m, backend, data, None, cfg, &control, &mut |_| {}).unwrap();
    (m, r)
}

#[test]
fn a_resumed_run_equals_the_uninterrupted_one_bit_for_bit() {
    let data = digits(650);
    let mut whole = model();
    let uninterrupted = fit_with(
        &mut whole,
        &mut CpuBackend::<f32>::new(),
        &data,
        None,
        &config(),
        &RunControl::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(uninterrupted.steps, 4 * 7);

    // Stopped in the middle of epoch 2 (after its 3rd batch), and between epochs 3 and 4.
    for (what, stop_at) in [
        ("mid-epoch", (2usize, 3usize)),
        ("at an epoch's end", (3, 7)),
    ] {
        let path = temp(&format!("run-{}.ckpt.safetensors", stop_at.0));
        let first = run_interrupted(&data, &path, |e, s| (e, s) == stop_at);
        assert!(first.interrupted, "{what}: the run stopped");
        let step = first.checkpoint.as_ref().unwrap().1;
        assert_eq!(step as usize, (stop_at.0 - 1) * 7 + stop_at.1, "{what}");

        let (resumed, second) = resume(&data, &path, &config());
        assert_eq!(second.resumed_from_step, Some(step));
        assert_eq!(
            losses(&second),
            losses(&uninterrupted),
            "{what}: epoch losses"
        );
        assert_eq!(weights(&resumed), weights(&whole), "{what}: weights");
    }
}

#[test]
fn on_the_gpu_too_a_resumed_run_equals_the_uninterrupted_one() {
    // The optimiser state and accumulator come back from the device into the file and
    // go up again; the kernels are deterministic, so the runs agree bit for bit.
    let Some(mut gpu) = gpu::gpu_backend() else {
        return;
    };
    let data = digits(250);
    let cfg = TrainConfig {
        epochs: 2,
        ..config()
    };
    let mut whole = model();
    let straight = fit_with(
        &mut whole,
        &mut gpu,
        &data,
        None,
        &cfg,
        &RunControl::default(),
        &mut |_| {},
    )
    .unwrap();
    let path = temp("gpu.ckpt.safetensors");
    let stop = AtomicBool::new(false);
    let first = fit_with(
        &mut model(),
        &mut gpu,
        &data,
        None,
        &cfg,
        &RunControl {
            checkpoint: Some(path.clone()),
            interrupt: Some(&stop),
            ..RunControl::default()
        },
        &mut |p| {
            if let Progress::Step {
                epoch: 1, step: 2, ..
            } = p
            {
                stop.store(true, Ordering::Relaxed);
            }
        },
    )
    .unwrap();
    assert!(first.interrupted);
    let (resumed, second) = resume_on(&mut gpu, &data, &path, &cfg);
    assert_eq!(losses(&second), losses(&straight));
    assert_eq!(weights(&resumed), weights(&whole));
}

#[test]
fn a_checkpoint_loads_as_a_model_and_can_extend_a_run() {
    let data = digits(300);
    let path = temp("extend.ckpt.safetensors");
    let control = RunControl {
        checkpoint: Some(path.clone()),
        checkpoint_every: 1,
        ..RunControl::default()
    };
    let cfg = TrainConfig {
        epochs: 2,
        schedule: Schedule::Constant,
        ..config()
    };
    let mut m = model();
    fit_with(
        &mut m,
        &mut CpuBackend::<f32>::new(),
        &data,
        None,
        &cfg,
        &control,
        &mut |_| {},
    )
    .unwrap();
    // The checkpoint after the last epoch is a model file too.
    let (loaded, _) = registry::load(&path).unwrap();
    let loaded = downcast_ref::<DenseAutoencoder>(loaded.as_ref()).expect("a dense model");
    assert_eq!(weights(loaded), weights(&m));

    // Asking for the same 2 epochs again has nothing left to do: the run ends at once
    // with the checkpoint's weights (a run killed between its last checkpoint and its
    // model save is finished this way), and 3 epochs would be past its end.
    let ck = Checkpoint::load(&path).unwrap();
    let mut finished = model();
    let again = fit_with(
        &mut finished,
        &mut CpuBackend::<f32>::new(),
        &data,
        None,
        &cfg,
        &RunControl {
            resume: Some(&ck),
            ..RunControl::default()
        },
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(again.epochs.len(), 2);
    assert_eq!(weights(&finished), weights(&m));
    let mut past_end = ck.clone();
    past_end.state.position.next_epoch = 4;
    let again = fit_with(
        &mut model(),
        &mut CpuBackend::<f32>::new(),
        &data,
        None,
        &cfg,
        &RunControl {
            resume: Some(&past_end),
            ..RunControl::default()
        },
        &mut |_| {},
    );
    assert!(matches!(again, Err(TrainError::Checkpoint { .. })));
    // With a constant rate, 2 + 2 epochs equal 4 straight ones.
    let (extended, report) = resume(
        &data,
        &path,
        &TrainConfig {
            epochs: 4,
            ..cfg.clone()
        },
    );
    let mut straight = model();
    let straight_report = fit_with(
        &mut straight,
        &mut CpuBackend::<f32>::new(),
        &data,
        None,
        &TrainConfig { epochs: 4, ..cfg },
        &RunControl::default(),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(losses(&report), losses(&straight_report));
    assert_eq!(weights(&extended), weights(&straight));
}

#[test]
fn resuming_with_another_model_settings_or_data_is_refused() {
    let data = digits(300);
    let path = temp("refuse.ckpt.safetensors");
    run_interrupted(&data, &path, |e, s| (e, s) == (1, 2));
    let ck = Checkpoint::load(&path).unwrap();
    let try_resume = |m: &mut dyn Autoencoder, cfg: &TrainConfig, d: &Dataset| {
        let control = RunControl {
            resume: Some(&ck),
            ..RunControl::default()
        };
        match fit_with(
            m,
            &mut CpuBackend::<f32>::new(),
            d,
            None,
            cfg,
            &control,
            &mut |_| {},
        ) {
            Err(e @ TrainError::Checkpoint { .. }) => e.to_string(),
            other => panic!("expected a refusal, got {:?}", other.map(|r| r.steps)),
        }
    };
    let other_model = &mut DenseAutoencoder::new(DenseConfig::new(&[784, 32, 16]), 5).unwrap();
    assert!(try_resume(other_model, &config(), &data).contains("another model"));
    let other_lr = TrainConfig {
        lr: 1e-2,
        ..config()
    };
    assert!(try_resume(&mut model(), &other_lr, &data).contains("lr"));
    assert!(try_resume(&mut model(), &config(), &digits(301)).contains("301"));
    let mut shifted = data.clone();
    shifted.values[7] = 0.5;
    assert!(try_resume(&mut model(), &config(), &shifted).contains("other data"));

    // A model file is not a checkpoint.
    let model_file = temp("plain-model.safetensors");
    model().save(&model_file, &Default::default()).unwrap();
    let err = Checkpoint::load(&model_file).unwrap_err().to_string();
    assert!(err.contains("not a checkpoint"), "{err}");
}

#[test]
fn a_diverging_run_names_the_step_and_keeps_the_last_good_checkpoint() {
    // A linear model with a rate that warms up to far too much: fine for the first
    // epoch, then the weights blow up to infinity and NaN.
    let data = digits(200);
    let mut linear = DenseConfig::new(&[784, 8]);
    linear.activations = vec![aegpu::ops::Activation::Linear; 2];
    let cfg = TrainConfig {
        epochs: 6,
        batch: 50,
        lr: 1e4,
        optimizer: aegpu::ops::Optimizer::Sgd {
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        },
        warmup_steps: 400,
        loss_every: 1,
        ..TrainConfig::default()
    };
    let path = temp("diverge.ckpt.safetensors");
    let control = RunControl {
        checkpoint: Some(path.clone()),
        checkpoint_every: 1,
        ..RunControl::default()
    };
    let mut m = DenseAutoencoder::new(linear.clone(), 1).unwrap();
    let err = fit_with(
        &mut m,
        &mut CpuBackend::<f32>::new(),
        &data,
        None,
        &cfg,
        &control,
        &mut |_| {},
    )
    .unwrap_err();
    let TrainError::Diverged(d) = &err else {
        panic!("expected divergence, got {err}")
    };
    // The loss is read after every step, so the step is exact.
    assert_eq!(d.first_step, d.last_step, "{err}");
    assert!(d.epoch >= 2, "{err}");
    let (kept, kept_step) = d.last_good_checkpoint.clone().expect("a checkpoint before");
    assert_eq!(kept, path);
    assert!(kept_step < d.last_step);
    assert!(err
        .to_string()
        .contains(&format!("at step {}", d.last_step)));
    println!("{err}");
    // The checkpoint on disk is the good one.
    let ck = Checkpoint::load(&path).unwrap();
    assert_eq!(ck.state.position.step, kept_step);
    assert!(ck
        .tensors
        .iter()
        .all(|t| t.values.iter().all(|v| v.is_finite())));
}

#[test]
fn the_metrics_log_has_one_json_line_per_epoch() {
    let data = digits(300);
    let log = temp("metrics.jsonl");
    let control = RunControl {
        metrics_log: Some(log.clone()),
        ..RunControl::default()
    };
    let cfg = TrainConfig {
        epochs: 3,
        ..config()
    };
    let report = fit_with(
        &mut model(),
        &mut CpuBackend::<f32>::new(),
        &data,
        None,
        &cfg,
        &control,
        &mut |_| {},
    )
    .unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for (line, epoch) in lines.iter().zip(&report.epochs) {
        assert_eq!(line["epoch"], epoch.epoch);
        assert_eq!(line["step"], epoch.step);
        assert_eq!(
            line["train_loss"].as_f64().unwrap() as f32,
            epoch.train_loss
        );
        assert!(line["validation_loss"].is_null());
        assert!(line["samples_per_s"].as_f64().unwrap() > 0.0);
        assert_eq!(line["lr"].as_f64().unwrap() as f32, epoch.lr);
    }
}

/// Stacked pretraining keeps a checkpoint per stage: interrupted in the middle of
/// stage 2 and resumed, it loads stage 1, continues stage 2 and fine-tunes to the
/// weights of the run that was never stopped, bit for bit.
#[test]
fn stacked_pretraining_resumes_from_its_stage_checkpoints() {
    use aegpu::train::{fit_stacked_with, StackedControl, StackedStage};
    let data = digits(400);
    let deep = DenseConfig::new(&[784, 32, 8]);
    let stage = TrainConfig {
        epochs: 2,
        batch: 100,
        seed: 4,
        ..config()
    };
    let fine_tune = TrainConfig {
        epochs: 2,
        ..stage.clone()
    };
    let base = temp("stacked.ckpt.safetensors");
    let run = |control: &StackedControl, stop: Option<&AtomicBool>| {
        fit_stacked_with(
            &deep,
            9,
            &mut CpuBackend::<f32>::new(),
            &data,
            None,
            &stage,
            &fine_tune,
            control,
            &mut |phase, p| {
                let in_stage_2 = phase == StackedStage::Stage { index: 1, of: 2 };
                if let (
                    true,
                    Progress::Step {
                        epoch: 2, step: 2, ..
                    },
                    Some(stop),
                ) = (in_stage_2, p, stop)
                {
                    stop.store(true, Ordering::Relaxed);
                }
            },
        )
    };
    let (straight, _) = run(&StackedControl::default(), None).unwrap();

    let stop = AtomicBool::new(false);
    let control = StackedControl {
        checkpoint: Some(base.clone()),
        interrupt: Some(&stop),
        keep_finished: true,
        ..StackedControl::default()
    };
    let err = run(&control, Some(&stop)).unwrap_err();
    assert!(matches!(err, TrainError::Interrupted(_)), "{err}");
    assert!(
        err.to_string()
            .contains("interrupted in stage2 after step 6"),
        "{err}"
    );
    let stage1 = control.path_of("stage1").unwrap();
    let stage2 = control.path_of("stage2").unwrap();
    assert_eq!(stage1, temp("stacked.ckpt.stage1.safetensors"));
    assert_eq!(
        Checkpoint::load(&stage1).unwrap().state.position.next_epoch,
        3
    );
    assert_eq!(Checkpoint::load(&stage2).unwrap().state.position.step, 6);

    let resumed_control = StackedControl {
        checkpoint: Some(base.clone()),
        resume: true,
        ..StackedControl::default()
    };
    let (resumed, report) = run(&resumed_control, None).unwrap();
    assert_eq!(
        report.stages[0].samples_per_s, 0.0,
        "stage 1 is loaded, not retrained"
    );
    assert_eq!(report.stages[1].resumed_from_step, Some(6));
    assert_eq!(weights(&resumed), weights(&straight));
}

/// Full-batch L-BFGS runs on the same trainer: an epoch is one iteration, and the
/// checkpoint holds its history (the s and y vectors as tensors, ρ, γ and the last step
/// as run state), so an interrupted run continues bit for bit, evaluations included.
#[test]
fn an_lbfgs_run_resumes_with_its_history_bit_for_bit() {
    let data = digits(300);
    let validation = digits(340).subset(&(300..340).collect::<Vec<_>>());
    let cfg = TrainConfig {
        lbfgs: Some(aegpu::train::LbfgsConfig {
            history: 4,
            ..aegpu::train::LbfgsConfig::default()
        }),
        ..TrainConfig::lbfgs(9)
    };
    let fit_run = |m: &mut DenseAutoencoder, control: &RunControl, stop: Option<&AtomicBool>| {
        fit_with(
            m,
            &mut CpuBackend::<f32>::new(),
            &data,
            Some(&validation),
            &cfg,
            control,
            &mut |p| {
                if let (Progress::Epoch(e), Some(stop)) = (p, stop) {
                    // After 6 iterations: the history (4 pairs) has already wrapped.
                    stop.store(e.epoch == 6, Ordering::Relaxed);
                }
            },
        )
        .unwrap()
    };
    let mut whole = model();
    let straight = fit_run(&mut whole, &RunControl::default(), None);
    let lbfgs = straight.lbfgs.as_ref().unwrap();
    assert_eq!(lbfgs.iterations, 9, "{:?}", lbfgs.converged);
    assert!(lbfgs.evaluations >= 9);
    let first = straight.epochs[0].train_loss;
    let last = straight.epochs[8].train_loss;
    assert!(
        last < 0.8 * first,
        "L-BFGS lowers the loss: {first} → {last}"
    );
    assert!(straight.epochs.iter().all(|e| e.validation_loss.is_some()));

    let path = temp("lbfgs.ckpt.safetensors");
    let stop = AtomicBool::new(false);
    let control = RunControl {
        checkpoint: Some(path.clone()),
        interrupt: Some(&stop),
        ..RunControl::default()
    };
    let first_part = fit_run(&mut model(), &control, Some(&stop));
    assert!(first_part.interrupted);
    assert_eq!(first_part.checkpoint.as_ref().unwrap().1, 6);

    let ck = Checkpoint::load(&path).unwrap();
    assert_eq!(ck.state.lbfgs.as_ref().unwrap().pairs.len(), 4);
    let mut resumed = model();
    let control = RunControl {
        resume: Some(&ck),
        ..RunControl::default()
    };
    let second = fit_run(&mut resumed, &control, None);
    assert_eq!(losses(&second), losses(&straight));
    assert_eq!(weights(&resumed), weights(&whole));
    assert_eq!(
        second.lbfgs.as_ref().unwrap().evaluations,
        lbfgs.evaluations,
        "the same line searches"
    );

    // A minibatch run cannot continue it.
    let minibatch = TrainConfig {
        lbfgs: None,
        ..cfg.clone()
    };
    let control = RunControl {
        resume: Some(&ck),
        ..RunControl::default()
    };
    let err = fit_with(
        &mut model(),
        &mut CpuBackend::<f32>::new(),
        &data,
        None,
        &minibatch,
        &control,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("lbfgs"), "{err}");
}
