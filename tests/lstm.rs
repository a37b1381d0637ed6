//! The LSTM sequence autoencoder: backpropagation through time against finite
//! differences (the whole unrolled objective, in f64), training on the CPU and on the
//! GPU backend step for step, both decoding orders, and `aegpu train --model lstm` on
//! the bundled heartbeats with its refusals.

#[path = "common/gpu.rs"]
mod gpu;

#[path = "common/cli.rs"]
mod cli;
use cli::*;

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::Backend;
use aegpu::data::Dataset;
use aegpu::graph::{grad, EntryKind, Graph, Plan, Shape};
use aegpu::models::lstm::{LstmAutoencoder, LstmConfig, Order};
use aegpu::models::Autoencoder;
use aegpu::ops::Loss;
use aegpu::train::{fit, run_rows, Regularization, RowOutput, TrainConfig};

fn small(order: Order) -> LstmConfig {
    LstmConfig {
        units: 4,
        code: 3,
        order,
        ..LstmConfig::new(5, 2)
    }
}

/// `rows` two-channel series of 5 steps: phase-shifted sines.
fn series(rows: usize) -> Vec<f32> {
    (0..rows * 10)
        .map(|i| {
            let (r, t, c) = (i / 10, (i % 10) / 2, i % 2);
            (0.9 * t as f32 + r as f32 * 0.7 + c as f32).sin()
        })
        .collect()
}

/// Every parameter's gradient through the 5-step encoder and decoder (the state's
/// cell path, the hidden path through the matmul, the reversed read-out) against
/// central differences of the f64 objective.
#[test]
fn backpropagation_through_time_matches_finite_differences() {
    for order in [Order::Reverse, Order::Forward] {
        let mut model = LstmAutoencoder::new(small(order), 4).unwrap();
        let rows = 3;
        let x_id = model
            .store
            .add("x", Shape::new(rows, 10), EntryKind::Data, series(rows));
        let mut g = Graph::new();
        let x = g.entry(&model.store, x_id);
        let objective = model
            .objective(&mut g, x, Loss::Mse, &Regularization::default(), None)
            .unwrap();
        let params = model.parameters();
        let values: Vec<_> = params.iter().map(|&p| g.entry(&model.store, p)).collect();
        let grads = grad(&mut g, objective.total, &values).unwrap();
        g.mark_output(objective.total);
        for &d in &grads {
            g.mark_output(d);
        }
        let mut cpu = CpuBackend::<f64>::new();
        cpu.upload_store(&model.store).unwrap();
        let plan = cpu.prepare(&Plan::new(&g, &model.store).unwrap()).unwrap();
        cpu.run(plan, &[]).unwrap();
        let h = 1e-6;
        for (&p, &d) in params.iter().zip(&grads) {
            let analytic = cpu.output_values(plan, d).unwrap();
            let p0 = cpu.entry_values(p).unwrap();
            // Every element of the small tensors, every 7th of the weights.
            for j in (0..p0.len()).step_by(if p0.len() > 40 { 7 } else { 1 }) {
                let mut at = |delta: f64| {
                    let mut v = p0.clone();
                    v[j] += delta;
                    cpu.set_entry_values(p, v).unwrap();
                    cpu.run(plan, &[]).unwrap();
                    cpu.output_values(plan, objective.total).unwrap()[0]
                };
                let numeric = (at(h) - at(-h)) / (2.0 * h);
                cpu.set_entry_values(p, p0.clone()).unwrap();
                let scale = 0.01f64.max(analytic[j].abs()).max(numeric.abs());
                assert!(
                    (analytic[j] - numeric).abs() / scale < 1e-5,
                    "{order:?} {}[{j}]: autodiff {} vs finite differences {numeric}",
                    model.store.get(p).name,
                    analytic[j]
                );
            }
        }
    }
}

fn train(backend: &mut dyn Backend, order: Order, epochs: usize) -> (Vec<Vec<f32>>, Vec<f32>) {
    let mut model = LstmAutoencoder::new(small(order), 2).unwrap();
    let data = Dataset::new(12, 10, series(12)).unwrap();
    let cfg = TrainConfig {
        epochs,
        batch: 4,
        lr: 1e-2,
        seed: 3,
        ..TrainConfig::default()
    };
    let report = fit(&mut model, backend, &data, None, &cfg, &mut |_| {}).unwrap();
    let weights = model
        .parameters()
        .iter()
        .map(|&p| model.store.values(p).to_vec())
        .collect();
    let losses = report.epochs.iter().map(|e| e.train_loss).collect();
    (weights, losses)
}

/// Six Adam steps of the same model on the same batches: the WGSL kernels (the fused
/// cell, its gradient, the column copies) and the CPU reference end with the same
/// weights to f32 rounding, in both decoding orders; the loss falls.
#[test]
fn training_steps_agree_on_cpu_and_gpu() {
    let Some(mut gpu) = gpu::gpu_backend() else {
        return;
    };
    for order in [Order::Reverse, Order::Forward] {
        let (cpu_weights, cpu_losses) = train(&mut CpuBackend::<f32>::new(), order, 2);
        let (gpu_weights, gpu_losses) = train(&mut gpu, order, 2);
        let worst = cpu_weights
            .iter()
            .zip(&gpu_weights)
            .flat_map(|(a, b)| a.iter().zip(b).map(|(a, b)| (a - b).abs()))
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "{order:?}: weights differ by {worst}");
        for (a, b) in cpu_losses.iter().zip(&gpu_losses) {
            assert!(
                (a - b).abs() < 1e-4 * a.abs().max(1.0),
                "{cpu_losses:?} vs {gpu_losses:?}"
            );
        }
    }
}

/// A few hundred steps on twelve series bring the reconstruction error well below the
/// series' variance (≈ 0.5), and the reconstruction comes back in time order whichever
/// order the decoder emits in.
#[test]
fn learns_to_reconstruct_in_time_order() {
    let mut cpu = CpuBackend::<f32>::new();
    for order in [Order::Reverse, Order::Forward] {
        let mut model = LstmAutoencoder::new(small(order), 2).unwrap();
        let data = Dataset::new(12, 10, series(12)).unwrap();
        let cfg = TrainConfig {
            epochs: 150,
            batch: 4,
            lr: 2e-2,
            seed: 3,
            ..TrainConfig::default()
        };
        let report = fit(&mut model, &mut cpu, &data, None, &cfg, &mut |_| {}).unwrap();
        let last = report.epochs.last().unwrap().train_loss;
        assert!(last < 0.05, "{order:?}: train MSE {last} after 150 epochs");
        let recon = run_rows(&model, &mut cpu, &data, RowOutput::Reconstruction).unwrap();
        // Per-step errors are small at both ends of the sequence: nothing is reversed.
        for t in [0, 4] {
            let err: f32 = (0..12)
                .flat_map(|r| (0..2).map(move |c| r * 10 + t * 2 + c))
                .map(|i| (recon[i] - data.values[i]).powi(2))
                .sum::<f32>()
                / 24.0;
            assert!(err < 0.1, "{order:?}: step {t} error {err}");
        }
    }
}

/// Train on the bundled heartbeats (label column 0), then encode: one code of
/// `--code-size` values per beat; `info` names the architecture.
#[test]
fn cli_trains_encodes_and_describes() {
    let model = temp("ecg.safetensors");
    let model_arg = model.to_str().unwrap();
    let out = aegpu(&[
        "train",
        "--model",
        "lstm",
        "--data",
        "data/ucr/ECG5000_TRAIN.csv.gz",
        "--label-column",
        "0",
        "--units",
        "8",
        "--code-size",
        "4",
        "--epochs",
        "1",
        "--batch",
        "50",
        "--backend",
        "cpu",
        "--out",
        model_arg,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["kind"], "lstm");
    assert_eq!(report["lstm"]["steps"], 140);
    assert!(report["train_loss"].as_f64().unwrap().is_finite());

    let codes = temp("codes.csv");
    let out = aegpu(&[
        "encode",
        "--model",
        model_arg,
        "--data",
        "data/ucr/ECG5000_TRAIN.csv.gz",
        "--label-column",
        "0",
        "--out",
        codes.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&codes).unwrap();
    let data_lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(|c: char| c.is_alphabetic()))
        .collect();
    assert_eq!(data_lines.len(), 500);
    assert_eq!(data_lines[0].split(',').count(), 4);

    let out = aegpu(&["info", "--model", model_arg]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("lstm 140×1 → 8 → code 4 → 8 reverse"),
        "{stdout}"
    );
}

/// Sequences of unequal length, steps that do not divide the row, an empty layer and
/// regularisers the kind does not take: one line each, no model written.
#[test]
fn cli_refuses_what_it_cannot_train() {
    let ragged = temp("ragged.csv");
    std::fs::write(&ragged, "0.1,0.2,0.3,0.4\n0.5,0.6,0.7\n").unwrap();
    let out_path = temp("never.safetensors");
    let out = out_path.to_str().unwrap();
    let data = ragged.to_str().unwrap();
    let line = one_error_line(&aegpu(&[
        "train", "--model", "lstm", "--data", data, "--out", out,
    ]));
    assert!(line.contains("line 2"), "{line}");

    let ecg = "data/ucr/ECG5000_TRAIN.csv.gz";
    let base = [
        "train",
        "--model",
        "lstm",
        "--data",
        ecg,
        "--label-column",
        "0",
        "--out",
        out,
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter().chain(extra).map(|s| s.to_string()).collect()
    };
    for (extra, expect) in [
        (
            &["--step-features", "3"][..],
            "not a whole number of steps of --step-features 3",
        ),
        (&["--units", "0"][..], "at least one of its units"),
        (&["--code-size", "0"][..], "at least one of its code values"),
        (&["--order", "sideways"][..], "expected reverse or forward"),
        (
            &["--dropout", "0.1"][..],
            "takes no noise, dropout or penalties",
        ),
    ] {
        let args = with(extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let line = one_error_line(&aegpu(&args));
        assert!(line.contains(expect), "{extra:?}: {line}");
    }
    assert!(!out_path.exists());
}
