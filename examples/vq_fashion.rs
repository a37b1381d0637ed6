//! VQ-VAE on Fashion-MNIST against a convolutional autoencoder with the same code
//! shape (16 channels on a 7×7 grid): test MSE, the share of the 128 codes the test
//! images use, the perplexity of their code frequencies (128 if all were used equally),
//! and training samples/s on the CPU backend — for the codebook trained by its loss,
//! by moving averages, and by moving averages with dead-code restarts. The last model
//! then trains its code prior (an LSTM over the 7×7 grid of codes, `--prior-epochs`)
//! for PRIOR_EPOCHS more epochs: its test NLL per code beside the uniform code (ln 128)
//! and the codes' training frequencies (a prior that ignores the other codes), and 64
//! generated images written to `vq-samples.png` (temperature 1 and 0.7).
//!
//! `cargo run --release --example vq_fashion [EPOCHS] [DIR] [PRIOR_EPOCHS]` (defaults:
//! 3, the bundled `data/fashion-mnist`, whose 10,000 test images are split 8,000 to
//! train / 2,000 to test; a DIR holding the full set trains on its 60,000 and tests on
//! its 10,000; `-` for the bundled set; 3 prior epochs).
//!
//! Measured on 2 cores shared with other jobs (so samples/s are rough), full set
//! (`… vq_fashion 3 ../shared/data/fashion-mnist 3`), 3 epochs, batch 64, then 3 prior
//! epochs (11 minutes in all):
//!
//! ```text
//! model                               test MSE codes used perplex.   code bits  samples/s
//! conv AE, code 16@7×7 (f32)           0.00151          -        -       25088       1975
//! VQ-VAE, codebook loss                0.00776      82.0%     41.5         343       2789
//! VQ-VAE, EMA 0.99                     0.00740     100.0%     31.3         343       2036
//! VQ-VAE, EMA 0.99 + restarts          0.00754     100.0%     76.6         343       1511
//!
//! code prior, test NLL           nats/code  bits/image
//! uniform over 128 codes             4.852         343
//! training frequencies               4.338         307
//! LSTM prior (raster order)          1.771         125
//! ```
//!
//! The prior needs 125 bits for a test image's 49 codes where the codes' frequencies
//! alone need 307; its samples (`docs/vq-fashion-samples.png`) are shirts, trousers,
//! sneakers, boots, bags and dresses.
//!
//! Bundled split (8,000 / 2,000), 1 epoch: loss 61.7 % of codes used (perplexity 10.3,
//! MSE 0.0289), EMA 28.1 % (9.3, 0.0204), EMA + restarts 100 % (76.9, 0.0159): restarts
//! matter most early and on little data. With the defaults (3 + 3 epochs) the prior
//! reaches 2.245 nats per code on the 2,000 test images (frequencies: 4.365).

use std::path::PathBuf;

use aegpu::backend::cpu::CpuBackend;
use aegpu::data::{load_mnist, Dataset, Split};
use aegpu::imaging::ImageShape;
use aegpu::models::vae::save_image_grid;
use aegpu::models::vq::{PriorConfig, VqAutoencoder, VqConfig};
use aegpu::models::{Autoencoder, ConvAutoencoder, ConvConfig};
use aegpu::train::{evaluate, fit, TrainConfig, TrainReport};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let epochs: usize = args.get(1).map_or(Ok(3), |a| a.parse())?;
    let dir = match args.get(2).map(String::as_str) {
        None | Some("-") => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/fashion-mnist"),
        Some(d) => PathBuf::from(d),
    };
    let prior_epochs: usize = args.get(3).map_or(Ok(3), |a| a.parse())?;
    let (train, test) = match load_mnist(&dir, Split::Train) {
        Ok(train) => (train, load_mnist(&dir, Split::Test)?),
        Err(_) => {
            let all = load_mnist(&dir, Split::Test)?;
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
    let mut baseline = ConvAutoencoder::new(conv, 1)?;
    let (mse, speed) = train_and_test(&mut baseline, &train, &test, &cfg)?;
    println!(
        "{:<34} {:>9.5} {:>10} {:>8} {:>11} {:>10.0}",
        "conv AE, code 16@7×7 (f32)",
        mse,
        "-",
        "-",
        16 * 49 * 32,
        speed
    );

    let mut last = None;
    for (name, ema, restart) in [
        ("VQ-VAE, codebook loss", None, false),
        ("VQ-VAE, EMA 0.99", Some(0.99), false),
        ("VQ-VAE, EMA 0.99 + restarts", Some(0.99), true),
    ] {
        // The last model goes on to train its code prior after the same epochs.
        let with_prior = restart && prior_epochs > 0;
        let config = VqConfig {
            ema,
            restart,
            prior: with_prior.then_some(PriorConfig {
                hidden: 128,
                epochs: prior_epochs,
            }),
            ..VqConfig::mnist()
        };
        let run = TrainConfig {
            epochs: epochs + if with_prior { prior_epochs } else { 0 },
            ..cfg.clone()
        };
        let mut model = VqAutoencoder::new(config, 1)?;
        let (mse, speed) = train_and_test(&mut model, &train, &test, &run)?;
        let counts = model.code_counts(&mut CpuBackend::<f32>::new(), &test)?;
        let total: f64 = counts.iter().sum();
        let used = counts.iter().filter(|&&n| n > 0.0).count() as f64 / counts.len() as f64;
        let entropy: f64 = counts
            .iter()
            .filter(|&&n| n > 0.0)
            .map(|&n| -(n / total) * (n / total).ln())
            .sum();
        println!(
            "{:<34} {:>9.5} {:>9.1}% {:>8.1} {:>11} {:>10.0}",
            name,
            mse,
            100.0 * used,
            entropy.exp(),
            49 * 7,
            speed
        );
        last = with_prior.then_some(model);
    }
    if let Some(model) = last {
        report_prior(&model, &train, &test)?;
    }
    Ok(())
}

/// Trains on the CPU backend; the test MSE and the training samples/s of the
/// autoencoder's epochs (those that report a reconstruction term).
fn train_and_test(
    model: &mut dyn Autoencoder,
    train: &Dataset,
    test: &Dataset,
    cfg: &TrainConfig,
) -> Result<(f32, f64), Box<dyn std::error::Error>> {
    let mut cpu = CpuBackend::<f32>::new();
    let report = fit(model, &mut cpu, train, None, cfg, &mut |_| {})?;
    let mse = evaluate(model, &mut cpu, test)?.mse;
    Ok((mse, autoencoder_speed(&report)))
}

fn autoencoder_speed(report: &TrainReport) -> f64 {
    let epochs: Vec<f64> = report
        .epochs
        .iter()
        .filter(|e| e.terms.contains_key("reconstruction"))
        .map(|e| e.samples_per_s)
        .collect();
    epochs.iter().sum::<f64>() / epochs.len().max(1) as f64
}

/// The code prior's test NLL beside two priors that ignore the other codes, and
/// generated images.
fn report_prior(
    model: &VqAutoencoder,
    train: &Dataset,
    test: &Dataset,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut cpu = CpuBackend::<f32>::new();
    let k = model.config.codes;
    let frequencies = model.code_counts(&mut cpu, train)?;
    let seen: f64 = frequencies.iter().sum();
    let on_test = model.code_counts(&mut cpu, test)?;
    let codes: f64 = on_test.iter().sum();
    // Cross-entropy of the test codes under the training frequencies, each count
    // smoothed by one (a code never seen in training would otherwise cost ∞).
    let unigram: f64 = on_test
        .iter()
        .zip(&frequencies)
        .map(|(&n, &f)| -n * ((f + 1.0) / (seen + k as f64)).ln())
        .sum::<f64>()
        / codes;
    let lstm = model.prior_nll(&mut cpu, test)?;
    let positions = model.latent().plane() as f64;
    println!();
    println!("code prior, test NLL           nats/code  bits/image");
    for (name, nats) in [
        (format!("uniform over {k} codes"), (k as f64).ln()),
        ("training frequencies".to_string(), unigram),
        ("LSTM prior (raster order)".to_string(), lstm),
    ] {
        println!(
            "{name:<30} {nats:>9.3} {:>11.0}",
            nats * positions / std::f64::consts::LN_2
        );
    }
    let mut samples = model.sample(&mut cpu, 32, 1.0, 0)?;
    samples.extend(model.sample(&mut cpu, 32, 0.7, 0)?);
    let out = PathBuf::from("vq-samples.png");
    save_image_grid(&out, &samples, ImageShape::new(1, 28, 28), 8)?;
    println!(
        "64 generated images (rows 1–4 temperature 1, rows 5–8 temperature 0.7): {}",
        out.display()
    );
    Ok(())
}
