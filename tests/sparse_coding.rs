//! Sparse coding and PSD (`src/dictionary/`): batched FISTA against an f64 ISTA run to
//! convergence, the dictionary step's monotone descent and unit-norm atoms, CPU–GPU
//! parity of the FISTA plan, learning on patches of a bundled photo, the PSD encoder
//! learning to predict FISTA's codes, files, and the refusals of bad input.

#[path = "common/gpu.rs"]
mod gpu;

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::Backend;
use aegpu::dictionary::{
    update_atoms, CodingSettings, Dictionary, DictionaryError, PsdSettings, SparseCoder,
    SufficientStatistics,
};
use aegpu::imaging::{Image, PatchSampler};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn cpu() -> Box<dyn Backend> {
    Box::new(CpuBackend::<f32>::new())
}

fn gaussian(rng: &mut StdRng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| {
            let u: f32 = rng.random_range(1e-7..1.0);
            let v: f32 = rng.random();
            (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
        })
        .collect()
}

fn lasso(lambda: f32, iterations: usize) -> CodingSettings {
    CodingSettings {
        lambda,
        iterations,
        psd: None,
        seed: 3,
    }
}

/// Mean-free 6×6 grey patches of the bundled `camera.png`, as rows.
fn camera_patches(n: usize, seed: u64) -> Vec<f32> {
    let photo = Image::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/photos/train/camera.png"
    ))
    .unwrap()
    .to_gray();
    let mut sampler = PatchSampler::new(vec![photo], 6, seed).unwrap();
    let mut rows = sampler.sample(n);
    for row in rows.chunks_exact_mut(36) {
        let mean = row.iter().sum::<f32>() / 36.0;
        row.iter_mut().for_each(|v| *v -= mean);
    }
    rows
}

/// ISTA in f64 for min_h ½‖x − hD‖² + λ‖h‖₁, run until it stops moving.
fn ista_reference(x: &[f32], d: &Dictionary, lambda: f64) -> Vec<f64> {
    let (k, n) = (d.atoms(), d.width());
    let gram = d.gram();
    let l = aegpu::dictionary::largest_eigenvalue(&gram, k);
    let mut out = vec![];
    for row in x.chunks_exact(n) {
        let xd: Vec<f64> = (0..k)
            .map(|j| (0..n).map(|p| row[p] as f64 * d.atom(j)[p] as f64).sum())
            .collect();
        let mut h = vec![0.0f64; k];
        for _ in 0..200_000 {
            let next: Vec<f64> = (0..k)
                .map(|j| {
                    let grad = (0..k).map(|i| h[i] * gram[i * k + j]).sum::<f64>() - xd[j];
                    let v = h[j] - grad / l;
                    v.signum() * (v.abs() - lambda / l).max(0.0)
                })
                .collect();
            let moved = next
                .iter()
                .zip(&h)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f64::max);
            h = next;
            if moved < 1e-13 {
                break;
            }
        }
        out.extend(h);
    }
    out
}

#[test]
fn fista_reaches_the_lasso_solution_of_an_f64_ista() {
    let mut rng = StdRng::seed_from_u64(11);
    let (k, n, rows) = (12, 8, 5);
    let d = Dictionary::from_rows(k, n, gaussian(&mut rng, k * n)).unwrap();
    let x = gaussian(&mut rng, rows * n);
    let lambda = 0.3;
    let reference = ista_reference(&x, &d, lambda as f64);
    let mut coder = SparseCoder::new(cpu(), d, lasso(lambda, 100)).unwrap();
    let codes = coder.encode_fista(&x, 600).unwrap();
    let worst = codes
        .codes
        .iter()
        .zip(&reference)
        .map(|(&a, &b)| (a as f64 - b).abs())
        .fold(0.0, f64::max);
    // f32 iterates stall within a few ulps of the f64 optimum (codes are O(1)).
    assert!(worst < 2e-4, "largest code difference {worst}");
    // Sparse: the support matches where the reference is clearly non-zero or zero.
    for (&a, &b) in codes.codes.iter().zip(&reference) {
        if b.abs() > 1e-3 {
            assert!(a != 0.0, "reference {b}, FISTA 0");
        }
    }
    assert!(
        reference.iter().filter(|&&b| b == 0.0).count() > 10,
        "λ too small to test sparsity"
    );
}

#[test]
fn more_fista_iterations_lower_the_objective() {
    let x = camera_patches(64, 5);
    let d = Dictionary::from_data(&camera_patches(400, 6), 36, 48, 1).unwrap();
    let mut coder = SparseCoder::new(cpu(), d, lasso(0.02, 50)).unwrap();
    let totals: Vec<f64> = [1, 5, 25, 125]
        .iter()
        .map(|&t| {
            let codes = coder.encode_fista(&x, t).unwrap();
            coder.objective(&x, &codes).total
        })
        .collect();
    assert!(totals.windows(2).all(|w| w[1] < w[0]), "{totals:?}");
}

/// ½‖X − HD‖² on the host.
fn squared_error(x: &[f32], h: &[f32], d: &Dictionary) -> f64 {
    let (k, n) = (d.atoms(), d.width());
    x.chunks_exact(n)
        .zip(h.chunks_exact(k))
        .map(|(x, h)| {
            (0..n)
                .map(|p| {
                    let r: f64 = (0..k).map(|j| h[j] as f64 * d.atom(j)[p] as f64).sum();
                    (x[p] as f64 - r).powi(2)
                })
                .sum::<f64>()
        })
        .sum::<f64>()
        * 0.5
}

#[test]
fn the_dictionary_step_lowers_the_fitting_error_and_keeps_atoms_unit_norm() {
    // With one minibatch folded in, A = HᵀH/B and B = XᵀH/B: the surrogate is the
    // batch's ½‖X − HD‖²/B up to a constant, and each sweep must not raise it.
    let mut rng = StdRng::seed_from_u64(4);
    let (k, n, rows) = (10, 6, 40);
    let mut d = Dictionary::from_rows(k, n, gaussian(&mut rng, k * n)).unwrap();
    let x = gaussian(&mut rng, rows * n);
    let h: Vec<f32> = gaussian(&mut rng, rows * k)
        .into_iter()
        .map(|v| if v.abs() > 1.0 { v } else { 0.0 })
        .collect();
    let matmul_t = |a: &[f32], ac: usize, b: &[f32], bc: usize| -> Vec<f32> {
        let mut out = vec![0.0f32; ac * bc];
        for r in 0..rows {
            for i in 0..ac {
                for j in 0..bc {
                    out[i * bc + j] += a[r * ac + i] * b[r * bc + j];
                }
            }
        }
        out
    };
    let mut stats = SufficientStatistics::new(k, n);
    stats.add_batch(&matmul_t(&h, k, &h, k), &matmul_t(&x, n, &h, k), rows);
    let mut errors = vec![squared_error(&x, &h, &d)];
    let mut sweep_rng = StdRng::seed_from_u64(0);
    for _ in 0..5 {
        let restarted = update_atoms(&mut d, &stats, &x, &mut sweep_rng);
        assert_eq!(restarted, 0, "every atom is used by H");
        errors.push(squared_error(&x, &h, &d));
    }
    for w in errors.windows(2) {
        assert!(w[1] <= w[0] * (1.0 + 1e-6), "error rose: {errors:?}");
    }
    assert!(
        errors[5] < 0.9 * errors[0],
        "the step barely moved: {errors:?}"
    );
    for j in 0..k {
        let norm: f32 = d.atom(j).iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "atom {j} has norm {norm}");
    }
}

#[test]
fn learning_on_photo_patches_lowers_the_held_out_objective() {
    let train = camera_patches(256 * 12, 21);
    let held_out = camera_patches(256, 22);
    let d = Dictionary::from_data(&train, 36, 48, 2).unwrap();
    let mut coder = SparseCoder::new(cpu(), d, lasso(0.02, 40)).unwrap();
    let before = {
        let c = coder.encode_fista(&held_out, 100).unwrap();
        coder.objective(&held_out, &c)
    };
    for batch in train.chunks(256 * 36) {
        let report = coder.learn(batch).unwrap();
        assert!(report.batch_objective.is_finite());
    }
    let after = {
        let c = coder.encode_fista(&held_out, 100).unwrap();
        coder.objective(&held_out, &c)
    };
    eprintln!(
        "held-out objective {:.5} → {:.5}",
        before.total, after.total
    );
    assert!(after.total < 0.9 * before.total, "{before:?} → {after:?}");
    for j in 0..48 {
        let norm: f32 = coder
            .dictionary()
            .atom(j)
            .iter()
            .map(|v| v * v)
            .sum::<f32>()
            .sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "atom {j} has norm {norm}");
    }
}

#[test]
fn the_fista_plan_gives_the_same_codes_on_the_gpu() {
    let Some(gpu) = gpu::gpu_backend() else {
        return;
    };
    let x = camera_patches(37, 8);
    let d = Dictionary::from_data(&camera_patches(300, 9), 36, 33, 4).unwrap();
    let settings = lasso(0.01, 30);
    let mut on_cpu = SparseCoder::new(cpu(), d.clone(), settings).unwrap();
    let mut on_gpu = SparseCoder::new(Box::new(gpu), d, settings).unwrap();
    let a = on_cpu.encode_fista(&x, 30).unwrap();
    let b = on_gpu.encode_fista(&x, 30).unwrap();
    // f32 matmuls summed in different orders (~1e-7 relative each), through 30
    // contracting iterations: the codes agree to well under 1e-4 of their scale.
    let scale = a.codes.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (name, p, q) in [
        ("codes", &a.codes, &b.codes),
        ("reconstruction", &a.reconstruction, &b.reconstruction),
    ] {
        let worst = p
            .iter()
            .zip(q.iter())
            .map(|(u, v)| (u - v).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-4 * scale.max(1.0),
            "{name}: largest difference {worst}"
        );
    }
    assert!(a.codes.contains(&0.0) && a.codes.iter().any(|&c| c != 0.0));
}

#[test]
fn the_psd_encoder_learns_to_predict_fista_codes() {
    let train = camera_patches(128 * 40, 31);
    let held_out = camera_patches(128, 32);
    let d = Dictionary::from_data(&train, 36, 24, 3).unwrap();
    let settings = CodingSettings {
        psd: Some(PsdSettings {
            gamma: 0.5,
            learning_rate: 3e-3,
        }),
        ..lasso(0.02, 40)
    };
    let mut coder = SparseCoder::new(cpu(), d, settings).unwrap();
    let gap = |coder: &mut SparseCoder| {
        let target = coder.encode_fista(&held_out, 100).unwrap().codes;
        let predicted = coder.encode_predicted(&held_out).unwrap().codes;
        let err: f64 = target
            .iter()
            .zip(&predicted)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum();
        let size: f64 = target.iter().map(|a| (*a as f64).powi(2)).sum();
        (err / size).sqrt()
    };
    let first = gap(&mut coder);
    let mut losses = vec![];
    for batch in train.chunks(128 * 36) {
        losses.push(coder.learn(batch).unwrap().prediction_loss.unwrap());
    }
    let last = gap(&mut coder);
    eprintln!("relative distance of f(x) to the FISTA codes {first:.3} → {last:.3}");
    assert!(last < 0.6 * first, "{first} → {last}");
    assert!(last < 0.7, "f(x) is still far from the codes: {last}");
    assert!(losses[losses.len() - 1] < losses[0], "{losses:?}");
}

#[test]
fn a_saved_coder_loads_and_codes_identically() {
    let train = camera_patches(600, 41);
    let d = Dictionary::from_data(&train, 36, 16, 5).unwrap();
    let settings = CodingSettings {
        psd: Some(PsdSettings {
            gamma: 1.0,
            learning_rate: 1e-3,
        }),
        ..lasso(0.05, 20)
    };
    let mut coder = SparseCoder::new(cpu(), d, settings).unwrap();
    coder.learn(&train[..200 * 36]).unwrap();
    let dir = std::env::temp_dir().join(format!("aegpu-sparse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("coder.safetensors");
    coder.save(&path).unwrap();
    let mut loaded = aegpu::dictionary::load(&path, cpu()).unwrap();
    assert_eq!(loaded.settings(), coder.settings());
    assert_eq!(loaded.dictionary(), coder.dictionary());
    let x = &train[..10 * 36];
    assert_eq!(
        loaded.encode_fista(x, 20).unwrap().codes,
        coder.encode_fista(x, 20).unwrap().codes
    );
    assert_eq!(
        loaded.encode_predicted(x).unwrap().codes,
        coder.encode_predicted(x).unwrap().codes
    );
    std::fs::write(&path, b"not a model").unwrap();
    let err = aegpu::dictionary::load(&path, cpu()).err().unwrap();
    assert!(err.to_string().contains("not a valid model file"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

fn refusal(result: Result<impl Sized, DictionaryError>) -> String {
    let message = result.err().expect("bad input must be refused").to_string();
    assert!(!message.contains('\n'), "one line: {message}");
    message
}

#[test]
fn bad_input_is_refused_with_one_line() {
    let data = camera_patches(20, 51);
    // A dictionary larger than its data.
    assert_eq!(
        refusal(Dictionary::from_data(&data, 36, 21, 0)),
        "21 atoms is more than the 20 non-constant training rows (20 rows in all); \
         use at most 20 atoms or more data"
    );
    assert!(refusal(Dictionary::from_data(&data, 0, 4, 0)).contains("at least one value"));
    assert!(refusal(Dictionary::from_data(&[], 36, 4, 0)).contains("no data rows"));
    assert!(refusal(Dictionary::from_data(&data[..40], 36, 1, 0)).contains("whole number of rows"));
    let mut nan = data.clone();
    nan[40] = f32::NAN;
    assert_eq!(
        refusal(Dictionary::from_data(&nan, 36, 4, 0)),
        "row 1 holds NaN at column 4: data must be finite"
    );
    let d = Dictionary::from_data(&data, 36, 4, 0).unwrap();
    for (lambda, shown) in [(-0.1f32, "-0.1"), (f32::NAN, "NaN"), (f32::INFINITY, "inf")] {
        assert_eq!(
            refusal(SparseCoder::new(cpu(), d.clone(), lasso(lambda, 10))),
            format!("λ must be a finite number ≥ 0, got {shown}")
        );
    }
    assert!(refusal(SparseCoder::new(cpu(), d.clone(), lasso(0.1, 0))).contains("iterations"));
    let negative_gamma = CodingSettings {
        psd: Some(PsdSettings {
            gamma: -1.0,
            learning_rate: 1e-3,
        }),
        ..lasso(0.1, 10)
    };
    assert!(refusal(SparseCoder::new(cpu(), d.clone(), negative_gamma)).contains("γ must be"));
    let mut coder = SparseCoder::new(cpu(), d, lasso(0.1, 10)).unwrap();
    assert!(refusal(coder.learn(&data[..35])).contains("whole number of rows of 36"));
    assert!(refusal(coder.encode_fista(&nan, 10)).contains("must be finite"));
    assert!(refusal(coder.encode_predicted(&data)).contains("no PSD encoder"));
    assert!(refusal(coder.set_lambda(-1.0)).contains("λ must be"));
    assert!(refusal(Dictionary::from_rows(2, 3, vec![0.0; 6])).contains("atom 0 has norm 0"));
}

fn aegpu(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_aegpu"))
        .args(args)
        .output()
        .expect("aegpu runs")
}

/// `aegpu dictionary` learns from a `.npy` of patches and saves a file `aegpu info`
/// describes; impossible requests are one line on stderr and a non-zero exit.
#[test]
fn the_cli_learns_a_dictionary_and_refuses_bad_requests() {
    let dir = std::env::temp_dir().join(format!("aegpu-dictionary-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let patches = dir.join("patches.npy");
    aegpu::data::save_npy(&patches, 600, 36, &camera_patches(600, 3)).unwrap();
    let (p, out) = (patches.to_str().unwrap(), dir.join("dict.safetensors"));
    let o = out.to_str().unwrap();
    let common = ["dictionary", "--data", p, "--backend", "cpu", "--out", o];
    let run = aegpu(
        &[
            &common[..],
            &[
                "--atoms", "32", "--epochs", "2", "--batch", "100", "--psd", "0.1", "--json",
            ],
        ]
        .concat(),
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let objective = report["batch_objective"].as_array().unwrap();
    // The second pass codes the patches with a dictionary fitted to them.
    assert!(objective[1].as_f64() < objective[0].as_f64(), "{report}");
    let info = aegpu(&["info", "--model", o]);
    let said = String::from_utf8_lossy(&info.stdout);
    assert!(
        said.contains("32 atoms of 36 values") && said.contains("PSD"),
        "{said}"
    );

    for (args, says) in [
        (&["--atoms", "601"][..], "non-constant training rows"),
        (&["--lambda", "-0.5"][..], "≥ 0"),
        (&["--psd", "nan"][..], "≥ 0"),
        (&["--fista-iterations", "0"][..], "≥ 1"),
    ] {
        let refused = aegpu(&[&common[..], args].concat());
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(!refused.status.success(), "{args:?}");
        let last = err.trim().lines().last().unwrap_or("");
        assert!(
            last.starts_with("error:") && last.contains(says),
            "{args:?}: {err}"
        );
    }
    // Learning from the file it would write over is refused before anything runs.
    let same = aegpu(&["dictionary", "--data", o, "--out", o]);
    assert!(String::from_utf8_lossy(&same.stderr).contains("same file"));
}
