//! What the trainer asks of the thing it trains: a [`Task`] says what one step is (its
//! [`Phase`]s and their objective graphs); the trainer owns epochs, batches,
//! checkpoints, metrics and guards (Burn's TrainStep/Learner split).

use std::ops::RangeInclusive;

use crate::data::Dataset;
use crate::graph::{EntryId, Graph, ParamStore, ValueId};
use crate::ops::Optimizer;
use crate::train::objective::Objective;
use crate::train::schedule::Schedule;
use crate::train::TrainError;

/// Whether an objective is built for a training step (noise, dropout, batch
/// statistics) or to be measured (validation: none of those).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// One phase of a training step: an objective, the parameters it trains and how.
///
/// Phases run in order within a step, each seeing the parameters the phases before it
/// updated (an adversarial autoencoder: reconstruction, then discriminator, then
/// generator). Phases whose `group` is the same share their optimiser state (moments),
/// so a parameter trained by two phases of one group keeps one set of moments; a
/// parameter trained by two groups has one set per group.
#[derive(Clone, Debug)]
pub struct Phase {
    /// Shown in errors and plan labels, e.g. `reconstruction`, `discriminator`.
    pub name: String,
    /// The optimiser-state group (see above).
    pub group: String,
    /// The parameters this phase's optimiser updates (each once).
    pub params: Vec<EntryId>,
    pub optimizer: Optimizer,
    pub lr: f32,
    pub schedule: Schedule,
    pub warmup_steps: u64,
    /// Scale the phase's gradient down to this global norm (over its parameters).
    pub clip_norm: Option<f32>,
    /// The epochs (1-based) in which the phase runs.
    pub epochs: RangeInclusive<usize>,
}

impl Phase {
    /// A phase named `name` in its own group, every epoch, constant learning rate.
    pub fn new(name: &str, params: Vec<EntryId>, optimizer: Optimizer, lr: f32) -> Self {
        Phase {
            name: name.to_string(),
            group: name.to_string(),
            params,
            optimizer,
            lr,
            schedule: Schedule::Constant,
            warmup_steps: 0,
            clip_norm: None,
            epochs: 1..=usize::MAX,
        }
    }

    pub fn runs_in(&self, epoch: usize) -> bool {
        self.epochs.contains(&epoch)
    }
}

/// The graph inputs of one batch, as the trainer provides them.
#[derive(Clone, Copy, Debug)]
pub struct Batch {
    /// The batch's rows `[b, width]`.
    pub x: ValueId,
    /// The rows of the task's targets (see [`Task::targets`]), when it has them.
    pub targets: Option<ValueId>,
    /// The `[1, 4]` random key of the step (Philox, keyed by seed and step) when the
    /// task [`Task::uses_rng`].
    pub rng: Option<ValueId>,
}

/// A trainable model together with its training settings.
pub trait Task {
    /// The model kind and architecture, as checkpoints record them.
    fn kind(&self) -> String;
    fn config_json(&self) -> serde_json::Value;
    /// The run's settings, as checkpoints record them: resuming with other settings
    /// (but for `epochs` and `loss_every`) is refused.
    fn settings(&self) -> serde_json::Value;
    fn store(&self) -> &ParamStore;
    fn store_mut(&mut self) -> &mut ParamStore;
    /// Values per input row.
    fn input_width(&self) -> usize;
    /// The widest value of one row anywhere in the graph (sizes validation batches).
    fn widest_row(&self) -> usize {
        self.input_width()
    }
    /// The phases of one step, in order.
    fn phases(&self) -> Vec<Phase>;
    /// Refuses settings the task cannot train with (checked before anything runs).
    fn check_settings(&self) -> Result<(), TrainError> {
        Ok(())
    }
    /// Entries the graphs update by side effects but no optimiser trains (batch
    /// norm's running statistics): early stopping restores them with the parameters.
    fn buffers(&self) -> Vec<EntryId> {
        vec![]
    }
    /// Whether objectives take the step's random key.
    fn uses_rng(&self) -> bool;
    /// Appends phase `phase`'s objective for `batch` to `g`. Every phase names its
    /// terms; two phases that run in the same epoch never share a term name.
    fn objective(
        &self,
        g: &mut Graph,
        phase: usize,
        batch: &Batch,
        mode: Mode,
    ) -> Result<Objective, TrainError>;
    /// Appends the state updates that end phase `phase` of a step — an EMA, a
    /// re-normalisation, running statistics — as side effects (`Axpy`, `Accumulate`,
    /// `BatchNormRunning`, …) in the order they must happen. They run right after the
    /// phase's optimiser updates, in the same submission, and read the parameters
    /// those updates wrote. Appending nothing (the default) adds no launch.
    fn state_updates(
        &self,
        _g: &mut Graph,
        _phase: usize,
        _batch: &Batch,
    ) -> Result<(), TrainError> {
        Ok(())
    }
    /// Per-row targets kept resident beside the data (one-hot labels for a
    /// classifier); `None` for unsupervised tasks.
    fn targets(&self, _data: &Dataset) -> Result<Option<Dataset>, TrainError> {
        Ok(None)
    }
}
