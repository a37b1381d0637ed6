//! `aegpu train`: fit a dense autoencoder, report on held-out data, save the model.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use crate::cli::options::{FitArgs, ModelArgs};
use crate::cli::progress::TrainProgress;
use crate::cli::{load_data, BackendArgs, CliError, DataArgs};
use crate::data::{train_validation_split, Scaler, Scaling};
use crate::models::DenseAutoencoder;
use crate::train::{evaluate, fit};

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
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    fit: FitArgs,
    /// A TOML file of flags (`layers = [784, 64]`, `noise = "mask:0.3"`); flags given on
    /// the command line override it.
    #[arg(long)]
    config: Option<PathBuf>,
    #[command(flatten)]
    backend: BackendArgs,
    /// Where to save the model (safetensors, written atomically).
    #[arg(long, default_value = "model.safetensors")]
    out: PathBuf,
    /// Print one JSON object with the results on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(a: TrainArgs) -> Result<(), CliError> {
    let cfg = a.fit.train_config()?;
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
        let (t, v) = train_validation_split(&train, a.validation, a.fit.seed)?;
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

    let config = a.model.config(train.cols)?;
    let mut model = DenseAutoencoder::new(config, a.fit.seed)?;

    let mut selected = a.backend.open()?;
    let backend = selected.backend.as_mut();
    let steps_per_epoch = train.rows.div_ceil(cfg.batch.max(1));
    let mut progress = TrainProgress::new(cfg.epochs, steps_per_epoch);
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
        "layers": a.model.layers,
        "tied": a.model.tied,
        "parameters": model.parameter_count(),
        "epochs": report.epochs.len(),
        "best_epoch": report.best_epoch,
        "stopped_early": report.stopped_early,
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
            a.model.describe(),
            model.parameter_count(),
            report.epochs.len(),
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
