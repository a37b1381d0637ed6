//! Outlier detection by reconstruction error: an autoencoder trained on mostly normal
//! data reconstructs normal rows well and unusual rows badly, so a row's score is its
//! mean squared reconstruction error,
//!
//! ```text
//! s(x) = (1/d) Σ_j (x̂_j − x_j)²          (in the model's scaled space)
//! ```
//!
//! and a row is flagged when its score lies above a threshold: the q-quantile of the
//! scores, or the (1 − c)-quantile for a contamination rate c (PyOD's convention:
//! flagged ⇔ score > threshold). With ground-truth labels the scores are ranked by ROC
//! AUC and average precision ([`crate::metrics`]). [`baselines`] scores rows by PCA
//! reconstruction error and by k-NN distance, for comparison.

pub mod baselines;

use thiserror::Error;

use crate::backend::Backend;
use crate::data::Dataset;
use crate::metrics::{average_precision, roc_auc, MetricError};
use crate::models::Autoencoder;
use crate::train::{run_rows, RowOutput, TrainError};

#[derive(Debug, Error, PartialEq)]
pub enum OutlierError {
    #[error("quantile {0} is outside (0, 1)")]
    Quantile(f64),
    #[error("contamination {0} is outside (0, 1): it is the fraction of rows flagged")]
    Contamination(f64),
    #[error("no scores to threshold")]
    NoScores,
    #[error("label {value} in row {row}: outlier labels must be 0 (inlier) or 1 (outlier)")]
    NotBinary { row: usize, value: u32 },
    #[error(transparent)]
    Metric(#[from] MetricError),
}

/// Where to put the threshold between inliers and outliers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Threshold {
    /// The q-quantile of the scores: about a fraction 1 − q of the rows is flagged.
    Quantile(f64),
    /// The fraction of rows expected to be outliers: the (1 − c)-quantile.
    Contamination(f64),
}

impl Default for Threshold {
    /// Contamination 0.1, PyOD's default.
    fn default() -> Self {
        Threshold::Contamination(0.1)
    }
}

impl Threshold {
    /// The quantile this rule puts the threshold at, checked to lie in (0, 1).
    pub fn quantile(self) -> Result<f64, OutlierError> {
        let open_unit = |v: f64| v > 0.0 && v < 1.0;
        match self {
            Threshold::Quantile(q) if open_unit(q) => Ok(q),
            Threshold::Quantile(q) => Err(OutlierError::Quantile(q)),
            Threshold::Contamination(c) if open_unit(c) => Ok(1.0 - c),
            Threshold::Contamination(c) => Err(OutlierError::Contamination(c)),
        }
    }
}

/// The q-quantile of `values` by linear interpolation between the two nearest order
/// statistics, at position q·(n − 1) (NumPy's default `percentile` method).
pub fn quantile(values: &[f32], q: f64) -> f64 {
    let mut sorted: Vec<f64> = values.iter().map(|&v| v as f64).collect();
    sorted.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (sorted.len().saturating_sub(1)) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Mean squared reconstruction error of every row of `data` (already scaled as the
/// model was trained); the model's parameters must be on `backend`.
pub fn reconstruction_errors(
    model: &dyn Autoencoder,
    backend: &mut dyn Backend,
    data: &Dataset,
) -> Result<Vec<f32>, TrainError> {
    let recon = run_rows(model, backend, data, RowOutput::Reconstruction)?;
    Ok(row_mse(&data.values, &recon, data.cols))
}

/// (1/d) Σ_j (a_j − b_j)² of each row of `d` values.
pub fn row_mse(a: &[f32], b: &[f32], d: usize) -> Vec<f32> {
    a.chunks(d)
        .zip(b.chunks(d))
        .map(|(a, b)| {
            let sum: f64 = a
                .iter()
                .zip(b)
                .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
                .sum();
            (sum / d as f64) as f32
        })
        .collect()
}

/// Scores thresholded: which rows are flagged as outliers.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    pub threshold: f64,
    /// One per row: score > threshold.
    pub flags: Vec<bool>,
}

impl Detection {
    pub fn new(scores: &[f32], rule: Threshold) -> Result<Detection, OutlierError> {
        let q = rule.quantile()?;
        if scores.is_empty() {
            return Err(OutlierError::NoScores);
        }
        let threshold = quantile(scores, q);
        Ok(Detection {
            threshold,
            flags: scores.iter().map(|&s| s as f64 > threshold).collect(),
        })
    }

    pub fn flagged(&self) -> usize {
        self.flags.iter().filter(|&&f| f).count()
    }
}

/// Outlier labels as booleans (1 = outlier), refusing anything but 0 and 1.
pub fn outlier_labels(labels: &[u32]) -> Result<Vec<bool>, OutlierError> {
    labels
        .iter()
        .enumerate()
        .map(|(row, &value)| match value {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(OutlierError::NotBinary { row, value }),
        })
        .collect()
}

/// How well scores and flags match ground truth.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Assessment {
    pub roc_auc: f64,
    pub average_precision: f64,
    /// Rows labelled outliers.
    pub outliers: usize,
    /// Fraction of the flagged rows that are outliers (0 when none is flagged).
    pub precision: f64,
    /// Fraction of the outliers that are flagged.
    pub recall: f64,
}

/// Ranks `scores` against `labels` (true = outlier) and checks `detection`'s flags.
pub fn assess(
    scores: &[f32],
    detection: &Detection,
    labels: &[bool],
) -> Result<Assessment, OutlierError> {
    let scores: Vec<f64> = scores.iter().map(|&s| s as f64).collect();
    let roc_auc = roc_auc(&scores, labels)?;
    let average_precision = average_precision(&scores, labels)?;
    let outliers = labels.iter().filter(|&&l| l).count();
    let hits = detection
        .flags
        .iter()
        .zip(labels)
        .filter(|&(&f, &l)| f && l)
        .count();
    let flagged = detection.flagged();
    Ok(Assessment {
        roc_auc,
        average_precision,
        outliers,
        precision: if flagged == 0 {
            0.0
        } else {
            hits as f64 / flagged as f64
        },
        recall: hits as f64 / outliers.max(1) as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_like_numpy() {
        // numpy.quantile([3, 1, 4, 1, 5], q) for q = 0.5, 0.9, 0.1: 3.0, 4.6, 1.0.
        let v = [3.0, 1.0, 4.0, 1.0, 5.0];
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert!((quantile(&v, 0.9) - 4.6).abs() < 1e-12);
        assert_eq!(quantile(&v, 0.1), 1.0);
        assert_eq!(quantile(&[7.0], 0.3), 7.0);
    }

    #[test]
    fn contamination_flags_that_fraction_of_distinct_scores() {
        let scores: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let d = Detection::new(&scores, Threshold::Contamination(0.1)).unwrap();
        // 0.9-quantile of 0..=99 is 89.1: rows 90..=99 are flagged.
        assert!((d.threshold - 89.1).abs() < 1e-9);
        assert_eq!(d.flagged(), 10);
        assert!(d.flags[90] && !d.flags[89]);
        let q = Detection::new(&scores, Threshold::Quantile(0.9)).unwrap();
        assert_eq!(q, d);
    }

    #[test]
    fn equal_scores_are_never_flagged_above_themselves() {
        let d = Detection::new(&[2.0; 10], Threshold::Quantile(0.5)).unwrap();
        assert_eq!(d.flagged(), 0);
    }

    #[test]
    fn thresholds_outside_the_unit_interval_are_refused() {
        for q in [0.0, 1.0, -0.5, 2.0, f64::NAN] {
            assert!(
                Detection::new(&[1.0], Threshold::Quantile(q)).is_err(),
                "{q}"
            );
        }
        assert_eq!(
            Threshold::Contamination(1.5).quantile(),
            Err(OutlierError::Contamination(1.5))
        );
        assert_eq!(
            Detection::new(&[], Threshold::Quantile(0.5)),
            Err(OutlierError::NoScores)
        );
    }

    #[test]
    fn row_scores_are_mean_squared_errors() {
        let x = [0.0, 0.0, 1.0, 1.0];
        let y = [1.0, 1.0, 1.0, 3.0];
        assert_eq!(row_mse(&x, &y, 2), vec![1.0, 2.0]);
    }

    #[test]
    fn labels_must_be_zero_or_one() {
        assert_eq!(outlier_labels(&[0, 1, 1]), Ok(vec![false, true, true]));
        assert_eq!(
            outlier_labels(&[0, 2]),
            Err(OutlierError::NotBinary { row: 1, value: 2 })
        );
    }

    #[test]
    fn assessment_counts_precision_and_recall_of_the_flagged_rows() {
        let scores = [0.1, 0.2, 0.3, 0.9, 0.8];
        let labels = [false, false, true, true, false];
        let d = Detection::new(&scores, Threshold::Quantile(0.5)).unwrap();
        // Threshold 0.3: rows 3 and 4 flagged, one of them an outlier, of two outliers.
        let a = assess(&scores, &d, &labels).unwrap();
        assert_eq!((a.precision, a.recall, a.outliers), (0.5, 0.5, 2));
        // 5 of the 6 (outlier, inlier) pairs are ranked right.
        assert!((a.roc_auc - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(
            assess(&scores, &d, &[false; 5]),
            Err(OutlierError::Metric(MetricError::OneClass("positive")))
        );
    }
}
