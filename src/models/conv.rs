//! The convolutional autoencoder: an encoder of k×k convolutions (stride 1 or 2, "same"
//! padding k/2), an optional dense code, and a mirrored decoder that undoes each
//! strided layer either by a transposed convolution or by upsampling followed by a
//! convolution (the two decoders the seeds contrast: transposed convolutions can leave
//! checkerboard artefacts, upsample + conv cannot). Images are rows `[N, C·H·W]`.
//!
//! With `residual`, the network predicts the noise and subtracts it from its input,
//! x̂ = x̃ − net(x̃), as DnCNN does (Zhang et al. 2017): a residual is easier to learn
//! than the clean image, and an untrained net starts at the identity.
//!
//! Presets: [`ConvConfig::mnist`] (1×28×28 → 16@14×14 → 32@7×7 and back by transposed
//! convolutions) and [`ConvConfig::denoiser`] (a stride-1 residual stack).

use std::collections::BTreeMap;
use std::path::Path;

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::graph::{EntryId, Graph, GraphError, ParamStore, ValueId};
use clap::{ArgMatches, Args, FromArgMatches};

use crate::io::NamedTensor;
use crate::models::args::{ActivationArgs, ImageArgs};
use crate::models::file::{read_kind, restore};
use crate::models::registry::{BuildContext, Built, Kind};
use crate::models::{Autoencoder, ModelError};
use crate::nn::{
    self, init::Init, output_with_logits, Conv2d, Forward, Linear, Mode, Module, Scope, Sequential,
};
use crate::ops::random::Noise;
use crate::ops::{
    Activation, BinaryOp, Conv, ConvGeometry, Direction, ImageShape, Loss, Op, Upsample,
    UpsampleMode,
};
use crate::train::objective::{corrupted_input, reconstruction_term, Objective, RECONSTRUCTION};
use crate::train::{Regularization, TrainError};

/// How the decoder undoes a strided layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Upsampling {
    /// A transposed convolution with the layer's stride.
    Transposed,
    /// Upsampling by the stride (nearest or bilinear), then a stride-1 convolution.
    Resize(UpsampleMode),
}

impl std::str::FromStr for Upsampling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "transposed" => Ok(Upsampling::Transposed),
            "nearest" => Ok(Upsampling::Resize(UpsampleMode::Nearest)),
            "bilinear" => Ok(Upsampling::Resize(UpsampleMode::Bilinear)),
            other => Err(format!(
                "unknown decoder `{other}` (expected transposed, nearest, bilinear)"
            )),
        }
    }
}

/// Everything needed to rebuild the network; saved as JSON in the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvConfig {
    pub input: ImageShape,
    /// Output channels of each encoder convolution.
    pub channels: Vec<usize>,
    /// Stride of each encoder convolution (1 keeps the size, 2 halves it).
    pub strides: Vec<usize>,
    /// Kernel size (odd), padding k/2.
    pub kernel: usize,
    /// A dense code of this width after the convolutions (None: the last feature map
    /// is the code).
    pub code: Option<usize>,
    pub upsampling: Upsampling,
    /// Activation of every layer but the output.
    pub activation: Activation,
    pub output_activation: Activation,
    /// x̂ = x − net(x): the network predicts the noise.
    pub residual: bool,
    pub init: Init,
    /// The noise level (0–1 scale) a denoiser was trained for, recorded for users.
    #[serde(default)]
    pub noise_sigma: Option<f32>,
}

impl ConvConfig {
    /// The MNIST model of the issue: 1×28×28 → conv 3×3 16ch stride 2 → conv 3×3 32ch
    /// stride 2 → two transposed convolutions back, relu, sigmoid output.
    pub fn mnist() -> Self {
        ConvConfig {
            input: ImageShape::new(1, 28, 28),
            channels: vec![16, 32],
            strides: vec![2, 2],
            kernel: 3,
            code: None,
            upsampling: Upsampling::Transposed,
            activation: Activation::Relu,
            output_activation: Activation::Sigmoid,
            residual: false,
            init: Init::Auto,
            noise_sigma: None,
        }
    }

    /// A residual denoiser of `2·depth` 3×3 convolutions of `width` channels, stride 1,
    /// on `channels`-channel patches of `patch` × `patch` (any size works at inference:
    /// the network is fully convolutional, see [`ConvAutoencoder::with_input`]).
    pub fn denoiser(channels: usize, patch: usize, width: usize, depth: usize) -> Self {
        ConvConfig {
            input: ImageShape::new(channels, patch, patch),
            channels: vec![width; depth],
            strides: vec![1; depth],
            kernel: 3,
            code: None,
            upsampling: Upsampling::Transposed,
            activation: Activation::Relu,
            output_activation: Activation::Linear,
            residual: true,
            init: Init::Auto,
            noise_sigma: None,
        }
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        if self.input.is_empty() {
            return bad(format!("empty input image {}", self.input));
        }
        if self.channels.is_empty() {
            return bad("a convolutional autoencoder needs at least one layer".into());
        }
        if self.channels.len() != self.strides.len() {
            return bad(format!(
                "{} layers but {} strides",
                self.channels.len(),
                self.strides.len()
            ));
        }
        if self.channels.contains(&0) || self.strides.contains(&0) || self.code == Some(0) {
            return bad("channels, strides and the code width must be at least 1".into());
        }
        if self.kernel % 2 == 0 {
            return bad(format!(
                "the kernel size must be odd (same padding), got {}",
                self.kernel
            ));
        }
        if self.residual && self.output_activation != Activation::Linear {
            return bad("a residual network predicts noise: its output must be linear".into());
        }
        layer_plan(self).map(|_| ())
    }

    /// The architecture in one phrase: `conv 1×28×28 16,32 stride 2,2 k3 transposed`,
    /// with `code N` and `residual` when they apply.
    pub fn describe(&self) -> String {
        let list = |v: &[usize]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut s = format!(
            "conv {} {} stride {} k{}",
            self.input,
            list(&self.channels),
            list(&self.strides),
            self.kernel
        );
        if let Some(c) = self.code {
            s += &format!(" code {c}");
        }
        if self.strides.iter().any(|&s| s > 1) {
            s += match self.upsampling {
                Upsampling::Transposed => " transposed",
                Upsampling::Resize(UpsampleMode::Nearest) => " nearest",
                Upsampling::Resize(UpsampleMode::Bilinear) => " bilinear",
            };
        }
        if self.residual {
            s += " residual";
        }
        s
    }
}

/// The flags of `aegpu train --model conv`.
#[derive(Args, Debug, Clone)]
pub struct ConvArgs {
    #[command(flatten)]
    pub shared: ActivationArgs,
    #[command(flatten)]
    pub image: ImageArgs,
    /// Conv: stride of each encoder convolution (default 2 for every layer; 1 keeps the
    /// size, for a denoiser of any image size).
    #[arg(long, value_delimiter = ',')]
    pub strides: Option<Vec<usize>>,
    /// Conv: a dense code of this width after the convolutions.
    #[arg(long)]
    pub code: Option<usize>,
    /// Conv: how the decoder undoes a strided layer: transposed, nearest or bilinear
    /// (upsampling then a convolution).
    #[arg(long, default_value = "transposed")]
    pub decoder: Upsampling,
    /// Conv: predict the noise and subtract it from the input (x̂ = x − net(x)).
    #[arg(long)]
    pub residual: bool,
}

impl ConvArgs {
    /// The convolutional network for data of `cols` columns read from `data_spec`.
    pub fn config(&self, data_spec: &str, cols: usize) -> Result<ConvConfig, String> {
        let input = self.image.input(data_spec, cols)?;
        let channels = self.image.channels.clone();
        let strides = self
            .strides
            .clone()
            .unwrap_or_else(|| vec![2; channels.len()]);
        let output_activation = self.shared.output_activation.unwrap_or(if self.residual {
            Activation::Linear
        } else {
            Activation::Sigmoid
        });
        Ok(ConvConfig {
            input,
            channels,
            strides,
            kernel: self.image.kernel,
            code: self.code,
            upsampling: self.decoder,
            activation: self.shared.activation,
            output_activation,
            residual: self.residual,
            init: self.shared.init.unwrap_or(Init::Auto),
            noise_sigma: None,
        })
    }
}

/// The convolutional kind in the registry.
pub const KIND: Kind = Kind {
    name: "conv",
    about: "strided convolutions, `--channels`, `--strides`, `--decoder`, `--residual`",
    args: ConvArgs::augment_args,
    build: build_from_flags,
    restore: restore_boxed,
};

fn build_from_flags(m: &ArgMatches, cx: &BuildContext) -> Built {
    let args = ConvArgs::from_arg_matches(m).map_err(|e| e.to_string())?;
    let mut config = args.config(cx.data, cx.cols)?;
    // A denoiser records the noise it was trained for (0–1 scale).
    if let Some(Noise::Gaussian { sigma }) = cx.regularization.noise {
        config.noise_sigma = Some(sigma);
    }
    let model = ConvAutoencoder::new(config, cx.seed).map_err(|e| e.to_string())?;
    Ok(Box::new(model))
}

fn restore_boxed(
    path: &Path,
    tensors: &[NamedTensor],
    meta: &BTreeMap<String, String>,
) -> Result<Box<dyn Autoencoder>, ModelError> {
    Ok(Box::new(ConvAutoencoder::restore(path, tensors, meta)?))
}

/// One layer of the network as built.
#[derive(Clone, Debug)]
enum Layer {
    Conv(Conv),
    Upsample(Upsample),
    Dense {
        inputs: usize,
        outputs: usize,
        act: Activation,
    },
}

/// The layers of `config` with their names: the encoder, the code, the decoder.
fn layer_plan(config: &ConvConfig) -> Result<Vec<(String, Layer)>, ModelError> {
    let err = |m: String| ModelError::Config(m);
    let (k, pad) = (config.kernel, config.kernel / 2);
    let mut layers = vec![];
    let mut sizes = vec![config.input];
    for (i, (&c, &s)) in config.channels.iter().zip(&config.strides).enumerate() {
        let from = *sizes.last().expect("starts with the input");
        let geometry = ConvGeometry::conv(from, c, k, s, pad).map_err(err)?;
        layers.push((
            format!("encoder.{i}"),
            Layer::Conv(Conv {
                geometry,
                direction: Direction::Forward,
                bias: true,
                act: config.activation,
            }),
        ));
        sizes.push(geometry.features);
    }
    let features = *sizes.last().expect("at least one layer");
    if let Some(code) = config.code {
        layers.push((
            "code".into(),
            Layer::Dense {
                inputs: features.len(),
                outputs: code,
                act: Activation::Linear,
            },
        ));
        layers.push((
            "uncode".into(),
            Layer::Dense {
                inputs: code,
                outputs: features.len(),
                act: config.activation,
            },
        ));
    }
    let mut current = features;
    for (j, i) in (0..config.channels.len()).rev().enumerate() {
        let target = sizes[i];
        let s = config.strides[i];
        let act = if i == 0 {
            config.output_activation
        } else {
            config.activation
        };
        let same = |from: ImageShape| ConvGeometry::conv(from, target.channels, k, 1, pad);
        let geometry = if s == 1 {
            same(current).map_err(err)?
        } else {
            match config.upsampling {
                Upsampling::Transposed => {
                    let natural = (current.height - 1) * s + k - 2 * pad;
                    let extra = target.height.checked_sub(natural);
                    let extra_w = target
                        .width
                        .checked_sub((current.width - 1) * s + k - 2 * pad);
                    match (extra, extra_w) {
                        (Some(e), Some(ew)) if e == ew && e < s => {
                            ConvGeometry::transposed(current, target.channels, k, s, pad, e)
                                .map_err(err)?
                        }
                        _ => {
                            return Err(err(format!(
                                "a transposed convolution cannot map {current} back to {target}"
                            )))
                        }
                    }
                }
                Upsampling::Resize(mode) => {
                    let up = Upsample {
                        mode,
                        input: current,
                        factor: s,
                    };
                    let out = up.output();
                    if (out.height, out.width) != (target.height, target.width) {
                        return Err(err(format!(
                            "upsampling {current} by {s} gives {out}, not {target}: use \
                             image sizes divisible by the total stride, or --decoder transposed"
                        )));
                    }
                    layers.push((format!("decoder.{j}.upsample"), Layer::Upsample(up)));
                    same(out).map_err(err)?
                }
            }
        };
        let direction = if s > 1 && config.upsampling == Upsampling::Transposed {
            Direction::Transposed
        } else {
            Direction::Forward
        };
        layers.push((
            format!("decoder.{j}"),
            Layer::Conv(Conv {
                geometry,
                direction,
                bias: true,
                act,
            }),
        ));
        current = target;
    }
    Ok(layers)
}

/// A convolutional autoencoder: its config and the parameter store holding its weights.
#[derive(Clone, Debug)]
pub struct ConvAutoencoder {
    pub config: ConvConfig,
    pub store: ParamStore,
    /// Every layer but the output convolution.
    layers: Sequential,
    /// The last decoder convolution, whose activation is the output activation.
    output: Conv2d,
    /// Layers up to and including this index form the encoder.
    encoder_end: usize,
}

impl ConvAutoencoder {
    /// A freshly initialised network.
    pub fn new(config: ConvConfig, seed: u64) -> Result<Self, ModelError> {
        config.validate()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut store = ParamStore::new();
        let mut layers = Sequential::new();
        let mut output = None;
        let mut encoder_end = 0;
        let plan = layer_plan(&config)?;
        let last = plan.len() - 1;
        for (i, (name, layer)) in plan.into_iter().enumerate() {
            let scope = Scope::root().child(&name);
            if name.starts_with("encoder") || name == "code" {
                encoder_end = layers.len();
            }
            let store = &mut store;
            match layer {
                Layer::Conv(conv) => {
                    let (geometry, act) = (conv.geometry, conv.act);
                    let built = match conv.direction {
                        Direction::Forward => {
                            Conv2d::new(store, &scope, geometry, act, config.init, &mut rng)?
                        }
                        Direction::Transposed => {
                            Conv2d::transposed(store, &scope, geometry, act, config.init, &mut rng)?
                        }
                    };
                    if i == last {
                        output = Some(built);
                    } else {
                        layers.push(built);
                    }
                }
                Layer::Dense {
                    inputs,
                    outputs,
                    act,
                } => layers.push(Linear::new(
                    store,
                    &scope,
                    (inputs, outputs),
                    act,
                    config.init,
                    &mut rng,
                )?),
                Layer::Upsample(up) => layers.push(nn::Upsample { up }),
            }
        }
        let output = output
            .ok_or_else(|| ModelError::Config("the decoder must end with a convolution".into()))?;
        Ok(ConvAutoencoder {
            config,
            store,
            layers,
            output,
            encoder_end,
        })
    }

    /// The same weights for another input size (a fully convolutional network without
    /// a dense code runs on any image large enough; a denoiser trained on patches
    /// denoises whole tiles).
    pub fn with_input(&self, input: ImageShape) -> Result<Self, ModelError> {
        if self.config.code.is_some() && input != self.config.input {
            return Err(ModelError::Config(
                "a model with a dense code only takes its training image size".into(),
            ));
        }
        if input.channels != self.config.input.channels {
            return Err(ModelError::Config(format!(
                "the model takes {}-channel images, not {}",
                self.config.input.channels, input.channels
            )));
        }
        let config = ConvConfig {
            input,
            ..self.config.clone()
        };
        let mut model = ConvAutoencoder::new(config, 0)?;
        crate::models::autoencoder::copy_saved_values(&mut model, self);
        Ok(model)
    }

    /// Values per code row: the dense code's width, or the last encoder feature map's.
    pub fn code_width(&self) -> usize {
        self.layers.layers[self.encoder_end].output_width()
    }

    /// The whole network `x → (logits, x̂)`: the output convolution without its
    /// activation when `logits` (then applied as an op of its own), and for a residual
    /// network the subtraction from the input.
    fn forward(
        &self,
        g: &mut Graph,
        x: ValueId,
        logits: bool,
    ) -> Result<(ValueId, ValueId), GraphError> {
        let mut cx = Forward::new(g, &self.store, Mode::Eval);
        let h = self.layers.forward(&mut cx, x)?;
        let act = self.config.output_activation;
        let (z, y) = output_with_logits(&self.output, &mut cx, h, act, logits)?;
        if self.config.residual {
            g.set_label("residual");
            let clean = g.push(Op::Binary(BinaryOp::Sub), &[x, y])?;
            return Ok((clean, clean));
        }
        Ok((z, y))
    }

    /// Saves weights and config (plus any extra metadata) as safetensors, atomically.
    pub fn save(&self, path: &Path, extra: &BTreeMap<String, String>) -> Result<(), ModelError> {
        Autoencoder::save(self, path, extra)
    }

    /// Loads a model saved by [`ConvAutoencoder::save`] with its metadata. A file of
    /// another kind or with missing/misshapen tensors is refused.
    pub fn load(path: &Path) -> Result<(Self, BTreeMap<String, String>), ModelError> {
        let (tensors, meta) = read_kind(path, KIND.name, "a convolutional autoencoder")?;
        Ok((Self::restore(path, &tensors, &meta)?, meta))
    }

    fn restore(
        path: &Path,
        tensors: &[NamedTensor],
        meta: &BTreeMap<String, String>,
    ) -> Result<Self, ModelError> {
        restore(path, tensors, meta, |config| {
            ConvAutoencoder::new(config, 0)
        })
    }
}

impl Autoencoder for ConvAutoencoder {
    fn kind(&self) -> &'static str {
        KIND.name
    }
    fn describe(&self) -> String {
        self.config.describe()
    }
    fn code_width(&self) -> usize {
        ConvAutoencoder::code_width(self)
    }
    fn image_shape(&self) -> Option<ImageShape> {
        Some(self.config.input)
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
        let mut p = self.layers.parameters();
        p.extend(self.output.parameters());
        p
    }
    fn input_width(&self) -> usize {
        self.config.input.len()
    }
    fn widest_row(&self) -> usize {
        self.layers
            .layers
            .iter()
            .map(|layer| layer.output_width())
            .chain([self.config.input.len(), self.output.output_width()])
            .max()
            .unwrap_or(0)
    }
    fn output_activation(&self) -> Activation {
        self.config.output_activation
    }
    fn encode(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        let mut cx = Forward::new(g, &self.store, Mode::Eval);
        self.layers
            .forward_range(&mut cx, x, 0..self.encoder_end + 1)
    }
    fn reconstruct_logits(
        &self,
        g: &mut Graph,
        x: ValueId,
    ) -> Result<(ValueId, ValueId), GraphError> {
        self.forward(g, x, true)
    }
    fn reconstruct(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        Ok(self.forward(g, x, false)?.1)
    }
    fn validate_regularization(&self, reg: &Regularization) -> Result<(), String> {
        reg.denoising_only("convolutional autoencoders")
    }
    fn uses_rng(&self, reg: &Regularization) -> bool {
        reg.noise.is_some()
    }
    /// L = loss(net(x̃), x) with x̃ the corrupted batch (denoising) or x itself.
    fn objective(
        &self,
        g: &mut Graph,
        x: ValueId,
        loss: Loss,
        reg: &Regularization,
        rng: Option<ValueId>,
    ) -> Result<Objective, TrainError> {
        self.validate_regularization(reg)
            .map_err(TrainError::Config)?;
        let input = corrupted_input(g, x, reg.noise, rng)?;
        let (logits, recon) = self.forward(g, input, loss == Loss::BceWithLogits)?;
        let value = reconstruction_term(g, loss, logits, recon, x)?;
        Ok(Objective::single(RECONSTRUCTION, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnist_preset_mirrors_its_encoder() {
        let m = ConvAutoencoder::new(ConvConfig::mnist(), 0).unwrap();
        // 2 encoder + 2 decoder convolutions, weight and bias each.
        assert_eq!(m.parameters().len(), 8);
        // 16·9 + 16 + 32·16·9 + 32 + (32·16·9 + 16) + (16·9 + 1)
        assert_eq!(m.parameter_count(), 160 + 4640 + 4624 + 145);
    }

    #[test]
    fn upsampling_needs_divisible_sizes() {
        let mut c = ConvConfig::mnist();
        c.upsampling = Upsampling::Resize(UpsampleMode::Nearest);
        assert!(c.validate().is_ok()); // 28 → 14 → 7 → 14 → 28
        c.input = ImageShape::new(1, 27, 27);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("divisible"), "{e}");
    }
}
