//! L-BFGS against Adam on a small full-batch problem: a 784-16 sigmoid autoencoder on
//! 1000 MNIST digits; the full-batch loss after each number of loss-and-gradient
//! evaluations.
//!
//! `cargo run --release --example lbfgs [EVALUATIONS] [ROWS]` (defaults: 100, 1000)

#[path = "common/mod.rs"]
mod common;

use aegpu::backend::cpu::CpuBackend;
use aegpu::models::DenseAutoencoder;
use aegpu::train::{fit, LbfgsConfig, Progress, TrainConfig};

fn main() {
    let (evaluations, rows) = (common::arg(1, 100), common::arg(2, 1000));
    let (data, _) = common::mnist(rows, 1);
    let config = common::sigmoid_code(16);

    let mut model = DenseAutoencoder::new(config.clone(), 5).expect("config");
    let mut cpu = CpuBackend::<f32>::new();
    let cfg = TrainConfig {
        lbfgs: Some(LbfgsConfig {
            max_evaluations: Some(evaluations),
            ..LbfgsConfig::default()
        }),
        ..TrainConfig::lbfgs(evaluations)
    };
    let report = fit(&mut model, &mut cpu, &data, None, &cfg, &mut |_| {}).expect("lbfgs");
    let lbfgs = report.lbfgs.expect("an L-BFGS run reports its evaluations");

    println!(
        "784-16 sigmoid AE, {} digits, full batch; loss after n evaluations:",
        data.rows
    );
    for lr in [1e-3f32, 1e-2, 3e-2] {
        let mut model = DenseAutoencoder::new(config.clone(), 5).expect("config");
        let mut cpu = CpuBackend::<f32>::new();
        let mut losses = vec![];
        let adam = TrainConfig {
            epochs: evaluations,
            batch: data.rows,
            lr,
            ..TrainConfig::default()
        };
        fit(&mut model, &mut cpu, &data, None, &adam, &mut |p| {
            if let Progress::Epoch(e) = p {
                losses.push(e.train_loss)
            }
        })
        .expect("adam");
        let at = |n: usize| {
            losses
                .get(n.min(losses.len()) - 1)
                .copied()
                .unwrap_or(f32::NAN)
        };
        println!(
            "  Adam lr {lr:<6}: n=10 {:.5}  n=50 {:.5}  n={evaluations} {:.5}",
            at(10),
            at(50),
            at(evaluations)
        );
    }
    let at = |n: usize| {
        lbfgs
            .losses
            .get(n.min(lbfgs.losses.len()) - 1)
            .copied()
            .unwrap_or(f32::NAN)
    };
    println!(
        "  L-BFGS       : n=10 {:.5}  n=50 {:.5}  n={} {:.5} ({} iterations, {:.1} read-backs per evaluation)",
        at(10),
        at(50),
        lbfgs.evaluations,
        at(evaluations),
        lbfgs.iterations,
        lbfgs.readbacks_per_evaluation
    );
}
