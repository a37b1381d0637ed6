//! The flags that look after a long `aegpu train` run: checkpoints, resuming, the
//! metrics log, and Ctrl-C (finish the step, save a checkpoint, stop). SIGTERM (what
//! `kill`, systemd and batch schedulers send) and SIGHUP are handled as Ctrl-C.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use clap::Args;

use crate::cli::CliError;
use crate::train::{Checkpoint, RunControl, TrainReport};

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Checkpoint file (model + optimiser state + step), written atomically; default:
    /// the model's path with `.ckpt.safetensors`. Always written on Ctrl-C.
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Also write the checkpoint every N epochs (0: only on Ctrl-C).
    #[arg(long, default_value_t = 0)]
    pub checkpoint_every: usize,
    /// Continue the run saved in this checkpoint (same flags; `--epochs` may grow).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Metrics log: one JSON object per epoch (epoch, step, train/validation loss, lr,
    /// samples/s, seconds), rewritten atomically after every epoch.
    #[arg(long)]
    pub log: Option<PathBuf>,
}

/// Set by the first Ctrl-C; the trainer checks it after every step.
static INTERRUPT: AtomicBool = AtomicBool::new(false);
static HANDLER: OnceLock<Result<(), String>> = OnceLock::new();

/// The first Ctrl-C asks the run to stop after its current step with a checkpoint;
/// a second one quits at once.
fn install_ctrl_c() -> Result<(), CliError> {
    HANDLER
        .get_or_init(|| {
            ctrlc::set_handler(|| {
                if INTERRUPT.swap(true, Ordering::SeqCst) {
                    eprintln!("\nsecond interrupt: quitting without a checkpoint");
                    std::process::exit(130);
                }
                eprintln!("\ninterrupted (Ctrl-C or SIGTERM): stopping after this step and saving a checkpoint (again to quit now)");
            })
            .map_err(|e| format!("cannot catch Ctrl-C: {e}"))
        })
        .clone()
        .map_err(Into::into)
}

/// The flag Ctrl-C sets, with the handler installed.
pub fn interrupt_flag() -> Result<&'static AtomicBool, CliError> {
    install_ctrl_c()?;
    Ok(&INTERRUPT)
}

impl RunArgs {
    pub fn checkpoint_path(&self, model_out: &Path) -> PathBuf {
        self.checkpoint
            .clone()
            .unwrap_or_else(|| model_out.with_extension("ckpt.safetensors"))
    }

    pub fn load_resume(&self) -> Result<Option<Checkpoint>, CliError> {
        Ok(match &self.resume {
            Some(p) => Some(Checkpoint::load(p)?),
            None => None,
        })
    }

    /// The trainer's controls, with Ctrl-C caught.
    pub fn control<'a>(
        &self,
        model_out: &Path,
        resume: Option<&'a Checkpoint>,
    ) -> Result<RunControl<'a>, CliError> {
        install_ctrl_c()?;
        Ok(RunControl {
            checkpoint: Some(self.checkpoint_path(model_out)),
            checkpoint_every: self.checkpoint_every,
            resume,
            metrics_log: self.log.clone(),
            interrupt: Some(&INTERRUPT),
            checkpoint_at_end: false,
        })
    }
}

/// The one line an interrupted run ends with (an error: the model was not saved).
pub fn interrupted_message(report: &TrainReport) -> String {
    let last = report.epochs.last().map_or(0, |e| e.epoch);
    match &report.checkpoint {
        Some((path, step)) => format!(
            "interrupted after step {step} (epoch {} done); checkpoint saved to {}: \
             run the same command with --resume {} to continue",
            last,
            path.display(),
            path.display()
        ),
        None => format!(
            "interrupted after step {} without a checkpoint",
            report.steps
        ),
    }
}
