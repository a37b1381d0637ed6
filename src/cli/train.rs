//! `aegpu train`: fit a dense autoencoder, report on held-out data, save the model.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use crate::cli::progress::TrainProgress;
use crate::cli::{load_data, BackendArgs, CliError, DataArgs};
use crate::data::{train_validation_split, Scaler, Scaling};
use crate::models::{DenseAutoencoder, DenseConfig};
use crate::nn::init::Init;
use crate::ops::{Activation, Loss, Optimizer};
use crate::train::{evaluate, fit, TrainConfig};

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Held-out data reported after training (default for `--data mnist`: `mnist:test`).
    #[arg(long)]
    test: Option<String>,
    /// Fraction of the training rows held out for a validation loss each epoch.
    #[arg(long, default_value_t = 0.0)]
    validation: f32,
    /// Per-column scaling fitted on the training data: none, minmax, standard.
    #[arg(long, default_value = "none")]
    scale: String,
    /// Encoder widths from the input to the code; the decoder mirrors them.
    #[arg(long, default_value = "784,256,64", value_delimiter = ',')]
    layers: Vec<usize>,
    /// Activation of the hidden layers.
    #[arg(long, default_value = "relu")]
    activation: Activation,
    /// Activation of the code layer.
    #[arg(long, default_value = "linear")]
    code_activation: Activation,
    /// Activation of the output layer (sigmoid for data in [0, 1]).
    #[arg(long, default_value = "sigmoid")]
    output_activation: Activation,
    /// One activation per layer, encoder then decoder (overrides the three above).
    #[arg(long, value_delimiter = ',')]
    activations: Option<Vec<Activation>>,
    /// Decoder layer i multiplies by the transpose of encoder layer i.
    #[arg(long)]
    tied: bool,
    /// Weight initialisation: glorot, he, auto (he for relu layers).
    #[arg(long, default_value = "glorot")]
    init: Init,
    /// Reconstruction loss: mse or bce (binary cross-entropy, needs a sigmoid output).
    #[arg(long, default_value = "mse")]
    loss: String,
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    #[arg(long, default_value_t = 256)]
    batch: usize,
    #[arg(long, default_value_t = 5e-3)]
    lr: f32,
    /// adam, adamw, sgd, momentum, nesterov, adagrad, rmsprop (PyTorch's defaults).
    #[arg(long, default_value = "adam")]
    optimizer: String,
    /// Momentum for `momentum` and `nesterov`.
    #[arg(long, default_value_t = 0.9)]
    momentum: f32,
    /// L2 weight decay (decoupled for adamw).
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    backend: BackendArgs,
    /// Where to save the model (safetensors, written atomically).
    #[arg(long, default_value = "model.safetensors")]
    out: PathBuf,
    /// Print one JSON object with the results on stdout.
    #[arg(long)]
    json: bool,
}

fn parse_optimizer(name: &str, momentum: f32, weight_decay: f32) -> Result<Optimizer, String> {
    let sgd = |momentum, nesterov| Optimizer::Sgd {
        momentum,
        nesterov,
        weight_decay: 0.0,
    };
    let optimizer = match name.to_ascii_lowercase().as_str() {
        "adam" => Optimizer::adam(),
        "adamw" => Optimizer::adamw(0.0),
        "sgd" => sgd(0.0, false),
        "momentum" => sgd(momentum, false),
        "nesterov" => sgd(momentum, true),
        "adagrad" => Optimizer::adagrad(),
        "rmsprop" => Optimizer::rmsprop(),
        other => {
            return Err(format!(
                "unknown optimizer `{other}` (expected adam, adamw, sgd, momentum, nesterov, \
                 adagrad, rmsprop)"
            ))
        }
    };
    Ok(optimizer.with_weight_decay(weight_decay))
}

fn parse_loss(name: &str) -> Result<Loss, String> {
    match name.to_ascii_lowercase().as_str() {
        "mse" => Ok(Loss::Mse),
        "bce" => Ok(Loss::BceWithLogits),
        other => Err(format!("unknown loss `{other}` (expected mse or bce)")),
    }
}

pub fn run(a: TrainArgs) -> Result<(), CliError> {
    let optimizer = parse_optimizer(&a.optimizer, a.momentum, a.weight_decay)?;
    let loss = parse_loss(&a.loss)?;
    let scaling: Scaling = a.scale.parse()?;

    let t_load = Instant::now();
    let mut train = a.data.load()?;
    let test_spec = a.test.clone().or_else(|| {
        matches!(a.data.data.as_str(), "mnist" | "mnist:train").then(|| "mnist:test".to_string())
    });
    let mut test = match &test_spec {
        Some(spec) => Some(load_data(spec, &a.data.label_column)?),
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
    let mut validation = None;
    if a.validation > 0.0 {
        let (t, v) = train_validation_split(&train, a.validation, a.seed)?;
        train = t;
        validation = Some(v);
    }
    let scaler = Scaler::fit(scaling, &train);
    if !scaler.is_identity() {
        for d in std::iter::once(&mut train)
            .chain(validation.as_mut())
            .chain(test.as_mut())
        {
            scaler.apply(d)?;
        }
    }
    let load_seconds = t_load.elapsed().as_secs_f64();

    if a.layers.first() != Some(&train.cols) {
        return Err(format!(
            "--layers starts with {} inputs but the data has {} columns (try --layers {},{})",
            a.layers.first().copied().unwrap_or(0),
            train.cols,
            train.cols,
            a.layers
                .iter()
                .skip(1)
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
                .join(",")
        )
        .into());
    }
    let mut config = DenseConfig::new(&a.layers);
    let depth = config.depth();
    config.activations = match &a.activations {
        Some(list) => list.clone(),
        None => (0..2 * depth)
            .map(|i| match i {
                i if i + 1 == depth => a.code_activation,
                i if i + 1 == 2 * depth => a.output_activation,
                _ => a.activation,
            })
            .collect(),
    };
    config.tied = a.tied;
    config.init = a.init;
    let mut model = DenseAutoencoder::new(config, a.seed)?;

    let mut selected = a.backend.open()?;
    let backend = selected.backend.as_mut();
    let cfg = TrainConfig {
        epochs: a.epochs,
        batch: a.batch,
        lr: a.lr,
        optimizer,
        loss,
        seed: a.seed,
        // The running loss costs a read-back; only worth it when someone watches.
        loss_every: if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            20
        } else {
            0
        },
    };
    let steps_per_epoch = train.rows.div_ceil(a.batch.max(1));
    let mut progress = TrainProgress::new(a.epochs, steps_per_epoch);
    let t_train = Instant::now();
    let report = fit(
        &mut model,
        backend,
        &train,
        validation.as_ref(),
        &cfg,
        &mut |p| progress.update(&p),
    );
    progress.finish();
    let report = report?;
    let train_seconds = t_train.elapsed().as_secs_f64();

    // Saved first: nothing after training may lose the trained weights.
    let mut meta = BTreeMap::new();
    meta.insert("aegpu.training".into(), serde_json::to_string(&cfg)?);
    meta.insert("aegpu.data".into(), a.data.data.clone());
    if !scaler.is_identity() {
        meta.insert("aegpu.scaler".into(), serde_json::to_string(&scaler)?);
    }
    model.save(&a.out, &meta)?;

    let test_report = match &test {
        Some(t) => Some(evaluate(&model, backend, t)?),
        None => None,
    };

    let last = report.epochs.last();
    let mut out = serde_json::json!({
        "backend": backend.describe(),
        "layers": a.layers,
        "tied": a.tied,
        "parameters": model.parameter_count(),
        "epochs": a.epochs,
        "train_loss": last.map(|e| e.train_loss),
        "validation_loss": last.and_then(|e| e.validation_loss),
        "samples_per_s": report.samples_per_s,
        "train_seconds": train_seconds,
        "load_seconds": load_seconds,
        "steps": report.steps,
        "submissions_per_step": report.submissions_per_step,
        "readbacks_per_step": report.readbacks_per_step,
        "plan_launches": report.plan_launches,
        "plan_peak_bytes": report.plan_peak_bytes,
        "batches_resident": report.batches_resident,
        "model": a.out.display().to_string(),
    });
    if let Some(t) = &test_report {
        out["test_mse"] = t.mse.into();
        out["test_bce"] = t.bce.into();
        out["test_rows"] = t.rows.into();
    }
    if a.json {
        println!("{out}");
    } else {
        println!(
            "trained {} ({} parameters) for {} epochs in {:.1}s: {:.0} samples/s, train loss {:.5}",
            a.layers
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
                .join("-"),
            model.parameter_count(),
            a.epochs,
            train_seconds,
            report.samples_per_s,
            last.map(|e| e.train_loss).unwrap_or(f32::NAN)
        );
        if let Some(t) = &test_report {
            println!(
                "test ({} rows): MSE {:.5}, BCE {:.5} per element",
                t.rows, t.mse, t.bce
            );
        }
        println!("saved {}", a.out.display());
    }
    Ok(())
}
