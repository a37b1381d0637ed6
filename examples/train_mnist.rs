//! The library in a dozen lines: train the default dense autoencoder on the bundled
//! MNIST digits on the CPU backend and report the test MSE beside PCA's.
//!
//! ```text
//! cargo run --release --example train_mnist
//! ```

use aegpu::backend::cpu::CpuBackend;
use aegpu::data::{bundled_mnist_dir, load_mnist, Split};
use aegpu::linalg::Pca;
use aegpu::models::{DenseAutoencoder, DenseConfig};
use aegpu::train::{evaluate, fit, Progress, TrainConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let train = load_mnist(&bundled_mnist_dir(), Split::Train)?;
    let test = load_mnist(&bundled_mnist_dir(), Split::Test)?;

    let mut model = DenseAutoencoder::new(DenseConfig::new(&[784, 256, 64]), 0)?;
    let mut backend = CpuBackend::<f32>::new(); // or aegpu::backend::gpu::GpuBackend
    let report = fit(
        &mut model,
        &mut backend,
        &train,
        None,
        &TrainConfig::default(),
        &mut |p| {
            if let Progress::Epoch(e) = p {
                println!(
                    "epoch {}: train loss {:.5}, {:.0} samples/s",
                    e.epoch, e.train_loss, e.samples_per_s
                );
            }
        },
    )?;
    let ae = evaluate(&model, &mut backend, &test)?;

    let pca = Pca::fit(&train.values, train.rows, train.cols, 64, 60);
    let pca_mse = pca.reconstruction_mse(&test.values, test.rows);
    println!(
        "test MSE: autoencoder {:.5} ({:.0} samples/s), PCA-64 {pca_mse:.5}",
        ae.mse, report.samples_per_s
    );
    Ok(())
}
