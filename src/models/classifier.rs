//! A dense classifier: the encoder of a [`DenseAutoencoder`] (same widths, same
//! activations) followed by a linear softmax head to `classes` logits,
//!
//!   x [n, widths[0]] → encoder → code [n, widths[L]] → code · W_head + b_head → logits [n, classes]
//!
//! trained with the softmax cross-entropy (`ops::loss::softmax_xent`). Built either
//! from a trained autoencoder's encoder weights (unsupervised pretraining) or from an
//! untrained autoencoder of the same architecture — the same initialisation scheme
//! and, for one seed, the very same encoder draws — which is the random-init baseline.
//! The head is drawn from its own seeded stream, so both starts share it exactly.

use std::collections::BTreeMap;
use std::path::Path;

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::graph::{EntryId, EntryKind, Graph, GraphError, ParamStore, Shape, ValueId};
use crate::models::file::{
    fill_parameters, find_parameters, incompatible, read_config, read_kind, save_model,
};
use crate::models::{DenseAutoencoder, DenseConfig, ModelError, MAX_PARAMETERS};
use crate::nn::{init::Init, Forward, Linear, Mode, Module, Scope};
use crate::ops::Activation;

/// Everything needed to rebuild the network; saved as JSON in the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    /// Encoder widths from the input to the code, e.g. `[784, 256, 64]`.
    pub widths: Vec<usize>,
    /// One activation per encoder layer.
    pub activations: Vec<Activation>,
    /// Outputs of the linear head.
    pub classes: usize,
    pub init: Init,
}

/// Keeps the head's draws independent of the encoder's.
const HEAD_STREAM: u64 = 0x4ead_c1a5;

impl ClassifierConfig {
    /// The encoder of `ae` (widths and encoder activations) with a head to `classes`.
    pub fn from_autoencoder(ae: &DenseConfig, classes: usize) -> Self {
        ClassifierConfig {
            widths: ae.widths.clone(),
            activations: ae.activations[..ae.depth()].to_vec(),
            classes,
            init: ae.init,
        }
    }

    pub fn depth(&self) -> usize {
        self.widths.len().saturating_sub(1)
    }
    pub fn input_width(&self) -> usize {
        self.widths[0]
    }
    pub fn code_width(&self) -> usize {
        *self.widths.last().unwrap_or(&0)
    }

    /// An autoencoder config with this encoder (and the default decoder), for the
    /// random-init baseline.
    pub fn autoencoder(&self) -> DenseConfig {
        let mut ae = DenseConfig::new(&self.widths);
        ae.activations[..self.depth()].copy_from_slice(&self.activations);
        ae.init = self.init;
        ae
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        if self.classes < 2 {
            return Err(ModelError::Config(format!(
                "a classifier needs at least 2 classes, got {}",
                self.classes
            )));
        }
        if self.activations.len() != self.depth() {
            return Err(ModelError::Config(format!(
                "{} encoder layers need {} activations, got {}",
                self.depth(),
                self.depth(),
                self.activations.len()
            )));
        }
        self.autoencoder().validate()?;
        let head = self.code_width().checked_mul(self.classes);
        if head.is_none_or(|n| n > MAX_PARAMETERS) {
            return Err(ModelError::Config(format!(
                "a head of {} × {} needs more than {MAX_PARAMETERS} parameters",
                self.code_width(),
                self.classes
            )));
        }
        Ok(())
    }

    /// The name and shape of every parameter tensor, in [`Classifier::parameters`]
    /// order.
    pub fn parameter_shapes(&self) -> Vec<(String, Shape)> {
        let w = &self.widths;
        let mut shapes = vec![];
        for i in 0..self.depth() {
            shapes.push((format!("encoder.{i}.weight"), Shape::new(w[i], w[i + 1])));
            shapes.push((format!("encoder.{i}.bias"), Shape::new(1, w[i + 1])));
        }
        shapes.push((
            "head.weight".into(),
            Shape::new(self.code_width(), self.classes),
        ));
        shapes.push(("head.bias".into(), Shape::new(1, self.classes)));
        shapes
    }
}

/// The classifier: its config and the parameter store holding its weights.
#[derive(Clone, Debug)]
pub struct Classifier {
    pub config: ClassifierConfig,
    pub store: ParamStore,
    /// The encoder layers, then the head (linear).
    layers: Vec<Linear>,
}

impl Classifier {
    /// Encoder weights copied from `ae` (trained: pretraining), a fresh head drawn with
    /// `seed`.
    pub fn from_autoencoder(
        ae: &DenseAutoencoder,
        classes: usize,
        seed: u64,
    ) -> Result<Self, ModelError> {
        let config = ClassifierConfig::from_autoencoder(&ae.config, classes);
        config.validate()?;
        let mut store = ParamStore::new();
        let mut layers = vec![];
        let shapes = config.parameter_shapes();
        for i in 0..config.depth() {
            let (w, b) = ae.encoder_layer(i);
            let [(w_name, w_shape), (b_name, b_shape)] = [&shapes[2 * i], &shapes[2 * i + 1]];
            let copy = |id: EntryId| ae.store.values(id).to_vec();
            let wid = store.add(w_name, *w_shape, EntryKind::Parameter, copy(w));
            let bid = store.add(b_name, *b_shape, EntryKind::Parameter, copy(b));
            layers.push(Linear {
                weight: wid,
                bias: bid,
                transpose: false,
                act: config.activations[i],
                inputs: w_shape.rows,
                outputs: w_shape.cols,
            });
        }
        let mut rng = StdRng::seed_from_u64(seed ^ HEAD_STREAM);
        let (code, k) = (config.code_width(), config.classes);
        let head = Scope::root().child("head");
        layers.push(Linear::new(
            &mut store,
            &head,
            (code, k),
            Activation::Linear,
            config.init,
            &mut rng,
        )?);
        Ok(Classifier {
            config,
            store,
            layers,
        })
    }

    /// The baseline: the encoder of an untrained autoencoder with `config`'s
    /// architecture, initialised with `seed` exactly as [`DenseAutoencoder::new`] does.
    pub fn random(config: &ClassifierConfig, seed: u64) -> Result<Self, ModelError> {
        config.validate()?;
        let ae = DenseAutoencoder::new(config.autoencoder(), seed)?;
        let mut model = Classifier::from_autoencoder(&ae, config.classes, seed)?;
        model.config.init = config.init;
        Ok(model)
    }

    /// The trainable entries, in [`ClassifierConfig::parameter_shapes`] order.
    pub fn parameters(&self) -> Vec<EntryId> {
        self.layers.iter().flat_map(Module::parameters).collect()
    }

    pub fn parameter_count(&self) -> usize {
        self.parameters()
            .iter()
            .map(|&id| self.store.get(id).shape.len())
            .sum()
    }

    pub fn input_width(&self) -> usize {
        self.config.input_width()
    }

    /// The widest row of any value of the forward pass.
    pub fn widest_row(&self) -> usize {
        self.config
            .widths
            .iter()
            .copied()
            .chain([self.config.classes])
            .max()
            .unwrap_or(1)
    }

    /// "784-256-64 → 10"
    pub fn describe(&self) -> String {
        let widths: Vec<String> = self.config.widths.iter().map(|w| w.to_string()).collect();
        format!("{} → {}", widths.join("-"), self.config.classes)
    }

    /// Appends the forward pass to `g`: `x [n, in] → logits [n, classes]`.
    pub fn logits(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        let code = self.code(g, x)?;
        self.head(g, code)
    }

    /// Appends the encoder: `x [n, in] → code [n, code]`.
    pub fn code(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        let depth = self.config.depth();
        let mut h = x;
        for (i, layer) in self.layers[..depth].iter().enumerate() {
            g.set_label(format!("encoder layer {}", i + 1));
            h = layer.forward(&mut Forward::new(g, &self.store, Mode::Eval), h)?;
        }
        Ok(h)
    }

    /// Appends the linear head: `code → logits [n, classes]`.
    pub fn head(&self, g: &mut Graph, code: ValueId) -> Result<ValueId, GraphError> {
        g.set_label("softmax head");
        let head = &self.layers[self.config.depth()];
        head.forward(&mut Forward::new(g, &self.store, Mode::Eval), code)
    }

    /// Saves weights and config (plus `extra` metadata) as safetensors, atomically.
    pub fn save(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<(), ModelError> {
        save_model(
            path,
            &self.store,
            &self.parameters(),
            "classifier",
            &self.config,
            extra,
        )
    }

    /// Loads a model saved by [`Classifier::save`], with the file's metadata.
    pub fn load(path: &Path) -> Result<(Self, BTreeMap<String, String>), ModelError> {
        let (tensors, meta) = read_kind(path, "classifier", "a classifier")?;
        let config: ClassifierConfig = read_config(path, &meta)?;
        config
            .validate()
            .map_err(|e| incompatible(path, e.to_string()))?;
        find_parameters(path, &tensors, &config.parameter_shapes())?;
        let mut model =
            Classifier::random(&config, 0).map_err(|e| incompatible(path, e.to_string()))?;
        let params = model.parameters();
        fill_parameters(path, &mut model.store, &params, &tensors)?;
        Ok((model, meta))
    }
}
