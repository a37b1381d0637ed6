//! Per-feature scaling, fitted on training data and recorded in the model file so the
//! same transform is applied to new data.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{check_finite, DataError, Dataset};
use crate::ops::Activation;

/// How to scale each feature before training.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scaling {
    /// Leave values as they are.
    #[default]
    None,
    /// Map each feature's training range `[min, max]` onto `[0, 1]`.
    MinMax,
    /// Subtract each feature's training mean and divide by its standard deviation.
    Standard,
}

impl FromStr for Scaling {
    type Err = DataError;

    /// Parses `none`, `minmax` or `standard` (any case).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "none" => Ok(Scaling::None),
            "minmax" => Ok(Scaling::MinMax),
            "standard" => Ok(Scaling::Standard),
            _ => Err(DataError::UnknownScaling {
                text: text.to_string(),
            }),
        }
    }
}

impl fmt::Display for Scaling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scaling::None => "none",
            Scaling::MinMax => "minmax",
            Scaling::Standard => "standard",
        })
    }
}

/// What `--scale` asks for: a scaling, or `auto`, which picks one from the training data
/// and the model's output activation (see [`ScalingChoice::resolve`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ScalingChoice {
    #[default]
    Auto,
    Fixed(Scaling),
}

impl FromStr for ScalingChoice {
    type Err = DataError;

    /// Parses `auto`, `none`, `minmax` or `standard` (any case).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.eq_ignore_ascii_case("auto") {
            return Ok(ScalingChoice::Auto);
        }
        text.parse().map(ScalingChoice::Fixed)
    }
}

impl ScalingChoice {
    /// The scaling to fit on `train` for a model whose output activation is `output`.
    ///
    /// `Auto` leaves data already in `[0, 1]` (pixels, MNIST, features scaled by the
    /// user) as it is. Other data (raw features, values in the hundreds) is scaled:
    /// standardised for a linear output, as pyod does by default, and mapped onto
    /// `[0, 1]` for any other output (sigmoid, tanh, relu, softplus), which can reach
    /// that range but not standardised values below 0 or far above 1. Unscaled, such data
    /// does not train: a sigmoid cannot output 300, and a linear output's squared errors
    /// in the thousands swamp the gradient.
    pub fn resolve(self, train: &Dataset, output: Activation) -> Scaling {
        match self {
            ScalingChoice::Fixed(scaling) => scaling,
            ScalingChoice::Auto if first_value_outside(train, 0.0, 1.0).is_none() => Scaling::None,
            ScalingChoice::Auto if output == Activation::Linear => Scaling::Standard,
            ScalingChoice::Auto => Scaling::MinMax,
        }
    }
}

/// The first value of `data` outside `[lo, hi]`, as (row, column, value).
pub fn first_value_outside(data: &Dataset, lo: f32, hi: f32) -> Option<(usize, usize, f32)> {
    let cols = data.cols.max(1);
    data.values
        .iter()
        .position(|v| !(lo..=hi).contains(v))
        .map(|i| (i / cols, i % cols, data.values[i]))
}

/// A fitted per-feature affine transform `x' = (x - offset) / scale`.
///
/// For [`Scaling::MinMax`] the offset is the feature's minimum and the scale its range;
/// for [`Scaling::Standard`] the mean and the (population) standard deviation. A
/// feature that is constant in the training data gets scale 1 and offset equal to its
/// value, so it maps to 0 instead of dividing by zero.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ScalerFields")]
pub struct Scaler {
    kind: Scaling,
    offset: Vec<f32>,
    scale: Vec<f32>,
}

impl Scaler {
    /// Fits a scaler of `kind` to the columns of `data`.
    pub fn fit(kind: Scaling, data: &Dataset) -> Scaler {
        let cols = data.cols;
        let mut offset = vec![0.0; cols];
        let mut scale = vec![1.0; cols];
        if kind != Scaling::None && cols > 0 {
            for col in 0..cols {
                let column = || data.values.iter().skip(col).step_by(cols).copied();
                let min = column().fold(f32::INFINITY, f32::min);
                let max = column().fold(f32::NEG_INFINITY, f32::max);
                if data.rows == 0 || min == max {
                    offset[col] = if data.rows == 0 { 0.0 } else { min };
                    continue;
                }
                match kind {
                    Scaling::MinMax => {
                        offset[col] = min;
                        scale[col] = max - min;
                    }
                    Scaling::Standard => {
                        // Two passes in f64: the mean, then the mean squared deviation.
                        let n = data.rows as f64;
                        let mean = column().map(f64::from).sum::<f64>() / n;
                        let variance =
                            column().map(|x| (f64::from(x) - mean).powi(2)).sum::<f64>() / n;
                        offset[col] = mean as f32;
                        // A spread too small for f32 would divide by zero.
                        scale[col] = (variance.sqrt() as f32).max(f32::MIN_POSITIVE);
                    }
                    Scaling::None => {}
                }
            }
        }
        Scaler {
            kind,
            offset,
            scale,
        }
    }

    /// The kind of scaling this scaler was fitted as.
    pub fn kind(&self) -> Scaling {
        self.kind
    }

    /// The number of features it was fitted on.
    pub fn width(&self) -> usize {
        self.offset.len()
    }

    /// True when applying it changes nothing.
    pub fn is_identity(&self) -> bool {
        self.offset.iter().all(|&o| o == 0.0) && self.scale.iter().all(|&s| s == 1.0)
    }

    /// Scales `data` in place. Fails when `data` has a different number of features
    /// from the data the scaler was fitted on, or when a scaled value overflows.
    /// Clears `byte_scaled` unless the scaler is the identity.
    pub fn apply(&self, data: &mut Dataset) -> Result<(), DataError> {
        if data.cols != self.width() {
            return Err(DataError::WidthMismatch {
                expected: self.width(),
                found: data.cols,
            });
        }
        if self.is_identity() {
            return Ok(());
        }
        for row in data.values.chunks_exact_mut(data.cols) {
            for ((x, offset), scale) in row.iter_mut().zip(&self.offset).zip(&self.scale) {
                *x = (*x - offset) / scale;
            }
        }
        data.byte_scaled = false;
        check_finite(None, data.cols, &data.values)
    }

    /// Undoes the scaling of one row in place (e.g. a reconstruction, to report it in
    /// the data's own units).
    ///
    /// # Panics
    /// If `row.len()` differs from [`Scaler::width`]; a model's output always has the
    /// width of the data the scaler was fitted on.
    pub fn invert_row(&self, row: &mut [f32]) {
        assert_eq!(
            row.len(),
            self.width(),
            "Scaler::invert_row: row width differs from the fitted width"
        );
        for ((x, offset), scale) in row.iter_mut().zip(&self.offset).zip(&self.scale) {
            *x = *x * scale + offset;
        }
    }
}

/// A scaler as read from a model file, before its fields are checked.
#[derive(Deserialize)]
struct ScalerFields {
    kind: Scaling,
    offset: Vec<f32>,
    scale: Vec<f32>,
}

impl TryFrom<ScalerFields> for Scaler {
    type Error = String;

    fn try_from(fields: ScalerFields) -> Result<Self, Self::Error> {
        if fields.offset.len() != fields.scale.len() {
            return Err(format!(
                "scaler has {} offsets but {} scales",
                fields.offset.len(),
                fields.scale.len()
            ));
        }
        if !fields.offset.iter().all(|o| o.is_finite())
            || !fields.scale.iter().all(|&s| s.is_finite() && s > 0.0)
        {
            return Err("scaler offsets must be finite and scales finite and positive".to_string());
        }
        Ok(Scaler {
            kind: fields.kind,
            offset: fields.offset,
            scale: fields.scale,
        })
    }
}
