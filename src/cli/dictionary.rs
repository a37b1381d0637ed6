//! `aegpu dictionary`: a sparse-coding dictionary learned from the rows of some data
//! (online dictionary learning, Mairal et al. 2009: codes by batched FISTA on the
//! backend, then a block-coordinate sweep over unit-norm atoms), optionally with a
//! predictive sparse decomposition encoder (`--psd γ`, Kavukcuoglu et al. 2008).
//! The rows are used as given: remove each patch's mean first where that is wanted.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

use crate::cli::{check_outputs, BackendArgs, CliError, DataArgs};
use crate::dictionary::{CodingSettings, Dictionary, PsdSettings, SparseCoder};

#[derive(Args, Debug)]
pub struct DictionaryArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Atoms in the dictionary (K); at most the number of non-constant rows.
    #[arg(long, default_value_t = 256, value_parser = crate::ranges::count)]
    atoms: usize,
    /// λ ≥ 0, the weight of ‖h‖₁ in ½‖x − hD‖² + λ‖h‖₁ (scikit-learn's `alpha`).
    #[arg(long, default_value_t = 0.1, value_parser = crate::ranges::non_negative)]
    lambda: f32,
    /// FISTA iterations per minibatch.
    #[arg(long, default_value_t = 50, value_parser = crate::ranges::count)]
    fista_iterations: usize,
    /// Rows per minibatch.
    #[arg(long, default_value_t = 256, value_parser = crate::ranges::count)]
    batch: usize,
    /// Passes over the rows.
    #[arg(long, default_value_t = 2, value_parser = crate::ranges::count)]
    epochs: usize,
    /// Train a PSD encoder beside the dictionary, with γ (≥ 0) weighting
    /// (γ/2)‖h − f(x)‖² in the codes' objective.
    #[arg(long, value_name = "GAMMA", value_parser = crate::ranges::non_negative)]
    psd: Option<f32>,
    /// Adam's learning rate for the PSD encoder.
    #[arg(long, default_value_t = 3e-4, value_parser = crate::ranges::positive)]
    encoder_lr: f32,
    /// Seeds the first atoms, the shuffling and the restarts of unused atoms.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to save the dictionary (and encoder): a `.safetensors` file.
    #[arg(long)]
    out: PathBuf,
    /// Print one JSON object with the figures on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: BackendArgs,
}

pub fn run(a: DictionaryArgs) -> Result<(), CliError> {
    check_outputs(
        &[("--out", a.out.as_path())],
        &[("--data", std::path::Path::new(&a.data.data))],
    )?;
    let data = a.data.load()?;
    let width = data.cols;
    let settings = CodingSettings {
        lambda: a.lambda,
        iterations: a.fista_iterations,
        psd: a.psd.map(|gamma| PsdSettings {
            gamma,
            learning_rate: a.encoder_lr,
        }),
        seed: a.seed,
    };
    settings.validate()?;
    let dictionary = Dictionary::from_data(&data.values, width, a.atoms, a.seed)?;
    let selected = a.backend.open()?;
    let mut coder = SparseCoder::new(selected.backend, dictionary, settings)?;
    let mut order: Vec<usize> = (0..data.rows).collect();
    let mut rng = StdRng::seed_from_u64(a.seed.wrapping_add(1));
    let mut epochs = vec![];
    let started = Instant::now();
    let mut batch = Vec::with_capacity(a.batch.min(data.rows) * width);
    for epoch in 1..=a.epochs {
        order.shuffle(&mut rng);
        let (mut objective, mut prediction, mut restarted) = (0.0, 0.0, 0);
        for rows in order.chunks(a.batch) {
            batch.clear();
            for &r in rows {
                batch.extend_from_slice(data.row(r));
            }
            let report = coder.learn(&batch)?;
            // The batch objectives weighted by their rows: the epoch's mean per row.
            objective += report.batch_objective * rows.len() as f64;
            prediction += f64::from(report.prediction_loss.unwrap_or(0.0)) * rows.len() as f64;
            restarted += report.restarted;
        }
        let n = data.rows as f64;
        let line = EpochLine {
            epoch,
            objective: objective / n,
            encoder_mse: a.psd.map(|_| prediction / n),
            restarted,
            seconds: started.elapsed().as_secs_f64(),
        };
        if !a.json {
            eprintln!("{line}");
        }
        epochs.push(line);
    }
    coder.save(&a.out)?;
    let last = epochs.last().ok_or("no epoch ran")?;
    if a.json {
        let out = serde_json::json!({
            "rows": data.rows,
            "width": width,
            "atoms": a.atoms,
            "lambda": a.lambda,
            "fista_iterations": a.fista_iterations,
            "psd_gamma": a.psd,
            "batch_objective": epochs.iter().map(|e| e.objective).collect::<Vec<_>>(),
            "encoder_mse": epochs.iter().map(|e| e.encoder_mse).collect::<Vec<_>>(),
            "seconds": last.seconds,
            "out": a.out.display().to_string(),
        });
        println!("{out}");
    } else {
        println!(
            "learned {} atoms of {width} on {} rows in {:.1}s: mean batch objective {:.6} \
             (½‖x − hD‖² + {}‖h‖₁); saved {}",
            a.atoms,
            data.rows,
            last.seconds,
            last.objective,
            a.lambda,
            a.out.display()
        );
    }
    Ok(())
}

/// One epoch's figures.
struct EpochLine {
    epoch: usize,
    objective: f64,
    encoder_mse: Option<f64>,
    restarted: usize,
    seconds: f64,
}

impl std::fmt::Display for EpochLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "epoch {}: mean batch objective {:.6}",
            self.epoch, self.objective
        )?;
        if let Some(mse) = self.encoder_mse {
            write!(f, ", encoder MSE {mse:.3e}")?;
        }
        write!(
            f,
            ", {} unused atoms restarted ({:.1}s)",
            self.restarted, self.seconds
        )
    }
}
