//! The variational autoencoder (`src/models/vae/`): its KL term and the IWAE bound
//! against f64 computations by hand, the whole objective against finite differences,
//! dynamic binarisation and one training step on both backends, and `aegpu train
//! --model vae`, `eval --nll-samples`, `sample` with their bad inputs.

#[path = "common/gpu.rs"]
mod gpu;

#[path = "common/cli.rs"]
mod cli;
use cli::*;
use std::path::Path;
use std::process::Output;

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::{Backend, Feed};
use aegpu::data::{bundled_mnist_dir, load_mnist, Dataset, Split};
use aegpu::graph::{grad, DType, EntryKind, Graph, ParamStore, Plan, Shape};
use aegpu::models::vae::{
    binarized, evaluate_vae, log_mean_exp, one_hot_labels, task::VaeTask, ConvStack, Likelihood,
    Vae, VaeConfig,
};
use aegpu::models::{registry, Autoencoder};
use aegpu::ops::random::{draw, gaussian, rng_feed, Noise};
use aegpu::ops::{Activation, ImageShape};
use aegpu::train::{fit, Task, TrainConfig};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn values(n: usize, lo: f32, hi: f32, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// A store entry's values as f64, by name.
fn weights(model: &Vae, name: &str) -> Vec<f64> {
    let id = model
        .store
        .find(name)
        .unwrap_or_else(|| panic!("no {name}"));
    model.store.values(id).iter().map(|&v| v as f64).collect()
}

/// `act(x · W + b)` in f64, x [n, i], W [i, o].
fn dense64(x: &[f64], n: usize, w: &[f64], b: &[f64], relu: bool) -> Vec<f64> {
    let (i, o) = (x.len() / n, b.len());
    let mut y = vec![0.0; n * o];
    for r in 0..n {
        for c in 0..o {
            let mut s = b[c];
            for k in 0..i {
                s += x[r * i + k] * w[k * o + c];
            }
            y[r * o + c] = if relu { s.max(0.0) } else { s };
        }
    }
    y
}

/// KL(N(μ, e^lv) ‖ N(0, 1)) summed over a row, in f64.
fn kl64(mu: &[f64], lv: &[f64]) -> f64 {
    mu.iter()
        .zip(lv)
        .map(|(&m, &l)| 0.5 * (m * m + l.exp() - l - 1.0))
        .sum()
}

// ---------------------------------------------------------------------------------
// The KL term and the IWAE bound by hand.

/// Builds the KL of `mu`, `lv` ([rows, cols], host inputs) per row and as a batch mean.
fn kl_graph(rows: usize, cols: usize) -> (Graph, aegpu::graph::ValueId, aegpu::graph::ValueId) {
    let mut g = Graph::new();
    let mu = g.input("mu", Shape::new(rows, cols), DType::F32);
    let lv = g.input("lv", Shape::new(rows, cols), DType::F32);
    let per_row = Vae::kl_rows(&mut g, mu, lv).unwrap();
    let mean = Vae::kl_mean(&mut g, mu, lv).unwrap();
    g.mark_output(per_row);
    g.mark_output(mean);
    (g, per_row, mean)
}

fn run_kl(
    backend: &mut dyn Backend,
    rows: usize,
    cols: usize,
    mu: &[f32],
    lv: &[f32],
) -> (Vec<f32>, f32) {
    let (g, per_row, mean) = kl_graph(rows, cols);
    let id = backend
        .prepare(&Plan::new(&g, &ParamStore::new()).unwrap())
        .unwrap();
    backend.run(id, &[Feed::F32(mu), Feed::F32(lv)]).unwrap();
    let r = backend.read_output(id, per_row).unwrap();
    let m = backend.read_output(id, mean).unwrap()[0];
    backend.release(id);
    (r, m)
}

/// Closed-form KL per row and averaged, against f64, on awkward shapes; on llvmpipe
/// too. Tolerance 1e-5 relative: f32 sums of ≤ 33 terms each ≤ ~10.
#[test]
fn kl_term_matches_f64_on_both_backends() {
    let mut backends: Vec<(&str, Box<dyn Backend>)> =
        vec![("cpu", Box::new(CpuBackend::<f32>::new()))];
    if let Some(gpu) = gpu::gpu_backend() {
        backends.push(("llvmpipe", Box::new(gpu)));
    }
    for (name, backend) in &mut backends {
        for (rows, cols) in [(1, 1), (7, 3), (33, 40)] {
            let mu = values(rows * cols, -2.0, 2.0, 1);
            let lv = values(rows * cols, -3.0, 1.5, 2);
            let expected: Vec<f64> = (0..rows)
                .map(|r| {
                    let s = r * cols..(r + 1) * cols;
                    let m: Vec<f64> = mu[s.clone()].iter().map(|&v| v as f64).collect();
                    let l: Vec<f64> = lv[s].iter().map(|&v| v as f64).collect();
                    kl64(&m, &l)
                })
                .collect();
            let expected_mean = expected.iter().sum::<f64>() / rows as f64;
            let (per_row, mean) = run_kl(backend.as_mut(), rows, cols, &mu, &lv);
            for (r, (&got, &want)) in per_row.iter().zip(&expected).enumerate() {
                assert!(
                    (got as f64 - want).abs() <= 1e-5 * want.abs().max(1.0),
                    "{name} [{rows}x{cols}] row {r}: {got} vs {want}"
                );
            }
            assert!(
                (mean as f64 - expected_mean).abs() <= 1e-5 * expected_mean.abs().max(1.0),
                "{name} [{rows}x{cols}] mean: {mean} vs {expected_mean}"
            );
        }
    }
}

/// A tiny 3-4-2 Bernoulli VAE on 5 grey rows: evaluate_vae's IWAE bound, ELBO and KL
/// equal an f64 computation with the same Philox ε (stream 0, step s, element
/// row·latent + u), to 1e-4 relative (the device computes in f32).
#[test]
fn iwae_bound_matches_a_hand_computation() {
    let config = VaeConfig::new(3, &[4], 2);
    let model = Vae::new(config, 5).unwrap();
    let (n, d, latent, k, seed) = (5, 3, 2, 7, 3u64);
    let x = values(n * d, 0.0, 1.0, 9);
    let data = Dataset::new(n, d, x.clone()).unwrap();
    let got = evaluate_vae(&model, &mut CpuBackend::<f32>::new(), &data, k, seed).unwrap();

    let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let w = |name: &str| weights(&model, name);
    let h = dense64(&x64, n, &w("encoder.0.weight"), &w("encoder.0.bias"), true);
    let mu = dense64(
        &h,
        n,
        &w("encoder.mean.weight"),
        &w("encoder.mean.bias"),
        false,
    );
    let lv = dense64(
        &h,
        n,
        &w("encoder.log_var.weight"),
        &w("encoder.log_var.bias"),
        false,
    );
    let mut nll = 0.0;
    let mut recon = 0.0;
    let mut kl = 0.0;
    for r in 0..n {
        let row = r * latent..(r + 1) * latent;
        kl += kl64(&mu[row.clone()], &lv[row.clone()]);
        let mut log_w = vec![];
        for s in 0..k {
            let key = rng_feed(seed, s as u64);
            let eps: Vec<f64> = row
                .clone()
                .map(|i| {
                    let words = draw(key, 0, i as u32);
                    gaussian(words[0], words[1]) as f64
                })
                .collect();
            let z: Vec<f64> = (0..latent)
                .map(|u| mu[r * latent + u] + (0.5 * lv[r * latent + u]).exp() * eps[u])
                .collect();
            let h2 = dense64(&z, 1, &w("decoder.0.weight"), &w("decoder.0.bias"), true);
            let logits = dense64(&h2, 1, &w("decoder.1.weight"), &w("decoder.1.bias"), false);
            let log_px: f64 = logits
                .iter()
                .zip(&x64[r * d..(r + 1) * d])
                .map(|(&l, &t)| t * l - (l.max(0.0) + (-l.abs()).exp().ln_1p()))
                .sum();
            recon -= log_px;
            let ratio: f64 = (0..latent)
                .map(|u| 0.5 * (lv[r * latent + u] + eps[u] * eps[u] - z[u] * z[u]))
                .sum();
            log_w.push(log_px + ratio);
        }
        nll -= log_mean_exp(&log_w);
    }
    let (nll, recon, kl) = (nll / n as f64, recon / (n * k) as f64, kl / n as f64);
    let close = |what: &str, a: f64, b: f64| {
        assert!(
            (a - b).abs() <= 1e-4 * b.abs().max(1.0),
            "{what}: {a} vs f64 {b}"
        )
    };
    close("nll", got.nll, nll);
    close("reconstruction", got.reconstruction, recon);
    close("kl", got.kl, kl);
    close("elbo", got.elbo, -(recon + kl));
    // The bound tightens with k: L_k ≥ the ELBO estimate from the same draws.
    assert!(got.nll <= -got.elbo + 1e-6, "{} vs {}", got.nll, -got.elbo);
    assert_eq!(got.samples, k);
    assert_eq!(got.unit_variances.len(), latent);
}

#[test]
fn zero_importance_samples_are_refused() {
    let model = Vae::new(VaeConfig::new(3, &[], 2), 0).unwrap();
    let data = Dataset::new(2, 3, vec![0.5; 6]).unwrap();
    let e = evaluate_vae(&model, &mut CpuBackend::<f32>::new(), &data, 0, 0)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("at least 1 importance sample"), "{e}");
}

// ---------------------------------------------------------------------------------
// The objective's gradient.

/// The whole negative ELBO (β = 0.7) against central differences in f64, with the
/// random key held fixed: Bernoulli, Gaussian with fixed and learned variance,
/// conditional, dynamically binarised. Tolerance as tests/objective_gradcheck.rs.
#[test]
fn objective_gradient_matches_finite_differences() {
    let mut gaussian = VaeConfig::new(4, &[3], 2);
    gaussian.likelihood = Likelihood::Gaussian {
        sigma: 0.5,
        learned: false,
    };
    gaussian.activation = Activation::Tanh;
    let mut learned = gaussian.clone();
    learned.likelihood = Likelihood::Gaussian {
        sigma: 0.5,
        learned: true,
    };
    let mut conditional = VaeConfig::new(4, &[3, 3], 2);
    conditional.classes = 3;
    conditional.activation = Activation::Tanh;
    let mut binarised = VaeConfig::new(4, &[], 3);
    binarised.binarize = true;
    // A convolutional VAE on 1×4×4 images: two stride-2 convolutions (2 and 3
    // channels, 3×3) to 3×1×1, a dense layer, and the transposed convolutions back.
    let mut conv = VaeConfig::new(16, &[3], 2);
    conv.activation = Activation::Tanh;
    conv.classes = 2;
    conv.conv = Some(ConvStack {
        image: ImageShape::new(1, 4, 4),
        channels: vec![2, 3],
        kernel: 3,
    });
    for mut config in [
        VaeConfig::new(4, &[3], 2),
        gaussian,
        learned,
        conditional,
        binarised,
        conv,
    ] {
        config.beta = 0.7;
        check_gradient(config);
    }
}

fn check_gradient(config: VaeConfig) {
    // Smaller than tests/objective_gradcheck.rs's 1e-6: at 1e-6 the truncation error
    // through exp(½ logvar) reaches 5e-5 relative on a log-variance weight; from 1e-7
    // down the worst error stays at 3e-6 (the whole-graph floor that file describes).
    const H: f64 = 1e-7;
    let mut model = Vae::new(config.clone(), 3).unwrap();
    let (rows, cols) = (6, config.input);
    let x_id = model.store.add(
        "x",
        Shape::new(rows, cols),
        EntryKind::Data,
        values(rows * cols, 0.05, 0.95, 11),
    );
    let y_id = config.is_conditional().then(|| {
        let mut data = Dataset::new(rows, 1, vec![0.0; rows]).unwrap();
        data.labels = Some(
            (0..rows as u32)
                .map(|r| r % config.classes as u32)
                .collect(),
        );
        let y = one_hot_labels(&data, config.classes).unwrap();
        model
            .store
            .add("y", Shape::new(rows, y.cols), EntryKind::Data, y.values)
    });
    let mut g = Graph::new();
    let x = g.entry(&model.store, x_id);
    let y = y_id.map(|id| g.entry(&model.store, id));
    let key_input = g.input("rng", Shape::new(1, 4), DType::U32);
    let objective = model
        .elbo_objective(&mut g, x, y, Some(key_input), config.beta)
        .unwrap();
    let params = model.parameters();
    let vals: Vec<_> = params.iter().map(|&p| g.entry(&model.store, p)).collect();
    let grads = grad(&mut g, objective.total, &vals).unwrap();
    g.mark_output(objective.total);
    for &d in &grads {
        g.mark_output(d);
    }
    let mut cpu = CpuBackend::<f64>::new();
    cpu.upload_store(&model.store).unwrap();
    let plan = cpu.prepare(&Plan::new(&g, &model.store).unwrap()).unwrap();
    let mut worst = 0.0f64;
    let key = rng_feed(5, 9);
    let feeds = [Feed::U32(&key)];
    cpu.run(plan, &feeds).unwrap();
    for (&p, &d) in params.iter().zip(&grads) {
        let analytic = cpu.output_values(plan, d).unwrap();
        let p0 = cpu.entry_values(p).unwrap();
        for j in 0..p0.len() {
            let mut at = |delta: f64| {
                let mut v = p0.clone();
                v[j] += delta;
                cpu.set_entry_values(p, v).unwrap();
                cpu.run(plan, &feeds).unwrap();
                cpu.output_values(plan, objective.total).unwrap()[0]
            };
            let numeric = (at(H) - at(-H)) / (2.0 * H);
            cpu.set_entry_values(p, p0.clone()).unwrap();
            let error =
                (analytic[j] - numeric).abs() / (0.01f64).max(analytic[j].abs()).max(numeric.abs());
            worst = worst.max(error);
            assert!(
                error < 1e-5,
                "{}[{j}]: autodiff {} vs finite differences {numeric} ({:?})",
                model.store.get(p).name,
                analytic[j],
                config.likelihood
            );
        }
    }
    eprintln!(
        "worst relative error {worst:.2e} for {:?}",
        config.likelihood
    );
}

// ---------------------------------------------------------------------------------
// Randomness and training on both backends.

/// Binarize draws Bernoulli(x): bit-identical on the CPU, on llvmpipe and in the host
/// `binarized`, with the right frequency (10⁵ draws at x = 0.3, 5σ).
#[test]
fn binarize_is_bit_identical_and_bernoulli() {
    let n = 100_000;
    let x = vec![0.3f32; n];
    let mut g = Graph::new();
    let xv = g.input("x", Shape::new(1, n), DType::F32);
    let rng = g.input("rng", Shape::new(1, 4), DType::U32);
    let y = g
        .push(
            aegpu::ops::Op::Noise {
                noise: Noise::Binarize,
                stream: 0,
            },
            &[xv, rng],
        )
        .unwrap();
    g.mark_output(y);
    let plan = Plan::new(&g, &ParamStore::new()).unwrap();
    let key = rng_feed(4, 0);
    let run = |b: &mut dyn Backend| {
        let id = b.prepare(&plan).unwrap();
        b.run(id, &[Feed::F32(&x), Feed::U32(&key)]).unwrap();
        b.read_output(id, y).unwrap()
    };
    let cpu = run(&mut CpuBackend::<f32>::new());
    let host = binarized(&Dataset::new(1, n, x.clone()).unwrap(), 4).unwrap();
    assert_eq!(cpu, host.values);
    let ones = cpu.iter().filter(|&&v| v == 1.0).count();
    assert!(cpu.iter().all(|&v| v == 0.0 || v == 1.0));
    let (mean, sd) = (n as f64 * 0.3, (n as f64 * 0.3 * 0.7).sqrt());
    assert!((ones as f64 - mean).abs() <= 5.0 * sd, "{ones} of {n}");
    if let Some(mut gpu) = gpu::gpu_backend() {
        assert_eq!(run(&mut gpu), cpu, "llvmpipe draws other bits");
    }
}

fn small_mnist(rows: usize) -> Dataset {
    load_mnist(&bundled_mnist_dir(), Split::Train)
        .unwrap()
        .head(rows)
}

/// Two epochs of a conditional, binarised 784-32-8 VAE with β warm-up (96 rows, batch
/// 32: 6 steps) on the CPU and on llvmpipe: the same terms and weights. ε goes through
/// WGSL's log and cos, which are not correctly rounded (src/ops/random.rs), and the
/// matmuls sum in another order, so the tolerance is 1e-3 relative on the terms and
/// 1e-4 absolute on the weights (Adam steps of 1e-3); the binarisation is exact.
#[test]
fn training_steps_agree_on_cpu_and_llvmpipe() {
    let Some(mut gpu) = gpu::gpu_backend() else {
        return;
    };
    let data = small_mnist(96);
    let mut config = VaeConfig::new(784, &[32], 8);
    config.classes = 10;
    config.binarize = true;
    config.beta_warmup = 1;
    let cfg = TrainConfig {
        epochs: 2,
        batch: 32,
        lr: 1e-3,
        seed: 7,
        ..TrainConfig::default()
    };
    let mut on_cpu = Vae::new(config.clone(), 1).unwrap();
    let mut on_gpu = Vae::new(config, 1).unwrap();
    let a = fit(
        &mut on_cpu,
        &mut CpuBackend::<f32>::new(),
        &data,
        None,
        &cfg,
        &mut |_| {},
    )
    .unwrap();
    let b = fit(&mut on_gpu, &mut gpu, &data, None, &cfg, &mut |_| {}).unwrap();
    for (ea, eb) in a.epochs.iter().zip(&b.epochs) {
        for (name, &va) in &ea.terms {
            let vb = eb.terms[name];
            assert!(
                (va - vb).abs() <= 1e-3 * va.abs().max(1.0),
                "epoch {} {name}: cpu {va} vs llvmpipe {vb}",
                ea.epoch
            );
        }
    }
    assert!(
        a.epochs[0].terms.contains_key("kl") && a.epochs[0].terms.contains_key("reconstruction")
    );
    let mut worst = 0.0f32;
    for (&p, &q) in on_cpu.parameters().iter().zip(&on_gpu.parameters()) {
        for (x, y) in on_cpu.store.values(p).iter().zip(on_gpu.store.values(q)) {
            worst = worst.max((x - y).abs());
        }
    }
    assert!(worst < 1e-4, "weights differ by {worst}");
}

/// β rises linearly over the warm-up epochs in phases of one optimiser group, and the
/// first epoch (β = 0) trains the reconstruction alone: its KL grows unchecked.
#[test]
fn beta_warms_up_over_epochs_in_one_optimiser_group() {
    let mut config = VaeConfig::new(784, &[32], 4);
    config.beta = 2.0;
    config.beta_warmup = 4;
    assert_eq!(
        (1..=6).map(|e| config.beta_at(e)).collect::<Vec<_>>(),
        vec![0.0, 0.5, 1.0, 1.5, 2.0, 2.0]
    );
    let mut model = Vae::new(config, 0).unwrap();
    let cfg = TrainConfig::default();
    let task = VaeTask {
        model: &mut model,
        cfg: &cfg,
    };
    let phases = task.phases();
    assert_eq!(phases.len(), 5);
    assert!(phases.iter().all(|p| p.group == "vae"));
    assert_eq!(phases[0].epochs, 1..=1);
    assert_eq!(phases[3].epochs, 4..=4);
    assert_eq!(*phases[4].epochs.start(), 5);
    assert!(task.uses_rng());
}

/// A conditional convolutional VAE with a learned Gaussian variance survives a save
/// and a load through the registry: same kind, architecture, names and weights.
#[test]
fn a_saved_conv_vae_loads_back_through_the_registry() {
    let mut config = VaeConfig::new(64, &[5], 3);
    config.classes = 4;
    config.likelihood = Likelihood::Gaussian {
        sigma: 0.3,
        learned: true,
    };
    config.conv = Some(ConvStack {
        image: ImageShape::new(1, 8, 8),
        channels: vec![4, 6],
        kernel: 3,
    });
    let model = Vae::new(config, 2).unwrap();
    let path = temp("conv-vae.safetensors");
    model.save(&path, &Default::default()).unwrap();
    let (loaded, _) = registry::load(&path).unwrap();
    assert_eq!(loaded.kind(), "vae");
    assert_eq!(loaded.describe(), model.describe());
    assert_eq!(loaded.image_shape(), Some(ImageShape::new(1, 8, 8)));
    let names = |m: &dyn Autoencoder| -> Vec<(String, Vec<f32>)> {
        m.parameters()
            .iter()
            .map(|&p| (m.store().get(p).name.clone(), m.store().values(p).to_vec()))
            .collect()
    };
    let (a, b) = (names(&model), names(loaded.as_ref()));
    assert_eq!(a, b);
    assert!(a.iter().any(|(n, _)| n == "decoder.conv.1.weight"));
    assert!(a.iter().any(|(n, _)| n == "decoder.log_var"));
}

// ---------------------------------------------------------------------------------
// The command line.

fn assert_ok(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

/// Exactly one `error:` line mentioning `fragment`, a non-zero exit, no panic.
fn assert_one_line_error(out: &Output, fragment: &str) {
    assert!(!out.status.success(), "expected failure, got success");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(errors.len(), 1, "one error line expected:\n{stderr}");
    assert!(
        errors[0].contains(fragment),
        "`{}` lacks `{fragment}`",
        errors[0]
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A conditional Gaussian VAE on iris (3 classes): trained from the CLI with β
/// warm-up and terms per epoch; eval reports the IWAE bound; sample honours --label
/// and refuses one out of range.
fn train_conditional_iris(out: &Path) -> serde_json::Value {
    assert_ok(&aegpu(&[
        "train",
        "--model",
        "vae",
        "--data",
        "data/small/iris.csv",
        "--label-column",
        "target",
        "--scale",
        "minmax",
        "--conditional",
        "--likelihood",
        "gaussian",
        "--decoder-sigma",
        "0.2",
        "--hidden",
        "8",
        "--latent",
        "2",
        "--beta-warmup",
        "2",
        "--epochs",
        "4",
        "--batch",
        "16",
        "--lr",
        "1e-2",
        "--backend",
        "cpu",
        "--json",
        "--out",
        out.to_str().unwrap(),
    ]))
}

#[test]
fn cli_trains_evaluates_and_samples_a_conditional_vae() {
    let model = temp("cvae.safetensors");
    let report = train_conditional_iris(&model);
    assert_eq!(report["kind"], "vae");
    assert_eq!(report["classes"], 3);
    let terms = &report["train_terms"];
    assert!(terms["kl"].as_f64().unwrap() >= 0.0, "{report}");
    assert!(terms["reconstruction"].is_number(), "{report}");
    let m = model.to_str().unwrap();
    let eval = assert_ok(&aegpu(&[
        "eval",
        "--model",
        m,
        "--data",
        "data/small/iris.csv",
        "--label-column",
        "target",
        "--backend",
        "cpu",
        "--nll-samples",
        "20",
        "--json",
    ]));
    let (nll, elbo) = (
        eval["nll"].as_f64().unwrap(),
        eval["elbo"].as_f64().unwrap(),
    );
    assert!(nll.is_finite() && nll <= -elbo + 1e-3, "{eval}");
    let npy = temp("class2.npy");
    assert_ok(&aegpu(&[
        "sample",
        "--model",
        m,
        "--n",
        "5",
        "--label",
        "2",
        "--backend",
        "cpu",
        "--out",
        npy.to_str().unwrap(),
    ]));
    let rows = aegpu::data::load_npy(&npy).unwrap();
    assert_eq!((rows.rows, rows.cols), (5, 4));
    assert_one_line_error(
        &aegpu(&[
            "sample",
            "--model",
            m,
            "--label",
            "3",
            "--backend",
            "cpu",
            "--out",
            npy.to_str().unwrap(),
        ]),
        "label 3 is out of range: the model has 3 classes",
    );
    // Evaluation on rows without labels (the samples just written).
    assert_one_line_error(
        &aegpu(&[
            "eval",
            "--model",
            m,
            "--data",
            npy.to_str().unwrap(),
            "--backend",
            "cpu",
        ]),
        "needs labelled data",
    );
}

#[test]
fn cli_refuses_bad_sampling_and_evaluation_requests() {
    let vae = temp("vae.safetensors");
    assert_ok(&aegpu(&[
        "train",
        "--model",
        "vae",
        "--data",
        "data/small/iris.csv",
        "--label-column",
        "target",
        "--scale",
        "minmax",
        "--hidden",
        "8",
        "--latent",
        "2",
        "--epochs",
        "1",
        "--batch",
        "16",
        "--backend",
        "cpu",
        "--out",
        vae.to_str().unwrap(),
    ]));
    let dense = temp("dense.safetensors");
    assert_ok(&aegpu(&[
        "train",
        "--data",
        "data/small/iris.csv",
        "--label-column",
        "target",
        "--layers",
        "4,2",
        "--epochs",
        "1",
        "--batch",
        "16",
        "--backend",
        "cpu",
        "--out",
        dense.to_str().unwrap(),
    ]));
    let (v, d) = (vae.to_str().unwrap(), dense.to_str().unwrap());
    let out = temp("s.npy");
    let o = out.to_str().unwrap();
    assert_one_line_error(
        &aegpu(&["sample", "--model", d, "--out", o, "--backend", "cpu"]),
        "not a generative one",
    );
    assert_one_line_error(
        &aegpu(&[
            "sample",
            "--model",
            v,
            "--label",
            "1",
            "--out",
            o,
            "--backend",
            "cpu",
        ]),
        "--label needs a conditional VAE",
    );
    assert_one_line_error(
        &aegpu(&[
            "sample",
            "--model",
            v,
            "--n",
            "0",
            "--out",
            o,
            "--backend",
            "cpu",
        ]),
        "--n must be at least 1",
    );
    assert_one_line_error(
        &aegpu(&[
            "sample",
            "--model",
            v,
            "--out",
            "grid.txt",
            "--backend",
            "cpu",
        ]),
        "write a .png grid or a .npy",
    );
    assert_one_line_error(
        &aegpu(&[
            "sample",
            "--model",
            v,
            "--out",
            "grid.png",
            "--backend",
            "cpu",
        ]),
        "not square images",
    );
    assert_one_line_error(
        &aegpu(&[
            "eval",
            "--model",
            v,
            "--data",
            "data/small/iris.csv",
            "--label-column",
            "target",
            "--nll-samples",
            "0",
            "--backend",
            "cpu",
        ]),
        "--nll-samples must be at least 1",
    );
    assert_one_line_error(
        &aegpu(&[
            "eval",
            "--model",
            d,
            "--data",
            "data/small/iris.csv",
            "--label-column",
            "target",
            "--nll-samples",
            "5",
            "--backend",
            "cpu",
        ]),
        "--nll-samples and --binarize need a VAE",
    );
    assert_one_line_error(
        &aegpu(&[
            "train",
            "--model",
            "vae",
            "--data",
            "data/small/iris.csv",
            "--label-column",
            "target",
            "--noise",
            "mask:0.2",
            "--backend",
            "cpu",
        ]),
        "takes no noise",
    );
    assert_one_line_error(
        &aegpu(&[
            "train",
            "--model",
            "vae",
            "--data",
            "mnist",
            "--channels",
            "8",
            "--backend",
            "cpu",
        ]),
        "--channels shapes a convolutional VAE: add --conv",
    );
    assert_one_line_error(
        &aegpu(&[
            "train",
            "--model",
            "vae",
            "--data",
            "data/small/iris.csv",
            "--label-column",
            "target",
            "--learn-variance",
            "--backend",
            "cpu",
        ]),
        "--learn-variance needs --likelihood gaussian",
    );
    let samples = temp("prior.npy");
    assert_ok(&aegpu(&[
        "sample",
        "--model",
        v,
        "--n",
        "3",
        "--out",
        samples.to_str().unwrap(),
        "--backend",
        "cpu",
    ]));
    assert_eq!(aegpu::data::load_npy(&samples).unwrap().rows, 3);
}
