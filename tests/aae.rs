//! The adversarial autoencoder on the one trainer: three phases a step
//! (reconstruction, discriminator, generator), each with optimiser state of its own,
//! every term reported per epoch, the same figures on the CPU and GPU backends; and the
//! requests a generative model must refuse.

#[path = "common/gpu.rs"]
mod gpu;

use aegpu::backend::cpu::CpuBackend;
use aegpu::data::{bundled_mnist_dir, load_mnist, Dataset, Split};
use aegpu::models::aae::{Aae, AaeConfig, Prior};
use aegpu::models::Autoencoder;
use aegpu::ops::Loss;
use aegpu::train::{fit, Progress, TrainConfig};

fn digits(n: usize) -> Dataset {
    load_mnist(&bundled_mnist_dir(), Split::Train)
        .expect("bundled MNIST")
        .head(n)
}

fn small(prior: Prior) -> AaeConfig {
    AaeConfig {
        hidden: vec![64],
        latent: 4,
        discriminator: vec![32],
        prior,
        ..AaeConfig::mnist()
    }
}

fn mixture() -> Prior {
    Prior::LabelMixture {
        classes: 10,
        radius: 4.0,
        sigma: 0.5,
    }
}

fn cfg(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch: 64,
        lr: 2e-3,
        loss: Loss::BceWithLogits,
        seed: 3,
        ..TrainConfig::default()
    }
}

#[test]
fn three_phases_train_with_their_own_optimiser_state_and_report_their_terms() {
    let data = digits(640);
    let mut model = Aae::new(small(mixture()), 1).unwrap();
    let mut epochs = vec![];
    fit(
        &mut model,
        &mut CpuBackend::<f32>::new(),
        &data,
        None,
        &cfg(3),
        &mut |p| {
            if let Progress::Epoch(e) = p {
                epochs.push(e.terms);
            }
        },
    )
    .unwrap();
    for terms in &epochs {
        let names: Vec<&str> = terms.keys().map(String::as_str).collect();
        assert_eq!(names, ["discriminator", "generator", "reconstruction"]);
        assert!(
            terms.values().all(|v| v.is_finite() && *v > 0.0),
            "{terms:?}"
        );
    }
    assert!(
        epochs[2]["reconstruction"] < epochs[0]["reconstruction"],
        "{epochs:?}"
    );
    // The encoder is trained by two groups (reconstruction, generator): a set of Adam
    // moments for each; the decoder and the discriminator one set each.
    let has = |name: &str| model.store.find(name).is_some();
    assert!(has("encoder.0.weight.reconstruction.optim0"));
    assert!(has("encoder.0.weight.generator.optim1"));
    assert!(has("decoder.1.weight.optim0") && !has("decoder.1.weight.reconstruction.optim0"));
    assert!(has("discriminator.0.weight.optim0"));
}

#[test]
fn the_cpu_and_gpu_backends_train_the_same_aae() {
    let Some(mut gpu) = gpu::gpu_backend() else {
        return;
    };
    let data = digits(128);
    let mut on_cpu = Aae::new(small(mixture()), 2).unwrap();
    let mut on_gpu = on_cpu.clone();
    let a = fit(
        &mut on_cpu,
        &mut CpuBackend::<f32>::new(),
        &data,
        None,
        &cfg(1),
        &mut |_| {},
    )
    .unwrap();
    let b = fit(&mut on_gpu, &mut gpu, &data, None, &cfg(1), &mut |_| {}).unwrap();
    let (ta, tb) = (&a.epochs[0].terms, &b.epochs[0].terms);
    for (name, v) in ta {
        assert!(
            (v - tb[name]).abs() <= 1e-3 * v.abs().max(1.0),
            "{name}: CPU {v}, GPU {}",
            tb[name]
        );
    }
    // The prior draws are Philox Gaussians: the same samples on both backends.
    let s_cpu = on_cpu
        .sample(&mut CpuBackend::<f32>::new(), 4, Some(3), 9)
        .unwrap();
    let s_gpu = on_cpu.sample(&mut gpu, 4, Some(3), 9).unwrap();
    let worst = s_cpu
        .iter()
        .zip(&s_gpu)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "samples differ by {worst}");
}

#[test]
fn sampling_refuses_labels_the_model_cannot_take() {
    let gaussian = Aae::new(small(Prior::Gaussian), 1).unwrap();
    let cpu = &mut CpuBackend::<f32>::new();
    let err = gaussian.sample(cpu, 4, Some(1), 0).unwrap_err().to_string();
    assert!(err.contains("--prior mixture"), "{err}");
    let mixture = Aae::new(small(mixture()), 1).unwrap();
    let err = mixture.sample(cpu, 4, Some(10), 0).unwrap_err().to_string();
    assert!(err.contains("out of range"), "{err}");
    let err = mixture.sample(cpu, 0, None, 0).unwrap_err().to_string();
    assert!(err.contains("0 samples"), "{err}");
    assert_eq!(mixture.sample(cpu, 3, None, 0).unwrap().len(), 3 * 784);
}

#[test]
fn a_mixture_prior_needs_labelled_data() {
    let data = digits(64);
    let unlabelled = Dataset::new(data.rows, data.cols, data.values.clone()).unwrap();
    let mut model = Aae::new(small(mixture()), 1).unwrap();
    let err = fit(
        &mut model,
        &mut CpuBackend::<f32>::new(),
        &unlabelled,
        None,
        &cfg(1),
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("labelled data"), "{err}");
    assert_eq!(model.input_width(), 784);
}

#[test]
fn the_cli_refuses_an_unknown_prior_in_one_line() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_aegpu"))
        .args([
            "train", "--data", "mnist", "--model", "aae", "--prior", "banana",
        ])
        .args(["--backend", "cpu", "--out"])
        .arg(std::env::temp_dir().join("aegpu-aae-never.safetensors"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("unknown prior `banana`"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn the_cli_trains_a_mixture_aae_and_samples_a_class() {
    let dir = std::env::temp_dir().join(format!("aegpu-aae-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("aae.safetensors");
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_aegpu"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&[
        "train",
        "--data",
        "mnist:test",
        "--model",
        "aae",
        "--prior",
        "mixture",
        "--aae-hidden",
        "32",
        "--aae-latent",
        "2",
        "--discriminator",
        "16",
        "--epochs",
        "1",
        "--backend",
        "cpu",
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let npy = dir.join("threes.npy");
    let out = run(&[
        "sample",
        "--model",
        model.to_str().unwrap(),
        "--n",
        "5",
        "--label",
        "3",
        "--backend",
        "cpu",
        "--out",
        npy.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A .npy header, then 5 rows of 784 f32.
    assert!(std::fs::metadata(&npy).unwrap().len() >= 5 * 784 * 4);
    let out = run(&[
        "sample",
        "--model",
        model.to_str().unwrap(),
        "--label",
        "10",
        "--backend",
        "cpu",
        "--out",
        npy.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("out of range"),
        "{err}"
    );

    // The code space walked: a 4 × 4 manifold grid and a 6-step path between two
    // test digits; a label does not go with them (the decoder reads none).
    let (m, grid, path) = (
        model.to_str().unwrap(),
        dir.join("manifold.png"),
        dir.join("path.npy"),
    );
    let walks: [&[&str]; 2] = [
        &["--manifold", "4", "--out", grid.to_str().unwrap()],
        &[
            "--interpolate",
            "0,5",
            "--data",
            "mnist:test",
            "--steps",
            "6",
            "--out",
            path.to_str().unwrap(),
        ],
    ];
    for walk in walks {
        let out = run(&[&["sample", "--model", m, "--backend", "cpu"], walk].concat());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let png = image::open(&grid).unwrap();
    // 4 tiles of 28 a side, 2 pixels apart and around.
    assert_eq!(png.width(), 4 * 28 + 5 * 2, "{:?}", png.color());
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 128 + 6 * 784 * 4);
    let out = run(&[
        "sample",
        "--model",
        m,
        "--manifold",
        "4",
        "--label",
        "3",
        "--out",
        grid.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("without a label"),
        "{err}"
    );
}
