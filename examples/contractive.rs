//! Contractive autoencoder on MNIST (Rifai et al. 2011): the penalty λ‖J_f(x)‖²_F
//! on a 784-64 sigmoid code, against the plain autoencoder: the encoder Jacobian's
//! squared Frobenius norm on test digits, by finite differences and by the closed form,
//! and the reconstruction MSE.
//!
//! `cargo run --release --example contractive [TRAIN_ROWS] [EPOCHS] [LAMBDA]`
//! (defaults: all 60,000, 10, 1)

#[path = "common/mod.rs"]
mod common;

use aegpu::train::{code_report, evaluate, jacobian_fro2_finite_differences, Regularization};

fn main() {
    let (rows, epochs) = (common::arg(1, 0), common::arg(2, 10));
    let lambda: f32 = std::env::args()
        .nth(3)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1.0);
    let (train, test) = common::mnist(rows, 0);
    let probe = test.head(1000);
    println!(
        "784-64 sigmoid code, {} training digits, {epochs} epochs; ‖J‖²_F on 1000 test digits",
        train.rows
    );
    for (name, weight) in [("plain", 0.0), ("contractive", lambda)] {
        let reg = Regularization {
            contractive: weight,
            ..Regularization::default()
        };
        let (model, mut cpu) = common::train(common::sigmoid_code(64), &train, epochs, reg);
        let fd = jacobian_fro2_finite_differences(&model, &mut cpu, &probe, 16, 1e-2, 1)
            .expect("finite differences");
        let exact = code_report(&model, &mut cpu, &probe, 1, 0).expect("codes");
        let quality = evaluate(&model, &mut cpu, &test).expect("evaluation");
        println!(
            "{name:>12} (λ={weight}): ‖J‖²_F {fd:.3} by finite differences, {:.3} closed form; test MSE {:.5}",
            exact.jacobian_fro2, quality.mse
        );
    }
}
