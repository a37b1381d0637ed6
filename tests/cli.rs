//! The `aegpu` command end to end: train → eval → encode → reconstruct on real data,
//! `--json` output, and one-line errors with a non-zero exit for bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn aegpu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_aegpu"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("aegpu runs")
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aegpu-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

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
    assert!(report["evaluations"].as_u64().unwrap() >= 1);

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
}
