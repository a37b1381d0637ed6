//! Stacked autoencoder on MNIST: greedy layer-wise pretraining of 784-500-250-30
//! (each stage a shallow tied autoencoder on the codes of the one before), unrolled
//! and fine-tuned, against the same deep network from random initialisation trained
//! for the same total number of epochs.
//!
//! `cargo run --release --example stacked [STAGE_EPOCHS] [FINE_TUNE_EPOCHS] [TRAIN_ROWS]`
//! (defaults: 2, 4, all 60,000)

#[path = "common/mod.rs"]
mod common;

use aegpu::backend::cpu::CpuBackend;
use aegpu::models::{DenseAutoencoder, DenseConfig};
use aegpu::train::{evaluate, fit, fit_stacked, TrainConfig};

fn main() {
    let (stage_epochs, fine_epochs, rows) =
        (common::arg(1, 2), common::arg(2, 4), common::arg(3, 0));
    let (train, test) = common::mnist(rows, 0);
    let config = DenseConfig::new(&[784, 500, 250, 30]);
    let depth = config.depth();
    let stage = TrainConfig {
        epochs: stage_epochs,
        ..TrainConfig::default()
    };
    let fine = TrainConfig {
        epochs: fine_epochs,
        ..TrainConfig::default()
    };
    let mut cpu = CpuBackend::<f32>::new();
    let t = std::time::Instant::now();
    let (stacked, _) = fit_stacked(
        &config,
        7,
        &mut cpu,
        &train,
        None,
        &stage,
        &fine,
        &mut |_, _| {},
    )
    .expect("stacked");
    let stacked_mse = evaluate(&stacked, &mut cpu, &test).expect("evaluation").mse;
    let stacked_seconds = t.elapsed().as_secs_f64();

    // Equal total epochs: every stage epoch counts as one.
    let total = depth * stage_epochs + fine_epochs;
    let mut random = DenseAutoencoder::new(config, 7).expect("config");
    let mut cpu = CpuBackend::<f32>::new();
    let t = std::time::Instant::now();
    let cfg = TrainConfig {
        epochs: total,
        ..TrainConfig::default()
    };
    fit(&mut random, &mut cpu, &train, None, &cfg, &mut |_| {}).expect("training");
    let random_mse = evaluate(&random, &mut cpu, &test).expect("evaluation").mse;
    println!(
        "784-500-250-30 on {} digits, test MSE on {}:",
        train.rows, test.rows
    );
    println!(
        "  pretrained ({depth} stages × {stage_epochs} epochs) + {fine_epochs} fine-tuning: {stacked_mse:.5} ({stacked_seconds:.0}s)"
    );
    println!(
        "  random initialisation, {total} epochs:                       {random_mse:.5} ({:.0}s)",
        t.elapsed().as_secs_f64()
    );
}
