//! A few training steps of the same model on both backends agree: the same batches
//! (gathered on the device from the resident u8 dataset), forward, backward and fused
//! optimiser updates. Summation order differs between sgemm and the WGSL tiles, so
//! agreement is to f32 rounding amplified over a few steps, not bit-exact.

#[path = "common/gpu.rs"]
mod gpu;

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::Backend;
use aegpu::data::{bundled_mnist_dir, load_mnist, Dataset, Split};
use aegpu::models::{DenseAutoencoder, DenseConfig};
use aegpu::ops::{Loss, Optimizer};
use aegpu::train::{evaluate, fit, TrainConfig};

fn digits(n: usize) -> Dataset {
    load_mnist(&bundled_mnist_dir(), Split::Train)
        .expect("bundled MNIST")
        .head(n)
}

/// Trains one copy of the model per backend; returns (epoch losses, parameters, test MSE).
fn train_on(
    backend: &mut dyn Backend,
    config: &DenseConfig,
    cfg: &TrainConfig,
    data: &Dataset,
) -> (Vec<f32>, Vec<Vec<f32>>, f32) {
    let mut model = DenseAutoencoder::new(config.clone(), 3).unwrap();
    let report = fit(&mut model, backend, data, None, cfg, &mut |_| {}).unwrap();
    let params = model
        .parameters()
        .iter()
        .map(|&p| model.store.values(p).to_vec())
        .collect();
    let mse = evaluate(&model, backend, data).unwrap().mse;
    (
        report.epochs.iter().map(|e| e.train_loss).collect(),
        params,
        mse,
    )
}

fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn compare(config: DenseConfig, cfg: TrainConfig, param_tolerance: f32) {
    let Some(mut gpu) = gpu::gpu_backend() else {
        return;
    };
    let data = digits(700); // 2 full batches of 256 and a last one of 188 per epoch
    let mut cpu = CpuBackend::<f32>::new();
    let (cpu_loss, cpu_params, cpu_mse) = train_on(&mut cpu, &config, &cfg, &data);
    let (gpu_loss, gpu_params, gpu_mse) = train_on(&mut gpu, &config, &cfg, &data);
    for (c, g) in cpu_loss.iter().zip(&gpu_loss) {
        assert!(
            (c - g).abs() <= 1e-3 * c.abs(),
            "epoch losses differ: cpu {cpu_loss:?} gpu {gpu_loss:?}"
        );
    }
    assert!(
        (cpu_mse - gpu_mse).abs() <= 1e-3 * cpu_mse,
        "MSE after training: cpu {cpu_mse} gpu {gpu_mse}"
    );
    let d = max_abs_diff(&cpu_params, &gpu_params);
    assert!(
        d <= param_tolerance,
        "parameters differ by up to {d} (tolerance {param_tolerance})"
    );
    eprintln!("cpu losses {cpu_loss:?}, gpu losses {gpu_loss:?}, max parameter difference {d:.2e}");
}

#[test]
fn sgd_with_momentum_steps_agree() {
    // SGD moves every weight by lr × (a smooth function of the gradient), so f32
    // rounding differences stay at rounding size: 1e-5 after 6 steps.
    let cfg = TrainConfig {
        epochs: 2,
        lr: 0.5,
        optimizer: Optimizer::Sgd {
            momentum: 0.9,
            nesterov: false,
            weight_decay: 1e-4,
        },
        ..TrainConfig::default()
    };
    compare(DenseConfig::new(&[784, 64, 16]), cfg, 1e-5);
}

#[test]
fn adam_steps_agree_with_tied_weights_and_bce() {
    // Adam divides by sqrt(v): a weight whose gradient is ~0 on one backend and tiny
    // of the other sign on the other may move by up to lr per step in opposite
    // directions, so parameters agree to a few lr-sized steps at worst (6 × 1e-3),
    // while losses agree to 1e-3 relative.
    let mut config = DenseConfig::new(&[784, 64, 16]);
    config.tied = true;
    let cfg = TrainConfig {
        epochs: 2,
        lr: 1e-3,
        loss: Loss::BceWithLogits,
        ..TrainConfig::default()
    };
    compare(config, cfg, 6e-3);
}

#[test]
fn data_larger_than_a_storage_binding_trains_from_host_batches() {
    let Some(mut gpu) = gpu::gpu_backend() else {
        return;
    };
    let limit = gpu.adapter_summary().max_storage_buffer_binding_size;
    if limit > 512 << 20 {
        eprintln!("adapter allows {limit}-byte bindings; this test needs a small limit (llvmpipe: 128 MiB)");
        return;
    }
    // f32 data (not k/255, so not packed) just over the limit: it cannot be resident.
    let cols = 512;
    let rows = (limit as usize / 4) / cols + 64;
    let values: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let data = Dataset::new(rows, cols, values).unwrap();
    let config = DenseConfig::new(&[cols, 4]);
    let cfg = TrainConfig {
        epochs: 1,
        batch: 8192,
        ..TrainConfig::default()
    };

    let mut on_gpu = DenseAutoencoder::new(config.clone(), 3).unwrap();
    let gpu_report = fit(&mut on_gpu, &mut gpu, &data, None, &cfg, &mut |_| {}).unwrap();
    assert!(
        !gpu_report.batches_resident,
        "{rows}×{cols} f32 should not fit a {limit}-byte binding"
    );

    let mut cpu = CpuBackend::<f32>::new();
    let mut on_cpu = DenseAutoencoder::new(config, 3).unwrap();
    let cpu_report = fit(&mut on_cpu, &mut cpu, &data, None, &cfg, &mut |_| {}).unwrap();
    assert!(cpu_report.batches_resident);
    let (g, c) = (
        gpu_report.epochs[0].train_loss,
        cpu_report.epochs[0].train_loss,
    );
    assert!(
        (g - c).abs() <= 1e-3 * c,
        "same batches, same loss: gpu {g}, cpu {c}"
    );
}

#[test]
fn classifier_fine_tuning_steps_agree() {
    use aegpu::data::balanced_subset;
    use aegpu::models::{Classifier, ClassifierConfig};
    use aegpu::train::{classify::logits, fit_classifier, ClassifyConfig};
    let Some(mut gpu) = gpu::gpu_backend() else {
        return;
    };
    // 100 balanced labels, batch 32: three full batches and a last one of 4 per epoch.
    let data = balanced_subset(&digits(1000), 100, 0).unwrap();
    let arch = ClassifierConfig::from_autoencoder(&DenseConfig::new(&[784, 64, 32]), 10);
    let cfg = ClassifyConfig {
        epochs: 3,
        ..ClassifyConfig::default()
    };
    let run = |backend: &mut dyn Backend| {
        let mut model = Classifier::random(&arch, 5).unwrap();
        let report = fit_classifier(&mut model, backend, &data, &cfg, &mut |_, _| {}).unwrap();
        (report.epoch_losses, logits(&model, backend, &data).unwrap())
    };
    let (cpu_loss, cpu_logits) = run(&mut CpuBackend::<f32>::new());
    let (gpu_loss, gpu_logits) = run(&mut gpu);
    for (c, g) in cpu_loss.iter().zip(&gpu_loss) {
        assert!(
            (c - g).abs() <= 1e-3 * c.abs(),
            "epoch losses differ: cpu {cpu_loss:?} gpu {gpu_loss:?}"
        );
    }
    let d = max_abs_diff(&[cpu_logits], &[gpu_logits]);
    assert!(d <= 1e-2, "logits differ by up to {d}");
    eprintln!("cpu losses {cpu_loss:?}, gpu losses {gpu_loss:?}, max logit difference {d:.2e}");
}
