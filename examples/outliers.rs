//! Outlier detection on the bundled ODDS-style sets (`data/outliers/`), the standard
//! unsupervised protocol: every row (inliers and outliers) standardised and used for
//! training, no labels seen; the labels only rank the scores afterwards. A small dense
//! autoencoder's reconstruction error is compared with PCA's (same code size) and with
//! the distance to the 5th nearest other row (k-NN, PyOD's default k), and with an
//! isolation forest (100 trees of 256 rows, scikit-learn's defaults).
//!
//! `cargo run --release --example outliers [SEEDS]` (default 3 autoencoder seeds,
//! averaged; shuttle's 49,097 rows included)

use std::time::Instant;

use aegpu::backend::cpu::CpuBackend;
use aegpu::data::{load_spec, CsvOptions, Dataset, Scaler, Scaling};
use aegpu::metrics::{average_precision, roc_auc};
use aegpu::models::{DenseAutoencoder, DenseConfig};
use aegpu::ops::Activation;
use aegpu::outliers::baselines::{isolation_forest, knn_distances, pca_errors};
use aegpu::outliers::{outlier_labels, reconstruction_errors};
use aegpu::train::{fit, TrainConfig};

const SETS: [&str; 4] = [
    "breastw.csv",
    "ionosphere.csv",
    "pima.csv",
    "shuttle.csv.gz",
];
const K: usize = 5;

/// ROC AUC and average precision of `scores` against `labels`.
fn rank(scores: &[f32], labels: &[bool]) -> (f64, f64) {
    let s: Vec<f64> = scores.iter().map(|&v| v as f64).collect();
    (
        roc_auc(&s, labels).expect("two classes"),
        average_precision(&s, labels).expect("two classes"),
    )
}

/// d → ⌈(d + c)/2⌉ → c, relu hidden layers, a linear code and a linear output (the
/// features are standardised, not in [0, 1]).
fn autoencoder_scores(data: &Dataset, code: usize, seed: u64) -> Vec<f32> {
    let d = data.cols;
    let mut config = DenseConfig::new(&[d, (d + code).div_ceil(2), code]);
    *config.activations.last_mut().expect("layers") = Activation::Linear;
    let mut model = DenseAutoencoder::new(config, seed).expect("valid config");
    let mut cpu = CpuBackend::<f32>::new();
    // About 3,000 steps on every set: small sets get many epochs, shuttle few.
    let batch = if data.rows > 10_000 { 256 } else { 32 };
    let cfg = TrainConfig {
        epochs: (3000 * batch / data.rows).clamp(5, 200),
        batch,
        lr: 3e-3,
        seed,
        ..TrainConfig::default()
    };
    fit(&mut model, &mut cpu, data, None, &cfg, &mut |_| {}).expect("training");
    reconstruction_errors(&model, &mut cpu, data).expect("scores")
}

fn main() {
    let seeds = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3u64);
    println!(
        "{:<11} {:>6} {:>3} {:>4} | {:>15} | {:>15} | {:>15} | {:>15} | seconds AE/PCA/kNN/IF",
        "set",
        "rows",
        "d",
        "code",
        "AE AUC / AP",
        "PCA AUC / AP",
        "5-NN AUC / AP",
        "iForest AUC / AP"
    );
    for set in SETS {
        let path = format!("data/outliers/{set}");
        let opts = CsvOptions {
            label_column: Some("label".into()),
            ..CsvOptions::default()
        };
        let mut data = load_spec(&path, &opts).expect("bundled outlier set");
        let labels = outlier_labels(data.labels.as_deref().expect("label column")).expect("0/1");
        Scaler::fit(Scaling::Standard, &data)
            .apply(&mut data)
            .expect("same width");
        let code = data.cols.div_ceil(3);

        let t = Instant::now();
        let (mut ae_auc, mut ae_ap) = (0.0, 0.0);
        for seed in 0..seeds {
            let (auc, ap) = rank(&autoencoder_scores(&data, code, seed), &labels);
            ae_auc += auc / seeds as f64;
            ae_ap += ap / seeds as f64;
        }
        let ae_s = t.elapsed().as_secs_f64() / seeds as f64;
        let t = Instant::now();
        let pca = rank(
            &pca_errors(&data.values, data.rows, data.cols, code),
            &labels,
        );
        let pca_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let knn = rank(
            &knn_distances(&data.values, data.cols, K).expect("k < rows"),
            &labels,
        );
        let knn_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let forest = rank(
            &isolation_forest(&data.values, data.rows, data.cols, 100, 256, 0),
            &labels,
        );
        let forest_s = t.elapsed().as_secs_f64();
        println!(
            "{:<11} {:>6} {:>3} {:>4} | {ae_auc:>6.4} / {ae_ap:>6.4} | {:>6.4} / {:>6.4} | {:>6.4} / {:>6.4} | {:>6.4} / {:>6.4} | {ae_s:.2} / {pca_s:.2} / {knn_s:.2} / {forest_s:.2}",
            set.split('.').next().unwrap_or(set),
            data.rows,
            data.cols,
            code,
            pca.0,
            pca.1,
            knn.0,
            knn.1,
            forest.0,
            forest.1
        );
    }
}
