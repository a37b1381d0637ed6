//! Reading the metrics log `aegpu train` writes: JSON lines, one object per epoch.
//!
//! ```text
//! {"epoch":1,"step":469,"train_loss":0.0612,"validation_loss":0.0418,"lr":0.001,"samples_per_s":91234.5,"seconds":0.66}
//! ```
//!
//! `epoch` (1-based) and `train_loss` are required; `validation_loss` may be null or
//! absent; unknown fields are ignored, so newer logs still read. A resumed run may
//! repeat an epoch it re-did: the last line for an epoch wins.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::PlotError;

/// One epoch's line of the log.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct EpochMetrics {
    pub epoch: u32,
    /// Optimiser steps taken so far, over the whole run.
    #[serde(default)]
    pub step: Option<u64>,
    pub train_loss: f64,
    #[serde(default)]
    pub validation_loss: Option<f64>,
    #[serde(default)]
    pub lr: Option<f64>,
    #[serde(default)]
    pub samples_per_s: Option<f64>,
    /// Wall-clock seconds the epoch took.
    #[serde(default)]
    pub seconds: Option<f64>,
}

/// A run's epochs, one entry per epoch number, in order.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsLog {
    /// Where the log came from (named in errors and legends).
    pub source: PathBuf,
    pub epochs: Vec<EpochMetrics>,
}

impl MetricsLog {
    /// Reads and parses the log at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<MetricsLog, PlotError> {
        let path = path.as_ref();
        // A FIFO or a device would block or never end: only regular files are read.
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            return Err(PlotError::Read {
                path: path.to_path_buf(),
                source: std::io::Error::other("not a regular file"),
            });
        }
        let text = std::fs::read_to_string(path).map_err(|source| PlotError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        MetricsLog::parse(&text, path)
    }

    /// Parses the text of a log; `source` is named in errors. Blank lines are skipped;
    /// any other line that is not an epoch's object is an error naming its number.
    pub fn parse(text: &str, source: impl AsRef<Path>) -> Result<MetricsLog, PlotError> {
        let source = source.as_ref().to_path_buf();
        let mut by_epoch = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let epoch: EpochMetrics =
                serde_json::from_str(line).map_err(|e| PlotError::LogLine {
                    path: source.clone(),
                    line: i + 1,
                    detail: describe_json_error(&e),
                })?;
            by_epoch.insert(epoch.epoch, epoch);
        }
        if by_epoch.is_empty() {
            return Err(PlotError::EmptyLog { path: source });
        }
        Ok(MetricsLog {
            source,
            epochs: by_epoch.into_values().collect(),
        })
    }

    /// True when at least one epoch has a validation loss.
    pub fn has_validation(&self) -> bool {
        self.epochs.iter().any(|e| e.validation_loss.is_some())
    }
}

/// serde_json's message without its "at line 1 column N" (every line is line 1 to it).
fn describe_json_error(e: &serde_json::Error) -> String {
    let message = e.to_string();
    let message = match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => &message,
    };
    let what = match e.classify() {
        serde_json::error::Category::Data => "not an epoch's metrics",
        _ => "not a JSON object",
    };
    format!("{what} ({message}, column {})", e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<MetricsLog, PlotError> {
        MetricsLog::parse(text, "run/metrics.jsonl")
    }

    #[test]
    fn reads_every_field_and_ignores_unknown_ones() {
        let log = parse(
            r#"{"epoch":1,"step":469,"train_loss":0.06,"validation_loss":0.04,"lr":0.001,"samples_per_s":9000.5,"seconds":0.7,"future_field":[1,2]}"#,
        )
        .unwrap();
        assert_eq!(
            log.epochs,
            vec![EpochMetrics {
                epoch: 1,
                step: Some(469),
                train_loss: 0.06,
                validation_loss: Some(0.04),
                lr: Some(0.001),
                samples_per_s: Some(9000.5),
                seconds: Some(0.7),
            }]
        );
    }

    #[test]
    fn the_last_line_of_a_repeated_epoch_wins_and_epochs_come_in_order() {
        let log = parse(
            "{\"epoch\":1,\"train_loss\":0.5}\n\
             {\"epoch\":2,\"train_loss\":0.4}\n\
             \n\
             {\"epoch\":2,\"train_loss\":0.3}\n\
             {\"epoch\":3,\"train_loss\":0.2}\n",
        )
        .unwrap();
        let losses: Vec<(u32, f64)> = log.epochs.iter().map(|e| (e.epoch, e.train_loss)).collect();
        assert_eq!(losses, vec![(1, 0.5), (2, 0.3), (3, 0.2)]);
    }

    #[test]
    fn validation_loss_may_be_null_or_absent() {
        let log = parse(
            "{\"epoch\":1,\"train_loss\":0.5,\"validation_loss\":null}\n\
             {\"epoch\":2,\"train_loss\":0.4}",
        )
        .unwrap();
        assert!(log.epochs.iter().all(|e| e.validation_loss.is_none()));
        assert!(!log.has_validation());
    }

    #[test]
    fn a_corrupt_line_is_an_error_naming_the_file_and_line() {
        let e = parse("{\"epoch\":1,\"train_loss\":0.5}\n{\"epoch\":2,\"train_lo")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("run/metrics.jsonl: line 2: not a JSON object"),
            "{e}"
        );
        let e = parse("{\"epoch\":1}").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("train_loss"), "{e}");
        let e = parse("{\"epoch\":-1,\"train_loss\":0.5}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn an_empty_log_is_an_error() {
        let e = parse("\n \n").unwrap_err().to_string();
        assert_eq!(
            e,
            "run/metrics.jsonl holds no epochs (an empty metrics log)"
        );
    }
}
