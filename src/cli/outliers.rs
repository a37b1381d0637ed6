//! `aegpu outliers`: score every row by its reconstruction error, flag the rows above
//! a threshold, and with labels rank the scores (ROC AUC, average precision).

use std::path::PathBuf;

use clap::Args;

use crate::cli::infer::{load, ModelOnData};
use crate::cli::{load_data, CliError};
use crate::data::save_csv;
use crate::outliers::{assess, outlier_labels, reconstruction_errors, Detection, Threshold};

#[derive(Args, Debug)]
pub struct OutliersArgs {
    #[command(flatten)]
    input: ModelOnData,
    /// Outlier labels (1 = outlier, 0 = inlier) in a file of their own: a one-column
    /// CSV or .npy, one row per data row (instead of `--label-column`).
    #[arg(long)]
    labels: Option<String>,
    /// Write one line per row: row, score, flagged (0/1), and the label when known.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Flag the rows scoring above this quantile of the scores, in (0, 1).
    #[arg(long)]
    quantile: Option<f64>,
    /// Flag this fraction of the rows, in (0, 1) (default 0.1).
    #[arg(long)]
    contamination: Option<f64>,
    /// Print one JSON object with the results on stdout.
    #[arg(long)]
    json: bool,
}

impl OutliersArgs {
    fn threshold(&self) -> Result<Threshold, CliError> {
        match (self.quantile, self.contamination) {
            (Some(_), Some(_)) => Err("--quantile and --contamination both set the threshold; \
                                      give one of them"
                .into()),
            (Some(q), None) => Ok(Threshold::Quantile(q)),
            (None, Some(c)) => Ok(Threshold::Contamination(c)),
            (None, None) => Ok(Threshold::default()),
        }
    }

    /// The labels of the data rows, from `--labels` or `--label-column`.
    fn labels(
        &self,
        rows: usize,
        from_column: Option<Vec<u32>>,
    ) -> Result<Option<Vec<u32>>, CliError> {
        let Some(spec) = &self.labels else {
            return Ok(from_column);
        };
        if self.input.data.label_column.is_some() {
            return Err(
                "--labels and --label-column both give the labels; give one of them".into(),
            );
        }
        let file = load_data(spec, &None)?;
        if file.cols != 1 {
            return Err(
                format!("--labels {spec}: expected one column, found {}", file.cols).into(),
            );
        }
        if file.rows != rows {
            return Err(format!(
                "--labels {spec} has {} rows, the data {} has {rows}",
                file.rows, self.input.data.data
            )
            .into());
        }
        file.values
            .iter()
            .enumerate()
            .map(|(row, &v)| match v {
                0.0 => Ok(0),
                1.0 => Ok(1),
                _ => Err(format!(
                    "--labels {spec}: value {v} in row {row}; outlier labels must be 0 or 1"
                )
                .into()),
            })
            .collect::<Result<Vec<u32>, CliError>>()
            .map(Some)
    }
}

pub fn run(a: OutliersArgs) -> Result<(), CliError> {
    if let Some(out) = &a.out {
        let mut inputs = a.input.inputs();
        inputs.extend(
            a.labels
                .as_deref()
                .map(|l| ("--labels", std::path::Path::new(l))),
        );
        crate::cli::check_outputs(&[("--out", out.as_path())], &inputs)?;
    }
    let rule = a.threshold()?;
    rule.quantile()?;
    let (model, _, data) = load(&a.input.model, &a.input.data)?;
    let labels = a.labels(data.rows, data.labels.clone())?;
    let truth = labels.as_deref().map(outlier_labels).transpose()?;

    let mut selected = a.input.backend.open()?;
    let backend = selected.backend.as_mut();
    backend.upload_store(model.store())?;
    let scores = reconstruction_errors(model.as_ref(), backend, &data)?;
    let detection = Detection::new(&scores, rule)?;
    let assessment = truth
        .as_ref()
        .map(|t| assess(&scores, &detection, t))
        .transpose()?;

    if let Some(out) = &a.out {
        let mut header = vec!["row".to_string(), "score".into(), "flagged".into()];
        if labels.is_some() {
            header.push("label".into());
        }
        let mut values = Vec::with_capacity(data.rows * header.len());
        for (i, (&s, &f)) in scores.iter().zip(&detection.flags).enumerate() {
            values.extend([i as f32, s, f as u8 as f32]);
            if let Some(l) = &labels {
                values.push(l[i] as f32);
            }
        }
        save_csv(out, Some(&header), data.rows, header.len(), &values)?;
        eprintln!("wrote {} scores to {}", data.rows, out.display());
    }

    let q = rule.quantile()?;
    if a.json {
        let mut out = serde_json::json!({
            "rows": data.rows,
            "quantile": q,
            "threshold": detection.threshold,
            "flagged": detection.flagged(),
            "mean_score": scores.iter().map(|&s| s as f64).sum::<f64>() / data.rows as f64,
            "backend": backend.describe(),
        });
        if let Some(r) = &assessment {
            out["roc_auc"] = r.roc_auc.into();
            out["average_precision"] = r.average_precision.into();
            out["outliers"] = r.outliers.into();
            out["precision"] = r.precision.into();
            out["recall"] = r.recall.into();
        }
        println!("{out}");
    } else {
        println!(
            "{} rows: threshold {:.6} (quantile {q}), {} flagged",
            data.rows,
            detection.threshold,
            detection.flagged()
        );
        if let Some(r) = &assessment {
            println!(
                "{} labelled outliers: ROC AUC {:.4}, average precision {:.4}; flagged rows: \
                 precision {:.4}, recall {:.4}",
                r.outliers, r.roc_auc, r.average_precision, r.precision, r.recall
            );
        }
    }
    Ok(())
}
