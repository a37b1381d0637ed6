//! `aegpu eval`, `encode` and `reconstruct`: a saved model applied to data.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::cli::{load_data, BackendArgs, CliError, DataArgs};
use crate::data::{save_csv, save_npy, Dataset, Scaler};
use crate::models::AnyAutoencoder;
use crate::train::{code_report, evaluate, run_rows, RowOutput};

/// A saved model applied to some data on some backend.
#[derive(Args, Debug)]
pub struct ModelOnData {
    /// A model saved by `aegpu train` or `aegpu pretrain` (dense or conv).
    #[arg(long)]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub backend: BackendArgs,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    input: ModelOnData,
    /// Print one JSON object with the results on stdout.
    #[arg(long)]
    json: bool,
    /// Random directions of the finite-difference Jacobian estimate (deep encoders).
    #[arg(long, default_value_t = 16)]
    directions: usize,
}

#[derive(Args, Debug)]
pub struct RowsArgs {
    #[command(flatten)]
    input: ModelOnData,
    /// Output file: `.npy` or `.csv`.
    #[arg(long)]
    out: PathBuf,
}

/// Loads the model and the data, applies the scaling recorded at training time, and
/// checks that the widths agree.
pub(super) fn load(
    model_path: &Path,
    data: &DataArgs,
) -> Result<(AnyAutoencoder, Option<Scaler>, Dataset), CliError> {
    let (model, scaler) = load_model(model_path)?;
    let d = load_scaled(
        &model,
        scaler.as_ref(),
        model_path,
        &data.data,
        &data.label_column,
    )?;
    Ok((model, scaler, d))
}

/// A saved model and the scaler its training recorded, if any.
pub(super) fn load_model(model_path: &Path) -> Result<(AnyAutoencoder, Option<Scaler>), CliError> {
    let (model, meta) = AnyAutoencoder::load(model_path)?;
    let scaler: Option<Scaler> = match meta.get("aegpu.scaler") {
        Some(s) => Some(
            serde_json::from_str(s)
                .map_err(|e| format!("{}: unreadable scaler: {e}", model_path.display()))?,
        ),
        None => None,
    };
    Ok((model, scaler))
}

/// The data named by `spec`, checked against the model's input width and scaled as
/// its training data was.
pub(super) fn load_scaled(
    model: &AnyAutoencoder,
    scaler: Option<&Scaler>,
    model_path: &Path,
    spec: &str,
    label_column: &Option<String>,
) -> Result<Dataset, CliError> {
    let mut d = load_data(spec, label_column)?;
    let width = model.input_width();
    if d.cols != width {
        return Err(format!(
            "the model {} expects {width} columns, the data {spec} has {}",
            model_path.display(),
            d.cols
        )
        .into());
    }
    if let Some(s) = scaler {
        s.apply(&mut d)?;
    }
    Ok(d)
}

pub fn eval(a: EvalArgs) -> Result<(), CliError> {
    let (model, _, data) = load(&a.input.model, &a.input.data)?;
    let mut selected = a.input.backend.open()?;
    let backend = selected.backend.as_mut();
    backend.upload_store(model.store())?;
    let r = evaluate(model.as_dyn(), backend, &data)?;
    // The code statistics (mean activation, encoder Jacobian) are for dense models.
    let codes = match &model {
        AnyAutoencoder::Dense(m) => Some(code_report(m, backend, &data, a.directions, 0)?),
        AnyAutoencoder::Conv(_) => None,
    };
    if a.json {
        let mut out = serde_json::json!({
            "test_mse": r.mse,
            "test_bce": r.bce,
            "rows": r.rows,
            "kind": model.kind(),
            "backend": backend.describe(),
        });
        if let Some(codes) = &codes {
            out["mean_code_activation"] = codes.mean_code_activation.into();
            out["jacobian_fro2"] = codes.jacobian_fro2.into();
            out["jacobian_method"] = codes.jacobian_method.into();
        }
        println!("{out}");
    } else {
        let mut line = format!(
            "{} rows: MSE {:.5}, BCE {:.5} per element",
            r.rows, r.mse, r.bce
        );
        if let Some(codes) = &codes {
            line += &format!(
                "; mean code activation {:.4}; encoder Jacobian ‖J‖²_F {:.4} ({})",
                codes.mean_code_activation, codes.jacobian_fro2, codes.jacobian_method
            );
        }
        println!("{line}");
    }
    Ok(())
}

pub fn rows(a: RowsArgs, what: RowOutput) -> Result<(), CliError> {
    let (model, scaler, data) = load(&a.input.model, &a.input.data)?;
    let mut selected = a.input.backend.open()?;
    let backend = selected.backend.as_mut();
    backend.upload_store(model.store())?;
    let mut values = run_rows(model.as_dyn(), backend, &data, what)?;
    let cols = match what {
        RowOutput::Code => model.code_width(),
        RowOutput::Reconstruction => {
            // Reconstructions go back to the data's own units.
            if let Some(s) = &scaler {
                for row in values.chunks_mut(data.cols) {
                    s.invert_row(row);
                }
            }
            data.cols
        }
    };
    let ext = a
        .out
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    match ext.as_str() {
        "npy" => save_npy(&a.out, data.rows, cols, &values)?,
        "csv" => save_csv(&a.out, None, data.rows, cols, &values)?,
        _ => return Err(format!("--out {}: use a .npy or .csv file name", a.out.display()).into()),
    }
    eprintln!("wrote {} rows × {cols} to {}", data.rows, a.out.display());
    Ok(())
}
