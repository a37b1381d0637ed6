//! `aegpu pretrain`: a stacked autoencoder, pretrained greedily layer by layer, unrolled
//! and fine-tuned end to end (`crate::train::stacked`), with a progress bar per stage.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;

use crate::cli::options::{FitArgs, ModelArgs};
use crate::cli::progress::TrainProgress;
use crate::cli::run_control::interrupt_flag;
use crate::cli::train::{finish, training_figures, OutputArgs, SplitArgs};
use crate::cli::CliError;
use crate::ops::Activation;
use crate::train::{fit_stacked_with, StackedControl, StackedStage};

#[derive(Args, Debug)]
pub struct PretrainArgs {
    #[command(flatten)]
    split: SplitArgs,
    /// The deep network; each pair of consecutive widths is one pretraining stage.
    #[command(flatten)]
    model: ModelArgs,
    /// Settings of every pretraining stage (`--epochs` is per stage; regularisers
    /// apply to the stages).
    #[command(flatten)]
    fit: FitArgs,
    /// Epochs of end-to-end fine-tuning after unrolling (0: none).
    #[arg(long, default_value_t = 5)]
    fine_tune_epochs: usize,
    /// Learning rate of fine-tuning (default: --lr).
    #[arg(long, value_parser = crate::ranges::positive)]
    fine_tune_lr: Option<f32>,
    #[command(flatten)]
    output: OutputArgs,
    /// Base name of the checkpoints, one per stage and one for fine-tuning
    /// (`m.ckpt.safetensors` → `m.ckpt.stage1.safetensors`, …); default: the model's
    /// path with `.ckpt.safetensors`. Written on Ctrl-C, and, when checkpoints are
    /// asked for (this flag, --checkpoint-every or --resume), when each run ends.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Also write the running stage's checkpoint every N epochs.
    #[arg(long, default_value_t = 0)]
    checkpoint_every: usize,
    /// Continue from the checkpoints: finished stages are loaded, the interrupted one
    /// continues (same flags).
    #[arg(long)]
    resume: bool,
}

pub fn run(a: PretrainArgs) -> Result<(), CliError> {
    let checkpoint = a
        .checkpoint
        .clone()
        .unwrap_or_else(|| a.output.out.with_extension("ckpt.safetensors"));
    crate::cli::check_outputs(
        &[
            ("--out", a.output.out.as_path()),
            ("--checkpoint", checkpoint.as_path()),
        ],
        &a.split.inputs(),
    )?;
    let stage = a.fit.train_config()?;
    let mut fine_tune = stage.clone();
    fine_tune.epochs = a.fine_tune_epochs;
    fine_tune.lr = a.fine_tune_lr.unwrap_or(stage.lr);
    let mut data = a.split.prepare(a.fit.seed)?;
    let output = match data.standardises(a.split.scale) {
        true => Activation::Linear,
        false => Activation::Sigmoid,
    };
    let config = a.model.config_with_output(data.train.cols, output)?;
    data.fit_scaling(&a.split, config.output_activation())?;

    let mut selected = a.output.backend.open()?;
    let backend = selected.backend.as_mut();
    let steps_per_epoch = data.train.rows.div_ceil(stage.batch.max(1));
    let depth = config.depth();
    let mut bar: Option<(StackedStage, TrainProgress)> = None;
    let t_train = Instant::now();
    let control = StackedControl {
        checkpoint: Some(checkpoint),
        checkpoint_every: a.checkpoint_every,
        // Finished stages are kept when checkpoints were asked for; a Ctrl-C always
        // saves the running stage.
        keep_finished: a.checkpoint.is_some() || a.checkpoint_every > 0 || a.resume,
        resume: a.resume,
        interrupt: Some(interrupt_flag()?),
    };
    let result = fit_stacked_with(
        &config,
        a.fit.seed,
        backend,
        &data.train,
        data.validation.as_ref(),
        &stage,
        &fine_tune,
        &control,
        &mut |phase, p| {
            if bar.as_ref().map(|(current, _)| *current) != Some(phase) {
                if let Some((_, old)) = bar.take() {
                    old.finish();
                }
                let (label, epochs) = match phase {
                    StackedStage::Stage { index, of } => {
                        (format!("stage {}/{of}", index + 1), stage.epochs)
                    }
                    StackedStage::FineTune => ("fine-tune".to_string(), fine_tune.epochs),
                };
                bar = Some((
                    phase,
                    TrainProgress::labelled(epochs, steps_per_epoch, &label),
                ));
            }
            if let Some((_, b)) = bar.as_mut() {
                b.update(&p);
            }
        },
    );
    if let Some((_, b)) = bar {
        b.finish();
    }
    let (model, report) = result?;
    let train_seconds = t_train.elapsed().as_secs_f64();
    let stage_losses: Vec<Option<f32>> = report
        .stages
        .iter()
        .map(|r| r.epochs.last().map(|e| e.train_loss))
        .collect();
    // The fine-tuning run's figures (or the last stage's, when there was none).
    let last = report
        .fine_tune
        .as_ref()
        .or(report.stages.last())
        .ok_or("no layers to pretrain")?;
    let mut figures = training_figures(last, train_seconds);
    figures["stages"] = depth.into();
    figures["stage_epochs"] = stage.epochs.into();
    figures["stage_train_losses"] = serde_json::to_value(stage_losses)?;
    figures["fine_tune_epochs"] = report
        .fine_tune
        .as_ref()
        .map_or(0, |r| r.epochs.len())
        .into();
    finish(
        &model,
        backend,
        &a.split,
        &a.output,
        &data,
        serde_json::to_string(&fine_tune)?,
        figures,
    )
}
