//! Resume equivalence on MNIST: a denoising 784-256-64 autoencoder trained for 6
//! epochs straight, and the same run stopped in the middle of epoch 3 (as Ctrl-C
//! stops `aegpu train`), saved to a checkpoint and resumed from the file. Prints both
//! loss curves side by side and how far apart the final weights are (they should be
//! identical, bit for bit), and writes both metrics logs for `aegpu plot loss`.
//!
//! ```text
//! cargo run --release --example resume [-- OUT_DIR]
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use aegpu::backend::cpu::CpuBackend;
use aegpu::data::{bundled_mnist_dir, load_mnist, Split};
use aegpu::models::{DenseAutoencoder, DenseConfig};
use aegpu::ops::random::Noise;
use aegpu::train::{
    fit_with, Checkpoint, Progress, Regularization, RunControl, Schedule, TrainConfig,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or("resume-out".into()));
    std::fs::create_dir_all(&out)?;
    let train = load_mnist(&bundled_mnist_dir(), Split::Train)?;
    let cfg = TrainConfig {
        epochs: 6,
        schedule: Schedule::Cosine,
        regularization: Regularization {
            noise: Some(Noise::Mask { p: 0.25 }),
            ..Regularization::default()
        },
        ..TrainConfig::default()
    };
    let new_model = || DenseAutoencoder::new(DenseConfig::new(&[784, 256, 64]), 0);
    let steps_per_epoch = train.rows.div_ceil(cfg.batch);

    let mut straight = new_model()?;
    let straight_log = out.join("straight.jsonl");
    let whole = fit_with(
        &mut straight,
        &mut CpuBackend::<f32>::new(),
        &train,
        None,
        &cfg,
        &RunControl {
            metrics_log: Some(straight_log.clone()),
            ..RunControl::default()
        },
        &mut |_| {},
    )?;

    // Stopped after batch 100 of epoch 3, in a fresh backend and model...
    let checkpoint = out.join("interrupted.ckpt.safetensors");
    let resumed_log = out.join("resumed.jsonl");
    let stop = AtomicBool::new(false);
    let first = fit_with(
        &mut new_model()?,
        &mut CpuBackend::<f32>::new(),
        &train,
        None,
        &cfg,
        &RunControl {
            checkpoint: Some(checkpoint.clone()),
            metrics_log: Some(resumed_log.clone()),
            interrupt: Some(&stop),
            ..RunControl::default()
        },
        &mut |p| {
            if let Progress::Step {
                epoch: 3,
                step: 100,
                ..
            } = p
            {
                stop.store(true, Ordering::Relaxed);
            }
        },
    )?;
    let (_, stopped_at) = first.checkpoint.clone().ok_or("no checkpoint written")?;
    // ... then resumed from the file in another fresh backend and model.
    let ck = Checkpoint::load(&checkpoint)?;
    let mut resumed = new_model()?;
    let rest = fit_with(
        &mut resumed,
        &mut CpuBackend::<f32>::new(),
        &train,
        None,
        &cfg,
        &RunControl {
            resume: Some(&ck),
            metrics_log: Some(resumed_log.clone()),
            ..RunControl::default()
        },
        &mut |_| {},
    )?;

    println!(
        "stopped at step {stopped_at} (epoch 3, batch 100 of {steps_per_epoch}), resumed from {}",
        checkpoint.display()
    );
    println!("epoch | straight train loss | interrupted + resumed | equal");
    for (a, b) in whole.epochs.iter().zip(&rest.epochs) {
        println!(
            "{:>5} | {:>19.7} | {:>21.7} | {}",
            a.epoch,
            a.train_loss,
            b.train_loss,
            a.train_loss.to_bits() == b.train_loss.to_bits()
        );
    }
    let mut max_diff = 0f32;
    let mut values = 0usize;
    for (&p, &q) in straight.parameters().iter().zip(&resumed.parameters()) {
        for (x, y) in straight.store.values(p).iter().zip(resumed.store.values(q)) {
            max_diff = max_diff.max((x - y).abs());
            values += 1;
        }
    }
    println!("largest difference over {values} weights: {max_diff:e}");
    println!(
        "metrics logs: {} and {} (aegpu plot loss --log … --log …)",
        straight_log.display(),
        resumed_log.display()
    );
    Ok(())
}
