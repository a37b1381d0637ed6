//! The hybrid discriminative + generative objective: a classifier trained on few labels
//! with α × the reconstruction of every row learns both terms, and bad settings are
//! refused before any work.

use aegpu::backend::cpu::CpuBackend;
use aegpu::data::{balanced_subset, bundled_mnist_dir, load_mnist, Split};
use aegpu::models::{Classifier, ClassifierConfig, DenseConfig};
use aegpu::train::{accuracy, fit_hybrid, ClassifyConfig, HybridConfig};

fn digits(rows: usize) -> aegpu::data::Dataset {
    let all = load_mnist(&bundled_mnist_dir(), Split::Train).unwrap();
    all.subset(&(0..rows).collect::<Vec<_>>())
}

fn classifier() -> Classifier {
    let arch = ClassifierConfig::from_autoencoder(&DenseConfig::new(&[784, 64, 16]), 10);
    Classifier::random(&arch, 1).unwrap()
}

/// 50 labelled digits among 1,000: both terms fall over the epochs and the head
/// classifies held-out digits far above chance.
#[test]
fn learns_from_few_labels_and_many_rows() {
    let data = digits(1500);
    let unlabelled = data.subset(&(0..1000).collect::<Vec<_>>());
    let test = data.subset(&(1000..1500).collect::<Vec<_>>());
    let labelled = balanced_subset(&unlabelled, 50, 0).unwrap();
    let mut model = classifier();
    let cfg = HybridConfig {
        alpha: 30.0,
        classify: ClassifyConfig {
            epochs: 8,
            batch: 32,
            ..ClassifyConfig::default()
        },
    };
    let mut cpu = CpuBackend::<f32>::new();
    let report = fit_hybrid(
        &mut model,
        &mut cpu,
        &labelled,
        &unlabelled,
        &cfg,
        &mut |_, _| {},
    )
    .unwrap();
    let (first, last) = (report.epoch_losses[0], *report.epoch_losses.last().unwrap());
    assert!(last < 0.5 * first, "cross-entropy {first} → {last}");
    let right = accuracy(&model, &mut cpu, &test).unwrap();
    assert!(right > 0.5, "accuracy {right}");
}

#[test]
fn refuses_bad_settings() {
    let unlabelled = digits(40);
    let labelled = balanced_subset(&unlabelled, 20, 0).unwrap();
    let mut cpu = CpuBackend::<f32>::new();
    let run = |alpha: f32, labelled: &aegpu::data::Dataset, cpu: &mut CpuBackend<f32>| {
        let cfg = HybridConfig {
            alpha,
            classify: ClassifyConfig::default(),
        };
        fit_hybrid(
            &mut classifier(),
            cpu,
            labelled,
            &unlabelled,
            &cfg,
            &mut |_, _| {},
        )
        .unwrap_err()
        .to_string()
    };
    assert!(run(-1.0, &labelled, &mut cpu).contains("α must be ≥ 0"));
    let mut unlabelled_only = labelled.clone();
    unlabelled_only.labels = None;
    assert!(run(1.0, &unlabelled_only, &mut cpu).contains("no labels"));
}
