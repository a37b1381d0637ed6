//! Heartbeat anomalies with an LSTM sequence autoencoder (UCR ECG5000, bundled in
//! `data/ucr/`): the usual protocol, trained on the normal beats (class 1) of the
//! training file only, then every beat of the test file (2,627 normal, 1,873 of four
//! anomalous classes) scored by its reconstruction error. ROC AUC and average precision
//! beside two baselines fitted on the same normal beats with the same code size: a dense
//! autoencoder (140-64-K) and PCA with K components. Writes `lstm-ecg-out/beats.png`:
//! four normal and four anomalous test beats (solid) over their reconstructions
//! (dashed).
//!
//!     cargo run --release --example lstm_ecg
//!     cargo run --release --example lstm_ecg -- --epochs 60 --units 64 --code 16
//!
//! Flags: --epochs N (LSTM, default 40), --units H (64), --code K (16), --batch B (32),
//! --lr LR (2e-3), --order reverse|forward, --seed S, --out DIR, --backend auto|cpu|gpu.
//!
//! Measured on the 2-core development machine, CPU backend, defaults (40 epochs of the
//! 292 normal training beats):
//!
//! ```text
//! see the closing note of the LSTM issue; the figures are printed by this example
//! ```
//!
//! PyTorch's `nn.LSTM` autoencoder of the same size, trained on the same beats, is
//! `python3 benches/lstm_pytorch.py --threads 2 --aegpu target/release/aegpu`, which
//! runs both and prints both training speeds in one run.

use std::path::PathBuf;
use std::time::Instant;

use aegpu::backend::select::{select, BackendChoice};
use aegpu::data::{load_spec, CsvOptions, Dataset};
use aegpu::linalg::Pca;
use aegpu::metrics::{average_precision, roc_auc};
use aegpu::models::lstm::{LstmAutoencoder, LstmConfig, Order};
use aegpu::models::{Autoencoder, DenseAutoencoder, DenseConfig};
use aegpu::ops::Activation;
use aegpu::outliers::{reconstruction_errors, row_mse};
use aegpu::plot::{save_sequence_panels, PlotSize, SequencePanel};
use aegpu::train::{fit, run_rows, RowOutput, TrainConfig};

struct Options {
    epochs: usize,
    units: usize,
    code: usize,
    batch: usize,
    lr: f32,
    order: Order,
    seed: u64,
    out: PathBuf,
    backend: BackendChoice,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        epochs: 40,
        units: 64,
        code: 16,
        batch: 32,
        lr: 2e-3,
        order: Order::Reverse,
        seed: 1,
        out: PathBuf::from("lstm-ecg-out"),
        backend: BackendChoice::Auto,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    for pair in args.chunks(2) {
        let flag = pair[0].as_str();
        let value = pair.get(1).ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag {
            "--epochs" => o.epochs = value.parse().map_err(|e| bad(&e))?,
            "--units" => o.units = value.parse().map_err(|e| bad(&e))?,
            "--code" => o.code = value.parse().map_err(|e| bad(&e))?,
            "--batch" => o.batch = value.parse().map_err(|e| bad(&e))?,
            "--lr" => o.lr = value.parse().map_err(|e| bad(&e))?,
            "--order" => o.order = value.parse().map_err(|e: String| bad(&e))?,
            "--seed" => o.seed = value.parse().map_err(|e| bad(&e))?,
            "--out" => o.out = PathBuf::from(value),
            "--backend" => o.backend = value.parse().map_err(|e: String| bad(&e))?,
            other => return Err(format!("unknown flag {other} (see the file's header)")),
        }
    }
    Ok(o)
}

/// ROC AUC and average precision of `scores`, anomalies (class ≠ 1) positive.
fn rank(scores: &[f32], anomalous: &[bool]) -> (f64, f64) {
    let s: Vec<f64> = scores.iter().map(|&v| v as f64).collect();
    (
        roc_auc(&s, anomalous).expect("both classes"),
        average_precision(&s, anomalous).expect("both classes"),
    )
}

fn load(file: &str) -> Dataset {
    let opts = CsvOptions {
        label_column: Some("0".into()),
        has_header: Some(false),
    };
    load_spec(&format!("data/ucr/{file}"), &opts).expect("the bundled ECG5000 files")
}

fn main() {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let train = load("ECG5000_TRAIN.csv.gz");
    let test = load("ECG5000_TEST.csv.gz");
    let normal_rows: Vec<usize> = (0..train.rows)
        .filter(|&r| train.labels.as_ref().expect("labels")[r] == 1)
        .collect();
    let normal = train.subset(&normal_rows);
    let test_labels = test.labels.clone().expect("labels");
    let anomalous: Vec<bool> = test_labels.iter().map(|&l| l != 1).collect();
    println!(
        "ECG5000: {} normal training beats of {} steps; {} test beats, {} anomalous",
        normal.rows,
        normal.cols,
        test.rows,
        anomalous.iter().filter(|&&a| a).count()
    );

    let mut selected = select(o.backend, None).expect("a backend");
    eprintln!("{}", selected.reason);
    let backend = selected.backend.as_mut();
    let config = LstmConfig {
        units: o.units,
        code: o.code,
        order: o.order,
        ..LstmConfig::new(normal.cols, 1)
    };
    let mut lstm = LstmAutoencoder::new(config, o.seed).expect("valid config");
    let cfg = TrainConfig {
        epochs: o.epochs,
        batch: o.batch,
        lr: o.lr,
        seed: o.seed,
        ..TrainConfig::default()
    };
    let t = Instant::now();
    let report = fit(&mut lstm, backend, &normal, None, &cfg, &mut |_| {}).expect("training");
    let lstm_seconds = t.elapsed().as_secs_f64();
    let losses: Vec<String> = report
        .epochs
        .iter()
        .filter(|e| e.epoch == 1 || e.epoch % 10 == 0)
        .map(|e| format!("{}: {:.4}", e.epoch, e.train_loss))
        .collect();
    println!(
        "{} ({} parameters): {:.1} s, {:.0} samples/s training; train MSE by epoch {}",
        lstm.describe(),
        lstm.parameter_count(),
        lstm_seconds,
        (normal.rows * o.epochs) as f64 / lstm_seconds,
        losses.join(", ")
    );
    let t = Instant::now();
    let recon = run_rows(&lstm, backend, &test, RowOutput::Reconstruction).expect("recon");
    let lstm_scores = row_mse(&test.values, &recon, test.cols);
    println!(
        "scored {} test beats in {:.2} s ({:.0} beats/s)",
        test.rows,
        t.elapsed().as_secs_f64(),
        test.rows as f64 / t.elapsed().as_secs_f64()
    );

    // Dense baseline: 140 → 64 → K, relu hidden, linear code and output (z-normalised
    // series), the same number of optimiser steps per epoch, 5× the epochs (it is cheap).
    let mut dense_config = DenseConfig::new(&[normal.cols, o.units, o.code]);
    *dense_config.activations.last_mut().expect("layers") = Activation::Linear;
    let mut dense = DenseAutoencoder::new(dense_config, o.seed).expect("valid config");
    let dense_cfg = TrainConfig {
        epochs: 5 * o.epochs,
        ..cfg.clone()
    };
    let t = Instant::now();
    fit(&mut dense, backend, &normal, None, &dense_cfg, &mut |_| {}).expect("training");
    let dense_seconds = t.elapsed().as_secs_f64();
    let dense_scores = reconstruction_errors(&dense, backend, &test).expect("scores");

    let t = Instant::now();
    let pca = Pca::fit(&normal.values, normal.rows, normal.cols, o.code, 100);
    let pca_recon = pca.decode(&pca.encode(&test.values, test.rows), test.rows);
    let pca_scores = row_mse(&test.values, &pca_recon, test.cols);
    let pca_seconds = t.elapsed().as_secs_f64();

    println!(
        "\n{:<46} {:>8} {:>8} {:>9}",
        "model", "ROC AUC", "AP", "fit s"
    );
    for (name, scores, seconds) in [
        (
            format!("LSTM AE {}", lstm.describe()),
            &lstm_scores,
            lstm_seconds,
        ),
        (
            format!("dense AE {}", dense.describe()),
            &dense_scores,
            dense_seconds,
        ),
        (
            format!("PCA, {} components", o.code),
            &pca_scores,
            pca_seconds,
        ),
    ] {
        let (auc, ap) = rank(scores, &anomalous);
        println!("{name:<46} {auc:>8.4} {ap:>8.4} {seconds:>9.2}");
    }

    // Four normal and four anomalous beats, the first of each in the test file.
    let pick = |want: bool| {
        (0..test.rows)
            .filter(|&r| anomalous[r] == want)
            .take(4)
            .collect::<Vec<_>>()
    };
    let d = test.cols;
    let panels: Vec<SequencePanel> = pick(false)
        .into_iter()
        .chain(pick(true))
        .map(|r| SequencePanel {
            title: format!(
                "test beat {r}, class {}: error {:.3}",
                test_labels[r], lstm_scores[r]
            ),
            input: &test.values[r * d..(r + 1) * d],
            reconstruction: &recon[r * d..(r + 1) * d],
        })
        .collect();
    std::fs::create_dir_all(&o.out).expect("output folder");
    let path = o.out.join("beats.png");
    save_sequence_panels(&path, &panels, 1, 4, PlotSize::new(1400, 560)).expect("plot");
    println!(
        "\nwrote {} (top: normal beats, bottom: anomalous; dashed: the LSTM's reconstruction)",
        path.display()
    );
}
