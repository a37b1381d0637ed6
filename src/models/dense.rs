//! The dense autoencoder: an encoder of fully connected layers `widths[0] → … →
//! widths[L]` and a mirrored decoder, any depth, one activation per layer, optionally
//! with tied weights (decoder layer i multiplies by the transpose of encoder layer i
//! through the matmul's transpose flag, no copy).
//!
//! The decoder either fuses the output activation into the last matmul
//! ([`DenseAutoencoder::decode`], for MSE training) or keeps the logits `z` and applies
//! σ as a separate op ([`DenseAutoencoder::decode_logits`]), which the stable BCE needs.

use std::collections::BTreeMap;
use std::path::Path;

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::graph::{EntryId, Graph, GraphError, ParamStore, Shape, ValueId};
use clap::{ArgMatches, Args, FromArgMatches};

use crate::io::NamedTensor;
use crate::models::args::ActivationArgs;
use crate::models::file::{find_parameters, read_kind, restore};
use crate::models::registry::{BuildContext, Built, Kind};
use crate::models::{Autoencoder, ModelError};
use crate::nn::{init::Init, Forward, Linear, Mode, Module, Scope};
use crate::ops::{Activation, Op};

/// Everything needed to rebuild the network; saved as JSON in the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenseConfig {
    /// Encoder widths from the input to the code, e.g. `[784, 256, 64]`.
    pub widths: Vec<usize>,
    /// One activation per layer: encoder layers first, then decoder layers; the last
    /// one is the output activation.
    pub activations: Vec<Activation>,
    pub tied: bool,
    pub init: Init,
}

impl DenseConfig {
    /// The defaults: relu hidden layers, a linear code, a sigmoid output, Glorot
    /// initialisation. A linear code keeps all code units alive (a relu code loses
    /// the units that die early): on MNIST 784-256-64 after 5 epochs of Adam 1e-3 the
    /// test MSE drops from 0.0129 (relu code) to 0.0096 (linear code).
    pub fn new(widths: &[usize]) -> Self {
        let depth = widths.len().saturating_sub(1);
        let mut activations = vec![];
        for i in 0..depth {
            activations.push(if i + 1 == depth {
                Activation::Linear
            } else {
                Activation::Relu
            });
        }
        for i in 0..depth {
            activations.push(if i + 1 == depth {
                Activation::Sigmoid
            } else {
                Activation::Relu
            });
        }
        DenseConfig {
            widths: widths.to_vec(),
            activations,
            tied: false,
            init: Init::Glorot,
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
    pub fn output_activation(&self) -> Activation {
        *self.activations.last().unwrap_or(&Activation::Linear)
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        if self.widths.len() < 2 {
            return Err(ModelError::Config(format!(
                "need at least an input and a code width, got {:?}",
                self.widths
            )));
        }
        if let Some(i) = self.widths.iter().position(|&w| w == 0) {
            return Err(ModelError::Config(format!(
                "layer width {i} is zero in {:?}",
                self.widths
            )));
        }
        if self.activations.len() != 2 * self.depth() {
            return Err(ModelError::Config(format!(
                "{} layers (encoder and decoder) need {} activations, got {}",
                2 * self.depth(),
                2 * self.depth(),
                self.activations.len()
            )));
        }
        if let Some(Activation::LeakyRelu { alpha }) = self
            .activations
            .iter()
            .find(|a| matches!(a, Activation::LeakyRelu { alpha } if !(alpha.is_finite() && *alpha >= 0.0)))
        {
            return Err(ModelError::Config(format!("leaky_relu slope must be finite and ≥ 0, got {alpha}")));
        }
        let total = self
            .parameter_shapes()
            .iter()
            .try_fold(0usize, |sum, (_, s)| {
                s.rows.checked_mul(s.cols).and_then(|n| sum.checked_add(n))
            });
        match total {
            Some(n) if n <= MAX_PARAMETERS => Ok(()),
            _ => Err(ModelError::Config(format!(
                "widths {:?} need more than {MAX_PARAMETERS} parameters",
                self.widths
            ))),
        }
    }

    /// The name and shape of every parameter tensor, in [`DenseAutoencoder::parameters`]
    /// order; computed without allocating, so a model file can be checked first.
    pub fn parameter_shapes(&self) -> Vec<(String, Shape)> {
        let (w, depth) = (&self.widths, self.depth());
        let mut shapes = vec![];
        for i in 0..depth {
            shapes.push((format!("encoder.{i}.weight"), Shape::new(w[i], w[i + 1])));
            shapes.push((format!("encoder.{i}.bias"), Shape::new(1, w[i + 1])));
        }
        for j in 0..depth {
            let (fan_in, fan_out) = (w[depth - j], w[depth - j - 1]);
            if !self.tied {
                shapes.push((format!("decoder.{j}.weight"), Shape::new(fan_in, fan_out)));
            }
            shapes.push((format!("decoder.{j}.bias"), Shape::new(1, fan_out)));
        }
        shapes
    }
}

/// The flags of `aegpu train --model dense` (also `aegpu pretrain` and `classify`).
#[derive(Args, Debug, Clone)]
pub struct DenseArgs {
    /// Encoder widths from the input to the code; the decoder mirrors them.
    #[arg(long, default_value = "784,256,64", value_delimiter = ',')]
    pub layers: Vec<usize>,
    #[command(flatten)]
    pub shared: ActivationArgs,
    /// Activation of the code layer.
    #[arg(long, default_value = "linear")]
    pub code_activation: Activation,
    /// One activation per layer, encoder then decoder (overrides the three above).
    #[arg(long, value_delimiter = ',')]
    pub activations: Option<Vec<Activation>>,
    /// Decoder layer i multiplies by the transpose of encoder layer i.
    #[arg(long)]
    pub tied: bool,
}

impl DenseArgs {
    /// The network for data of `cols` columns in [0, 1] (a sigmoid output unless
    /// `--output-activation` says otherwise).
    pub fn config(&self, cols: usize) -> Result<DenseConfig, String> {
        self.config_with_output(cols, Activation::Sigmoid)
    }

    /// The network for data of `cols` columns, with `default_output` where
    /// `--output-activation` is not given.
    pub fn config_with_output(
        &self,
        cols: usize,
        default_output: Activation,
    ) -> Result<DenseConfig, String> {
        if self.layers.first() != Some(&cols) {
            return Err(format!(
                "--layers starts with {} inputs but the data has {cols} columns (try --layers {cols},{})",
                self.layers.first().copied().unwrap_or(0),
                self.layers
                    .iter()
                    .skip(1)
                    .map(|w| w.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        let mut config = DenseConfig::new(&self.layers);
        let depth = config.depth();
        config.activations = match &self.activations {
            Some(list) => list.clone(),
            None => (0..2 * depth)
                .map(|i| match i {
                    i if i + 1 == depth => self.code_activation,
                    i if i + 1 == 2 * depth => {
                        self.shared.output_activation.unwrap_or(default_output)
                    }
                    _ => self.shared.activation,
                })
                .collect(),
        };
        config.tied = self.tied;
        config.init = self.shared.init.unwrap_or(Init::Glorot);
        Ok(config)
    }
}

/// The dense kind in the registry.
pub const KIND: Kind = Kind {
    name: "dense",
    about: "fully connected, `--layers`, optionally `--tied`",
    args: DenseArgs::augment_args,
    build: build_from_flags,
    restore: restore_boxed,
};

fn build_from_flags(m: &ArgMatches, cx: &BuildContext) -> Built {
    let args = DenseArgs::from_arg_matches(m).map_err(|e| e.to_string())?;
    let output = match cx.standardised {
        true => Activation::Linear,
        false => Activation::Sigmoid,
    };
    let config = args.config_with_output(cx.cols, output)?;
    let model = DenseAutoencoder::new(config, cx.seed).map_err(|e| e.to_string())?;
    Ok(Box::new(model))
}

fn restore_boxed(
    path: &Path,
    tensors: &[NamedTensor],
    meta: &BTreeMap<String, String>,
) -> Result<Box<dyn Autoencoder>, ModelError> {
    Ok(Box::new(DenseAutoencoder::restore(path, tensors, meta)?))
}

/// A transformation of a layer's output while a graph is built: `(graph, layer
/// index, output) → new output`.
pub type LayerHook<'a> = dyn FnMut(&mut Graph, usize, ValueId) -> Result<ValueId, GraphError> + 'a;

/// A bound on model size (4 GiB of f32 weights), so a typo in `--layers` or a hostile
/// model file is an error instead of an allocation failure.
pub const MAX_PARAMETERS: usize = 1 << 30;

/// A dense autoencoder: its config and the parameter store holding its weights.
#[derive(Clone, Debug)]
pub struct DenseAutoencoder {
    pub config: DenseConfig,
    pub store: ParamStore,
    encoder: Vec<Linear>,
    /// Decoder layers from the code side; a tied one multiplies by its encoder
    /// layer's weight transposed.
    decoder: Vec<Linear>,
}

impl DenseAutoencoder {
    /// A freshly initialised network in a store of its own.
    pub fn new(config: DenseConfig, seed: u64) -> Result<Self, ModelError> {
        let mut store = ParamStore::new();
        let (encoder, decoder) = Self::register(&config, &mut store, &Scope::root(), seed)?;
        Ok(DenseAutoencoder {
            config,
            store,
            encoder,
            decoder,
        })
    }

    /// Registers the layers of `config` in `store` under `scope` (`encoder.{i}`,
    /// `decoder.{j}`): encoder layer i maps widths[i] → widths[i+1], decoder layer j
    /// widths[depth−j] → widths[depth−j−1].
    fn register(
        config: &DenseConfig,
        store: &mut ParamStore,
        scope: &Scope,
        seed: u64,
    ) -> Result<(Vec<Linear>, Vec<Linear>), ModelError> {
        config.validate()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let (w, depth) = (&config.widths, config.depth());
        let mut encoder = vec![];
        for i in 0..depth {
            let scope = scope.child("encoder").child(i);
            let act = config.activations[i];
            encoder.push(Linear::new(
                store,
                &scope,
                (w[i], w[i + 1]),
                act,
                config.init,
                &mut rng,
            )?);
        }
        let mut decoder = vec![];
        for j in 0..depth {
            let scope = scope.child("decoder").child(j);
            let act = config.activations[depth + j];
            decoder.push(if config.tied {
                Linear::tied(store, &scope, &encoder[depth - 1 - j], act)?
            } else {
                let sides = (w[depth - j], w[depth - j - 1]);
                Linear::new(store, &scope, sides, act, config.init, &mut rng)?
            });
        }
        Ok((encoder, decoder))
    }

    /// The trainable entries, in a stable order.
    pub fn parameters(&self) -> Vec<EntryId> {
        self.encoder
            .iter()
            .chain(&self.decoder)
            .flat_map(Module::parameters)
            .collect()
    }

    pub fn parameter_count(&self) -> usize {
        self.parameters()
            .iter()
            .map(|&id| self.store.get(id).shape.len())
            .sum()
    }

    /// Appends the encoder to `g`: `x [n, in] → code [n, code]`.
    pub fn encode(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        self.encode_with(g, x, &mut |_, _, h| Ok(h))
    }

    /// The encoder with `after_layer(g, i, h)` applied to the output of encoder layer
    /// `i` (0-based), e.g. to add dropout while training.
    pub fn encode_with(
        &self,
        g: &mut Graph,
        x: ValueId,
        after_layer: &mut LayerHook,
    ) -> Result<ValueId, GraphError> {
        let mut h = x;
        for (i, layer) in self.encoder.iter().enumerate() {
            g.set_label(format!("encoder layer {}", i + 1));
            h = layer.forward(&mut Forward::new(g, &self.store, Mode::Eval), h)?;
            h = after_layer(g, i, h)?;
        }
        Ok(h)
    }

    /// The weight entry of encoder layer `i` ([fan_in, fan_out]).
    pub fn encoder_weight(&self, i: usize) -> EntryId {
        self.encoder[i].weight
    }

    /// Encoder layer `i`'s weight and bias, and decoder layer `j`'s (weight None when
    /// tied), for copying weights between models (stacked pretraining).
    pub fn encoder_layer(&self, i: usize) -> (EntryId, EntryId) {
        (self.encoder[i].weight, self.encoder[i].bias)
    }
    pub fn decoder_layer(&self, j: usize) -> (Option<EntryId>, EntryId) {
        let layer = &self.decoder[j];
        ((!layer.transpose).then_some(layer.weight), layer.bias)
    }

    /// Appends the decoder: `code → reconstruction`, the output activation fused
    /// into the last matmul's epilogue.
    pub fn decode(&self, g: &mut Graph, code: ValueId) -> Result<ValueId, GraphError> {
        self.decoder_layers(g, code, self.config.output_activation(), &mut |_, _, h| {
            Ok(h)
        })
    }

    /// Appends the decoder keeping the last layer's pre-activation:
    /// `code → (logits, reconstruction)` (the same value for a linear output), for the
    /// numerically stable BCE on logits.
    pub fn decode_logits(
        &self,
        g: &mut Graph,
        code: ValueId,
    ) -> Result<(ValueId, ValueId), GraphError> {
        self.decode_logits_with(g, code, &mut |_, _, h| Ok(h))
    }

    /// [`Self::decode_logits`] with `after_layer(g, j, h)` applied to the output of
    /// every decoder layer `j` but the last (0-based, from the code side).
    pub fn decode_logits_with(
        &self,
        g: &mut Graph,
        code: ValueId,
        after_layer: &mut LayerHook,
    ) -> Result<(ValueId, ValueId), GraphError> {
        let logits = self.decoder_layers(g, code, Activation::Linear, after_layer)?;
        let out = self.config.output_activation();
        let recon = if out == Activation::Linear {
            logits
        } else {
            g.set_label("output activation");
            g.push(Op::Activate(out), &[logits])?
        };
        Ok((logits, recon))
    }

    /// [`Self::decode`] with `after_layer` applied as in [`Self::decode_logits_with`].
    pub fn decode_with(
        &self,
        g: &mut Graph,
        code: ValueId,
        after_layer: &mut LayerHook,
    ) -> Result<ValueId, GraphError> {
        self.decoder_layers(g, code, self.config.output_activation(), after_layer)
    }

    fn decoder_layers(
        &self,
        g: &mut Graph,
        code: ValueId,
        last_act: Activation,
        after_layer: &mut LayerHook,
    ) -> Result<ValueId, GraphError> {
        let depth = self.config.depth();
        let mut h = code;
        for (j, layer) in self.decoder.iter().enumerate() {
            g.set_label(format!("decoder layer {}", j + 1));
            let mut cx = Forward::new(g, &self.store, Mode::Eval);
            h = if j + 1 == depth {
                layer.with_activation(last_act).forward(&mut cx, h)?
            } else {
                layer.forward(&mut cx, h)?
            };
            if j + 1 < depth {
                h = after_layer(g, j, h)?;
            }
        }
        Ok(h)
    }

    /// Saves weights and config (plus any extra metadata, e.g. training settings) as
    /// safetensors, written atomically.
    pub fn save(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<(), ModelError> {
        Autoencoder::save(self, path, extra)
    }

    /// Loads a model saved by [`DenseAutoencoder::save`]; returns it with the file's
    /// metadata. A file of another kind or with missing/misshapen tensors is refused.
    pub fn load(path: &Path) -> Result<(Self, BTreeMap<String, String>), ModelError> {
        let (tensors, meta) = read_kind(path, KIND.name, "a dense autoencoder")?;
        Ok((Self::restore(path, &tensors, &meta)?, meta))
    }

    fn restore(
        path: &Path,
        tensors: &[NamedTensor],
        meta: &BTreeMap<String, String>,
    ) -> Result<Self, ModelError> {
        restore(path, tensors, meta, |config: DenseConfig| {
            config.validate()?;
            // Every tensor is checked against the architecture before anything is
            // allocated.
            find_parameters(path, tensors, &config.parameter_shapes())?;
            DenseAutoencoder::new(config, 0)
        })
    }
}

impl Autoencoder for DenseAutoencoder {
    fn kind(&self) -> &'static str {
        KIND.name
    }
    /// `784-256-64`.
    fn describe(&self) -> String {
        let w: Vec<String> = self.config.widths.iter().map(|w| w.to_string()).collect();
        w.join("-")
    }
    fn code_width(&self) -> usize {
        self.config.code_width()
    }
    fn report_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        out.insert("layers".into(), self.config.widths.clone().into());
        out.insert("tied".into(), self.config.tied.into());
        out
    }
    fn config_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or(serde_json::Value::Null)
    }
    fn store(&self) -> &ParamStore {
        &self.store
    }
    fn store_mut(&mut self) -> &mut ParamStore {
        &mut self.store
    }
    fn parameters(&self) -> Vec<EntryId> {
        DenseAutoencoder::parameters(self)
    }
    fn input_width(&self) -> usize {
        self.config.input_width()
    }
    fn output_activation(&self) -> Activation {
        self.config.output_activation()
    }
    fn encode(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        DenseAutoencoder::encode(self, g, x)
    }
    fn reconstruct_logits(
        &self,
        g: &mut Graph,
        x: ValueId,
    ) -> Result<(ValueId, ValueId), GraphError> {
        let code = DenseAutoencoder::encode(self, g, x)?;
        self.decode_logits(g, code)
    }
    fn reconstruct(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        let code = DenseAutoencoder::encode(self, g, x)?;
        self.decode(g, code)
    }
    fn validate_regularization(&self, reg: &crate::train::Regularization) -> Result<(), String> {
        reg.validate(&self.config)
    }
    fn uses_rng(&self, reg: &crate::train::Regularization) -> bool {
        reg.uses_rng(&self.config)
    }
    fn objective(
        &self,
        g: &mut Graph,
        x: ValueId,
        loss: crate::ops::Loss,
        reg: &crate::train::Regularization,
        rng: Option<ValueId>,
    ) -> Result<crate::train::objective::Objective, crate::train::TrainError> {
        crate::train::objective::build(self, g, x, loss, reg, rng)
    }
    /// The training objective without noise or dropout: the clean reconstruction and
    /// every penalty (a dense network has no batch statistics).
    fn eval_objective(
        &self,
        g: &mut Graph,
        x: ValueId,
        loss: crate::ops::Loss,
        reg: &crate::train::Regularization,
        rng: Option<ValueId>,
    ) -> Result<crate::train::objective::Objective, crate::train::TrainError> {
        let clean = crate::train::Regularization {
            noise: None,
            dropout: 0.0,
            ..reg.clone()
        };
        crate::train::objective::build(self, g, x, loss, &clean, rng)
    }
}
