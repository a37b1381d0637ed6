//! `aegpu classify`: fine-tune a classifier — a dense encoder plus a linear softmax
//! head — on a few labelled rows, starting from a saved autoencoder's encoder
//! (`--pretrained`) or from random initialisation (`--layers`), and report its test
//! accuracy; and `aegpu predict`: a saved classifier's class for every row.
//! `crate::models::classifier` and `crate::train::classify` do the work.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use crate::cli::options::ModelArgs;
use crate::cli::{load_data, BackendArgs, CliError, DataArgs};
use crate::data::{balanced_subset, save_csv, Dataset, Scaler};
use crate::models::{Classifier, ClassifierConfig, DenseAutoencoder};
use crate::ops::Optimizer;
use crate::train::{accuracy, fit_classifier, predict, ClassifyConfig};

#[derive(Args, Debug)]
pub struct ClassifyArgs {
    /// Labelled training data (`mnist`, or a CSV with --label-column, …).
    #[command(flatten)]
    data: DataArgs,
    /// Labelled test data for the accuracy (default for `--data mnist`: `mnist:test`).
    #[arg(long)]
    test: Option<String>,
    /// Train on this many labelled rows, class-balanced, drawn with --seed (default:
    /// every row).
    #[arg(long, value_parser = crate::ranges::count)]
    labels: Option<usize>,
    /// A dense autoencoder (`aegpu train`/`pretrain`) whose encoder starts the
    /// classifier; without it the encoder is initialised at random from --layers.
    #[arg(long)]
    pretrained: Option<PathBuf>,
    /// The encoder when not --pretrained (its activations as for `aegpu train`).
    #[command(flatten)]
    model: ModelArgs,
    /// Classes of the head (default: the largest label + 1).
    #[arg(long, value_parser = crate::ranges::count)]
    classes: Option<usize>,
    #[arg(long, default_value_t = 50, value_parser = crate::ranges::count)]
    epochs: usize,
    /// Of those epochs, train only the softmax head for the first N (a linear probe),
    /// then every layer.
    #[arg(long, default_value_t = 0)]
    head_epochs: usize,
    #[arg(long, default_value_t = 32, value_parser = crate::ranges::count)]
    batch: usize,
    #[arg(long, default_value_t = 1e-3, value_parser = crate::ranges::positive)]
    lr: f32,
    /// Adam's L2 weight decay.
    #[arg(long, default_value_t = 0.0, value_parser = crate::ranges::non_negative)]
    weight_decay: f32,
    /// Draws the labelled rows, the head's (and a random encoder's) initial weights and
    /// the shuffling.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    backend: BackendArgs,
    /// Where to save the classifier (safetensors, written atomically).
    #[arg(long, default_value = "classifier.safetensors")]
    out: PathBuf,
    /// Print one JSON object with the results (`test_accuracy`, …) on stdout.
    #[arg(long)]
    json: bool,
}

/// Refuses data without labels, naming the data.
fn require_labels(d: &Dataset, spec: &str) -> Result<(), CliError> {
    if d.labels.is_none() {
        return Err(format!(
            "the data {spec} has no labels (for a CSV, name the label column with --label-column)"
        )
        .into());
    }
    Ok(())
}

pub fn run(a: ClassifyArgs) -> Result<(), CliError> {
    let mut inputs = vec![("--data", Path::new(&a.data.data))];
    inputs.extend(a.test.as_deref().map(|t| ("--test", Path::new(t))));
    inputs.extend(a.pretrained.as_deref().map(|p| ("--pretrained", p)));
    crate::cli::check_outputs(&[("--out", a.out.as_path())], &inputs)?;
    let t_load = Instant::now();
    let mut train = a.data.load()?;
    require_labels(&train, &a.data.data)?;
    let test_spec = a.test.clone().or_else(|| {
        matches!(a.data.data.as_str(), "mnist" | "mnist:train").then(|| "mnist:test".to_string())
    });
    let mut test = match &test_spec {
        Some(spec) => {
            let t = load_data(spec, &a.data.label_column)?;
            require_labels(&t, spec)?;
            Some(t)
        }
        None => None,
    };
    if let (Some(t), Some(spec)) = (&test, &test_spec) {
        if t.cols != train.cols {
            return Err(format!(
                "the test data {spec} has {} columns, the training data {} has {}",
                t.cols, a.data.data, train.cols
            )
            .into());
        }
    }
    let largest = |d: &Dataset| d.labels.iter().flatten().max().copied().unwrap_or(0);
    let classes = a
        .classes
        .unwrap_or(1 + largest(&train).max(test.as_ref().map_or(0, largest)) as usize);

    // The starting encoder, and the scaling its autoencoder was trained with.
    let mut meta = BTreeMap::new();
    let mut model = match &a.pretrained {
        Some(path) => {
            let (ae, ae_meta) = DenseAutoencoder::load(path)?;
            if ae.config.input_width() != train.cols {
                return Err(format!(
                    "the pretrained model {} reads {} columns, the data {} has {}",
                    path.display(),
                    ae.config.input_width(),
                    a.data.data,
                    train.cols
                )
                .into());
            }
            if let Some(s) = ae_meta.get("aegpu.scaler") {
                let scaler: Scaler = serde_json::from_str(s)
                    .map_err(|e| format!("{}: unreadable scaler: {e}", path.display()))?;
                for d in std::iter::once(&mut train).chain(test.as_mut()) {
                    scaler.apply(d)?;
                }
                meta.insert("aegpu.scaler".to_string(), s.clone());
            }
            meta.insert("aegpu.pretrained".into(), path.display().to_string());
            Classifier::from_autoencoder(&ae, classes, a.seed)?
        }
        None => {
            let ae = a.model.config(train.cols)?;
            Classifier::random(&ClassifierConfig::from_autoencoder(&ae, classes), a.seed)?
        }
    };
    let labelled = match a.labels {
        Some(n) => balanced_subset(&train, n, a.seed).map_err(|e| format!("--labels {n}: {e}"))?,
        None => train,
    };
    let load_seconds = t_load.elapsed().as_secs_f64();

    let cfg = ClassifyConfig {
        epochs: a.epochs,
        batch: a.batch,
        lr: a.lr,
        optimizer: Optimizer::adam().with_weight_decay(a.weight_decay),
        seed: a.seed,
        clip_norm: None,
        head_epochs: a.head_epochs,
    };
    let mut selected = a.backend.open()?;
    let backend = selected.backend.as_mut();
    let report = fit_classifier(&mut model, backend, &labelled, &cfg, &mut |_, _| {})?;
    meta.insert("aegpu.training".into(), serde_json::to_string(&cfg)?);
    meta.insert("aegpu.data".into(), a.data.data.clone());
    model.save(&a.out, &meta)?;
    let train_accuracy = accuracy(&model, backend, &labelled)?;
    let test_accuracy = match &test {
        Some(t) => Some(accuracy(&model, backend, t)?),
        None => None,
    };

    let out = serde_json::json!({
        "backend": backend.describe(),
        "kind": "classifier",
        "architecture": model.describe(),
        "parameters": model.parameter_count(),
        "pretrained": a.pretrained.as_ref().map(|p| p.display().to_string()),
        "labels": labelled.rows,
        "classes": classes,
        "epochs": cfg.epochs,
        "steps": report.steps,
        "train_loss": report.epoch_losses.last(),
        "train_accuracy": train_accuracy,
        "test_accuracy": test_accuracy,
        "test_rows": test.as_ref().map(|t| t.rows),
        "train_seconds": report.seconds,
        "load_seconds": load_seconds,
        "submissions_per_step": report.submissions_per_step,
        "model": a.out.display().to_string(),
    });
    if a.json {
        println!("{out}");
    } else {
        println!(
            "trained {} ({}) on {} labelled rows in {:.1}s: train loss {:.4}, train accuracy {:.2}%",
            model.describe(),
            if a.pretrained.is_some() {
                "pretrained encoder"
            } else {
                "random init"
            },
            labelled.rows,
            report.seconds,
            report.epoch_losses.last().copied().unwrap_or(f32::NAN),
            100.0 * train_accuracy
        );
        if let (Some(acc), Some(t)) = (test_accuracy, &test) {
            println!("test accuracy on {} rows: {:.2}%", t.rows, 100.0 * acc);
        }
        println!("saved {}", a.out.display());
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A classifier saved by `aegpu classify`.
    #[arg(long)]
    model: PathBuf,
    /// The rows to classify; with labels (`mnist`, or --label-column), the accuracy.
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    backend: BackendArgs,
    /// Write one line per row: row, predicted class, and the label when known (CSV).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print one JSON object with the results (`rows`, `accuracy`, …) on stdout.
    #[arg(long)]
    json: bool,
}

/// `aegpu predict`: a saved classifier's class for every row, scaled as its training
/// data was.
pub fn predict_rows(a: PredictArgs) -> Result<(), CliError> {
    if let Some(out) = &a.out {
        crate::cli::check_outputs(
            &[("--out", out.as_path())],
            &[
                ("--model", a.model.as_path()),
                ("--data", Path::new(&a.data.data)),
            ],
        )?;
    }
    let (model, meta) = Classifier::load(&a.model)?;
    let mut data = a.data.load()?;
    if data.cols != model.input_width() {
        return Err(format!(
            "the classifier {} reads {} columns, the data {} has {}",
            a.model.display(),
            model.input_width(),
            a.data.data,
            data.cols
        )
        .into());
    }
    if let Some(s) = meta.get("aegpu.scaler") {
        let scaler: Scaler = serde_json::from_str(s)
            .map_err(|e| format!("{}: unreadable scaler: {e}", a.model.display()))?;
        scaler.apply(&mut data)?;
    }
    let mut selected = a.backend.open()?;
    let backend = selected.backend.as_mut();
    backend.upload_store(&model.store)?;
    let predicted = predict(&model, backend, &data)?;
    let accuracy = data.labels.as_ref().map(|labels| {
        let right = predicted.iter().zip(labels).filter(|(p, t)| p == t).count();
        right as f64 / data.rows as f64
    });
    if let Some(path) = &a.out {
        let mut header = vec!["row".to_string(), "predicted".to_string()];
        let mut columns = 2;
        if data.labels.is_some() {
            header.push("label".to_string());
            columns = 3;
        }
        let mut values = Vec::with_capacity(data.rows * columns);
        for (row, &class) in predicted.iter().enumerate() {
            // Row numbers and classes are exact as f32 below 2²⁴.
            values.extend([row as f32, class as f32]);
            if let Some(labels) = &data.labels {
                values.push(labels[row] as f32);
            }
        }
        save_csv(path, Some(&header), data.rows, columns, &values)?;
    }
    let out = serde_json::json!({
        "backend": backend.describe(),
        "model": a.model.display().to_string(),
        "rows": data.rows,
        "classes": model.config.classes,
        "accuracy": accuracy,
        "out": a.out.as_ref().map(|p| p.display().to_string()),
    });
    if a.json {
        println!("{out}");
    } else {
        match accuracy {
            Some(acc) => println!(
                "{} rows classified: accuracy {:.2}%",
                data.rows,
                100.0 * acc
            ),
            None => println!("{} rows classified", data.rows),
        }
        if let Some(path) = &a.out {
            println!("wrote {}", path.display());
        }
    }
    Ok(())
}
