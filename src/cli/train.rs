//! `aegpu train`: fit an autoencoder of any registered kind (`--model`, whose flags the
//! kind adds), report on held-out data, save the model.
//! The data preparation and the closing report are shared with `aegpu pretrain`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{ArgMatches, Args};

use crate::backend::Backend;
use crate::cli::options::FitArgs;
use crate::cli::progress::TrainProgress;
use crate::cli::run_control::{interrupted_message, RunArgs};
use crate::cli::{load_data, BackendArgs, CliError, DataArgs};
use crate::data::{
    first_value_outside, train_validation_split, BagOfWords, Dataset, Scaler, Scaling,
    ScalingChoice,
};
use crate::models::registry::{self, BuildContext};
use crate::models::{downcast_ref, Autoencoder, Vae};
use crate::ops::Activation;
use crate::train::{evaluate, fit_with, TrainReport};

/// Where the training, validation and test data come from, and how they are scaled.
#[derive(Args, Debug, Clone)]
pub struct SplitArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Held-out data reported after training (default for `--data mnist`: `mnist:test`).
    #[arg(long)]
    pub test: Option<String>,
    /// Fraction of the training rows held out for a validation loss each epoch.
    #[arg(long, default_value_t = 0.0, value_parser = crate::ranges::fraction)]
    pub validation: f32,
    /// Per-column scaling fitted on the training data and saved with the model: auto,
    /// none, minmax, standard. `auto` keeps data in [0, 1] as it is and otherwise
    /// standardises for a linear output, min-max scales for any other.
    #[arg(long, default_value = "auto", value_parser = parse_scaling)]
    pub scale: ScalingChoice,
}

/// What every training command ends with: where to save and how to report.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// A TOML file of flags (`layers = [784, 64]`, `noise = "mask:0.3"`); flags given on
    /// the command line override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Where to save the model (safetensors, written atomically).
    #[arg(long, default_value = "model.safetensors")]
    pub out: PathBuf,
    /// Print one JSON object with the results on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub split: SplitArgs,
    /// The kind of autoencoder (the list is filled in from the model registry).
    #[arg(long, default_value = "dense")]
    pub model: String,
    #[command(flatten)]
    pub fit: FitArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

fn parse_scaling(text: &str) -> Result<ScalingChoice, String> {
    text.parse()
        .map_err(|e: crate::data::DataError| e.to_string())
}

impl SplitArgs {
    /// The files the run reads (data specs that are paths), for [`super::check_outputs`].
    pub fn inputs(&self) -> Vec<(&'static str, &Path)> {
        let mut inputs = vec![("--data", Path::new(&self.data.data))];
        if let Some(t) = &self.test {
            inputs.push(("--test", Path::new(t)));
        }
        inputs
    }
}

impl TrainArgs {
    /// Outputs writable and none of them an input: before loading anything.
    fn check_outputs(&self) -> Result<(), CliError> {
        let checkpoint = self.run.checkpoint_path(&self.output.out);
        let mut outputs = vec![("--out", self.output.out.as_path())];
        if !self.fit.is_lbfgs() {
            outputs.push(("--checkpoint", checkpoint.as_path()));
        }
        if let Some(log) = &self.run.log {
            outputs.push(("--log", log.as_path()));
        }
        let mut inputs = self.split.inputs();
        // Resuming rewrites its own checkpoint: that one input may be an output.
        if let Some(r) = &self.run.resume {
            if !crate::io::same_file(r, &checkpoint) {
                inputs.push(("--resume", r.as_path()));
            }
        }
        super::check_outputs(&outputs, &inputs)
    }
}

/// The data of a run; once [`Prepared::fit_scaling`] has run, scaled with the scaler
/// fitted on its training part.
pub struct Prepared {
    pub train: Dataset,
    pub validation: Option<Dataset>,
    pub test: Option<Dataset>,
    pub scaler: Scaler,
    /// With `--text-column`: the bag of words the rows were made with.
    pub text: Option<BagOfWords>,
    pub load_seconds: f64,
}

impl Prepared {
    /// True when `choice` will standardise the training rows for a model left to its
    /// default output: `standard`, or `auto` on raw features (data outside [0, 1], not a
    /// bag of words). A dense model's output then defaults to linear, which (unlike a
    /// sigmoid) reaches standardised values; with its output at the mean from the first
    /// step, its reconstruction error ranks outliers even after a few epochs, as pyod's
    /// standardised, linear-output autoencoder does.
    pub fn standardises(&self, choice: ScalingChoice) -> bool {
        match choice {
            ScalingChoice::Fixed(scaling) => scaling == Scaling::Standard,
            ScalingChoice::Auto => {
                self.text.is_none() && first_value_outside(&self.train, 0.0, 1.0).is_some()
            }
        }
    }

    /// Fits the `--scale` scaling for a model whose output activation is `output` on the
    /// training rows and applies it to every part. Says on stderr what `auto` chose when
    /// it scales, and warns when unscaled data lies outside the output's range.
    /// Bag-of-words rows are left as their weighting made them under `auto`.
    pub fn fit_scaling(&mut self, split: &SplitArgs, output: Activation) -> Result<(), CliError> {
        let spec = &split.data.data;
        let choice = match (split.scale, &self.text) {
            (ScalingChoice::Auto, Some(_)) => ScalingChoice::Fixed(Scaling::None),
            (choice, _) => choice,
        };
        let scaling = choice.resolve(&self.train, output);
        self.scaler = Scaler::fit(scaling, &self.train);
        if self.scaler.is_identity() {
            warn_unscaled(spec, &self.train, output);
            return Ok(());
        }
        if choice == ScalingChoice::Auto {
            say_auto_scaling(spec, &self.train, scaling, output);
        }
        for d in std::iter::once(&mut self.train)
            .chain(self.validation.as_mut())
            .chain(self.test.as_mut())
        {
            self.scaler.apply(d)?;
        }
        Ok(())
    }
}

/// One line on stderr: what `--scale auto` chose for raw features, and why.
fn say_auto_scaling(spec: &str, train: &Dataset, scaling: Scaling, output: Activation) {
    let how = match scaling {
        Scaling::Standard => {
            "standardises each column (--scale standard: mean 0, variance 1) for the \
             model's linear output"
                .to_string()
        }
        _ => format!("maps each column onto [0, 1] (--scale minmax) for the {output} output"),
    };
    let example = first_value_outside(train, 0.0, 1.0)
        .map(|(row, col, v)| format!(" (row {row}, column {col}: {v})"))
        .unwrap_or_default();
    eprintln!(
        "scaling: {spec} holds values outside [0, 1]{example}, so --scale auto {how}; the \
         scaler is saved with the model and applied by eval, encode, outliers and search \
         (--scale none keeps the raw values)"
    );
}

impl SplitArgs {
    /// Loads the training, validation and test data, unscaled: the scaling is fitted
    /// once the model's output is known ([`Prepared::fit_scaling`]).
    pub fn prepare(&self, seed: u64) -> Result<Prepared, CliError> {
        let t_load = Instant::now();
        let (mut train, text) = self.data.load_fitting()?;
        let test_spec = self.test.clone().or_else(|| {
            matches!(self.data.data.as_str(), "mnist" | "mnist:train")
                .then(|| "mnist:test".to_string())
        });
        let label_column = self.data.label_column.as_deref();
        let test = match (&test_spec, &text) {
            (Some(spec), Some(text)) => Some(text.load(Path::new(spec), label_column)?),
            (Some(spec), None) => Some(load_data(spec, &self.data.label_column)?),
            (None, _) => None,
        };
        if let (Some(t), Some(spec)) = (&test, &test_spec) {
            if t.cols != train.cols {
                return Err(format!(
                    "the test data {spec} has {} columns, the training data {} has {}",
                    t.cols, self.data.data, train.cols
                )
                .into());
            }
        }
        let mut validation = None;
        if self.validation > 0.0 {
            let (t, v) = train_validation_split(&train, self.validation, seed)?;
            train = t;
            validation = Some(v);
        }
        let scaler = Scaler::fit(Scaling::None, &train);
        Ok(Prepared {
            text,
            train,
            validation,
            test,
            scaler,
            load_seconds: t_load.elapsed().as_secs_f64(),
        })
    }
}

/// Raw features (a CSV of values in the hundreds) left unscaled (`--scale none`) do not
/// learn with a bounded output (sigmoid, the dense default, or tanh), and nothing else
/// would say so: a loud warning, once, naming the value and the fix.
fn warn_unscaled(spec: &str, train: &Dataset, output: Activation) {
    let (lo, hi) = match output {
        Activation::Sigmoid => (0, 1),
        Activation::Tanh => (-1, 1),
        _ => return,
    };
    let outside = first_value_outside(train, lo as f32 - 0.01, hi as f32 + 0.01);
    if let Some((row, col, v)) = outside {
        eprintln!(
            "warning: {spec} holds values outside [{lo}, {hi}] (row {row}, column {col}: {v}) \
             and is not scaled: the {output} output cannot reconstruct them and the loss \
             will stay high; drop --scale none (the default, auto, scales such data) or pass \
             --scale minmax, which is saved with the model and applied by eval, encode, \
             outliers and search"
        );
    }
}

/// Trains `--model`, built from the flags in `flags` (the parsed `train` command, with
/// every kind's flags).
pub fn run(a: TrainArgs, flags: &ArgMatches) -> Result<(), CliError> {
    let kind = registry::kind(&a.model)?;
    registry::check_flags(kind, flags)?;
    a.check_outputs()?;
    let mut data = a.split.prepare(a.fit.seed)?;
    let regularization = a.fit.regularization();
    let context = BuildContext {
        data: &a.split.data.data,
        cols: data.train.cols,
        seed: a.fit.seed,
        regularization: &regularization,
        labels: data.train.labels.as_deref(),
        standardised: data.standardises(a.split.scale),
    };
    let mut model = (kind.build)(flags, &context)?;
    model.validate_regularization(&regularization)?;
    data.fit_scaling(&a.split, model.output_activation())?;
    let initial = largest_weight(model.as_ref());
    let cfg = a.fit.train_config()?;
    let resume = a.run.load_resume()?;
    let control = a.run.control(&a.output.out, resume.as_ref())?;
    let mut selected = a.output.backend.open()?;
    let backend = selected.backend.as_mut();
    let steps_per_epoch = match cfg.lbfgs {
        Some(_) => 1, // an L-BFGS iteration over every row
        None => data.train.rows.div_ceil(cfg.batch.max(1)),
    };
    let mut progress = TrainProgress::new(cfg.epochs, steps_per_epoch);
    if let Some(r) = &resume {
        progress.skip(r.state.position.step);
    }
    let t_train = Instant::now();
    let report = fit_with(
        model.as_mut(),
        backend,
        &data.train,
        data.validation.as_ref(),
        &cfg,
        &control,
        &mut |p| progress.update(&p),
    );
    progress.finish();
    let report = report?;
    if report.interrupted {
        return Err(interrupted_message(&report).into());
    }
    check_weights_held(model.as_ref(), initial.1)?;
    let train_seconds = t_train.elapsed().as_secs_f64();
    let mut figures = training_figures(&report, train_seconds);
    figures["epochs"] = report.epochs.len().into();
    figures["best_epoch"] = report.best_epoch.into();
    figures["stopped_early"] = report.stopped_early.into();
    finish(
        model.as_ref(),
        backend,
        &a.split,
        &a.output,
        &data,
        serde_json::to_string(&cfg)?,
        figures,
    )
}

/// How far past its initial scale a weight may grow before the run counts as blown up.
const WEIGHT_GROWTH_LIMIT: f32 = 1e4;

/// The parameter holding the largest magnitude, and that magnitude.
fn largest_weight(model: &dyn Autoencoder) -> (String, f32) {
    let store = model.store();
    model
        .parameters()
        .into_iter()
        .map(|id| {
            let m = store.values(id).iter().fold(0.0f32, |m, v| m.max(v.abs()));
            (store.get(id).name.clone(), m)
        })
        .fold(
            (String::new(), 0.0),
            |best, p| if p.1 > best.1 { p } else { best },
        )
}

/// Refuses a trained model whose weights grew past [`WEIGHT_GROWTH_LIMIT`] × their
/// initial scale: the loss can stay finite behind a saturated sigmoid (`--lr 1e6`),
/// but such a model reconstructs nothing. Nothing is saved.
fn check_weights_held(model: &dyn Autoencoder, initial: f32) -> Result<(), CliError> {
    let (name, now) = largest_weight(model);
    let limit = WEIGHT_GROWTH_LIMIT * initial.max(1.0);
    if now.is_finite() && now <= limit {
        return Ok(());
    }
    Err(format!(
        "training blew up: `{name}` reached {now:e}, over {WEIGHT_GROWTH_LIMIT:e} times the \
         initial weights' scale ({initial:.3}); the model was not saved: try a lower --lr \
         or --clip-norm"
    )
    .into())
}

/// The figures of a training run, for the JSON report.
pub fn training_figures(report: &TrainReport, train_seconds: f64) -> serde_json::Value {
    let last = report.epochs.last();
    serde_json::json!({
        "train_loss": last.map(|e| e.train_loss),
        "validation_loss": last.and_then(|e| e.validation_loss),
        "train_terms": last.map(|e| &e.terms),
        "validation_terms": last.map(|e| &e.validation_terms).filter(|t| !t.is_empty()),
        "samples_per_s": report.samples_per_s,
        "train_seconds": train_seconds,
        "steps": report.steps,
        "submissions_per_step": report.submissions_per_step,
        "readbacks_per_step": report.readbacks_per_step,
        "plan_launches": report.plan_launches,
        "plan_peak_bytes": report.plan_peak_bytes,
        "batches_resident": report.batches_resident,
        "resumed_from_step": report.resumed_from_step,
        "checkpoint": report.checkpoint.as_ref().map(|(p, _)| p.display().to_string()),
        "lbfgs": report.lbfgs.as_ref().map(|l| serde_json::json!({
            "iterations": l.iterations,
            "evaluations": l.evaluations,
            "converged": l.converged,
            "readbacks_per_evaluation": l.readbacks_per_evaluation,
        })),
    })
}

/// Saves the model with its training settings (first: nothing after training may lose
/// the weights), evaluates it on the test data and prints the results: as one JSON
/// object with `figures` merged in, or as a few lines.
pub fn finish(
    model: &dyn Autoencoder,
    backend: &mut dyn Backend,
    split: &SplitArgs,
    output: &OutputArgs,
    data: &Prepared,
    training: String,
    figures: serde_json::Value,
) -> Result<(), CliError> {
    let mut meta = BTreeMap::new();
    meta.insert("aegpu.training".into(), training);
    meta.insert("aegpu.data".into(), split.data.data.clone());
    if !data.scaler.is_identity() {
        meta.insert("aegpu.scaler".into(), serde_json::to_string(&data.scaler)?);
    }
    if let Some(text) = &data.text {
        meta.insert("aegpu.bag_of_words".into(), serde_json::to_string(text)?);
    }
    model.save(&output.out, &meta)?;

    // A conditional VAE reconstructs only with labels: its test figures come from
    // `aegpu eval`.
    let conditional = downcast_ref::<Vae>(model).is_some_and(|v| v.config.is_conditional());
    let test_report = match &data.test {
        Some(t) if !conditional => Some(evaluate(model, backend, t)?),
        _ => None,
    };
    let mut out = serde_json::json!({
        "backend": backend.describe(),
        "kind": model.kind(),
        "architecture": model.describe(),
        "parameters": model.parameter_count(),
        "load_seconds": data.load_seconds,
        "model": output.out.display().to_string(),
        "scaling": data.scaler.kind().to_string(),
    });
    if let Some(o) = out.as_object_mut() {
        o.extend(model.report_json());
    }
    if let (Some(o), serde_json::Value::Object(f)) = (out.as_object_mut(), figures) {
        o.extend(f);
    }
    if let Some(t) = &test_report {
        out["test_mse"] = t.mse.into();
        out["test_bce"] = t.bce.into();
        out["test_rows"] = t.rows.into();
    }
    if output.json {
        println!("{out}");
    } else {
        println!(
            "trained {} ({} parameters) in {:.1}s, train loss {:.5}",
            model.describe(),
            model.parameter_count(),
            out["train_seconds"].as_f64().unwrap_or(f64::NAN),
            out["train_loss"].as_f64().unwrap_or(f64::NAN)
        );
        if let Some(t) = &test_report {
            println!(
                "test ({} rows): MSE {:.5}, BCE {:.5} per element",
                t.rows, t.mse, t.bce
            );
        }
        println!("saved {}", output.out.display());
    }
    Ok(())
}
