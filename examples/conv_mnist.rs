//! The convolutional autoencoder of the issue on MNIST, beside a dense one of a similar
//! parameter count: 1×28×28 → conv 3×3 16ch stride 2 → conv 3×3 32ch stride 2 → two
//! transposed convolutions back (9,569 parameters) against dense 784-6-784 (10,198),
//! batch 64, Adam 1e-3 (the PyTorch/Burn setting the issue quotes), on a backend given
//! as `cpu` or `gpu`. Prints training samples/s and test MSE.
//!
//!     cargo run --release --example conv_mnist -- cpu 1
//!     cargo run --release --example conv_mnist -- gpu 1 5000   # llvmpipe: a subset

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::gpu::{GpuBackend, GpuOptions};
use aegpu::backend::Backend;
use aegpu::data::{bundled_mnist_dir, load_mnist, Split};
use aegpu::models::{Autoencoder, ConvAutoencoder, ConvConfig, DenseAutoencoder, DenseConfig};
use aegpu::train::{evaluate, fit, TrainConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let backend_name = args.first().map(String::as_str).unwrap_or("cpu");
    let epochs: usize = args.get(1).map_or(Ok(1), |a| a.parse())?;
    let rows: usize = args.get(2).map_or(Ok(0), |a| a.parse())?;
    let mut train = load_mnist(&bundled_mnist_dir(), Split::Train)?;
    if rows > 0 {
        train = train.head(rows);
    }
    let test = load_mnist(&bundled_mnist_dir(), Split::Test)?;
    let mut backend: Box<dyn Backend> = match backend_name {
        "gpu" => Box::new(GpuBackend::new(&GpuOptions {
            allow_software: true,
            ..GpuOptions::default()
        })?),
        // With AEGPU_PROFILE set, the CPU backend times every op (printed at the end).
        _ => Box::new(CpuBackend::<f32>::new()),
    };
    println!("backend: {}", backend.describe());
    let cfg = TrainConfig {
        epochs,
        batch: 64,
        lr: 1e-3,
        ..TrainConfig::default()
    };
    let mut conv = ConvAutoencoder::new(ConvConfig::mnist(), 1)?;
    let mut dense = DenseAutoencoder::new(DenseConfig::new(&[784, 6]), 1)?;
    let models: [(&str, &mut dyn Autoencoder); 2] = [
        ("conv 16-32 s2, transposed", &mut conv),
        ("dense 784-6", &mut dense),
    ];
    for (name, model) in models {
        let report = fit(model, backend.as_mut(), &train, None, &cfg, &mut |_| {})?;
        let eval = evaluate(model, backend.as_mut(), &test)?;
        println!(
            "{name:<28} {:>6} parameters: {:>7.0} samples/s (last epoch; {:.0} over the run, \
             pipeline compilation included), train loss {:.5}, test MSE {:.5}",
            model.parameter_count(),
            report.epochs.last().map_or(0.0, |e| e.samples_per_s),
            report.samples_per_s,
            report.epochs.last().map_or(f32::NAN, |e| e.train_loss),
            eval.mse
        );
    }
    if let Some(table) = backend.op_profile_table(20) {
        println!("time per op, both models (AEGPU_PROFILE):");
        print!("{table}");
    }
    Ok(())
}
