//! The pooling convolutional autoencoder (`--model conv-pool`: conv 3×3 + relu, 2×2
//! max-pool, twice; nearest upsampling + conv back) against the strided one (`--model
//! conv`: two stride-2 convolutions, two transposed ones back) on MNIST: the same
//! channels (16, 32), the same 32×7×7 code, the same 9,569 parameters, the same epochs,
//! batch and learning rate, on the CPU backend; and the pooling one with batch norm.
//! Prints test MSE, parameter count and training samples/s.
//!
//!     cargo run --release --example conv_pooling              # 2 epochs, 20,000 rows
//!     cargo run --release --example conv_pooling -- 3 60000   # epochs, training rows
//!
//! Measured with the defaults (2 epochs on the first 20,000 training rows, the whole
//! 10,000-row test set; 2:22 wall clock on 2 cores shared with other work, so the
//! samples/s are rough; they are whole-run figures, the CPU backend has no warm-up):
//!
//! | model | parameters | samples/s | test MSE |
//! | --- | --- | --- | --- |
//! | conv (stride 2, transposed) | 9,569 | 6,589 | 0.00171 |
//! | conv-pool (max-pool, nearest) | 9,569 | 998 | 0.00497 |
//! | conv-pool + batch norm | 9,697 | 469 | 0.00458 |
//!
//! (With 10,000 rows: 0.00329, 0.00704, 0.00771.) At equal parameters and code size
//! the pooling design trains 6.6× slower here (its stride-1 convolutions run at full
//! resolution: about 4× the multiply-adds) and reconstructs worse after 2 epochs: a
//! max-pool keeps one value of four, a stride-2 convolution learns what to keep. Batch
//! norm halves the speed again on the CPU backend (its per-channel reference kernels
//! are plain loops) and helps a little at 20,000 rows.

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::Backend;
use aegpu::data::{bundled_mnist_dir, load_mnist, Split};
use aegpu::models::conv_pool::{ConvPoolAutoencoder, ConvPoolConfig};
use aegpu::models::{Autoencoder, ConvAutoencoder, ConvConfig};
use aegpu::train::{evaluate, fit, TrainConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let epochs: usize = args.first().map_or(Ok(2), |a| a.parse())?;
    let rows: usize = args.get(1).map_or(Ok(20_000), |a| a.parse())?;
    let train = load_mnist(&bundled_mnist_dir(), Split::Train)?.head(rows);
    let test = load_mnist(&bundled_mnist_dir(), Split::Test)?;
    let mut backend = CpuBackend::<f32>::new();
    println!("backend: {}", backend.describe());
    let cfg = TrainConfig {
        epochs,
        batch: 64,
        lr: 1e-3,
        ..TrainConfig::default()
    };
    println!(
        "MNIST, {} training rows, {epochs} epochs, batch {}, Adam {}, seed 1",
        train.rows, cfg.batch, cfg.lr
    );
    let mut strided = ConvAutoencoder::new(ConvConfig::mnist(), 1)?;
    let mut pooling = ConvPoolAutoencoder::new(ConvPoolConfig::mnist(), 1)?;
    let mut pooling_bn = ConvPoolAutoencoder::new(
        ConvPoolConfig {
            batch_norm: true,
            ..ConvPoolConfig::mnist()
        },
        1,
    )?;
    let models: [(&str, &mut dyn Autoencoder); 3] = [
        ("conv (stride 2, transposed)", &mut strided),
        ("conv-pool (max-pool, nearest)", &mut pooling),
        ("conv-pool + batch norm", &mut pooling_bn),
    ];
    println!(
        "{:<32} {:>10} {:>10} {:>10}",
        "model", "parameters", "samples/s", "test MSE"
    );
    for (name, model) in models {
        let report = fit(model, &mut backend, &train, None, &cfg, &mut |_| {})?;
        let eval = evaluate(model, &mut backend, &test)?;
        println!(
            "{name:<32} {:>10} {:>10.0} {:>10.5}",
            model.parameter_count(),
            report.samples_per_s,
            eval.mse
        );
    }
    Ok(())
}
