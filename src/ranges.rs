//! The ranges of numeric settings, checked once where they enter: the command line
//! (each flag's value parser is one of the functions here, and a TOML config becomes
//! flags), and the library's configs ([`crate::train::TrainConfig::check_ranges`] and
//! its siblings, called by `fit`, `fit_classifier` and `fit_lbfgs`). One rule, one
//! message, whichever door a value came in by:
//!
//! ```text
//! --lr -1          → lr must be a finite number > 0, got -1
//! --momentum 1     → momentum must be in [0, 1), got 1
//! --validation nan → validation must be in [0, 1), got NaN
//! --labels 0       → labels must be a whole number ≥ 1, got 0
//! ```

use crate::ops::random::Noise;
use crate::ops::Optimizer;
use crate::train::{ClassifyConfig, LbfgsConfig, Regularization, TrainConfig, TrainError};

/// Where a real number must lie. NaN lies nowhere, infinities only where a bound is
/// open-ended and no update could use them, which is nowhere here: every range is finite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    /// `> 0` (learning rates, epsilons, norms).
    Positive,
    /// `≥ 0` (weight decay, penalty weights, noise levels).
    NonNegative,
    /// `[0, 1)` (momentum, probabilities of dropping, held-out fractions).
    Fraction,
    /// `(0, 1)` (a target mean activation).
    OpenUnit,
}

impl Range {
    pub fn contains(self, v: f64) -> bool {
        v.is_finite()
            && match self {
                Range::Positive => v > 0.0,
                Range::NonNegative => v >= 0.0,
                Range::Fraction => (0.0..1.0).contains(&v),
                Range::OpenUnit => v > 0.0 && v < 1.0,
            }
    }

    fn rule(self) -> &'static str {
        match self {
            Range::Positive => "a finite number > 0",
            Range::NonNegative => "a finite number ≥ 0",
            Range::Fraction => "in [0, 1)",
            Range::OpenUnit => "in (0, 1)",
        }
    }
}

/// `name must be …, got v` unless `v` lies in `range`.
pub fn check(
    name: &str,
    v: impl Into<f64> + std::fmt::Display + Copy,
    range: Range,
) -> Result<(), String> {
    let x: f64 = v.into();
    if range.contains(x) {
        return Ok(());
    }
    let shown = if x.is_nan() {
        "NaN".to_string()
    } else {
        v.to_string()
    };
    Err(format!("{name} must be {}, got {shown}", range.rule()))
}

/// `name must be a whole number ≥ 1, got 0` for a count of zero.
pub fn check_count(name: &str, n: usize) -> Result<(), String> {
    if n >= 1 {
        Ok(())
    } else {
        Err(format!("{name} must be a whole number ≥ 1, got {n}"))
    }
}

// Value parsers for clap: the text parsed, then held to its range.

fn parse_f32(s: &str, range: Range) -> Result<f32, String> {
    let v: f32 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{}` is not a number", crate::io::limits::shorten(s, 40)))?;
    check("the value", v, range).map_err(|e| e.replacen("the value must be", "must be", 1))?;
    Ok(v)
}

/// A number `> 0` (`--lr`, `--clip-norm`).
pub fn positive(s: &str) -> Result<f32, String> {
    parse_f32(s, Range::Positive)
}

/// A number `≥ 0` (`--weight-decay`, penalty weights).
pub fn non_negative(s: &str) -> Result<f32, String> {
    parse_f32(s, Range::NonNegative)
}

/// A number in `[0, 1)` (`--momentum`, `--dropout`, `--validation`).
pub fn fraction(s: &str) -> Result<f32, String> {
    parse_f32(s, Range::Fraction)
}

/// A whole number `≥ 1` (`--epochs`, `--batch`, `--labels`).
pub fn count(s: &str) -> Result<usize, String> {
    let n: usize = s.trim().parse().map_err(|_| {
        format!(
            "`{}` is not a whole number ≥ 1",
            crate::io::limits::shorten(s, 40)
        )
    })?;
    check_count("the value", n).map_err(|e| e.replacen("the value must be", "must be", 1))?;
    Ok(n)
}

/// An optimiser's own hyper-parameters.
pub fn check_optimizer(o: &Optimizer) -> Result<(), String> {
    match *o {
        Optimizer::Sgd {
            momentum,
            weight_decay,
            ..
        } => {
            check("momentum", momentum, Range::Fraction)?;
            check("weight decay", weight_decay, Range::NonNegative)
        }
        Optimizer::Adam {
            beta1,
            beta2,
            eps,
            weight_decay,
            ..
        } => {
            check("beta1", beta1, Range::Fraction)?;
            check("beta2", beta2, Range::Fraction)?;
            check("eps", eps, Range::Positive)?;
            check("weight decay", weight_decay, Range::NonNegative)
        }
        Optimizer::AdaGrad { eps, weight_decay } => {
            check("eps", eps, Range::Positive)?;
            check("weight decay", weight_decay, Range::NonNegative)
        }
        Optimizer::RmsProp {
            alpha,
            eps,
            momentum,
            weight_decay,
        } => {
            check("alpha", alpha, Range::Fraction)?;
            check("eps", eps, Range::Positive)?;
            check("momentum", momentum, Range::Fraction)?;
            check("weight decay", weight_decay, Range::NonNegative)
        }
    }
}

/// Noise levels, penalty weights and the contractive estimator's settings.
pub fn check_regularization(r: &Regularization) -> Result<(), String> {
    check("dropout", r.dropout, Range::Fraction)?;
    check("sparse L1 weight", r.sparse_l1, Range::NonNegative)?;
    check("contractive weight", r.contractive, Range::NonNegative)?;
    check_count("contractive directions", r.contractive_directions)?;
    check("contractive step", r.contractive_step, Range::Positive)?;
    if let Some(kl) = &r.sparse_kl {
        check("sparse KL target rho", kl.rho, Range::OpenUnit)?;
        check("sparse KL weight beta", kl.beta, Range::NonNegative)?;
    }
    match r.noise {
        None | Some(Noise::Binarize) => Ok(()),
        Some(Noise::Gaussian { sigma }) => check("gaussian noise sigma", sigma, Range::NonNegative),
        Some(Noise::Mask { p }) | Some(Noise::Dropout { p }) => {
            check("noise probability", p, Range::Fraction)
        }
        Some(Noise::SaltPepper { p, low, high }) => {
            check("noise probability", p, Range::Fraction)?;
            if !(low.is_finite() && high.is_finite()) {
                return Err(format!(
                    "salt-and-pepper values must be finite, got {low} and {high}"
                ));
            }
            Ok(())
        }
    }
}

fn config(detail: String) -> TrainError {
    TrainError::Config(detail)
}

impl TrainConfig {
    /// Every numeric setting within its range (see the module's table).
    pub fn check_ranges(&self) -> Result<(), TrainError> {
        check_count("epochs", self.epochs).map_err(config)?;
        check_count("batch", self.batch).map_err(config)?;
        check("lr", self.lr, Range::Positive).map_err(config)?;
        if let Some(c) = self.clip_norm {
            check("clip norm", c, Range::Positive).map_err(config)?;
        }
        if let Some(p) = self.early_stop {
            check_count("early stop patience", p).map_err(config)?;
        }
        check_optimizer(&self.optimizer).map_err(config)?;
        check_regularization(&self.regularization).map_err(config)
    }
}

impl ClassifyConfig {
    pub fn check_ranges(&self) -> Result<(), TrainError> {
        check_count("epochs", self.epochs).map_err(config)?;
        check_count("batch", self.batch).map_err(config)?;
        check("lr", self.lr, Range::Positive).map_err(config)?;
        if let Some(c) = self.clip_norm {
            check("clip norm", c, Range::Positive).map_err(config)?;
        }
        check_optimizer(&self.optimizer).map_err(config)
    }
}

impl LbfgsConfig {
    pub fn check_ranges(&self) -> Result<(), TrainError> {
        check_count("history", self.history).map_err(config)?;
        if let Some(m) = self.max_evaluations {
            check_count("evaluations", m).map_err(config)?;
        }
        check(
            "gradient tolerance",
            self.tolerance_grad,
            Range::NonNegative,
        )
        .map_err(config)?;
        check(
            "change tolerance",
            self.tolerance_change,
            Range::NonNegative,
        )
        .map_err(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_range_refuses_its_edges_and_nan() {
        let cases: [(Range, &[f64], &[f64]); 4] = [
            (
                Range::Positive,
                &[1e-9, 1e6],
                &[0.0, -1.0, f64::NAN, f64::INFINITY],
            ),
            (
                Range::NonNegative,
                &[0.0, 3.0],
                &[-1e-9, f64::NAN, f64::INFINITY],
            ),
            (Range::Fraction, &[0.0, 0.999], &[1.0, -0.1, f64::NAN]),
            (Range::OpenUnit, &[0.05], &[0.0, 1.0, f64::NAN]),
        ];
        for (range, inside, outside) in cases {
            for &v in inside {
                assert!(range.contains(v), "{range:?} {v}");
            }
            for &v in outside {
                assert!(!range.contains(v), "{range:?} {v}");
            }
        }
    }

    #[test]
    fn parsers_say_the_rule() {
        assert_eq!(
            positive("-1").unwrap_err(),
            "must be a finite number > 0, got -1"
        );
        assert_eq!(fraction("nan").unwrap_err(), "must be in [0, 1), got NaN");
        assert_eq!(count("0").unwrap_err(), "must be a whole number ≥ 1, got 0");
        assert_eq!(positive("1e-3").unwrap(), 1e-3);
        assert!(count("-3").unwrap_err().contains("not a whole number"));
    }

    #[test]
    fn library_configs_are_checked_like_flags() {
        let mut cfg = TrainConfig {
            lr: -1.0,
            ..TrainConfig::default()
        };
        assert!(cfg
            .check_ranges()
            .unwrap_err()
            .to_string()
            .contains("lr must be"));
        cfg.lr = 1e-3;
        cfg.optimizer = Optimizer::Sgd {
            momentum: 1.0,
            nesterov: false,
            weight_decay: 0.0,
        };
        assert!(cfg
            .check_ranges()
            .unwrap_err()
            .to_string()
            .contains("momentum"));
    }
}
