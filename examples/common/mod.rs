//! Shared by the regularised-autoencoder examples: MNIST subsets, and one training
//! call whose figures every example compares.
#![allow(dead_code)]

use aegpu::backend::cpu::CpuBackend;
use aegpu::data::{bundled_mnist_dir, load_mnist, Dataset, Split};
use aegpu::models::{DenseAutoencoder, DenseConfig};
use aegpu::ops::Activation;
use aegpu::train::{fit, Regularization, TrainConfig};

/// The first `train_rows` training digits and `test_rows` test digits (0: all).
pub fn mnist(train_rows: usize, test_rows: usize) -> (Dataset, Dataset) {
    let train = load_mnist(&bundled_mnist_dir(), Split::Train).expect("bundled MNIST train");
    let test = load_mnist(&bundled_mnist_dir(), Split::Test).expect("bundled MNIST test");
    let cut = |d: Dataset, n: usize| if n == 0 { d } else { d.head(n) };
    (cut(train, train_rows), cut(test, test_rows))
}

/// 784 → `code` sigmoid units → 784 sigmoid outputs.
pub fn sigmoid_code(code: usize) -> DenseConfig {
    let mut c = DenseConfig::new(&[784, code]);
    c.activations = vec![Activation::Sigmoid, Activation::Sigmoid];
    c
}

/// Trains `config` on the CPU backend with Adam (defaults) and `regularization`.
pub fn train(
    config: DenseConfig,
    data: &Dataset,
    epochs: usize,
    regularization: Regularization,
) -> (DenseAutoencoder, CpuBackend) {
    let mut model = DenseAutoencoder::new(config, 7).expect("valid config");
    let mut cpu = CpuBackend::<f32>::new();
    let cfg = TrainConfig {
        epochs,
        batch: 64,
        regularization,
        ..TrainConfig::default()
    };
    fit(&mut model, &mut cpu, data, None, &cfg, &mut |_| {}).expect("training");
    (model, cpu)
}

/// The first argument as a number, or `default`.
pub fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}
