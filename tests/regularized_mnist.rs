//! The regularised autoencoders proven on real MNIST digits (bundled under
//! `data/mnist`), each against the same network without its regulariser, on the CPU
//! backend and small subsets so the suite stays quick. Every test prints its figures
//! (`cargo test --release --test regularized_mnist -- --nocapture`); the examples
//! under `examples/` run the same comparisons at full size.

use aegpu::backend::cpu::CpuBackend;
use aegpu::data::{bundled_mnist_dir, load_mnist, Dataset, Split};
use aegpu::linalg::{principal_angles, Pca};
use aegpu::models::{DenseAutoencoder, DenseConfig};
use aegpu::ops::random::Noise;
use aegpu::ops::{Activation, Loss};
use aegpu::train::{
    code_report, corrupt, evaluate, fit, jacobian_fro2_finite_differences, run_rows, LbfgsConfig,
    Regularization, RowOutput, SparseKl, TrainConfig,
};

fn mnist(train_rows: usize, test_rows: usize) -> (Dataset, Dataset) {
    let train = load_mnist(&bundled_mnist_dir(), Split::Train).expect("bundled MNIST train");
    let test = load_mnist(&bundled_mnist_dir(), Split::Test).expect("bundled MNIST test");
    (train.head(train_rows), test.head(test_rows))
}

/// 784 → `code` sigmoid units → 784 sigmoid outputs.
fn sigmoid_code(code: usize) -> DenseConfig {
    let mut c = DenseConfig::new(&[784, code]);
    c.activations = vec![Activation::Sigmoid, Activation::Sigmoid];
    c
}

fn train(
    config: DenseConfig,
    data: &Dataset,
    epochs: usize,
    regularization: Regularization,
) -> (DenseAutoencoder, CpuBackend) {
    let mut model = DenseAutoencoder::new(config, 7).unwrap();
    let mut cpu = CpuBackend::<f32>::new();
    let cfg = TrainConfig {
        epochs,
        batch: 64,
        regularization,
        ..TrainConfig::default()
    };
    fit(&mut model, &mut cpu, data, None, &cfg, &mut |_| {}).unwrap();
    (model, cpu)
}

/// Baldi & Hornik (1989): a linear autoencoder trained with squared error spans the
/// principal subspace. Trained to convergence with full-batch L-BFGS.
#[test]
fn linear_autoencoder_learns_the_pca_subspace() {
    let (data, _) = mnist(2000, 1);
    let k = 4;
    let mut config = DenseConfig::new(&[784, k]);
    config.activations = vec![Activation::Linear, Activation::Linear];
    let mut model = DenseAutoencoder::new(config, 3).unwrap();
    let mut cpu = CpuBackend::<f32>::new();
    let cfg = TrainConfig {
        lbfgs: Some(LbfgsConfig {
            max_evaluations: Some(400),
            ..LbfgsConfig::default()
        }),
        ..TrainConfig::lbfgs(300)
    };
    let report = fit(&mut model, &mut cpu, &data, None, &cfg, &mut |_| {}).unwrap();
    let report = report.lbfgs.unwrap();
    let pca = Pca::fit(&data.values, data.rows, data.cols, k, 200);
    let pca_mse = pca.reconstruction_mse(&data.values, data.rows);
    // The decoder's rows span the reconstructions' subspace.
    let (decoder_weight, _) = model.decoder_layer(0);
    let w = model.store.values(decoder_weight.unwrap());
    let angles = principal_angles(w, &pca.components, k, 784);
    eprintln!(
        "linear AE 784-{k}: loss {:.6} after {} evaluations (PCA-{k} MSE {pca_mse:.6}); \
         principal angles to PCA (degrees): {:?}",
        report.losses.last().unwrap(),
        report.evaluations,
        angles.iter().map(|a| a.to_degrees()).collect::<Vec<_>>()
    );
    assert!(
        angles.iter().all(|a| a.to_degrees() < 2.0),
        "every principal angle should be under 2°: {angles:?}"
    );
}

/// Ng's KL sparsity with ρ = 0.05 brings the mean code activation on unseen digits to
/// ρ ± 0.02; an L1 penalty lowers it below the plain autoencoder's. On this short
/// schedule (8 epochs of 4000 digits) β = 20 is needed; `examples/sparse.rs` shows the
/// full-data figures for smaller β.
#[test]
fn sparsity_penalties_lower_the_mean_code_activation() {
    let (data, test) = mnist(4000, 1000);
    let mean_activation = |reg: Regularization| {
        let (model, mut cpu) = train(sigmoid_code(64), &data, 8, reg);
        code_report(&model, &mut cpu, &test, 1, 0)
            .unwrap()
            .mean_code_activation
    };
    let plain = mean_activation(Regularization::default());
    let kl = mean_activation(Regularization {
        sparse_kl: Some(SparseKl {
            rho: 0.05,
            beta: 20.0,
        }),
        ..Regularization::default()
    });
    let l1 = mean_activation(Regularization {
        sparse_l1: 3.0,
        ..Regularization::default()
    });
    eprintln!("mean code activation on test digits: plain {plain:.4}, KL(ρ=0.05, β=20) {kl:.4}, L1(λ=3) {l1:.4}");
    assert!(
        (kl - 0.05).abs() <= 0.02,
        "KL: {kl} should be within 0.02 of 0.05"
    );
    assert!(l1 < plain, "L1 {l1} should be below plain {plain}");
}

/// Rifai et al. (2011): the contractive penalty shrinks the encoder's Jacobian, here
/// measured on test digits by finite differences (not by the closed form it trains).
#[test]
fn contractive_penalty_shrinks_the_encoder_jacobian() {
    let (data, test) = mnist(4000, 300);
    let jacobian = |reg: Regularization| {
        let (model, mut cpu) = train(sigmoid_code(64), &data, 8, reg);
        let fd = jacobian_fro2_finite_differences(&model, &mut cpu, &test, 8, 1e-2, 1).unwrap();
        let exact = code_report(&model, &mut cpu, &test, 1, 0).unwrap();
        let mse = evaluate(&model, &mut cpu, &test).unwrap().mse;
        (fd, exact.jacobian_fro2, mse)
    };
    let (plain, plain_exact, plain_mse) = jacobian(Regularization::default());
    let (cae, cae_exact, cae_mse) = jacobian(Regularization {
        contractive: 1.0,
        ..Regularization::default()
    });
    eprintln!(
        "‖J‖²_F on test digits, finite differences (closed form): plain {plain:.3} \
         ({plain_exact:.3}), contractive λ=1 {cae:.3} ({cae_exact:.3}); test MSE {plain_mse:.5} vs {cae_mse:.5}"
    );
    // The finite-difference estimate agrees with the closed form...
    for (fd, exact) in [(plain, plain_exact), (cae, cae_exact)] {
        assert!(
            (fd - exact as f64).abs() <= 0.25 * exact as f64,
            "finite differences {fd} vs closed form {exact}"
        );
    }
    // ...and the penalty at least halves it.
    assert!(cae < 0.5 * plain, "contractive {cae} vs plain {plain}");
}

/// Vincent et al. (2008): trained on digits with 30% of the pixels zeroed, a denoising
/// autoencoder restores corrupted test digits better than the plain one.
#[test]
fn denoising_autoencoder_restores_masked_digits_better() {
    let (data, test) = mnist(6000, 1000);
    let noise = Noise::Mask { p: 0.3 };
    let mut cpu = CpuBackend::<f32>::new();
    let corrupted = corrupt(&mut cpu, &test, noise, 99).unwrap();
    let restoration_mse = |reg: Regularization| {
        let (model, mut cpu) = train(DenseConfig::new(&[784, 256, 64]), &data, 5, reg);
        let restored = run_rows(&model, &mut cpu, &corrupted, RowOutput::Reconstruction).unwrap();
        restored
            .iter()
            .zip(&test.values)
            .map(|(r, c)| ((r - c) as f64).powi(2))
            .sum::<f64>()
            / restored.len() as f64
    };
    let plain = restoration_mse(Regularization::default());
    let denoising = restoration_mse(Regularization {
        noise: Some(noise),
        ..Regularization::default()
    });
    eprintln!("MSE of restored masked (p=0.3) test digits to the clean ones: plain {plain:.5}, denoising {denoising:.5}");
    assert!(denoising < plain, "denoising {denoising} vs plain {plain}");
}

/// On a small full-batch problem L-BFGS reaches a lower loss than Adam with the same
/// number of loss-and-gradient evaluations.
#[test]
fn lbfgs_beats_adam_at_equal_evaluations() {
    let (data, _) = mnist(500, 1);
    let config = sigmoid_code(16);
    let evaluations = 60;

    let mut lbfgs_model = DenseAutoencoder::new(config.clone(), 5).unwrap();
    let mut cpu = CpuBackend::<f32>::new();
    let cfg = TrainConfig {
        lbfgs: Some(LbfgsConfig {
            max_evaluations: Some(evaluations),
            ..LbfgsConfig::default()
        }),
        ..TrainConfig::lbfgs(evaluations)
    };
    let report = fit(&mut lbfgs_model, &mut cpu, &data, None, &cfg, &mut |_| {}).unwrap();
    let report = report.lbfgs.unwrap();
    let lbfgs = evaluate(&lbfgs_model, &mut cpu, &data).unwrap().mse;

    // Adam, full batch: one evaluation per step.
    let mut adam_model = DenseAutoencoder::new(config, 5).unwrap();
    let mut cpu = CpuBackend::<f32>::new();
    let adam_cfg = TrainConfig {
        epochs: report.evaluations,
        batch: data.rows,
        lr: 1e-2,
        loss: Loss::Mse,
        ..TrainConfig::default()
    };
    fit(
        &mut adam_model,
        &mut cpu,
        &data,
        None,
        &adam_cfg,
        &mut |_| {},
    )
    .unwrap();
    let adam = evaluate(&adam_model, &mut cpu, &data).unwrap().mse;
    eprintln!(
        "full-batch MSE after {} evaluations: L-BFGS {lbfgs:.5} ({} iterations), Adam (lr 1e-2) {adam:.5}",
        report.evaluations, report.iterations
    );
    assert!(report.evaluations <= evaluations);
    assert!(lbfgs < adam, "L-BFGS {lbfgs} vs Adam {adam}");
}
