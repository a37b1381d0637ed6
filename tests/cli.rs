//! The `aegpu` command end to end: train → eval → encode → reconstruct on real data,
//! `--json` output, and one-line errors with a non-zero exit for bad input.

#[path = "common/cli.rs"]
mod cli;
use cli::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn stdout_json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A failing command prints exactly one line starting with `error:` and exits non-zero.
fn assert_one_line_error(out: &Output, expected_fragment: &str) {
    assert!(!out.status.success(), "expected failure, got success");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let error_lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
    assert_eq!(
        error_lines.len(),
        1,
        "one error line expected, stderr was:\n{stderr}"
    );
    assert!(
        error_lines[0].contains(expected_fragment),
        "error `{}` should mention `{expected_fragment}`",
        error_lines[0]
    );
    assert!(!stderr.contains("panicked"), "no panic expected:\n{stderr}");
}

/// `aegpu train` on the bundled iris CSV (labels in `target`) on the CPU backend,
/// with `extra` arguments appended.
fn train_iris_with(extra: &[&str]) -> Output {
    let mut args = vec![
        "train",
        "--data",
        "data/small/iris.csv",
        "--label-column",
        "target",
        "--backend",
        "cpu",
    ];
    args.extend_from_slice(extra);
    aegpu(&args)
}

fn train_iris(model: &Path) -> serde_json::Value {
    let out = train_iris_with(&[
        "--scale",
        "minmax",
        "--layers",
        "4,3,2",
        "--epochs",
        "20",
        "--batch",
        "16",
        "--lr",
        "1e-2",
        "--out",
        model.to_str().unwrap(),
        "--json",
    ]);
    stdout_json(&out)
}

#[test]
fn train_then_eval_encode_and_reconstruct_a_csv_dataset() {
    let model = temp("iris.safetensors");
    let trained = train_iris(&model);
    assert!(trained["train_loss"].as_f64().unwrap() < 0.1, "{trained}");
    assert_eq!(
        trained["parameters"],
        4 * 3 + 3 + 3 * 2 + 2 + 2 * 3 + 3 + 3 * 4 + 4
    );
    assert!(model.exists());

    let eval = stdout_json(&aegpu(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "data/small/iris.csv",
        "--label-column",
        "target",
        "--backend",
        "cpu",
        "--json",
    ]));
    let mse = eval["test_mse"].as_f64().unwrap();
    assert!(mse > 0.0 && mse < 0.1, "{eval}");
    assert_eq!(eval["rows"], 150);

    // encode and reconstruct take the same arguments and write a file.
    let write_rows = |command: &str, out: &Path| {
        let result = aegpu(&[
            command,
            "--model",
            model.to_str().unwrap(),
            "--data",
            "data/small/iris.csv",
            "--label-column",
            "target",
            "--backend",
            "cpu",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(
            result.status.success(),
            "{}",
            String::from_utf8_lossy(&result.stderr)
        );
    };
    let codes = temp("codes.npy");
    write_rows("encode", &codes);
    let codes = aegpu::data::load_npy(&codes).unwrap();
    assert_eq!((codes.rows, codes.cols), (150, 2));

    let recon = temp("recon.csv");
    write_rows("reconstruct", &recon);
    let recon = aegpu::data::load_csv(&recon, &Default::default()).unwrap();
    assert_eq!((recon.rows, recon.cols), (150, 4));
    // Reconstructions come back in the data's units (centimetres), not the [0, 1] scale.
    let max = recon.values.iter().cloned().fold(f32::MIN, f32::max);
    assert!(
        max > 3.0,
        "reconstructions should be unscaled, max was {max}"
    );
}

#[test]
fn info_lists_adapters_and_the_auto_choice() {
    let out = aegpu(&["info", "--json"]);
    let info = stdout_json(&out);
    assert!(info["adapters"].is_array());
    assert!(info["auto"].as_str().unwrap().starts_with("backend:"));
}

#[test]
fn missing_data_file_is_one_line_error() {
    let out = aegpu(&["train", "--data", "no/such/file.csv", "--backend", "cpu"]);
    assert_one_line_error(&out, "no/such/file.csv");
}

#[test]
fn layers_that_do_not_fit_the_data_get_a_hint() {
    let out = train_iris_with(&[
        "--layers",
        "784,2",
        "--out",
        temp("never.safetensors").to_str().unwrap(),
    ]);
    assert_one_line_error(&out, "--layers 4,2");
}

#[test]
fn batch_larger_than_the_data_is_refused() {
    let out = train_iris_with(&[
        "--layers",
        "4,2",
        "--batch",
        "1000",
        "--out",
        temp("never2.safetensors").to_str().unwrap(),
    ]);
    assert_one_line_error(&out, "batch size 1000");
}

#[test]
fn corrupt_model_file_is_refused() {
    let bad = temp("corrupt.safetensors");
    std::fs::write(&bad, b"definitely not a safetensors file").unwrap();
    let out = aegpu(&[
        "eval",
        "--model",
        bad.to_str().unwrap(),
        "--data",
        "data/small/iris.csv",
        "--label-column",
        "target",
    ]);
    assert_one_line_error(&out, "corrupt.safetensors");
}

#[test]
fn an_unknown_model_kind_or_another_kind_s_flag_is_one_line_error() {
    let out = train_iris_with(&["--model", "nope"]);
    assert_one_line_error(&out, "unknown model kind `nope` (known: dense, conv");
    let out = train_iris_with(&["--model", "conv", "--layers", "4,2"]);
    assert_one_line_error(
        &out,
        "--layers is a flag of --model dense, not of --model conv",
    );
    let out = train_iris_with(&["--residual"]);
    assert_one_line_error(
        &out,
        "--residual is a flag of --model conv, not of --model dense",
    );
}

/// Files naming a kind the registry does not know, or whose tensors do not fit their
/// kind, are refused by every command that loads a model, in one line.
#[test]
fn model_files_of_unknown_kinds_or_misfit_tensors_are_one_line_errors() {
    use aegpu::io::{load_safetensors, save_safetensors};
    let model = temp("iris-for-kinds.safetensors");
    train_iris(&model);
    let (tensors, meta) = load_safetensors(&model).unwrap();
    let unknown = temp("unknown-kind.safetensors");
    let mut renamed = meta.clone();
    renamed.insert("aegpu.kind".into(), "nope".into());
    save_safetensors(&unknown, &tensors, &renamed).unwrap();
    let misfit = temp("misfit.safetensors");
    let mut cut = tensors.clone();
    cut.retain(|t| t.name != "encoder.1.bias");
    save_safetensors(&misfit, &cut, &meta).unwrap();
    let on_data = |command: &str, file: &Path| {
        aegpu(&[
            command,
            "--model",
            file.to_str().unwrap(),
            "--data",
            "data/small/iris.csv",
            "--label-column",
            "target",
            "--backend",
            "cpu",
        ])
    };
    for (file, fragment) in [
        (&unknown, "unknown model kind `nope`"),
        (&misfit, "tensor `encoder.1.bias` is missing"),
    ] {
        assert_one_line_error(&on_data("eval", file), fragment);
        let info = aegpu(&["info", "--model", file.to_str().unwrap()]);
        assert_one_line_error(&info, fragment);
    }
}

#[test]
fn model_of_another_width_is_refused() {
    let model = temp("iris-for-width.safetensors");
    train_iris(&model);
    // breastw has 9 feature columns, the iris model expects 4.
    let out = aegpu(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "data/small/breastw.csv",
        "--label-column",
        "label",
        "--backend",
        "cpu",
    ]);
    assert_one_line_error(&out, "expects 4 columns");
}

#[test]
fn non_numeric_csv_names_the_line_and_column() {
    let bad = temp("bad.csv");
    std::fs::write(&bad, "a,b\n1,2\n3,oops\n").unwrap();
    let out = aegpu(&[
        "train",
        "--data",
        bad.to_str().unwrap(),
        "--layers",
        "2,1",
        "--backend",
        "cpu",
    ]);
    assert_one_line_error(&out, "line 3");
}

#[test]
fn unknown_gpu_adapter_is_refused_when_gpu_is_forced() {
    let out = train_iris_with(&[
        "--layers",
        "4,2",
        "--backend",
        "gpu",
        "--adapter",
        "no-such-adapter-anywhere",
    ]);
    assert_one_line_error(&out, "adapter");
}

#[test]
fn test_data_of_another_width_is_refused_before_training() {
    let wide = temp("wide.csv");
    std::fs::write(&wide, "a,b,c,target\n1,2,3,0\n4,5,6,1\n").unwrap();
    let model = temp("never3.safetensors");
    let out = train_iris_with(&[
        "--test",
        wide.to_str().unwrap(),
        "--layers",
        "4,2",
        "--out",
        model.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, "has 3 columns");
    assert!(!model.exists(), "nothing trained, nothing saved");
}

#[test]
fn absurd_layer_widths_are_an_error_not_an_abort() {
    let out = train_iris_with(&["--layers", "4,2000000000"]);
    assert_one_line_error(&out, "parameters");
}

#[test]
fn a_negative_leaky_relu_slope_is_refused() {
    let out = train_iris_with(&["--layers", "4,3,2", "--activation", "leaky_relu:-0.5"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("≥ 0"));
}

/// Every regulariser flag in one run, read from a TOML config with one flag
/// overridden on the command line; `eval --json` reports the code statistics.
#[test]
fn regularisers_from_a_config_file_and_eval_code_statistics() {
    let (model, config) = (temp("regularised.safetensors"), temp("regularised.toml"));
    std::fs::write(
        &config,
        "scale = \"minmax\"\nlayers = [4, 3]\ncode-activation = \"sigmoid\"\nepochs = 50\n\
         batch = 16\nnoise = \"mask:0.2\"\ndropout = 0.1\nsparse-kl = \"0.1,1\"\n\
         sparse_l1 = 0.01\ncontractive = 0.1\nschedule = \"cosine\"\nwarmup = 10\n\
         clip-norm = 5\noptimizer = \"adamw\"\nweight-decay = 1e-4\n",
    )
    .unwrap();
    let out = train_iris_with(&[
        "--config",
        config.to_str().unwrap(),
        "--epochs",
        "3",
        "--out",
        model.to_str().unwrap(),
        "--json",
    ]);
    let report = stdout_json(&out);
    assert_eq!(report["epochs"], 3, "the command line overrides the file");
    assert!(report["train_loss"].as_f64().unwrap().is_finite());

    let out = aegpu(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "data/small/iris.csv",
        "--label-column",
        "target",
        "--backend",
        "cpu",
        "--json",
    ]);
    let eval = stdout_json(&out);
    let mean = eval["mean_code_activation"].as_f64().unwrap();
    assert!(
        mean > 0.0 && mean < 1.0,
        "a sigmoid code's mean is in (0, 1): {mean}"
    );
    assert!(eval["jacobian_fro2"].as_f64().unwrap() >= 0.0);
    assert_eq!(eval["jacobian_method"], "exact");
}

#[test]
fn lbfgs_pretrain_and_early_stopping_run_from_the_cli() {
    let model = temp("lbfgs.safetensors");
    let out = train_iris_with(&[
        "--scale",
        "minmax",
        "--layers",
        "4,2",
        "--optimizer",
        "lbfgs",
        "--epochs",
        "20",
        "--out",
        model.to_str().unwrap(),
        "--json",
    ]);
    let report = stdout_json(&out);
    assert!(report["lbfgs"]["evaluations"].as_u64().unwrap() >= 1);

    let out = aegpu(&[
        "pretrain",
        "--data",
        "data/small/iris.csv",
        "--label-column",
        "target",
        "--backend",
        "cpu",
        "--scale",
        "minmax",
        "--layers",
        "4,3,2",
        "--epochs",
        "2",
        "--fine-tune-epochs",
        "2",
        "--batch",
        "16",
        "--out",
        model.to_str().unwrap(),
        "--json",
    ]);
    let report = stdout_json(&out);
    assert_eq!(report["stages"], 2);

    let out = train_iris_with(&[
        "--scale",
        "minmax",
        "--layers",
        "4,2",
        "--validation",
        "0.2",
        "--early-stop",
        "1",
        "--lr",
        "0.5",
        "--epochs",
        "30",
        "--batch",
        "16",
        "--out",
        model.to_str().unwrap(),
        "--json",
    ]);
    let report = stdout_json(&out);
    assert!(report["best_epoch"].as_u64().unwrap() >= 1);
}

#[test]
fn malformed_regulariser_flags_are_one_line_errors() {
    let out = train_iris_with(&["--noise", "mask:1.5", "--layers", "4,2"]);
    assert_one_line_error(&out, "mask");
    let out = train_iris_with(&["--sparse-kl", "0.05", "--layers", "4,2"]);
    assert_one_line_error(&out, "rho,beta");
    let out = train_iris_with(&["--sparse-kl", "0.05,3", "--layers", "4,2"]);
    assert_one_line_error(&out, "sigmoid");
    let out = train_iris_with(&["--schedule", "step:0,0.5", "--layers", "4,2"]);
    assert_one_line_error(&out, "schedule");
    let out = train_iris_with(&["--early-stop", "2", "--layers", "4,2"]);
    assert_one_line_error(&out, "validation");
    let out = train_iris_with(&[
        "--validation",
        "0.2",
        "--early-stop",
        "2",
        "--monitor",
        "kl",
        "--layers",
        "4,2",
        "--batch",
        "16",
    ]);
    assert_one_line_error(
        &out,
        "no term `kl` to monitor: this model reports reconstruction",
    );
}

/// Every term of a penalised objective is reported by name, on the training and the
/// validation data, and early stopping can watch a penalty.
#[test]
fn named_terms_are_reported_and_any_can_be_monitored() {
    let model = temp("terms.safetensors");
    let out = train_iris_with(&[
        "--scale",
        "minmax",
        "--layers",
        "4,3",
        "--code-activation",
        "sigmoid",
        "--sparse-kl",
        "0.1,1",
        "--contractive",
        "0.1",
        "--validation",
        "0.2",
        "--early-stop",
        "3",
        "--monitor",
        "kl_sparsity",
        "--epochs",
        "5",
        "--batch",
        "16",
        "--out",
        model.to_str().unwrap(),
        "--json",
    ]);
    let report = stdout_json(&out);
    for side in ["train_terms", "validation_terms"] {
        let terms = report[side].as_object().expect(side);
        let names: Vec<&str> = terms.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["contractive", "kl_sparsity", "reconstruction"],
            "{side}"
        );
        assert!(
            terms.values().all(|v| v.as_f64().unwrap() > 0.0),
            "{side}: {terms:?}"
        );
    }
    assert_eq!(
        report["train_loss"],
        report["train_terms"]["reconstruction"]
    );
}

/// The first `rows` MNIST images of `split` written as a .npy file (a quick subset).
fn mnist_subset(split: aegpu::data::Split, rows: usize, name: &str) -> PathBuf {
    let d = aegpu::data::load_mnist(&aegpu::data::bundled_mnist_dir(), split)
        .unwrap()
        .head(rows);
    let path = temp(name);
    aegpu::data::save_npy(&path, d.rows, d.cols, &d.values).unwrap();
    path
}

#[test]
fn conv_model_trains_then_eval_encode_and_info_read_it() {
    let train = mnist_subset(aegpu::data::Split::Train, 256, "conv-train.npy");
    let test = mnist_subset(aegpu::data::Split::Test, 64, "conv-test.npy");
    let model = temp("conv.safetensors");
    let trained = stdout_json(&aegpu(&[
        "train",
        "--model",
        "conv",
        "--data",
        train.to_str().unwrap(),
        "--test",
        test.to_str().unwrap(),
        "--channels",
        "4,8",
        "--epochs",
        "1",
        "--batch",
        "64",
        "--lr",
        "1e-3",
        "--noise",
        "gaussian:0.1",
        "--backend",
        "cpu",
        "--out",
        model.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(trained["kind"], "conv", "{trained}");
    let test_mse = trained["test_mse"].as_f64().unwrap();
    assert!(test_mse > 0.0 && test_mse < 0.5, "{trained}");
    // 4·9+4 + 8·4·9+8 + (8·4·9+4) + (4·9+1)
    assert_eq!(trained["parameters"], 40 + 296 + 292 + 37);
    assert_eq!(trained["conv"]["noise_sigma"].as_f64().unwrap() as f32, 0.1);

    let on_test = |command: &str, extra: &[&str]| {
        let mut args = vec![
            command,
            "--model",
            model.to_str().unwrap(),
            "--data",
            test.to_str().unwrap(),
            "--backend",
            "cpu",
        ];
        args.extend_from_slice(extra);
        aegpu(&args)
    };
    let eval = stdout_json(&on_test("eval", &["--json"]));
    assert_eq!(eval["kind"], "conv");
    assert_eq!(eval["rows"], 64);
    let mse = eval["test_mse"].as_f64().unwrap();
    assert!((mse - test_mse).abs() < 1e-4, "{eval} vs {trained}");
    assert!(eval.get("jacobian_fro2").is_none(), "dense-only: {eval}");

    let codes = temp("conv-codes.npy");
    let out = on_test("encode", &["--out", codes.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let codes = aegpu::data::load_npy(&codes).unwrap();
    assert_eq!((codes.rows, codes.cols), (64, 8 * 7 * 7));

    let info = stdout_json(&aegpu(&[
        "info",
        "--model",
        model.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(info["kind"], "conv");
    assert_eq!(info["parameters"], trained["parameters"]);
    assert_eq!(info["input_width"], 784);
}

/// `--model conv-pool`: convolutions with 2×2 max-pooling and batch norm, trained from
/// the command line; the running statistics are saved, so eval (which normalises with
/// them) reproduces the test MSE train reported.
#[test]
fn pooling_conv_model_with_batch_norm_trains_and_eval_encode_info_read_it() {
    let train = mnist_subset(aegpu::data::Split::Train, 256, "pool-train.npy");
    let test = mnist_subset(aegpu::data::Split::Test, 64, "pool-test.npy");
    let model = temp("pool.safetensors");
    let trained = stdout_json(&aegpu(&[
        "train",
        "--model",
        "conv-pool",
        "--batch-norm",
        "--data",
        train.to_str().unwrap(),
        "--test",
        test.to_str().unwrap(),
        "--channels",
        "4,8",
        "--epochs",
        "2",
        "--batch",
        "64",
        "--lr",
        "1e-2",
        "--backend",
        "cpu",
        "--out",
        model.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(trained["kind"], "conv-pool", "{trained}");
    // 4·9+4 + 8·4·9+8 + (4·8·9+4) + (4·9+1), and γ, β of the 4-, 8- and 4-channel norms
    assert_eq!(trained["parameters"], 40 + 296 + 292 + 37 + 2 * (4 + 8 + 4));
    let test_mse = trained["test_mse"].as_f64().unwrap();
    assert!(test_mse > 0.0 && test_mse < 0.2, "{trained}");

    let (tensors, _) = aegpu::io::load_safetensors(&model).unwrap();
    let running_var = tensors
        .iter()
        .find(|t| t.name == "encoder.1.running_var")
        .expect("the running statistics are saved");
    assert!(running_var
        .values
        .iter()
        .all(|&v| v.is_finite() && v != 1.0));

    let on_test = |command: &str, extra: &[&str]| {
        let mut args = vec![
            command,
            "--model",
            model.to_str().unwrap(),
            "--data",
            test.to_str().unwrap(),
            "--backend",
            "cpu",
        ];
        args.extend_from_slice(extra);
        aegpu(&args)
    };
    let eval = stdout_json(&on_test("eval", &["--json"]));
    assert_eq!(eval["kind"], "conv-pool");
    let mse = eval["test_mse"].as_f64().unwrap();
    assert!((mse - test_mse).abs() < 1e-6, "{eval} vs {trained}");
    let codes = temp("pool-codes.npy");
    let out = on_test("encode", &["--out", codes.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let codes = aegpu::data::load_npy(&codes).unwrap();
    assert_eq!((codes.rows, codes.cols), (64, 8 * 7 * 7));
    let info = stdout_json(&aegpu(&[
        "info",
        "--model",
        model.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(info["kind"], "conv-pool");
    assert_eq!(
        info["architecture"],
        "conv-pool 1×28×28 4,8 k3 max nearest batch-norm"
    );

    // Images the pooling cannot halve twice, and another kind's flag: one line each.
    let out = train_iris_with(&["--model", "conv-pool"]);
    assert_one_line_error(&out, "2 pooling stages halve 1×2×2 to nothing");
    let out = train_iris_with(&["--model", "conv-pool", "--strides", "1,1"]);
    assert_one_line_error(
        &out,
        "--strides is a flag of --model conv, not of --model conv-pool",
    );
}

#[test]
fn conv_model_refuses_dense_only_regularisers_and_odd_images() {
    let out = aegpu(&[
        "train",
        "--model",
        "conv",
        "--data",
        "data/small/iris.csv",
        "--label-column",
        "target",
        "--image",
        "1x3x3",
        "--backend",
        "cpu",
    ]);
    assert_one_line_error(&out, "needs 9 columns");
    let out = aegpu(&[
        "train",
        "--model",
        "conv",
        "--data",
        "data/small/iris.csv",
        "--label-column",
        "target",
        "--image",
        "1x2x2",
        "--strides",
        "1,1",
        "--batch",
        "16",
        "--dropout",
        "0.2",
        "--backend",
        "cpu",
        "--out",
        temp("never-conv.safetensors").to_str().unwrap(),
    ]);
    assert_one_line_error(&out, "dropout");
}

/// A grey or colour test image of `h` × `w` with a smooth pattern, and a noisy copy.
fn test_images(
    channels: usize,
    h: usize,
    w: usize,
) -> (aegpu::imaging::Image, aegpu::imaging::Image) {
    use aegpu::imaging::{Image, ImageShape};
    let shape = ImageShape::new(channels, h, w);
    let clean: Vec<f32> = (0..shape.len())
        .map(|i| {
            let (c, y, x) = (i / (h * w), (i / w) % h, i % w);
            0.5 + 0.4 * ((x as f32 * 0.3 + c as f32).sin() * (y as f32 * 0.2).cos())
        })
        .collect();
    let noisy = clean
        .iter()
        .enumerate()
        .map(|(i, &v)| v + 0.1 * (((i * 7919) % 17) as f32 / 8.0 - 1.0))
        .collect();
    (
        Image::new(shape, clean).unwrap(),
        Image::new(shape, noisy).unwrap(),
    )
}

/// A tiny untrained stride-1 residual denoiser saved with a recorded noise level.
fn tiny_denoiser(name: &str) -> PathBuf {
    use aegpu::models::{ConvAutoencoder, ConvConfig};
    let mut config = ConvConfig::denoiser(1, 16, 4, 2);
    config.noise_sigma = Some(0.1);
    let path = temp(name);
    ConvAutoencoder::new(config, 0)
        .unwrap()
        .save(&path, &Default::default())
        .unwrap();
    path
}

#[test]
fn denoise_keeps_names_and_shapes_and_reports_psnr_as_json() {
    let model = tiny_denoiser("denoiser.safetensors");
    let noisy_dir = temp("noisy");
    let clean_dir = temp("clean");
    let out_dir = temp("denoised/nested");
    std::fs::create_dir_all(&noisy_dir).unwrap();
    std::fs::create_dir_all(&clean_dir).unwrap();
    let mut inputs = vec![];
    for (name, channels, h, w) in [("grey.png", 1, 23, 37), ("colour.png", 3, 20, 16)] {
        let (clean, noisy) = test_images(channels, h, w);
        clean.save_png(clean_dir.join(name)).unwrap();
        noisy.save_png(noisy_dir.join(name)).unwrap();
        inputs.push(noisy_dir.join(name).to_str().unwrap().to_string());
    }
    let mut args = vec![
        "denoise",
        "--model",
        model.to_str().unwrap(),
        "--input",
        &inputs[0],
        &inputs[1],
        "--output",
        out_dir.to_str().unwrap(),
        "--tile",
        "24",
        "--backend",
        "cpu",
    ];
    // Plain run: per-image lines on stdout, outputs with the inputs' names and shapes.
    let out = aegpu(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("25.5"));
    for (name, shape) in [("grey.png", (1, 23, 37)), ("colour.png", (3, 20, 16))] {
        let img = aegpu::imaging::Image::load(out_dir.join(name)).unwrap();
        assert_eq!((img.channels(), img.height(), img.width()), shape, "{name}");
    }

    // The results of the first run are there now: replacing them needs --overwrite.
    args.extend_from_slice(&["--clean", clean_dir.to_str().unwrap(), "--json"]);
    assert_one_line_error(&aegpu(&args), "--overwrite");
    args.push("--overwrite");
    let report = stdout_json(&aegpu(&args));
    assert!((report["noise_sigma_255"].as_f64().unwrap() - 25.5).abs() < 1e-3);
    let images = report["images"].as_array().unwrap();
    assert_eq!(images.len(), 2);
    for image in images {
        for key in ["noisy_psnr", "denoised_psnr", "noisy_ssim", "denoised_ssim"] {
            assert!(image[key].as_f64().unwrap().is_finite(), "{key}: {report}");
        }
    }
    assert!(
        report["mean_denoised_psnr"].as_f64().unwrap() > 10.0,
        "{report}"
    );
    assert!(report["mean_noisy_psnr"].is_number());
    assert!(
        report["megapixels_per_s"].as_f64().unwrap() > 0.0,
        "{report}"
    );
}

#[test]
fn denoise_refines_the_bundled_models_output_by_collaborative_wiener_filtering() {
    use aegpu::imaging::{add_gaussian_noise, Image, ImageShape};
    // A 64 × 64 colour crop of Barbara's striped scarf with σ = 25 noise.
    let photo =
        Image::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/photos/test/barbara.png"))
            .unwrap();
    let (top, left, side) = (300, 420, 64);
    let mut crop = Vec::with_capacity(3 * side * side);
    for c in 0..3 {
        for y in top..top + side {
            crop.extend_from_slice(&photo.plane(c)[y * photo.width() + left..][..side]);
        }
    }
    let clean = Image::new(ImageShape::new(3, side, side), crop).unwrap();
    let noisy = add_gaussian_noise(&clean, 25.0, 5);
    let (noisy_dir, clean_dir) = (temp("refine-noisy"), temp("refine-clean"));
    for dir in [&noisy_dir, &clean_dir] {
        std::fs::create_dir_all(dir).unwrap();
    }
    clean.save_png(clean_dir.join("scarf.png")).unwrap();
    noisy.save_png(noisy_dir.join("scarf.png")).unwrap();
    let input = noisy_dir.join("scarf.png");
    let run = |refine: Option<&str>, out: &str| {
        let out_dir = temp(out);
        let mut args = vec![
            "denoise",
            "--input",
            input.to_str().unwrap(),
            "--output",
            out_dir.to_str().unwrap(),
            "--clean",
            clean_dir.to_str().unwrap(),
            "--json",
            "--backend",
            "cpu",
        ];
        if let Some(r) = refine {
            args.extend_from_slice(&["--refine", r]);
        }
        stdout_json(&aegpu(&args))
    };
    // By default the network's output is refined for the noise level it removed.
    let refined = run(None, "refined");
    assert_eq!(refined["refine"], "wiener", "{refined}");
    let sigma = refined["images"][0]["refine_sigma_255"].as_f64().unwrap();
    assert!(
        (18.0..30.0).contains(&sigma),
        "the network removed σ ≈ {sigma}"
    );
    // `--refine none` keeps the network's output.
    let plain = run(Some("none"), "unrefined");
    assert_eq!(plain["refine"], "none");
    assert!(plain["images"][0]["refine_sigma_255"].is_null());
    for report in [&refined, &plain] {
        let (before, after) = (
            report["mean_noisy_psnr"].as_f64().unwrap(),
            report["mean_denoised_psnr"].as_f64().unwrap(),
        );
        assert!(
            after > before + 5.0,
            "{before:.2} → {after:.2} dB: {report}"
        );
    }
    assert_ne!(refined["mean_denoised_psnr"], plain["mean_denoised_psnr"]);
}

#[test]
fn denoise_compares_a_jpeg_input_with_its_png_original() {
    // A JPEG's clean original is usually a PNG of the same stem: `--clean` finds it.
    let model = tiny_denoiser("denoiser-jpeg.safetensors");
    let dir = temp("jpeg-vs-png");
    let (noisy_dir, clean_dir) = (dir.join("noisy"), dir.join("clean"));
    std::fs::create_dir_all(&noisy_dir).unwrap();
    std::fs::create_dir_all(&clean_dir).unwrap();
    let (clean, noisy) = test_images(1, 19, 26);
    clean.save_png(clean_dir.join("scan.v2.png")).unwrap();
    let bytes: Vec<u8> = noisy
        .data()
        .iter()
        .map(|v| (v * 255.0).round() as u8)
        .collect();
    let jpeg = noisy_dir.join("scan.v2.jpg");
    image::GrayImage::from_raw(26, 19, bytes)
        .unwrap()
        .save(&jpeg)
        .unwrap();
    let out_dir = dir.join("out");
    let report = stdout_json(&aegpu(&[
        "denoise",
        "--model",
        model.to_str().unwrap(),
        "--input",
        jpeg.to_str().unwrap(),
        "--output",
        out_dir.to_str().unwrap(),
        "--clean",
        clean_dir.to_str().unwrap(),
        "--backend",
        "cpu",
        "--json",
    ]));
    assert!(
        report["images"][0]["noisy_psnr"]
            .as_f64()
            .unwrap()
            .is_finite(),
        "{report}"
    );
    let denoised = aegpu::imaging::Image::load(out_dir.join("scan.v2.png")).unwrap();
    assert_eq!((denoised.height(), denoised.width()), (19, 26));
}

#[test]
fn denoise_refuses_unreadable_images_and_unsuitable_models() {
    let model = tiny_denoiser("denoiser-errors.safetensors");
    let broken = temp("broken.png");
    std::fs::write(&broken, b"not a png at all").unwrap();
    let out_dir = temp("never-denoised");
    let run = |model: &Path, input: &Path| {
        aegpu(&[
            "denoise",
            "--model",
            model.to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            out_dir.to_str().unwrap(),
            "--backend",
            "cpu",
        ])
    };
    assert_one_line_error(&run(&model, &broken), "broken.png");
    assert_one_line_error(&run(&model, &temp("missing.png")), "missing.png");

    let (_, noisy) = test_images(1, 16, 16);
    let good = temp("good.png");
    noisy.save_png(&good).unwrap();
    let strided = temp("strided.safetensors");
    aegpu::models::ConvAutoencoder::new(aegpu::models::ConvConfig::mnist(), 0)
        .unwrap()
        .save(&strided, &Default::default())
        .unwrap();
    assert_one_line_error(&run(&strided, &good), "stride-1");
    let dense = temp("dense-not-denoiser.safetensors");
    aegpu::models::DenseAutoencoder::new(aegpu::models::DenseConfig::new(&[4, 2]), 0)
        .unwrap()
        .save(&dense, &Default::default())
        .unwrap();
    assert_one_line_error(&run(&dense, &good), "dense autoencoder");
}

/// `train_iris_with` for 6 epochs of iris with a metrics log, plus `extra`.
fn train_iris_run(model: &Path, log: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "--scale",
        "minmax",
        "--layers",
        "4,3,2",
        "--batch",
        "16",
        "--noise",
        "gaussian:0.05",
        "--out",
        model.to_str().unwrap(),
        "--log",
        log.to_str().unwrap(),
        "--json",
    ];
    args.extend_from_slice(extra);
    train_iris_with(&args)
}

fn log_losses(log: &Path) -> Vec<(u64, u64)> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["epoch"].as_u64().unwrap(),
                v["train_loss"].as_f64().unwrap().to_bits(),
            )
        })
        .collect()
}

#[test]
fn a_run_resumed_from_its_checkpoint_logs_the_same_losses_as_one_straight_run() {
    let (straight, straight_log) = (temp("straight.safetensors"), temp("straight.jsonl"));
    stdout_json(&train_iris_run(
        &straight,
        &straight_log,
        &["--epochs", "6"],
    ));

    // The same run cut after 3 epochs (its checkpoint written at every epoch), then
    // continued to 6 with the same flags and --resume.
    let (cut, cut_log) = (temp("cut.safetensors"), temp("cut.jsonl"));
    let checkpoint = temp("cut.ckpt.safetensors");
    let first = stdout_json(&train_iris_run(
        &cut,
        &cut_log,
        &["--epochs", "3", "--checkpoint-every", "1"],
    ));
    assert_eq!(first["checkpoint"], checkpoint.to_str().unwrap());
    let resumed = stdout_json(&train_iris_run(
        &cut,
        &cut_log,
        &["--epochs", "6", "--resume", checkpoint.to_str().unwrap()],
    ));
    assert_eq!(resumed["resumed_from_step"], first["steps"]);
    assert_eq!(log_losses(&cut_log), log_losses(&straight_log));
    assert_eq!(log_losses(&cut_log).len(), 6);
    assert_eq!(resumed["test_mse"], serde_json::Value::Null);
    let (a, _) = aegpu::models::registry::load(&straight).unwrap();
    let (b, _) = aegpu::models::registry::load(&cut).unwrap();
    for (&p, &q) in a.parameters().iter().zip(&b.parameters()) {
        assert_eq!(a.store().values(p), b.store().values(q));
    }

    // Resuming with another architecture or another learning rate is refused.
    let other = train_iris_run(
        &temp("other.safetensors"),
        &temp("other.jsonl"),
        &[
            "--layers",
            "4,2",
            "--epochs",
            "6",
            "--resume",
            checkpoint.to_str().unwrap(),
        ],
    );
    assert_one_line_error(&other, "another model");
    let other_lr = train_iris_run(
        &temp("other.safetensors"),
        &temp("other.jsonl"),
        &[
            "--lr",
            "0.5",
            "--epochs",
            "6",
            "--resume",
            checkpoint.to_str().unwrap(),
        ],
    );
    assert_one_line_error(&other_lr, "lr");
    // A model is not a checkpoint.
    let not_a_checkpoint = train_iris_run(
        &temp("other.safetensors"),
        &temp("other.jsonl"),
        &["--epochs", "6", "--resume", straight.to_str().unwrap()],
    );
    assert_one_line_error(&not_a_checkpoint, "not a checkpoint");
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_after_the_step_and_leaves_a_checkpoint_to_resume() {
    let model = temp("interrupted.safetensors");
    let checkpoint = temp("interrupted.ckpt.safetensors");
    let _ = std::fs::remove_file(&checkpoint);
    // Far more epochs than the test waits for; a checkpoint every 200 epochs shows
    // the run is under way.
    let child = Command::new(env!("CARGO_BIN_EXE_aegpu"))
        .args([
            "train",
            "--data",
            "data/small/iris.csv",
            "--label-column",
            "target",
            "--backend",
            "cpu",
            "--layers",
            "4,2",
            "--batch",
            "16",
            "--epochs",
            "1000000",
            "--checkpoint-every",
            "200",
            "--out",
            model.to_str().unwrap(),
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !checkpoint.exists() {
        assert!(started.elapsed().as_secs() < 120, "no checkpoint appeared");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_one_line_error(&out, "--resume");
    assert!(!model.exists(), "an interrupted run saves no model");
    let ck = aegpu::train::Checkpoint::load(&checkpoint).unwrap();
    let done = ck.state.position.next_epoch - 1;
    assert!(done >= 200, "{done} epochs done");
    // The checkpoint continues: two more epochs.
    let more = (done + 2).to_string();
    let resumed = aegpu(&[
        "train",
        "--data",
        "data/small/iris.csv",
        "--label-column",
        "target",
        "--backend",
        "cpu",
        "--layers",
        "4,2",
        "--batch",
        "16",
        "--epochs",
        &more,
        "--out",
        model.to_str().unwrap(),
        "--resume",
        checkpoint.to_str().unwrap(),
        "--json",
    ]);
    let report = stdout_json(&resumed);
    assert_eq!(report["epochs"], done + 2);
    assert_eq!(report["resumed_from_step"], ck.state.position.step);
}

#[test]
fn encode_streams_in_chunks_and_writes_the_same_codes() {
    let model = temp("iris-stream.safetensors");
    train_iris(&model);
    let encode = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "encode",
            "--model",
            model.to_str().unwrap(),
            "--data",
            "data/small/iris.csv",
            "--label-column",
            "target",
            "--backend",
            "cpu",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        aegpu(&args)
    };
    let whole = temp("codes-whole.csv");
    assert!(encode(&whole, &[]).status.success());
    for name in ["codes-chunked.csv", "codes-chunked.npy"] {
        let chunked = temp(name);
        let out = encode(&chunked, &["--chunk-rows", "7"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("streamed in chunks of 7 rows"), "{stderr}");
        let (a, b) = (
            aegpu::data::load_spec(whole.to_str().unwrap(), &Default::default()).unwrap(),
            aegpu::data::load_spec(chunked.to_str().unwrap(), &Default::default()).unwrap(),
        );
        assert_eq!((b.rows, b.cols), (150, 2));
        assert_eq!(a.values, b.values, "{name}");
    }
    // The model's width is checked before anything is written.
    let refused = temp("codes-refused.csv");
    let out = aegpu(&[
        "encode",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "data/small/breastw.csv",
        "--backend",
        "cpu",
        "--out",
        refused.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, "expects 4 columns");
    assert!(!refused.exists());
}

/// `aegpu classify` on iris on the CPU backend, with `extra` arguments appended.
fn classify_iris_with(extra: &[&str]) -> Output {
    let mut args = vec![
        "classify",
        "--data",
        "data/small/iris.csv",
        "--label-column",
        "target",
        "--test",
        "data/small/iris.csv",
        "--backend",
        "cpu",
    ];
    args.extend_from_slice(extra);
    aegpu(&args)
}

#[test]
fn classify_fine_tunes_a_pretrained_encoder_and_reports_test_accuracy() {
    let ae = temp("iris-for-classify.safetensors");
    train_iris(&ae);
    let clf = temp("iris-classifier.safetensors");
    let out = classify_iris_with(&[
        "--pretrained",
        ae.to_str().unwrap(),
        "--labels",
        "30",
        "--epochs",
        "100",
        "--batch",
        "10",
        "--lr",
        "1e-2",
        "--out",
        clf.to_str().unwrap(),
        "--json",
    ]);
    let j = stdout_json(&out);
    assert_eq!(j["labels"], 30);
    assert_eq!(j["classes"], 3);
    assert_eq!(j["architecture"], "4-3-2 → 3");
    let accuracy = j["test_accuracy"].as_f64().unwrap();
    // 10 of each species; chance is 1/3.
    assert!(accuracy > 0.6, "test accuracy {accuracy}");
    assert!(clf.exists());

    // The saved classifier predicts the same classes on the same rows (scaled as its
    // autoencoder's data was), says what it is, and is not mistaken for an autoencoder.
    let predictions = temp("iris-predictions.csv");
    let predicted = stdout_json(&aegpu(&[
        "predict",
        "--model",
        clf.to_str().unwrap(),
        "--data",
        "data/small/iris.csv",
        "--label-column",
        "target",
        "--backend",
        "cpu",
        "--out",
        predictions.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(predicted["rows"], 150);
    assert_eq!(
        predicted["accuracy"].as_f64().unwrap() as f32,
        accuracy as f32
    );
    let rows = aegpu::data::load_csv(&predictions, &Default::default()).unwrap();
    assert_eq!((rows.rows, rows.cols), (150, 3));
    let info = stdout_json(&aegpu(&[
        "info",
        "--model",
        clf.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(info["kind"], "classifier");
    assert_eq!(info["classes"], 3);
    let eval = aegpu(&[
        "eval",
        "--model",
        clf.to_str().unwrap(),
        "--data",
        "data/small/iris.csv",
        "--label-column",
        "target",
    ]);
    assert_one_line_error(&eval, "aegpu predict");

    // Random initialisation of the same architecture, for comparison.
    let out = classify_iris_with(&["--layers", "4,3,2", "--labels", "30", "--json"]);
    assert!(stdout_json(&out)["pretrained"].is_null());
}

#[test]
fn classify_refuses_unlabelled_data_too_many_labels_and_a_model_of_another_width() {
    let out = aegpu(&[
        "classify",
        "--data",
        "data/small/iris.csv",
        "--backend",
        "cpu",
    ]);
    assert_one_line_error(&out, "has no labels");

    let out = classify_iris_with(&["--layers", "4,3,2", "--labels", "1000"]);
    assert_one_line_error(&out, "--labels 1000: 1000 labelled rows asked for");

    let ae = temp("iris-for-classify-width.safetensors");
    train_iris(&ae);
    let out = aegpu(&[
        "classify",
        "--data",
        "data/small/breastw.csv",
        "--label-column",
        "label",
        "--pretrained",
        ae.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert_one_line_error(&out, "reads 4 columns");
}

/// Decodes a PNG written by `aegpu plot` and returns its width and height.
fn png_size(path: &Path) -> (u32, u32) {
    let image = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        image::ImageFormat::from_path(path).unwrap(),
        image::ImageFormat::Png
    );
    (image.width(), image.height())
}

#[test]
fn plot_recon_and_latent_draw_a_model_trained_on_mnist() {
    let train = mnist_subset(aegpu::data::Split::Train, 256, "plot-train.npy");
    let model = temp("plot-mnist.safetensors");
    stdout_json(&aegpu(&[
        "train",
        "--data",
        train.to_str().unwrap(),
        "--layers",
        "784,2",
        "--epochs",
        "1",
        "--backend",
        "cpu",
        "--out",
        model.to_str().unwrap(),
        "--json",
    ]));
    let model = model.to_str().unwrap();

    // 10 digits in rows of 4: three pairs of rows of 28×28 digits zoomed 3×, 4 pixels apart.
    let recon = temp("plot-recon.png");
    let out = aegpu(&[
        "plot",
        "recon",
        "--model",
        model,
        "--data",
        "mnist:test",
        "--count",
        "10",
        "--columns",
        "4",
        "--backend",
        "cpu",
        "--out",
        recon.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        png_size(&recon),
        (4 * 84 + 5 * 4, 3 * (2 * 84 + 4) + 2 * 12 + 2 * 4)
    );

    let latent = temp("plot-latent.png");
    let out = aegpu(&[
        "plot",
        "latent",
        "--model",
        model,
        "--data",
        "mnist:test",
        "--points",
        "300",
        "--size",
        "640x480",
        "--backend",
        "cpu",
        "--out",
        latent.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("2-unit codes of 300 rows, coloured by label"),
        "{stderr}"
    );
    assert_eq!(png_size(&latent), (640, 480));

    // A 2-unit model on the 5 columns of iris.
    let out = aegpu(&[
        "plot",
        "latent",
        "--model",
        model,
        "--data",
        "data/small/iris.csv",
        "--out",
        latent.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, "expects 784 columns");
    let out = aegpu(&[
        "plot",
        "recon",
        "--model",
        model,
        "--data",
        "mnist:test",
        "--image",
        "3x28x28",
        "--out",
        recon.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, "--image 3×28×28 needs 2352 columns");
}

#[test]
fn plot_latent_projects_wider_codes_by_pca_and_colours_csv_labels() {
    let model = temp("plot-iris.safetensors");
    let out = train_iris_with(&[
        "--layers",
        "4,3",
        "--epochs",
        "5",
        "--batch",
        "16",
        "--out",
        model.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let latent = temp("plot-iris-latent.png");
    let out = aegpu(&[
        "plot",
        "latent",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "data/small/iris.csv",
        "--label-column",
        "target",
        "--backend",
        "cpu",
        "--out",
        latent.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("of 150 rows, coloured by label"),
        "{stderr}"
    );
    assert_eq!(png_size(&latent), (800, 680));
    // Four numbers per row are no image.
    let out = aegpu(&[
        "plot",
        "recon",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "data/small/iris.csv",
        "--label-column",
        "target",
        "--out",
        latent.to_str().unwrap(),
    ]);
    assert_one_line_error(&out, "give --image CxHxW");
}

#[test]
fn plot_loss_overlays_logs_and_bad_input_leaves_the_old_picture() {
    let loss = temp("plot-loss.png");
    let out = aegpu(&[
        "plot",
        "loss",
        "--log",
        "tests/data/metrics.jsonl",
        "--log",
        "tests/data/metrics-no-validation.jsonl",
        "--out",
        loss.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // The repeated epoch 4 of the first log counts once.
    assert!(stderr.contains("2 run(s), 13 epochs"), "{stderr}");
    assert_eq!(png_size(&loss), (800, 500));
    let before = std::fs::read(&loss).unwrap();

    let corrupt = temp("plot-corrupt.jsonl");
    std::fs::write(
        &corrupt,
        "{\"epoch\":1,\"train_loss\":0.5}\n{\"epoch\":2,\"tra\n",
    )
    .unwrap();
    let empty = temp("plot-empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let cases = [
        (corrupt.to_str().unwrap(), "line 2: not a JSON object"),
        (empty.to_str().unwrap(), "no epochs"),
        (
            "tests/data/no-such-log.jsonl",
            "cannot read tests/data/no-such-log.jsonl",
        ),
    ];
    for (log, expected) in cases {
        let out = aegpu(&[
            "plot",
            "loss",
            "--log",
            log,
            "--out",
            loss.to_str().unwrap(),
        ]);
        assert_one_line_error(&out, expected);
    }
    // A folder where the picture should go cannot be replaced by it.
    let folder = temp("plot-folder.png");
    std::fs::create_dir_all(folder.join("inside")).unwrap();
    let out = aegpu(&[
        "plot",
        "loss",
        "--log",
        "tests/data/metrics.jsonl",
        "--out",
        folder.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(folder.join("inside").is_dir());
    assert_eq!(
        std::fs::read(&loss).unwrap(),
        before,
        "the old picture survives"
    );

    let out = aegpu(&[
        "plot",
        "loss",
        "--log",
        "tests/data/metrics.jsonl",
        "--out",
        "/no/such/dir/a.png",
    ]);
    assert_one_line_error(&out, "the folder /no/such/dir does not exist");
    let out = aegpu(&[
        "plot",
        "loss",
        "--log",
        "tests/data/metrics.jsonl",
        "--out",
        "loss.jpg",
    ]);
    assert_one_line_error(&out, "use a .png file name");
}

/// `aegpu train` on the bundled ionosphere outlier set, unsupervised on all 351 rows
/// (the `label` column left out of the features), standardised, linear output.
fn train_ionosphere(model: &Path) {
    let out = aegpu(&[
        "train",
        "--data",
        "data/outliers/ionosphere.csv",
        "--label-column",
        "label",
        "--scale",
        "standard",
        "--layers",
        "33,16,8",
        "--output-activation",
        "linear",
        "--epochs",
        "30",
        "--batch",
        "32",
        "--lr",
        "3e-3",
        "--backend",
        "cpu",
        "--out",
        model.to_str().unwrap(),
        "--json",
    ]);
    stdout_json(&out);
}

/// The ionosphere features without the label column, and its 0/1 labels.
fn ionosphere_features() -> (PathBuf, Vec<u32>) {
    let d = aegpu::data::load_csv(
        Path::new("data/outliers/ionosphere.csv"),
        &aegpu::data::CsvOptions {
            label_column: Some("label".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let path = temp("ionosphere-features.csv");
    aegpu::data::save_csv(&path, None, d.rows, d.cols, &d.values).unwrap();
    (path, d.labels.unwrap())
}

/// `aegpu outliers` on `data` (the labelled set when `None`, read with
/// `--label-column label`).
fn outliers_on_ionosphere(model: &Path, data: Option<&Path>, extra: &[&str]) -> Output {
    let mut args = vec![
        "outliers",
        "--model",
        model.to_str().unwrap(),
        "--backend",
        "cpu",
    ];
    match data {
        Some(d) => args.extend(["--data", d.to_str().unwrap()]),
        None => args.extend([
            "--data",
            "data/outliers/ionosphere.csv",
            "--label-column",
            "label",
        ]),
    }
    args.extend_from_slice(extra);
    aegpu(&args)
}

#[test]
fn outliers_rank_the_labelled_ionosphere_outliers_well_above_chance() {
    let model = temp("ionosphere.safetensors");
    train_ionosphere(&model);
    let scores = temp("ionosphere-scores.csv");
    let found = stdout_json(&outliers_on_ionosphere(
        &model,
        None,
        &["--json", "--out", scores.to_str().unwrap()],
    ));
    // Measured 0.954 / 0.944 (scikit-learn agrees on the written scores); PCA with
    // the same code size gets 0.950, chance 0.5.
    assert!(found["roc_auc"].as_f64().unwrap() > 0.85, "{found}");
    assert!(
        found["average_precision"].as_f64().unwrap() > 0.8,
        "{found}"
    );
    assert_eq!(found["rows"], 351);
    assert_eq!(found["outliers"], 126);
    // Default contamination 0.1: the 35 rows above the 0.9-quantile.
    assert_eq!(found["flagged"], 35);
    assert!(found["precision"].as_f64().unwrap() > 0.8, "{found}");

    let written = aegpu::data::load_csv(&scores, &Default::default()).unwrap();
    assert_eq!((written.rows, written.cols), (351, 4));
    let flagged: f32 = written.values.chunks(4).map(|r| r[2]).sum();
    assert_eq!(flagged, 35.0);

    // The scores are the per-row MSE in the scaled space training used: their mean is
    // what `aegpu eval` reports.
    let eval = stdout_json(&aegpu(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "data/outliers/ionosphere.csv",
        "--label-column",
        "label",
        "--backend",
        "cpu",
        "--json",
    ]));
    let (mean, mse) = (
        found["mean_score"].as_f64().unwrap(),
        eval["test_mse"].as_f64().unwrap(),
    );
    assert!((mean - mse).abs() < 1e-4 * mse, "{mean} vs {mse}");

    // A quantile instead: 0.5 flags the upper half, no labels needed.
    let (features, truth) = ionosphere_features();
    let half = stdout_json(&outliers_on_ionosphere(
        &model,
        Some(&features),
        &["--quantile", "0.5", "--json"],
    ));
    assert_eq!(half["flagged"], 175);
    assert!(half.get("roc_auc").is_none());

    // Labels from a file of their own give the same ranking.
    let labels = temp("ionosphere-labels.csv");
    let column: Vec<f32> = truth.iter().map(|&l| l as f32).collect();
    aegpu::data::save_csv(&labels, None, 351, 1, &column).unwrap();
    let from_file = stdout_json(&outliers_on_ionosphere(
        &model,
        Some(&features),
        &["--labels", labels.to_str().unwrap(), "--json"],
    ));
    assert_eq!(from_file["roc_auc"], found["roc_auc"]);
}

/// Raw features (breastw: integers 1–10, pima: values in the hundreds) trained with the
/// default options: `--scale auto` standardises them and the output defaults to linear,
/// so the model learns (a train loss under 1, not in the thousands) and its
/// reconstruction error ranks the outliers well above chance, as pyod's standardised
/// autoencoder does. `--scale none` still trains on the raw values, with a warning.
#[test]
fn default_options_learn_raw_features_and_rank_their_outliers() {
    // Measured (5 epochs, seed 0): breastw AUC 0.974, pima 0.669; chance is 0.5.
    for (set, layers, least_auc) in [("breastw", "9,16,4", 0.9), ("pima", "8,16,4", 0.6)] {
        let data = format!("data/outliers/{set}.csv");
        let model = temp(&format!("{set}-default.safetensors"));
        let out = aegpu(&[
            "train",
            "--data",
            &data,
            "--label-column",
            "label",
            "--layers",
            layers,
            "--backend",
            "cpu",
            "--out",
            model.to_str().unwrap(),
            "--json",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let trained = stdout_json(&out);
        assert_eq!(trained["scaling"], "standard", "{set}: {trained}");
        assert!(
            stderr.contains("--scale auto standardises each column"),
            "{set}: {stderr}"
        );
        assert!(
            trained["train_loss"].as_f64().unwrap() < 1.0,
            "{set}: {trained}"
        );
        let (saved, _) = aegpu::models::registry::load(&model).unwrap();
        assert_eq!(
            saved.output_activation(),
            aegpu::ops::Activation::Linear,
            "{set}"
        );

        // The outliers command applies the saved scaler.
        let found = stdout_json(&aegpu(&[
            "outliers",
            "--model",
            model.to_str().unwrap(),
            "--data",
            &data,
            "--label-column",
            "label",
            "--backend",
            "cpu",
            "--json",
        ]));
        let auc = found["roc_auc"].as_f64().unwrap();
        assert!(auc > least_auc, "{set}: ROC AUC {auc}");
    }

    // Data already in [0, 1] is left as it is; --scale none is still there, and warns.
    let iris_scaled = temp("iris-unit.csv");
    std::fs::write(&iris_scaled, "a,b\n0,0.5\n1,0.25\n0.5,1\n0.75,0\n").unwrap();
    let kept = stdout_json(&aegpu(&[
        "train",
        "--data",
        iris_scaled.to_str().unwrap(),
        "--layers",
        "2,1",
        "--batch",
        "2",
        "--backend",
        "cpu",
        "--out",
        temp("unit.safetensors").to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(kept["scaling"], "none");
    let raw = aegpu(&[
        "train",
        "--data",
        "data/outliers/pima.csv",
        "--label-column",
        "label",
        "--layers",
        "8,4",
        "--scale",
        "none",
        "--backend",
        "cpu",
        "--out",
        temp("pima-raw.safetensors").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(stdout_json(&raw)["scaling"], "none");
    assert!(String::from_utf8_lossy(&raw.stderr).contains("is not scaled"));
}

#[test]
fn outliers_refuse_bad_thresholds_labels_and_widths() {
    let model = temp("ionosphere-bad.safetensors");
    train_ionosphere(&model);
    let m = model.to_str().unwrap();
    let run = |extra: &[&str]| outliers_on_ionosphere(&model, None, extra);
    let (features, _) = ionosphere_features();
    let with_labels = |file: &Path| {
        outliers_on_ionosphere(
            &model,
            Some(&features),
            &["--labels", file.to_str().unwrap()],
        )
    };
    assert_one_line_error(
        &run(&["--quantile", "0.9", "--contamination", "0.1"]),
        "give one of them",
    );
    assert_one_line_error(&run(&["--quantile", "1.5"]), "outside (0, 1)");
    assert_one_line_error(&run(&["--contamination", "0"]), "outside (0, 1)");
    let out = aegpu(&[
        "outliers",
        "--model",
        m,
        "--data",
        "data/outliers/pima.csv",
        "--label-column",
        "label",
    ]);
    assert_one_line_error(&out, "expects 33 columns");

    let labels_file = |name: &str, values: &[f32]| {
        let path = temp(name);
        aegpu::data::save_csv(&path, None, values.len(), 1, values).unwrap();
        path
    };
    let short = labels_file("short-labels.csv", &[0.0, 1.0, 0.0]);
    assert_one_line_error(&with_labels(&short), "has 3 rows");
    let mut values = vec![0.0; 351];
    let one_class = labels_file("one-class-labels.csv", &values);
    assert_one_line_error(&with_labels(&one_class), "no positive");
    values[7] = 2.0;
    let not_binary = labels_file("not-binary-labels.csv", &values);
    assert_one_line_error(&with_labels(&not_binary), "must be 0 or 1");
    // Both a label column and a labels file: which one is meant?
    assert_one_line_error(
        &run(&["--labels", not_binary.to_str().unwrap()]),
        "give one",
    );
}

/// The first `rows` MNIST digits of `split` as a CSV of 784 pixel columns and a
/// `label` column.
fn mnist_csv(split: aegpu::data::Split, rows: usize, name: &str) -> PathBuf {
    let d = aegpu::data::load_mnist(&aegpu::data::bundled_mnist_dir(), split)
        .unwrap()
        .head(rows);
    let labels = d.labels.as_ref().unwrap();
    let mut values = Vec::with_capacity(rows * 785);
    for (r, &l) in d.values.chunks(784).zip(labels) {
        values.extend_from_slice(r);
        values.push(l as f32);
    }
    let mut header: Vec<String> = (0..784).map(|i| format!("p{i}")).collect();
    header.push("label".into());
    let path = temp(name);
    aegpu::data::save_csv(&path, Some(&header), rows, 785, &values).unwrap();
    path
}

#[test]
fn search_finds_digits_of_the_same_class_by_code_and_by_pixels() {
    let index = mnist_csv(aegpu::data::Split::Train, 400, "search-index.csv");
    let query = mnist_csv(aegpu::data::Split::Test, 50, "search-query.csv");
    let (index, query) = (index.to_str().unwrap(), query.to_str().unwrap());
    let model = temp("search.safetensors");
    stdout_json(&aegpu(&[
        "train",
        "--data",
        index,
        "--label-column",
        "label",
        "--layers",
        "784,64,16",
        "--epochs",
        "10",
        "--batch",
        "32",
        "--backend",
        "cpu",
        "--out",
        model.to_str().unwrap(),
        "--json",
    ]));
    let search = |extra: &[&str]| {
        let mut args = vec![
            "search",
            "--index",
            index,
            "--query",
            query,
            "--label-column",
            "label",
            "--k",
            "5",
            "--backend",
            "cpu",
            "--json",
        ];
        args.extend_from_slice(extra);
        stdout_json(&aegpu(&args))
    };
    let neighbours = temp("neighbours.csv");
    let codes = search(&[
        "--model",
        model.to_str().unwrap(),
        "--out",
        neighbours.to_str().unwrap(),
    ]);
    let pixels = search(&["--pixels"]);
    // Ten classes: chance is 0.1. Measured: codes 0.668, pixels 0.700 (scikit-learn
    // NearestNeighbors finds the same pixel neighbours).
    assert!(codes["precision_at_k"].as_f64().unwrap() > 0.5, "{codes}");
    assert!(pixels["precision_at_k"].as_f64().unwrap() > 0.6, "{pixels}");
    assert_eq!(
        (codes["k"].clone(), codes["dim"].clone()),
        (5.into(), 16.into())
    );
    assert_eq!(pixels["dim"], 784);
    assert!(codes["queries_per_s"].as_f64().unwrap() > 0.0);
    assert!(codes["encode_seconds"].as_f64().is_some());

    // A sigmoid code thresholded at ½ and searched by Hamming distance.
    let hashing = temp("search-sigmoid.safetensors");
    stdout_json(&aegpu(&[
        "train",
        "--data",
        index,
        "--label-column",
        "label",
        "--layers",
        "784,64,16",
        "--code-activation",
        "sigmoid",
        "--epochs",
        "20",
        "--batch",
        "32",
        "--lr",
        "2e-2",
        "--backend",
        "cpu",
        "--out",
        hashing.to_str().unwrap(),
        "--json",
    ]));
    let binary = search(&["--model", hashing.to_str().unwrap(), "--hamming"]);
    assert_eq!(binary["distance"], "hamming");
    // Measured 0.364 (chance 0.1): 16 bits of a briefly trained code keep less than
    // 16 reals do.
    assert!(binary["precision_at_k"].as_f64().unwrap() > 0.2, "{binary}");

    // One line per query: its number, 5 index rows, 5 ascending distances.
    let written = aegpu::data::load_csv(&neighbours, &Default::default()).unwrap();
    assert_eq!((written.rows, written.cols), (50, 11));
    for (q, row) in written.values.chunks(11).enumerate() {
        assert_eq!(row[0], q as f32);
        assert!(row[1..6].iter().all(|&i| (0.0..400.0).contains(&i)));
        assert!(row[6..].windows(2).all(|d| d[0] <= d[1]), "{row:?}");
    }
}

#[test]
fn search_refuses_bad_requests() {
    let index = mnist_csv(aegpu::data::Split::Train, 20, "search-bad-index.csv");
    let (index, query) = (index.to_str().unwrap(), index.to_str().unwrap());
    let search = |extra: &[&str]| {
        let mut args = vec![
            "search",
            "--index",
            index,
            "--query",
            query,
            "--label-column",
            "label",
            "--backend",
            "cpu",
        ];
        args.extend_from_slice(extra);
        aegpu(&args)
    };
    assert_one_line_error(&search(&["--pixels", "--k", "0"]), "≥ 1");
    assert_one_line_error(&search(&["--pixels", "--k", "21"]), "20 index rows");
    assert_one_line_error(&search(&[]), "--pixels");
    assert_one_line_error(&search(&["--pixels", "--hamming"]), "--hamming");
    let iris = temp("search-iris.safetensors");
    train_iris(&iris);
    assert_one_line_error(
        &search(&["--model", iris.to_str().unwrap()]),
        "expects 4 columns",
    );
    // Raw inputs of two widths cannot be compared.
    let out = aegpu(&[
        "search",
        "--index",
        index,
        "--query",
        "data/small/iris.csv",
        "--pixels",
    ]);
    assert_one_line_error(&out, "have 5");
}
