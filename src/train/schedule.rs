//! Learning-rate schedules, warm-up and early stopping: host-side bookkeeping that
//! only changes the learning rate fed with each step (the optimiser's `hyper` input),
//! so no plan is rebuilt.
//!
//! ```text
//! constant:          lr_t = lr
//! step:every,γ:      lr_e = lr · γ^⌊(e−1)/every⌋             (e: 1-based epoch)
//! cosine:            lr_t = lr · ½ (1 + cos(π t / T))        (t: step after warm-up, T: their count)
//! plateau:patience,γ lr ← lr · γ after `patience` epochs without a new best
//!                    monitored loss (validation if there is some, else training),
//!                    "new best" meaning lower by more than 1e-4 relative (PyTorch's
//!                    ReduceLROnPlateau defaults)
//! warm-up over W steps: lr_t · min(1, t / W)  (t: 1-based step), on top of any schedule
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How the learning rate changes over training.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    #[default]
    Constant,
    /// Multiply by `gamma` every `every` epochs.
    Step { every: usize, gamma: f32 },
    /// Cosine annealing from the base rate to zero over all steps after warm-up.
    Cosine,
    /// Multiply by `gamma` when the monitored loss has not improved for `patience`
    /// epochs.
    Plateau { patience: usize, gamma: f32 },
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Constant => write!(f, "constant"),
            Schedule::Step { every, gamma } => write!(f, "step:{every},{gamma}"),
            Schedule::Cosine => write!(f, "cosine"),
            Schedule::Plateau { patience, gamma } => write!(f, "plateau:{patience},{gamma}"),
        }
    }
}

/// Parses the CLI spellings `constant`, `step:every,γ`, `cosine`, `plateau:patience,γ`.
impl FromStr for Schedule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, args) = s.split_once(':').unwrap_or((s, ""));
        let pair = |what: &str| -> Result<(usize, f32), String> {
            let (a, b) = args.split_once(',').ok_or_else(|| {
                format!("schedule `{s}`: expected `{name}:{what},gamma`, e.g. `{name}:10,0.5`")
            })?;
            let a: usize = a
                .trim()
                .parse()
                .map_err(|_| format!("schedule `{s}`: {what} `{a}` is not a whole number"))?;
            let b: f32 = b
                .trim()
                .parse()
                .map_err(|_| format!("schedule `{s}`: gamma `{b}` is not a number"))?;
            if a == 0 || !(b > 0.0 && b <= 1.0) {
                return Err(format!(
                    "schedule `{s}`: {what} must be ≥ 1 and gamma in (0, 1]"
                ));
            }
            Ok((a, b))
        };
        match name.trim().to_ascii_lowercase().as_str() {
            "constant" | "none" if args.is_empty() => Ok(Schedule::Constant),
            "cosine" if args.is_empty() => Ok(Schedule::Cosine),
            "step" => pair("every").map(|(every, gamma)| Schedule::Step { every, gamma }),
            "plateau" => {
                pair("patience").map(|(patience, gamma)| Schedule::Plateau { patience, gamma })
            }
            _ => Err(format!(
                "unknown schedule `{s}` (expected constant, step:every,gamma, cosine or \
                 plateau:patience,gamma)"
            )),
        }
    }
}

/// The learning rate as training goes: asked once per step, told each epoch's loss.
/// Serialisable, so a checkpoint carries the plateau schedule's bookkeeping.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LearningRate {
    base: f32,
    schedule: Schedule,
    warmup_steps: u64,
    /// Steps after warm-up, for the cosine.
    decay_steps: u64,
    /// The plateau schedule's current factor and its bookkeeping.
    plateau_factor: f32,
    #[serde(with = "f32_bits")]
    best: f32,
    bad_epochs: usize,
}

impl LearningRate {
    pub fn new(base: f32, schedule: Schedule, warmup_steps: u64, total_steps: u64) -> Self {
        LearningRate {
            base,
            schedule,
            warmup_steps,
            decay_steps: total_steps.saturating_sub(warmup_steps).max(1),
            plateau_factor: 1.0,
            best: f32::INFINITY,
            bad_epochs: 0,
        }
    }

    /// Stretches the cosine to a run of `total_steps` (a resumed run asked for more
    /// epochs than it started with).
    pub fn set_total_steps(&mut self, total_steps: u64) {
        self.decay_steps = total_steps.saturating_sub(self.warmup_steps).max(1);
    }

    /// The rate for `step` (1-based, counted over the whole run) in `epoch` (1-based).
    pub fn at(&self, step: u64, epoch: usize) -> f32 {
        let scheduled = match self.schedule {
            Schedule::Constant => self.base,
            Schedule::Step { every, gamma } => {
                self.base * gamma.powi(((epoch.max(1) - 1) / every.max(1)) as i32)
            }
            Schedule::Cosine => {
                let t = step.saturating_sub(self.warmup_steps) as f64;
                let progress = (t / self.decay_steps as f64).min(1.0);
                (self.base as f64 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())) as f32
            }
            Schedule::Plateau { .. } => self.base * self.plateau_factor,
        };
        if self.warmup_steps > 0 && step < self.warmup_steps {
            scheduled * step as f32 / self.warmup_steps as f32
        } else {
            scheduled
        }
    }

    /// Tells the schedule an epoch's monitored loss (the plateau schedule acts on it).
    pub fn end_epoch(&mut self, loss: f32) {
        if let Schedule::Plateau { patience, gamma } = self.schedule {
            if loss < self.best * (1.0 - 1e-4) {
                self.best = loss;
                self.bad_epochs = 0;
            } else {
                self.bad_epochs += 1;
                if self.bad_epochs > patience {
                    self.plateau_factor *= gamma;
                    self.bad_epochs = 0;
                }
            }
        }
    }
}

/// Early stopping: stop when the validation loss has not improved for `patience`
/// epochs; the caller restores the weights of the best epoch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EarlyStopping {
    patience: usize,
    #[serde(with = "f32_bits")]
    best: f32,
    best_epoch: usize,
    bad_epochs: usize,
}

/// What [`EarlyStopping::observe`] says about an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The best so far: keep its weights.
    Improved,
    Continue,
    /// Out of patience.
    Stop,
}

impl EarlyStopping {
    pub fn new(patience: usize) -> Self {
        EarlyStopping {
            patience,
            best: f32::INFINITY,
            best_epoch: 0,
            bad_epochs: 0,
        }
    }

    pub fn observe(&mut self, epoch: usize, loss: f32) -> Verdict {
        if loss < self.best {
            self.best = loss;
            self.best_epoch = epoch;
            self.bad_epochs = 0;
            Verdict::Improved
        } else {
            self.bad_epochs += 1;
            if self.bad_epochs >= self.patience {
                Verdict::Stop
            } else {
                Verdict::Continue
            }
        }
    }

    pub fn best_epoch(&self) -> usize {
        self.best_epoch
    }
    pub fn best_loss(&self) -> f32 {
        self.best
    }
}

/// An `f32` saved as its bit pattern: exact, and infinity (the "nothing seen yet"
/// of a running best) survives JSON, which has no infinities.
mod f32_bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(v.to_bits())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f32, D::Error> {
        u32::deserialize(d).map(f32::from_bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_parse_and_print_back() {
        for s in ["constant", "step:10,0.5", "cosine", "plateau:3,0.1"] {
            let parsed: Schedule = s.parse().unwrap();
            assert_eq!(parsed.to_string(), s);
        }
        for bad in [
            "step",
            "step:0,0.5",
            "step:2,1.5",
            "plateau:x,0.1",
            "linear",
        ] {
            assert!(bad.parse::<Schedule>().is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn step_schedule_decays_every_few_epochs() {
        let lr = LearningRate::new(1.0, "step:2,0.5".parse().unwrap(), 0, 100);
        let per_epoch: Vec<f32> = (1..=5).map(|e| lr.at(1, e)).collect();
        assert_eq!(per_epoch, [1.0, 1.0, 0.5, 0.5, 0.25]);
    }

    #[test]
    fn cosine_goes_from_base_to_zero_after_warmup() {
        let lr = LearningRate::new(2.0, Schedule::Cosine, 10, 110);
        assert_eq!(lr.at(5, 1), 2.0 * 0.5, "half-way through warm-up");
        assert_eq!(lr.at(10, 1), 2.0);
        assert!((lr.at(60, 1) - 1.0).abs() < 1e-6, "half-way: half the rate");
        assert!(lr.at(110, 1).abs() < 1e-6);
    }

    #[test]
    fn plateau_cuts_the_rate_after_patience_epochs_without_progress() {
        let mut lr = LearningRate::new(1.0, "plateau:2,0.1".parse().unwrap(), 0, 100);
        for loss in [1.0, 0.5, 0.5, 0.5] {
            lr.end_epoch(loss);
            assert_eq!(lr.at(1, 1), 1.0);
        }
        lr.end_epoch(0.5);
        assert!((lr.at(1, 1) - 0.1).abs() < 1e-7);
    }

    #[test]
    fn early_stopping_waits_for_patience() {
        let mut es = EarlyStopping::new(2);
        assert_eq!(es.observe(1, 1.0), Verdict::Improved);
        assert_eq!(es.observe(2, 0.8), Verdict::Improved);
        assert_eq!(es.observe(3, 0.9), Verdict::Continue);
        assert_eq!(es.observe(4, 0.85), Verdict::Stop);
        assert_eq!((es.best_epoch(), es.best_loss()), (2, 0.8));
    }
}
