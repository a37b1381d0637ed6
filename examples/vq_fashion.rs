//! VQ-VAE on Fashion-MNIST against a convolutional autoencoder with the same code
//! shape (16 channels on a 7×7 grid): test MSE, the share of the 128 codes the test
//! images use, the perplexity of their code frequencies (128 if all were used equally),
//! and training samples/s on the CPU backend — for the codebook trained by its loss,
//! by moving averages, and by moving averages with dead-code restarts.
//!
//! `cargo run --release --example vq_fashion [EPOCHS] [DIR]` (defaults: 3, the bundled
//! `data/fashion-mnist`, whose 10,000 test images are split 8,000 to train / 2,000 to
//! test; a DIR holding the full set trains on its 60,000 and tests on its 10,000).
//!
//! Measured on 2 cores shared with other jobs (so samples/s are rough), full set
//! (`… vq_fashion 3 ../shared/data/fashion-mnist`), 3 epochs, batch 64:
//!
//! ```text
//! model                               test MSE codes used perplex.   code bits  samples/s
//! conv AE, code 16@7×7 (f32)           0.00151          -        -       25088        753
//! VQ-VAE, codebook loss                0.00776      82.0%     41.5         343        956
//! VQ-VAE, EMA 0.99                     0.00740     100.0%     31.3         343       1014
//! VQ-VAE, EMA 0.99 + restarts          0.00754     100.0%     76.6         343       1333
//! ```
//!
//! Bundled split (8,000 / 2,000), 1 epoch: loss 61.7 % of codes used (perplexity 10.3,
//! MSE 0.0289), EMA 28.1 % (9.3, 0.0204), EMA + restarts 100 % (76.9, 0.0159): restarts
//! matter most early and on little data.

use std::path::PathBuf;

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::Backend;
use aegpu::data::{load_mnist, Dataset, Split};
use aegpu::models::vq::{VqAutoencoder, VqConfig};
use aegpu::models::{Autoencoder, ConvAutoencoder, ConvConfig};
use aegpu::train::{evaluate, fit, run_rows, RowOutput, TrainConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let epochs: usize = args.get(1).map_or(3, |a| a.parse().expect("EPOCHS"));
    let dir = args.get(2).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/fashion-mnist"),
        PathBuf::from,
    );
    let (train, test) = match load_mnist(&dir, Split::Train) {
        Ok(train) => (train, load_mnist(&dir, Split::Test).expect("test set")),
        Err(_) => {
            let all = load_mnist(&dir, Split::Test).expect("Fashion-MNIST test set");
            let cut = 8 * all.rows / 10;
            let test = all.subset(&(cut..all.rows).collect::<Vec<_>>());
            (all.head(cut), test)
        }
    };
    let cfg = TrainConfig {
        epochs,
        batch: 64,
        lr: 2e-3,
        seed: 1,
        ..TrainConfig::default()
    };
    println!(
        "Fashion-MNIST, {} training / {} test images, {epochs} epochs, Adam lr {}, batch {}",
        train.rows, test.rows, cfg.lr, cfg.batch
    );
    println!(
        "{:<34} {:>9} {:>10} {:>8} {:>11} {:>10}",
        "model", "test MSE", "codes used", "perplex.", "code bits", "samples/s"
    );

    let conv = ConvConfig {
        channels: vec![32, 64, 16],
        strides: vec![2, 2, 1],
        code: None,
        ..ConvConfig::mnist()
    };
    let mut baseline = ConvAutoencoder::new(conv, 1).expect("conv config");
    let (mse, speed) = train_and_test(&mut baseline, &train, &test, &cfg);
    println!(
        "{:<34} {:>9.5} {:>10} {:>8} {:>11} {:>10.0}",
        "conv AE, code 16@7×7 (f32)",
        mse,
        "-",
        "-",
        16 * 49 * 32,
        speed
    );

    for (name, ema, restart) in [
        ("VQ-VAE, codebook loss", None, false),
        ("VQ-VAE, EMA 0.99", Some(0.99), false),
        ("VQ-VAE, EMA 0.99 + restarts", Some(0.99), true),
    ] {
        let config = VqConfig {
            ema,
            restart,
            ..VqConfig::mnist()
        };
        let mut model = VqAutoencoder::new(config, 1).expect("vq config");
        let (mse, speed) = train_and_test(&mut model, &train, &test, &cfg);
        let (used, perplexity) = code_usage(&model, &test);
        println!(
            "{:<34} {:>9.5} {:>9.1}% {:>8.1} {:>11} {:>10.0}",
            name,
            mse,
            100.0 * used,
            perplexity,
            49 * 7,
            speed
        );
    }
}

/// Trains on the CPU backend; the test MSE and the training samples/s.
fn train_and_test(
    model: &mut dyn Autoencoder,
    train: &Dataset,
    test: &Dataset,
    cfg: &TrainConfig,
) -> (f32, f64) {
    let mut cpu = CpuBackend::<f32>::new();
    let report = fit(model, &mut cpu, train, None, cfg, &mut |_| {}).expect("training");
    let mse = evaluate(model, &mut cpu, test).expect("evaluation").mse;
    (mse, report.samples_per_s)
}

/// The share of codes the test images use, and the perplexity of the codes' frequencies
/// over every position of every test image.
fn code_usage(model: &VqAutoencoder, test: &Dataset) -> (f64, f64) {
    let mut cpu = CpuBackend::<f32>::new();
    cpu.upload_store(model.store()).expect("upload");
    let codes = run_rows(model, &mut cpu, test, RowOutput::Code).expect("encoding");
    let (k, d) = (model.config.codes, model.config.code_dim);
    let book = model.store.values(model.codebook.embedding);
    // The encoder gives each image D channels of 7×7 positions (channel-major); each
    // position's vector is a code exactly (a one-hot row times the codebook).
    let positions = codes.len() / d;
    let per_image = model.code_width() / d;
    let mut counts = vec![0usize; k];
    for p in 0..positions {
        let (image, at) = (p / per_image, p % per_image);
        let row = model.code_width() * image;
        let vector: Vec<f32> = (0..d).map(|c| codes[row + c * per_image + at]).collect();
        let code = (0..k)
            .find(|&c| book[c * d..(c + 1) * d] == vector[..])
            .expect("every position holds a code");
        counts[code] += 1;
    }
    let used = counts.iter().filter(|&&n| n > 0).count() as f64 / k as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&n| n > 0)
        .map(|&n| {
            let p = n as f64 / positions as f64;
            -p * p.ln()
        })
        .sum();
    (used, entropy.exp())
}
