//! Unsupervised pretraining for a classifier on MNIST. A dense autoencoder
//! 784-256-64 is trained on all 60,000 training images without their labels; then,
//! for 100 and 1,000 labelled training digits (class-balanced, drawn with a seed),
//! its encoder plus a linear softmax head is fine-tuned end to end, and the same
//! network from random initialisation (an untrained autoencoder's encoder, same head)
//! is trained with the same budget. Test accuracy on the 10,000 test digits, both
//! ways, averaged over a few label draws (few labels: high variance).
//!
//! A third column trains the same network from random initialisation by the hybrid
//! objective (`aegpu::train::hybrid`): cross-entropy on the labelled digits plus α ×
//! the reconstruction error of a decoder on every training digit, labelled or not, for
//! `HYBRID_EPOCHS` passes over all of them (the labelled ones repeated to a quarter of
//! each batch).
//!
//! `cargo run --release --example pretrain_classifier [AE_EPOCHS] [SEEDS] [EPOCHS_100] [EPOCHS_1000] [LR] [MASK] [HEAD_EPOCHS] [HYBRID_EPOCHS] [ALPHA]`
//! (defaults: 5, 5, 100, 30, 1e-3, 0, 0, 3, 1), all on the CPU backend; `MASK` > 0
//! pretrains a denoising autoencoder with masking noise of that probability;
//! `HEAD_EPOCHS` trains the head alone first (a linear probe, then every layer), for
//! both starts; `HYBRID_EPOCHS` 0 leaves the hybrid column out.
//!
//! Measured with the defaults (2 cores shared with other jobs, 14 min with the hybrid
//! column), test accuracy, mean ± sd of 5 draws:
//!
//! | code | labels | pretrained | random init | hybrid, α = 1 |
//! | --- | --- | --- | --- | --- |
//! | linear (the default) | 100 | 69.5% ± 2.4 | **75.6% ± 1.8** | 73.7% ± 2.1 |
//! | linear | 1,000 | 89.1% ± 0.3 | **90.6% ± 0.4** | 89.6% ± 0.3 |
//! | sigmoid | 100 | **76.5% ± 2.2** | 75.4% ± 2.2 | 73.5% ± 2.7 |
//! | sigmoid | 1,000 | 91.2% ± 0.3 | 90.7% ± 0.4 | **91.5% ± 0.4** |
//!
//! The hybrid objective beats both starts only with the sigmoid code at 1,000 labels
//! (+0.8 over random initialisation, +0.3 over pretraining, about one sd); at 100
//! labels it trails random initialisation by 2 points: 3 passes over 60,000 digits
//! give the 100 labelled ones far fewer cross-entropy steps than the 100 epochs the
//! other columns spend on them. A single-draw scan of α (seed 0; linear / sigmoid
//! code, 100 / 1,000 labels): α = 0 gives 78.0 / 91.3 and 79.1 / 91.1, α = 1 77.4 / 90.2
//! and 77.6 / 92.2, α = 3 77.1 / 90.2 and 75.4 / 92.0, α = 30 74.6 / 88.1 and
//! 75.1 / 89.9: the reconstruction term helps the sigmoid code at 1,000 labels and
//! costs a little elsewhere.
//!
//! Pretraining the default linear-code autoencoder hurts; with a bounded (sigmoid)
//! code it helps by half a point to a point, within one standard deviation at 100
//! labels. A denoising autoencoder (`-- 5 3 100 30 0.001 0.3`, masking p = 0.3, 3
//! draws) does a little better with the sigmoid code: 77.9% ± 2.3 against 76.7% ± 1.7
//! at 100 labels, 92.0% ± 0.4 against 90.9% ± 0.1 at 1,000; the linear code still
//! loses (69.4% against 76.5%, 90.2% against 90.8%). Training the head alone for 15
//! epochs first (`-- 5 3 100 30 0.001 0 15`) narrows the linear code's loss (72.9%
//! against 76.6% at 100 labels, 90.0% against 91.4% at 1,000) and leaves the sigmoid
//! code's small gain (77.6% against 76.5%, 91.3% against 90.9%).

#[path = "common/mod.rs"]
mod common;

use aegpu::backend::cpu::CpuBackend;
use aegpu::data::balanced_subset;
use aegpu::models::{Classifier, ClassifierConfig, DenseAutoencoder, DenseConfig};
use aegpu::ops::Activation;
use aegpu::train::{
    accuracy, fit, fit_classifier, fit_hybrid, ClassifyConfig, HybridConfig, TrainConfig,
};

fn main() {
    let (ae_epochs, seeds) = (common::arg(1, 5), common::arg(2, 5) as u64);
    let budgets = [(100, common::arg(3, 100)), (1000, common::arg(4, 30))];
    let lr: f32 = std::env::args()
        .nth(5)
        .and_then(|a| a.parse().ok())
        .unwrap_or(ClassifyConfig::default().lr);
    // Masking noise p for a denoising autoencoder (Vincent et al. 2008); 0: plain.
    let mask: f32 = std::env::args()
        .nth(6)
        .and_then(|a| a.parse().ok())
        .unwrap_or(0.0);
    // Epochs of training the head alone before every layer (0: all layers at once).
    let head_epochs = common::arg(7, 0);
    let hybrid_epochs = common::arg(8, 3);
    let alpha: f32 = std::env::args()
        .nth(9)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1.0);
    let (train, test) = common::mnist(0, 0);
    let classes = 10;
    // The project's default code (linear) and a bounded one (sigmoid); the random-init
    // baseline gets the same architecture each time.
    for code in [Activation::Linear, Activation::Sigmoid] {
        let t = std::time::Instant::now();
        let mut config = DenseConfig::new(&[784, 256, 64]);
        config.activations[1] = code;
        let mut ae = DenseAutoencoder::new(config, 7).expect("config");
        let cfg = TrainConfig {
            epochs: ae_epochs,
            regularization: aegpu::train::Regularization {
                noise: (mask > 0.0).then_some(aegpu::ops::random::Noise::Mask { p: mask }),
                ..Default::default()
            },
            ..TrainConfig::default()
        };
        let mut cpu = CpuBackend::<f32>::new();
        let report = fit(&mut ae, &mut cpu, &train, None, &cfg, &mut |_| {}).expect("pretraining");
        println!(
            "\n784-256-64 autoencoder, {code} code, pretrained on {} unlabelled digits: \
             {ae_epochs} epochs, train MSE {:.5}, {:.0}s",
            train.rows,
            report.epochs.last().map_or(f32::NAN, |e| e.train_loss),
            t.elapsed().as_secs_f64()
        );
        println!(
            "test accuracy on {} digits, 784-256-64 ({code} code) → 10, Adam {lr:e}, batch 32, \
             every layer trained:",
            test.rows
        );
        println!(
            "labels  epochs  steps  pretrained      random init     hybrid α={alpha:<5}  per seed (pretrained | random | hybrid)"
        );
        let arch = ClassifierConfig::from_autoencoder(&ae.config, classes);
        for (labels, epochs) in budgets {
            let (mut pre, mut rand, mut hybrid) = (vec![], vec![], vec![]);
            let mut steps = 0;
            for seed in 0..seeds {
                let labelled = balanced_subset(&train, labels, seed).expect("labelled subset");
                let cfg = ClassifyConfig {
                    epochs,
                    seed,
                    lr,
                    head_epochs: head_epochs.min(epochs - 1),
                    ..ClassifyConfig::default()
                };
                for (pretrained, out) in [(true, &mut pre), (false, &mut rand)] {
                    let mut model = if pretrained {
                        Classifier::from_autoencoder(&ae, classes, seed)
                    } else {
                        Classifier::random(&arch, seed)
                    }
                    .expect("classifier");
                    let mut cpu = CpuBackend::<f32>::new();
                    let r = fit_classifier(&mut model, &mut cpu, &labelled, &cfg, &mut |_, _| {})
                        .expect("fine-tuning");
                    steps = r.steps;
                    out.push(accuracy(&model, &mut cpu, &test).expect("accuracy"));
                }
                if hybrid_epochs > 0 {
                    let mut model = Classifier::random(&arch, seed).expect("classifier");
                    let h = HybridConfig {
                        alpha,
                        classify: ClassifyConfig {
                            epochs: hybrid_epochs,
                            batch: 64,
                            ..cfg.clone()
                        },
                    };
                    let mut cpu = CpuBackend::<f32>::new();
                    fit_hybrid(&mut model, &mut cpu, &labelled, &train, &h, &mut |_, _| {})
                        .expect("hybrid training");
                    hybrid.push(accuracy(&model, &mut cpu, &test).expect("accuracy"));
                }
            }
            let (pm, ps) = mean_std(&pre);
            let (rm, rs) = mean_std(&rand);
            let hybrid_column = if hybrid.is_empty() {
                "—".to_string()
            } else {
                let (hm, hs) = mean_std(&hybrid);
                format!("{hm:5.1}% ± {hs:3.1}")
            };
            println!(
                "{labels:>6}  {epochs:>6}  {steps:>5}  {pm:5.1}% ± {ps:3.1}  {rm:5.1}% ± {rs:3.1}  {hybrid_column:<15}  {} | {} | {}",
                percents(&pre),
                percents(&rand),
                percents(&hybrid)
            );
        }
    }
    println!(
        "\n(mean ± standard deviation over {seeds} label draws; seed s draws the labelled \
         rows, shuffles them and draws the head, which both starts share)"
    );
}

/// Mean and standard deviation, in percent.
fn mean_std(a: &[f32]) -> (f32, f32) {
    let mean = a.iter().sum::<f32>() / a.len() as f32;
    let var = a.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / a.len() as f32;
    (100.0 * mean, 100.0 * var.sqrt())
}

fn percents(a: &[f32]) -> String {
    a.iter()
        .map(|x| format!("{:.1}", 100.0 * x))
        .collect::<Vec<_>>()
        .join(" ")
}
