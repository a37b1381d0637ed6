//! How the dense autoencoder's defaults were chosen: trains 784-256-64 on MNIST for
//! 5 epochs (batch 256, Adam, CPU backend) with a given learning rate, code activation
//! and initialisation, and prints the test MSE.
//!
//!     cargo run --release --example dense_defaults -- 5e-3 linear glorot
//!     cargo run --release --example dense_defaults -- 1e-3 relu he      # PyTorch-like

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::Backend;
use aegpu::data::{bundled_mnist_dir, load_mnist, Split};
use aegpu::models::{DenseAutoencoder, DenseConfig};
use aegpu::nn::init::Init;
use aegpu::ops::Activation;
use aegpu::train::{evaluate, fit, TrainConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or_else(|| default.to_string());
    let lr: f32 = arg(0, "5e-3").parse()?;
    let code: Activation = arg(1, "linear").parse()?;
    let init: Init = arg(2, "glorot").parse()?;
    let seed: u64 = arg(3, "1").parse()?;

    let train = load_mnist(&bundled_mnist_dir(), Split::Train)?;
    let test = load_mnist(&bundled_mnist_dir(), Split::Test)?;
    let mut config = DenseConfig::new(&[784, 256, 64]);
    config.activations[1] = code;
    config.init = init;
    let mut model = DenseAutoencoder::new(config, seed)?;
    let mut cpu = CpuBackend::<f32>::new();
    let cfg = TrainConfig {
        lr,
        seed,
        ..TrainConfig::default()
    };
    let report = fit(&mut model, &mut cpu, &train, None, &cfg, &mut |_| {})?;
    let ae = evaluate(&model, &mut cpu, &test)?;
    let losses: Vec<String> = report
        .epochs
        .iter()
        .map(|e| format!("{:.5}", e.train_loss))
        .collect();
    println!(
        "lr {lr} code {code} init {init:?} seed {seed}: test MSE {:.5}, BCE {:.4}, {:.0} samples/s, train loss per epoch [{}]",
        ae.mse,
        ae.bce,
        report.samples_per_s,
        losses.join(", ")
    );
    if let Some(table) = cpu.op_profile_table(100) {
        print!("{table}");
    }
    Ok(())
}
