//! Sparse autoencoders on MNIST: KL sparsity (ρ = 0.05, β = 3) and an L1 penalty on
//! a 784-64 sigmoid code, against the plain autoencoder: mean code activation and
//! reconstruction MSE on the test digits.
//!
//! `cargo run --release --example sparse [TRAIN_ROWS] [EPOCHS] [BETA] [L1]`
//! (defaults: all 60,000, 10, 6, 3)

#[path = "common/mod.rs"]
mod common;

use aegpu::train::{code_report, evaluate, Regularization, SparseKl};

fn main() {
    let (rows, epochs) = (common::arg(1, 0), common::arg(2, 10));
    let number = |i: usize, default: f32| -> f32 {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let (beta, l1) = (number(3, 6.0), number(4, 3.0));
    let (train, test) = common::mnist(rows, 0);
    let runs = [
        ("plain".to_string(), Regularization::default()),
        (
            format!("KL ρ=0.05 β={beta}"),
            Regularization {
                sparse_kl: Some(SparseKl { rho: 0.05, beta }),
                ..Regularization::default()
            },
        ),
        (
            format!("L1 λ={l1}"),
            Regularization {
                sparse_l1: l1,
                ..Regularization::default()
            },
        ),
    ];
    println!(
        "784-64 sigmoid code, {} training digits, {epochs} epochs, test on {}",
        train.rows, test.rows
    );
    for (name, reg) in runs {
        let (model, mut cpu) = common::train(common::sigmoid_code(64), &train, epochs, reg);
        let codes = code_report(&model, &mut cpu, &test, 1, 0).expect("codes");
        let quality = evaluate(&model, &mut cpu, &test).expect("evaluation");
        println!(
            "{name:>14}: mean code activation {:.4}, test MSE {:.5}",
            codes.mean_code_activation, quality.mse
        );
    }
}
