//! Denoising autoencoder on MNIST (Vincent et al. 2008): trained on digits with a
//! fraction p of the pixels zeroed, compared with the plain autoencoder on corrupted
//! test digits (MSE of the restoration to the clean digit).
//!
//! `cargo run --release --example denoising [TRAIN_ROWS] [EPOCHS] [NOISE]`
//! (defaults: all 60,000, 5, mask:0.3; also gaussian:σ, salt-pepper:p)

#[path = "common/mod.rs"]
mod common;

use aegpu::models::DenseConfig;
use aegpu::ops::random::Noise;
use aegpu::train::{corrupt, run_rows, Regularization, RowOutput};

fn main() {
    let (rows, epochs) = (common::arg(1, 0), common::arg(2, 5));
    let noise: Noise = std::env::args()
        .nth(3)
        .unwrap_or_else(|| "mask:0.3".into())
        .parse()
        .expect("a noise such as mask:0.3");
    let (train, test) = common::mnist(rows, 0);
    let mut cpu = aegpu::backend::cpu::CpuBackend::<f32>::new();
    let corrupted = corrupt(&mut cpu, &test, noise, 99).expect("corruption");
    let mse = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| ((x - y) as f64).powi(2))
            .sum::<f64>()
            / a.len() as f64
    };
    println!(
        "784-256-64, {} training digits, {epochs} epochs; test digits corrupted by {noise}: MSE {:.5} before restoration",
        train.rows,
        mse(&corrupted.values, &test.values)
    );
    for (name, reg) in [
        ("plain", Regularization::default()),
        (
            "denoising",
            Regularization {
                noise: Some(noise),
                ..Regularization::default()
            },
        ),
    ] {
        let (model, mut cpu) =
            common::train(DenseConfig::new(&[784, 256, 64]), &train, epochs, reg);
        let restored =
            run_rows(&model, &mut cpu, &corrupted, RowOutput::Reconstruction).expect("rows");
        let clean = run_rows(&model, &mut cpu, &test, RowOutput::Reconstruction).expect("rows");
        println!(
            "{name:>10}: restoration MSE {:.5}, clean-digit MSE {:.5}",
            mse(&restored, &test.values),
            mse(&clean, &test.values)
        );
    }
}
