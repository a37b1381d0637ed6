//! Model-level tests on real MNIST (bundled under `data/mnist`): a trained dense
//! autoencoder must beat PCA with the same code size on the test digits.

use aegpu::backend::cpu::CpuBackend;
use aegpu::data::{bundled_mnist_dir, load_mnist, Split};
use aegpu::linalg::Pca;
use aegpu::models::{DenseAutoencoder, DenseConfig};
use aegpu::train::{evaluate, fit, TrainConfig};

#[test]
fn dense_autoencoder_beats_pca_with_the_same_code_size() {
    let train = load_mnist(&bundled_mnist_dir(), Split::Train).expect("bundled MNIST train");
    let test = load_mnist(&bundled_mnist_dir(), Split::Test).expect("bundled MNIST test");

    let pca = Pca::fit(&train.values, train.rows, train.cols, 64, 60);
    let pca_mse = pca.reconstruction_mse(&test.values, test.rows);

    let mut model = DenseAutoencoder::new(DenseConfig::new(&[784, 256, 64]), 1).unwrap();
    let mut cpu = CpuBackend::<f32>::new();
    let cfg = TrainConfig {
        epochs: 5,
        ..TrainConfig::default()
    };
    let t0 = std::time::Instant::now();
    let report = fit(&mut model, &mut cpu, &train, None, &cfg, &mut |_| {}).unwrap();
    let ae = evaluate(&model, &mut cpu, &test).unwrap();
    eprintln!(
        "PCA-64 test MSE {pca_mse:.5}; dense AE 784-256-64 test MSE {:.5}, BCE {:.4}, {:.0} samples/s, {:.1}s, epochs {:?}",
        ae.mse,
        ae.bce,
        report.samples_per_s,
        t0.elapsed().as_secs_f64(),
        report.epochs.iter().map(|e| e.train_loss).collect::<Vec<_>>()
    );
    assert!(
        (ae.mse as f64) < pca_mse,
        "autoencoder {} should beat PCA {pca_mse}",
        ae.mse
    );
}
