//! What the training and inference loops need of a model, whatever its kind: its
//! parameter store, how to encode, decode and reconstruct inside a graph, and its
//! training objective. Every kind implements [`Autoencoder`]; `fit`, `evaluate` and
//! `run_rows` take `&dyn Autoencoder`, so a new kind adds no training loop.

use crate::graph::{EntryId, Graph, GraphError, ParamStore, ValueId};
use crate::ops::{Activation, Loss};
use crate::train::objective::Objective;
use crate::train::{Regularization, TrainError};

pub trait Autoencoder {
    /// The kind's name, as saved in model files (`aegpu.kind`).
    fn kind(&self) -> &'static str;
    /// The architecture as saved in model files (`aegpu.config`): two models with the
    /// same config have the same parameters, shapes and activations.
    fn config_json(&self) -> serde_json::Value;
    fn store(&self) -> &ParamStore;
    fn store_mut(&mut self) -> &mut ParamStore;
    /// The trainable entries, in a stable order.
    fn parameters(&self) -> Vec<EntryId>;
    /// Values per input row.
    fn input_width(&self) -> usize;
    fn output_activation(&self) -> Activation;
    /// Appends the encoder: `x [n, input] → code [n, code]`.
    fn encode(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError>;
    /// Appends the whole network: `x → (logits, reconstruction)`, where the logits are
    /// the output layer before its activation (what the stable BCE reads).
    fn reconstruct_logits(
        &self,
        g: &mut Graph,
        x: ValueId,
    ) -> Result<(ValueId, ValueId), GraphError>;
    /// Appends the whole network with the output activation fused: `x → x̂`.
    fn reconstruct(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError>;
    /// Checks that this kind supports the regularisers asked for.
    fn validate_regularization(&self, reg: &Regularization) -> Result<(), String>;
    /// Whether the objective's graph takes the random key as an input.
    fn uses_rng(&self, reg: &Regularization) -> bool;
    /// Appends the training objective for the clean batch `x`; `rng` is the random key
    /// input when [`Autoencoder::uses_rng`].
    fn objective(
        &self,
        g: &mut Graph,
        x: ValueId,
        loss: Loss,
        reg: &Regularization,
        rng: Option<ValueId>,
    ) -> Result<Objective, TrainError>;

    /// The widest value of one row anywhere in the network (a convolution's feature
    /// maps are far wider than its input): inference batches are sized by it.
    fn widest_row(&self) -> usize {
        self.input_width()
    }

    fn parameter_count(&self) -> usize {
        self.parameters()
            .iter()
            .map(|&id| self.store().get(id).shape.len())
            .sum()
    }
}
