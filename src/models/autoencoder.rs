//! What the training and inference loops need of a model, whatever its kind: its
//! parameter store, how to encode, decode and reconstruct inside a graph, and its
//! training objective. Every kind implements [`Autoencoder`]; `fit`, `evaluate` and
//! `run_rows` take `&dyn Autoencoder`, so a new kind adds no training loop.

use std::any::Any;
use std::collections::BTreeMap;
use std::path::Path;

use crate::graph::{DType, EntryId, Graph, GraphError, ParamStore, Shape, ValueId};
use crate::models::file::save_model;
use crate::models::ModelError;
use crate::ops::{Activation, ImageShape, Loss};
use crate::train::objective::{reconstruction_term, Objective, RECONSTRUCTION};
use crate::train::{Regularization, TrainError};

/// Lets code that needs one particular kind (L-BFGS, the denoiser) find it behind a
/// `dyn Autoencoder` with [`downcast_ref`] / [`downcast_mut`], without a kind enum.
pub trait AsAny: Any {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any> AsAny for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The model as kind `M`, when it is one.
pub fn downcast_ref<M: Autoencoder>(model: &dyn Autoencoder) -> Option<&M> {
    AsAny::as_any(model).downcast_ref()
}

/// The model as kind `M`, when it is one.
pub fn downcast_mut<M: Autoencoder>(model: &mut dyn Autoencoder) -> Option<&mut M> {
    AsAny::as_any_mut(model).downcast_mut()
}

/// Copies the values of every entry `from` saves into the matching entry of `to`, in
/// order: `to` is the same architecture rebuilt (a fully convolutional model for
/// another image size), so its entries pair with `from`'s one to one.
pub fn copy_saved_values(to: &mut dyn Autoencoder, from: &dyn Autoencoder) {
    let (mine, theirs) = (to.saved_entries(), from.saved_entries());
    debug_assert_eq!(
        mine.len(),
        theirs.len(),
        "rebuilt from the same architecture"
    );
    for (m, t) in mine.into_iter().zip(theirs) {
        to.store_mut()
            .set_values(m, from.store().values(t).to_vec());
    }
}

/// `Send`: a model moves to the thread that trains it (the Python package trains off
/// the interpreter's thread, so Ctrl-C and progress stay responsive).
pub trait Autoencoder: AsAny + Send {
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

    /// The objective as validation measures it: on the clean batch, in inference mode
    /// (no noise, no dropout, batch norm on its running statistics, no side effects).
    /// By default the reconstruction term alone, from [`Autoencoder::reconstruct_logits`];
    /// a kind with penalties adds them.
    fn eval_objective(
        &self,
        g: &mut Graph,
        x: ValueId,
        loss: Loss,
        _reg: &Regularization,
        _rng: Option<ValueId>,
    ) -> Result<Objective, TrainError> {
        let (logits, recon) = self.reconstruct_logits(g, x)?;
        let value = reconstruction_term(g, loss, logits, recon, x)?;
        Ok(Objective::single(RECONSTRUCTION, value))
    }

    /// Refuses training data the model cannot learn from (`rows` training rows): a
    /// codebook with more codes than the data has vectors, say. Nothing by default.
    fn check_data(&self, _rows: usize) -> Result<(), String> {
        Ok(())
    }

    /// Appends side effects that end a training step, after the optimiser's updates
    /// and reading what they wrote (a VQ codebook's moving averages and restarts); see
    /// [`crate::train::Task::state_updates`]. Nothing by default.
    fn state_updates(
        &self,
        _g: &mut Graph,
        _x: ValueId,
        _reg: &Regularization,
        _rng: Option<ValueId>,
    ) -> Result<(), TrainError> {
        Ok(())
    }

    /// The widest value of one row anywhere in the network (a convolution's feature
    /// maps are far wider than its input): inference batches are sized by it.
    fn widest_row(&self) -> usize {
        self.input_width()
    }

    /// The architecture in one short phrase (`784-256-64`).
    fn describe(&self) -> String {
        self.kind().to_string()
    }

    /// Values per code row (what `encode` writes): by default the width of the
    /// encoder's output in a one-row graph.
    fn code_width(&self) -> usize {
        let mut g = Graph::new();
        let x = g.input("x", Shape::new(1, self.input_width()), DType::F32);
        self.encode(&mut g, x).map_or(0, |code| g.shape(code).cols)
    }

    /// Entries saved with the model that no optimiser trains (batch norm's running
    /// statistics).
    fn buffers(&self) -> Vec<EntryId> {
        vec![]
    }

    /// What a model file holds: the parameters, then the buffers.
    fn saved_entries(&self) -> Vec<EntryId> {
        let mut ids = self.parameters();
        ids.extend(self.buffers());
        ids
    }

    /// The image in each input row, for kinds that read images (plots use it).
    fn image_shape(&self) -> Option<ImageShape> {
        None
    }

    /// Fields `aegpu train --json` reports about the architecture (default: the config
    /// under the kind's name).
    fn report_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        out.insert(self.kind().into(), self.config_json());
        out
    }

    /// Saves the parameters and buffers under their store names, with `aegpu.kind`,
    /// `aegpu.config` and `extra` metadata, atomically.
    fn save(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<(), ModelError> {
        save_model(
            path,
            self.store(),
            &self.saved_entries(),
            self.kind(),
            &self.config_json(),
            extra,
        )
    }

    /// The training task of a kind whose step is not the default one (one phase on
    /// [`Autoencoder::objective`]): a VAE's β warm-up phases and label targets. `fit`
    /// runs it when given.
    fn training_task<'a>(
        &'a mut self,
        _cfg: &'a crate::train::TrainConfig,
    ) -> Option<Box<dyn crate::train::Task + 'a>> {
        None
    }

    fn parameter_count(&self) -> usize {
        self.parameters()
            .iter()
            .map(|&id| self.store().get(id).shape.len())
            .sum()
    }
}
