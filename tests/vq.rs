//! The vector-quantised autoencoder: the codebook's nearest-code lookup and
//! straight-through gradient, its moving-average update and dead-code restart checked
//! against the formulas in `src/nn/codebook.rs`, on the CPU and on the GPU backend; and
//! the `vq` kind trained on digits, reporting its code usage; and its code prior, an
//! LSTM over the grid of codes trained after the autoencoder, which `aegpu sample`
//! draws new images from.

#[path = "common/gpu.rs"]
mod gpu;

#[path = "common/cli.rs"]
mod cli;
use cli::one_error_line;

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::{Backend, Feed};
use aegpu::data::{bundled_mnist_dir, load_mnist, Split};
use aegpu::graph::{grad, DType, Graph, ParamStore, Plan, Shape};
use aegpu::models::vq::{PriorConfig, VqAutoencoder, VqConfig};
use aegpu::models::Autoencoder;
use aegpu::nn::codebook::{straight_through, CodebookUpdate, EMA_EPSILON};
use aegpu::nn::{Codebook, Forward, Mode, Scope};
use aegpu::ops::random::rng_feed;
use aegpu::ops::{Axis, BinaryOp, Op, Reduce, ReduceKind};
use aegpu::train::{fit, Progress, TrainConfig};
use rand::rngs::StdRng;
use rand::SeedableRng;

const K: usize = 5;
const D: usize = 3;
const M: usize = 7;

fn rows(seed: u64, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i as f32 + 1.0) * 0.37 + seed as f32).sin())
        .collect()
}

fn nearest_by_brute_force(z: &[f32], e: &[f32]) -> Vec<usize> {
    z.chunks(D)
        .map(|row| {
            let dist = |k: usize| -> f64 {
                (0..D)
                    .map(|j| (row[j] as f64 - e[k * D + j] as f64).powi(2))
                    .sum()
            };
            (0..K)
                .min_by(|&a, &b| dist(a).partial_cmp(&dist(b)).unwrap())
                .unwrap()
        })
        .collect()
}

/// Every row becomes its nearest code, the one-hot row marks it, and the gradient
/// through z + sg(z_q − z) is the identity.
#[test]
fn quantize_picks_the_nearest_code_and_passes_the_gradient_straight_through() {
    let mut store = ParamStore::new();
    let mut rng = StdRng::seed_from_u64(1);
    let book = Codebook::new(&mut store, &Scope::root().child("q"), K, D, false, &mut rng).unwrap();
    store.set_values(book.embedding, rows(2, K * D));
    let z_values = rows(5, M * D);

    let mut g = Graph::new();
    let z = g.input("z", Shape::new(M, D), DType::F32);
    let mut cx = Forward::new(&mut g, &store, Mode::Train);
    let q = book.quantize(&mut cx, z).unwrap();
    let st = straight_through(&mut cx, z, q.nearest).unwrap();
    // L = Σ st ⊙ w, so ∂L/∂z = w when the gradient goes straight through.
    let w_values = rows(9, M * D);
    let w = g.input("w", Shape::new(M, D), DType::F32);
    let product = g.push(Op::Binary(BinaryOp::Mul), &[st, w]).unwrap();
    let loss = g
        .push(
            Op::Reduce(Reduce {
                kind: ReduceKind::Sum,
                axis: Axis::All,
            }),
            &[product],
        )
        .unwrap();
    let dz = grad(&mut g, loss, &[z]).unwrap()[0];
    for v in [q.nearest, q.one_hot, st, dz] {
        g.mark_output(v);
    }
    let plan = Plan::new(&g, &store).unwrap();
    let expected = nearest_by_brute_force(&z_values, store.values(book.embedding));
    let e = store.values(book.embedding).to_vec();

    let mut backends: Vec<Box<dyn Backend>> = vec![Box::new(CpuBackend::<f32>::new())];
    if let Some(gpu) = gpu::gpu_backend() {
        backends.push(Box::new(gpu));
    }
    for backend in &mut backends {
        backend.upload_store(&store).unwrap();
        let id = backend.prepare(&plan).unwrap();
        backend
            .run(id, &[Feed::F32(&z_values), Feed::F32(&w_values)])
            .unwrap();
        let nearest = backend.read_output(id, q.nearest).unwrap();
        let one_hot = backend.read_output(id, q.one_hot).unwrap();
        let st_values = backend.read_output(id, st).unwrap();
        let dz_values = backend.read_output(id, dz).unwrap();
        for (m, &k) in expected.iter().enumerate() {
            assert_eq!(
                &nearest[m * D..(m + 1) * D],
                &e[k * D..(k + 1) * D],
                "row {m}"
            );
            let hot: Vec<usize> = (0..K).filter(|&c| one_hot[m * K + c] == 1.0).collect();
            assert_eq!(hot, [k], "row {m}'s one-hot");
        }
        for (a, b) in st_values.iter().zip(&nearest) {
            assert!((a - b).abs() < 1e-6, "straight-through value {a} vs {b}");
        }
        assert_eq!(dz_values, w_values, "straight-through gradient");
    }
}

/// One EMA step with γ = 0.9 against the formulas of `codebook.rs`, and the restart of
/// the one code no row chose: it becomes a row of the batch, with count 1.
#[test]
fn the_moving_average_update_and_the_restart_follow_their_formulas() {
    let decay = 0.9f32;
    let mut store = ParamStore::new();
    let mut rng = StdRng::seed_from_u64(3);
    let book = Codebook::new(&mut store, &Scope::root().child("q"), K, D, true, &mut rng).unwrap();
    // Codes 0–3 near the rows; code 4 far away, so nothing chooses it.
    let mut e = rows(2, K * D);
    e[4 * D..].copy_from_slice(&[9.0, 9.0, 9.0]);
    store.set_values(book.embedding, e.clone());
    let (count_id, sum_id) = book.ema.unwrap();
    let count0: Vec<f32> = vec![1.0, 2.0, 0.5, 3.0, 1.0];
    store.set_values(count_id, count0.clone());
    store.set_values(sum_id, e.clone());
    let z_values = rows(5, M * D);

    let mut g = Graph::new();
    let z = g.input("z", Shape::new(M, D), DType::F32);
    let key = g.input("rng", Shape::new(1, 4), DType::U32);
    let mut cx = Forward::new(&mut g, &store, Mode::Train);
    let q = book.quantize(&mut cx, z).unwrap();
    let how = CodebookUpdate {
        decay: Some(decay),
        restart: Some(key),
        stream: 0,
    };
    book.update(&mut cx, z, q, &how).unwrap();
    let plan = Plan::new(&g, &store).unwrap();

    // The expected update, in f64.
    let assigned = nearest_by_brute_force(&z_values, &e);
    assert!(!assigned.contains(&4));
    let gamma = decay as f64;
    let mut n: Vec<f64> = count0.iter().map(|&c| gamma * c as f64).collect();
    let mut m: Vec<f64> = e.iter().map(|&v| gamma * v as f64).collect();
    for (row, &k) in assigned.iter().enumerate() {
        n[k] += 1.0 - gamma;
        for j in 0..D {
            m[k * D + j] += (1.0 - gamma) * z_values[row * D + j] as f64;
        }
    }
    let total: f64 = n.iter().sum();
    let eps = EMA_EPSILON as f64;
    let smoothed: Vec<f64> = n
        .iter()
        .map(|&c| (c + eps) / (total + K as f64 * eps) * total)
        .collect();

    let key_values = rng_feed(4, 1);
    let mut results = vec![];
    let mut backends: Vec<Box<dyn Backend>> = vec![Box::new(CpuBackend::<f32>::new())];
    if let Some(gpu) = gpu::gpu_backend() {
        backends.push(Box::new(gpu));
    }
    for backend in &mut backends {
        backend.upload_store(&store).unwrap();
        let id = backend.prepare(&plan).unwrap();
        backend
            .run(id, &[Feed::F32(&z_values), Feed::U32(&key_values)])
            .unwrap();
        let codes = backend.read_entry(book.embedding).unwrap();
        let counts = backend.read_entry(count_id).unwrap();
        let sums = backend.read_entry(sum_id).unwrap();
        for k in 0..4 {
            assert!((counts[k] as f64 - n[k]).abs() < 1e-5, "count {k}");
            for j in 0..D {
                let i = k * D + j;
                assert!((sums[i] as f64 - m[i]).abs() < 1e-5, "sum {k},{j}");
                let want = m[i] / smoothed[k];
                assert!(
                    (codes[i] as f64 - want).abs() < 1e-4,
                    "code {k},{j}: {} vs {want}",
                    codes[i]
                );
            }
        }
        // The restarted code is one of the batch's rows, exactly, with count 1.
        let restarted = &codes[4 * D..];
        assert!(
            z_values.chunks(D).any(|row| row == restarted),
            "code 4 restarted at a row of the batch: {restarted:?}"
        );
        assert_eq!(counts[4], 1.0);
        assert_eq!(&sums[4 * D..], restarted);
        results.push(restarted.to_vec());
    }
    // Philox draws are the same on both backends, so they restart at the same row.
    assert!(results.windows(2).all(|w| w[0] == w[1]));
}

fn small_config() -> VqConfig {
    VqConfig {
        channels: vec![8, 16],
        codes: 16,
        code_dim: 4,
        ..VqConfig::mnist()
    }
}

/// Trained on 512 digits for 4 epochs, the VQ-VAE's reconstruction falls, and every epoch reports
/// how the codes were used; the CPU and GPU backends train the same model.
#[test]
fn a_vq_vae_trains_on_digits_and_reports_its_codes() {
    let data = load_mnist(&bundled_mnist_dir(), Split::Train)
        .unwrap()
        .head(512);
    let cfg = TrainConfig {
        epochs: 4,
        batch: 32,
        lr: 1e-2,
        seed: 2,
        ..TrainConfig::default()
    };
    let mut model = VqAutoencoder::new(small_config(), 1).unwrap();
    let mut epochs = vec![];
    let report = fit(
        &mut model,
        &mut CpuBackend::<f32>::new(),
        &data,
        None,
        &cfg,
        &mut |p| {
            if let Progress::Epoch(e) = p {
                epochs.push(e);
            }
        },
    )
    .unwrap();
    assert_eq!(report.epochs.len(), 4);
    let first = &epochs[0].terms;
    let last = &epochs[3].terms;
    assert!(
        last["reconstruction"] < 0.6 * first["reconstruction"],
        "{first:?} → {last:?}"
    );
    for e in &epochs {
        let (used, perplexity) = (e.terms["code_usage"], e.terms["perplexity"]);
        assert!(used > 0.0 && used <= 1.0, "{used}");
        assert!((1.0..=16.0).contains(&perplexity), "{perplexity}");
        assert!(
            !e.terms.contains_key("codebook"),
            "EMA mode has no codebook loss"
        );
    }

    let Some(mut gpu) = gpu::gpu_backend() else {
        return;
    };
    let short = TrainConfig {
        epochs: 1,
        ..cfg.clone()
    };
    let few = data.head(128);
    let mut on_cpu = VqAutoencoder::new(small_config(), 1).unwrap();
    let mut on_gpu = on_cpu.clone();
    let a = fit(
        &mut on_cpu,
        &mut CpuBackend::<f32>::new(),
        &few,
        None,
        &short,
        &mut |_| {},
    )
    .unwrap();
    let b = fit(&mut on_gpu, &mut gpu, &few, None, &short, &mut |_| {}).unwrap();
    let (ta, tb) = (&a.epochs[0].terms, &b.epochs[0].terms);
    for (name, v) in ta {
        assert!(
            (v - tb[name]).abs() <= 1e-3 * v.abs().max(1.0),
            "{name}: {v} vs {}",
            tb[name]
        );
    }
}

#[test]
fn the_cli_refuses_a_codebook_larger_than_the_data() {
    // Two 28×28 images give 2 × 7 × 7 = 98 vectors, fewer than 128 codes.
    let dir = std::env::temp_dir().join(format!("aegpu-vq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("two.csv");
    let header: Vec<String> = (0..784).map(|i| format!("p{i}")).collect();
    let row: Vec<String> = (0..784).map(|i| ((i * 7) % 256).to_string()).collect();
    let text = format!(
        "{}\n{}\n{}\n",
        header.join(","),
        row.join(","),
        row.join(",")
    );
    std::fs::write(&csv, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aegpu"))
        .args([
            "train",
            "--data",
            csv.to_str().unwrap(),
            "--model",
            "vq",
            "--backend",
            "cpu",
        ])
        .args([
            "--batch",
            "2",
            "--out",
            dir.join("m.safetensors").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("only 98 vectors"), "{err}");
}

#[test]
fn the_cli_refuses_a_codebook_of_one_code_and_a_decay_outside_zero_one() {
    for (flag, value, says) in [
        ("--codes", "1", "at least 2 codes"),
        ("--ema", "1.5", "(0, 1)"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_aegpu"))
            .args([
                "train",
                "--data",
                "mnist",
                "--model",
                "vq",
                "--backend",
                "cpu",
                flag,
                value,
                "--out",
            ])
            .arg(std::env::temp_dir().join("aegpu-vq-never.safetensors"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(err.contains(says), "{flag} {value}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
}

/// `--restart-dead-codes` takes `on` or `off` (it once refused both: a bool flag takes no
/// value unless told to) and the choice reaches the saved config; anything else is one
/// line.
#[test]
fn the_cli_turns_restarts_on_and_off() {
    let dir = std::env::temp_dir().join(format!("aegpu-vq-restart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Eight 28×28 images: 392 vectors for the 128 codes.
    let csv = dir.join("eight.csv");
    let rows: Vec<String> = (0..8)
        .map(|r| {
            let row: Vec<String> = (0..784)
                .map(|i| ((i * 7 + r * 31) % 256).to_string())
                .collect();
            row.join(",")
        })
        .collect();
    std::fs::write(&csv, rows.join("\n")).unwrap();
    for (value, expect) in [("on", Some(true)), ("off", Some(false)), ("maybe", None)] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_aegpu"))
            .args(["train", "--model", "vq", "--scale", "minmax", "--data"])
            .arg(&csv)
            .args([
                "--backend",
                "cpu",
                "--epochs",
                "1",
                "--batch",
                "4",
                "--json",
            ])
            .args(["--restart-dead-codes", value, "--out"])
            .arg(dir.join("m.safetensors"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        match expect {
            Some(restart) => {
                assert!(out.status.success(), "{value}: {err}");
                let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                assert_eq!(report["vq"]["restart"], restart, "{value}");
            }
            None => {
                assert!(!out.status.success());
                assert!(err.contains("expected on or off, got `maybe`"), "{err}");
            }
        }
    }
}

/// A VQ-VAE of 6 epochs whose last 4 train the code prior: the autoencoder's
/// weights after the run are bit for bit those of the same VQ-VAE trained 2 epochs
/// without a prior (the prior phase changes nothing else), the `prior` term is reported
/// in the last epoch only, the prior predicts the codes better than their frequencies
/// do, and sampling gives images in [0, 1] that a seed fixes.
#[test]
fn a_code_prior_trains_after_the_autoencoder_and_generates() {
    let data = load_mnist(&bundled_mnist_dir(), Split::Train)
        .unwrap()
        .head(512);
    let cfg = TrainConfig {
        epochs: 6,
        batch: 32,
        lr: 5e-3,
        seed: 2,
        ..TrainConfig::default()
    };
    let with_prior = VqConfig {
        prior: Some(PriorConfig {
            hidden: 32,
            epochs: 4,
        }),
        ..small_config()
    };
    let mut model = VqAutoencoder::new(with_prior, 1).unwrap();
    let epochs = fit(
        &mut model,
        &mut CpuBackend::<f32>::new(),
        &data,
        None,
        &cfg,
        &mut |_| {},
    )
    .unwrap()
    .epochs;
    assert!(epochs[..2]
        .iter()
        .all(|e| e.terms.contains_key("reconstruction") && !e.terms.contains_key("prior")));
    for e in &epochs[2..] {
        assert_eq!(e.terms.keys().collect::<Vec<_>>(), ["prior"]);
        assert_eq!(e.train_loss, e.terms["prior"]);
    }
    assert!(
        epochs[5].train_loss < epochs[2].train_loss,
        "the prior learns"
    );

    let mut plain = VqAutoencoder::new(small_config(), 1).unwrap();
    let two = TrainConfig {
        epochs: 2,
        ..cfg.clone()
    };
    fit(
        &mut plain,
        &mut CpuBackend::<f32>::new(),
        &data,
        None,
        &two,
        &mut |_| {},
    )
    .unwrap();
    for &id in &plain.saved_entries() {
        let name = &plain.store.get(id).name;
        let theirs = model
            .store
            .find(name)
            .expect("the same autoencoder entries");
        assert_eq!(
            model.store.values(theirs),
            plain.store.values(id),
            "{name} moved while the prior trained"
        );
    }

    // The prior against the codes' own frequencies (the best a prior that ignores
    // the other codes can do): −Σ p_k ln p_k over the same digits.
    let mut cpu = CpuBackend::<f32>::new();
    let counts = model.code_counts(&mut cpu, &data).unwrap();
    let total: f64 = counts.iter().sum();
    assert_eq!(total as usize, 512 * 49);
    let unigram: f64 = counts
        .iter()
        .filter(|&&c| c > 0.0)
        .map(|&c| -(c / total) * (c / total).ln())
        .sum();
    let nll = model.prior_nll(&mut cpu, &data).unwrap();
    assert!(nll < unigram - 0.1, "prior {nll} vs unigram {unigram}");

    let a = model.sample(&mut cpu, 6, 1.0, 4).unwrap();
    assert_eq!(a.len(), 6 * 784);
    assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
    assert_eq!(a, model.sample(&mut cpu, 6, 1.0, 4).unwrap());
    assert_ne!(a, model.sample(&mut cpu, 6, 1.0, 5).unwrap());
    assert!(model.sample(&mut cpu, 6, 0.0, 4).is_err());
    assert!(plain
        .sample(&mut cpu, 6, 1.0, 4)
        .unwrap_err()
        .to_string()
        .contains("--prior-epochs"));

    // The prior's graph (reshapes, the unrolled LSTM, softmax cross-entropy) gives the
    // same figure on the GPU backend.
    let Some(mut gpu) = gpu::gpu_backend() else {
        return;
    };
    let few = data.head(64);
    let on_cpu = model.prior_nll(&mut cpu, &few).unwrap();
    let on_gpu = model.prior_nll(&mut gpu, &few).unwrap();
    assert!(
        (on_cpu - on_gpu).abs() < 1e-4 * on_cpu,
        "{on_cpu} vs {on_gpu}"
    );
    let short = TrainConfig {
        epochs: 2,
        batch: 32,
        ..cfg.clone()
    };
    let tiny = VqConfig {
        prior: Some(PriorConfig {
            hidden: 16,
            epochs: 1,
        }),
        ..small_config()
    };
    let mut a = VqAutoencoder::new(tiny, 3).unwrap();
    let mut b = a.clone();
    let ra = fit(
        &mut a,
        &mut CpuBackend::<f32>::new(),
        &few,
        None,
        &short,
        &mut |_| {},
    )
    .unwrap();
    let rb = fit(&mut b, &mut gpu, &few, None, &short, &mut |_| {}).unwrap();
    let (pa, pb) = (ra.epochs[1].terms["prior"], rb.epochs[1].terms["prior"]);
    assert!(
        (pa - pb).abs() < 1e-3 * pa,
        "prior term: cpu {pa} vs gpu {pb}"
    );
}

/// `aegpu sample` draws from a VQ-VAE trained with `--prior-epochs`, and refuses what
/// a VQ-VAE cannot do in one line each.
#[test]
fn the_cli_samples_a_vq_vae_with_a_prior_and_refuses_the_rest() {
    let dir = std::env::temp_dir().join(format!("aegpu-vq-prior-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let command = || std::process::Command::new(env!("CARGO_BIN_EXE_aegpu"));
    let train = |extra: &[&str], out: &str| {
        command()
            .args([
                "train",
                "--model",
                "vq",
                "--data",
                "mnist:test",
                "--backend",
                "cpu",
            ])
            .args(["--codes", "16", "--code-dim", "4", "--channels", "8,16"])
            .args(["--batch", "100", "--prior-hidden", "16"])
            .args(extra)
            .arg("--out")
            .arg(dir.join(out))
            .output()
            .unwrap()
    };
    let refused = train(
        &["--epochs", "2", "--prior-epochs", "2"],
        "never.safetensors",
    );
    let err = one_error_line(&refused);
    assert!(err.contains("--prior-epochs 2 leaves none"), "{err}");
    let refused = train(
        &[
            "--epochs",
            "3",
            "--prior-epochs",
            "1",
            "--validation",
            "0.1",
            "--early-stop",
            "2",
        ],
        "never.safetensors",
    );
    let err = one_error_line(&refused);
    assert!(
        err.contains("--early-stop cannot be combined with --prior-epochs"),
        "{err}"
    );

    let trained = train(
        &["--epochs", "2", "--prior-epochs", "1"],
        "prior.safetensors",
    );
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    let plain = train(&["--epochs", "1"], "plain.safetensors");
    assert!(plain.status.success());

    let sample = |model: &str, extra: &[&str], out: &str| {
        command()
            .args(["sample", "--backend", "cpu", "--n", "9", "--model"])
            .arg(dir.join(model))
            .args(extra)
            .arg("--out")
            .arg(dir.join(out))
            .output()
            .unwrap()
    };
    let ok = sample("prior.safetensors", &["--temperature", "0.8"], "grid.png");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let grid = image::open(dir.join("grid.png")).unwrap();
    assert!(grid.width() >= 3 * 28 && grid.height() >= 3 * 28);

    for (model, extra, says) in [
        ("plain.safetensors", &[][..], "no code prior"),
        ("prior.safetensors", &["--label", "3"][..], "unconditional"),
        ("prior.safetensors", &["--manifold", "5"][..], "discrete"),
        (
            "prior.safetensors",
            &["--temperature", "0"][..],
            "temperature must be > 0",
        ),
    ] {
        let err = one_error_line(&sample(model, extra, "refused.png"));
        assert!(err.contains(says), "{extra:?}: {err}");
    }
    assert!(!dir.join("refused.png").exists());
}
