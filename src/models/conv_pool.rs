//! The pooling convolutional autoencoder, the seeds' classic design (Masci et al. 2011;
//! the Keras blog's convolutional autoencoder): each encoder stage is a k×k convolution
//! (stride 1, "same" padding k/2) with relu, then a 2×2 max-pool that halves the image;
//! the code is the last pooled feature map. The decoder mirrors every stage by
//! upsampling ×2 (nearest or bilinear) and a convolution; the last convolution maps
//! back to the input's channels with the output activation.
//!
//! With `batch_norm`, every convolution but the output one is followed by a batch norm
//! (`nn.BatchNorm2d`) before its activation, PyTorch's `Conv2d → BatchNorm2d → ReLU`:
//! the convolution then needs no bias of its own in principle, but keeps it so the
//! layer is the same `Conv2d` either way. Training normalises with the batch's
//! statistics and moves the running ones; evaluation, encoding and reconstruction use
//! the running ones.
//!
//! Parameter names follow `nn.Sequential`: `encoder.0.weight` (a convolution),
//! `encoder.1.running_mean` (its batch norm), and so on, parameter-free layers (the
//! activation, the pool, the upsampling) counted too.

use std::collections::BTreeMap;
use std::path::Path;

use clap::{ArgMatches, Args, FromArgMatches};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::graph::{EntryId, Graph, GraphError, ParamStore, ValueId};
use crate::io::NamedTensor;
use crate::models::args::{ActivationArgs, ImageArgs};
use crate::models::file::restore;
use crate::models::registry::{BuildContext, Built, Kind};
use crate::models::{Autoencoder, ModelError};
use crate::nn::{
    init::Init, output_with_logits, Act, BatchNorm, Conv2d, Forward, Mode, Module, Pool2d, Scope,
    Sequential, Upsample,
};
use crate::ops::{Activation, ConvGeometry, ImageShape, Loss, PoolKind, UpsampleMode};
use crate::train::objective::{corrupted_input, reconstruction_term, Objective, RECONSTRUCTION};
use crate::train::{Regularization, TrainError};

/// Everything needed to rebuild the network; saved as JSON in the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvPoolConfig {
    pub input: ImageShape,
    /// Output channels of each encoder convolution; each stage halves the image.
    pub channels: Vec<usize>,
    /// Kernel size (odd), padding k/2.
    pub kernel: usize,
    /// 2×2 max or average pooling.
    pub pool: PoolKind,
    /// How the decoder doubles the image before each convolution.
    pub upsample: UpsampleMode,
    /// A batch norm between every hidden convolution and its activation.
    pub batch_norm: bool,
    /// Activation of every layer but the output.
    pub activation: Activation,
    pub output_activation: Activation,
    pub init: Init,
}

impl ConvPoolConfig {
    /// MNIST: 1×28×28 → 16@14×14 → 32@7×7 and back, relu, sigmoid output, max-pooling,
    /// nearest upsampling.
    pub fn mnist() -> Self {
        ConvPoolConfig {
            input: ImageShape::new(1, 28, 28),
            channels: vec![16, 32],
            kernel: 3,
            pool: PoolKind::Max,
            upsample: UpsampleMode::Nearest,
            batch_norm: false,
            activation: Activation::Relu,
            output_activation: Activation::Sigmoid,
            init: Init::Auto,
        }
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        if self.input.is_empty() {
            return bad(format!("empty input image {}", self.input));
        }
        if self.channels.is_empty() || self.channels.contains(&0) {
            return bad(format!(
                "need at least one encoder stage of at least one channel, got {:?}",
                self.channels
            ));
        }
        if self.kernel % 2 == 0 {
            return bad(format!(
                "the kernel size must be odd (same padding), got {}",
                self.kernel
            ));
        }
        let scale = 1usize
            .checked_shl(self.channels.len() as u32)
            .filter(|&s| s <= self.input.height.min(self.input.width))
            .ok_or_else(|| {
                ModelError::Config(format!(
                    "{} pooling stages halve {} to nothing",
                    self.channels.len(),
                    self.input
                ))
            })?;
        if self.input.height % scale != 0 || self.input.width % scale != 0 {
            return bad(format!(
                "{} stages of 2×2 pooling need an image whose sides divide by {scale}, got {}",
                self.channels.len(),
                self.input
            ));
        }
        Ok(())
    }

    /// `conv-pool 1×28×28 16,32 k3 max nearest`, with `batch-norm` when it applies.
    pub fn describe(&self) -> String {
        let channels: Vec<String> = self.channels.iter().map(|c| c.to_string()).collect();
        let pool = match self.pool {
            PoolKind::Max => "max",
            PoolKind::Avg => "avg",
        };
        let up = match self.upsample {
            UpsampleMode::Nearest => "nearest",
            UpsampleMode::Bilinear => "bilinear",
        };
        let mut s = format!(
            "conv-pool {} {} k{} {pool} {up}",
            self.input,
            channels.join(","),
            self.kernel
        );
        if self.batch_norm {
            s += " batch-norm";
        }
        s
    }
}

/// The flags of `aegpu train --model conv-pool`.
#[derive(Args, Debug, Clone)]
pub struct ConvPoolArgs {
    #[command(flatten)]
    pub shared: ActivationArgs,
    #[command(flatten)]
    pub image: ImageArgs,
    /// Conv-pool: `max` or `avg` 2×2 pooling after each encoder convolution.
    #[arg(long, default_value = "max", value_parser = parse_pool)]
    pub pool: PoolKind,
    /// Conv-pool: how the decoder doubles the image: `nearest` or `bilinear`.
    #[arg(long, default_value = "nearest", value_parser = parse_upsample)]
    pub upsample: UpsampleMode,
    /// Conv-pool: a batch norm between each hidden convolution and its activation.
    #[arg(long)]
    pub batch_norm: bool,
}

fn parse_pool(s: &str) -> Result<PoolKind, String> {
    match s {
        "max" => Ok(PoolKind::Max),
        "avg" => Ok(PoolKind::Avg),
        other => Err(format!("unknown pooling `{other}` (expected max or avg)")),
    }
}

fn parse_upsample(s: &str) -> Result<UpsampleMode, String> {
    match s {
        "nearest" => Ok(UpsampleMode::Nearest),
        "bilinear" => Ok(UpsampleMode::Bilinear),
        other => Err(format!(
            "unknown upsampling `{other}` (expected nearest or bilinear)"
        )),
    }
}

/// The pooling kind in the registry.
pub const KIND: Kind = Kind {
    name: "conv-pool",
    about: "convolutions and 2×2 max-pooling, `--channels`, `--pool`, `--upsample`, `--batch-norm`",
    args: ConvPoolArgs::augment_args,
    build: build_from_flags,
    restore: restore_boxed,
};

fn build_from_flags(m: &ArgMatches, cx: &BuildContext) -> Built {
    let a = ConvPoolArgs::from_arg_matches(m).map_err(|e| e.to_string())?;
    let config = ConvPoolConfig {
        input: a.image.input(cx.data, cx.cols)?,
        channels: a.image.channels.clone(),
        kernel: a.image.kernel,
        pool: a.pool,
        upsample: a.upsample,
        batch_norm: a.batch_norm,
        activation: a.shared.activation,
        output_activation: a.shared.output_activation.unwrap_or(Activation::Sigmoid),
        init: a.shared.init.unwrap_or(Init::Auto),
    };
    let model = ConvPoolAutoencoder::new(config, cx.seed).map_err(|e| e.to_string())?;
    Ok(Box::new(model))
}

fn restore_boxed(
    path: &Path,
    tensors: &[NamedTensor],
    meta: &BTreeMap<String, String>,
) -> Result<Box<dyn Autoencoder>, ModelError> {
    let model = restore(path, tensors, meta, |c| ConvPoolAutoencoder::new(c, 0))?;
    Ok(Box::new(model))
}

/// A pooling convolutional autoencoder and the store holding its weights.
#[derive(Clone, Debug)]
pub struct ConvPoolAutoencoder {
    pub config: ConvPoolConfig,
    pub store: ParamStore,
    encoder: Sequential,
    /// Every decoder layer but the output convolution.
    decoder: Sequential,
    output: Conv2d,
}

impl ConvPoolAutoencoder {
    /// A freshly initialised network.
    pub fn new(config: ConvPoolConfig, seed: u64) -> Result<Self, ModelError> {
        config.validate()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut store = ParamStore::new();
        let (k, pad) = (config.kernel, config.kernel / 2);
        let err = |e: String| ModelError::Config(e);
        let hidden = if config.batch_norm {
            Activation::Linear
        } else {
            config.activation
        };
        // conv [→ batch norm → activation], appended to `seq` under `scope`.
        let mut stage = |seq: &mut Sequential,
                         scope: &Scope,
                         from: ImageShape,
                         to: usize|
         -> Result<ImageShape, ModelError> {
            let geometry = ConvGeometry::conv(from, to, k, 1, pad).map_err(err)?;
            let at = |seq: &Sequential| scope.child(seq.len());
            let conv = Conv2d::new(
                &mut store,
                &at(seq),
                geometry,
                hidden,
                config.init,
                &mut rng,
            )?;
            let out = conv.output();
            seq.push(conv);
            if config.batch_norm {
                seq.push(BatchNorm::new(&mut store, &at(seq), out)?);
                seq.push(Act {
                    act: config.activation,
                    width: out.len(),
                });
            }
            Ok(out)
        };

        let mut sizes = vec![config.input];
        let mut encoder = Sequential::new();
        let enc = Scope::root().child("encoder");
        for &c in &config.channels {
            let from = *sizes.last().expect("starts with the input");
            let features = stage(&mut encoder, &enc, from, c)?;
            let pool = Pool2d::new(config.pool, features, 2, 2).map_err(err)?;
            sizes.push(pool.output());
            encoder.push(pool);
        }
        let mut decoder = Sequential::new();
        let dec = Scope::root().child("decoder");
        let mut current = *sizes.last().expect("at least one stage");
        for i in (1..config.channels.len()).rev() {
            let up = Upsample::new(config.upsample, current, 2);
            decoder.push(up);
            current = stage(&mut decoder, &dec, up.output(), sizes[i].channels)?;
        }
        let up = Upsample::new(config.upsample, current, 2);
        decoder.push(up);
        let geometry =
            ConvGeometry::conv(up.output(), config.input.channels, k, 1, pad).map_err(err)?;
        let output = Conv2d::new(
            &mut store,
            &dec.child(decoder.len()),
            geometry,
            config.output_activation,
            config.init,
            &mut rng,
        )?;
        if output.output() != config.input {
            return Err(err(format!(
                "the decoder gives {}, not the input {}",
                output.output(),
                config.input
            )));
        }
        Ok(ConvPoolAutoencoder {
            config,
            store,
            encoder,
            decoder,
            output,
        })
    }

    /// `x → (logits, x̂)`; the logits are the output convolution before its activation
    /// when `logits` (for the stable BCE), else x̂ itself.
    fn forward(
        &self,
        g: &mut Graph,
        x: ValueId,
        mode: Mode,
        logits: bool,
    ) -> Result<(ValueId, ValueId), GraphError> {
        let mut cx = Forward::new(g, &self.store, mode);
        cx.g.set_label("encoder");
        let code = self.encoder.forward(&mut cx, x)?;
        cx.g.set_label("decoder");
        let h = self.decoder.forward(&mut cx, code)?;
        output_with_logits(
            &self.output,
            &mut cx,
            h,
            self.config.output_activation,
            logits,
        )
    }
}

impl Autoencoder for ConvPoolAutoencoder {
    fn kind(&self) -> &'static str {
        KIND.name
    }
    fn config_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or(serde_json::Value::Null)
    }
    fn describe(&self) -> String {
        self.config.describe()
    }
    fn store(&self) -> &ParamStore {
        &self.store
    }
    fn store_mut(&mut self) -> &mut ParamStore {
        &mut self.store
    }
    fn parameters(&self) -> Vec<EntryId> {
        let mut p = self.encoder.parameters();
        p.extend(self.decoder.parameters());
        p.extend(self.output.parameters());
        p
    }
    fn buffers(&self) -> Vec<EntryId> {
        let mut b = self.encoder.buffers();
        b.extend(self.decoder.buffers());
        b
    }
    fn input_width(&self) -> usize {
        self.config.input.len()
    }
    fn image_shape(&self) -> Option<ImageShape> {
        Some(self.config.input)
    }
    fn widest_row(&self) -> usize {
        self.encoder
            .layers
            .iter()
            .chain(&self.decoder.layers)
            .map(|l| l.output_width())
            .chain([self.config.input.len()])
            .max()
            .unwrap_or(0)
    }
    fn output_activation(&self) -> Activation {
        self.config.output_activation
    }
    fn encode(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        g.set_label("encoder");
        self.encoder
            .forward(&mut Forward::new(g, &self.store, Mode::Eval), x)
    }
    fn reconstruct_logits(
        &self,
        g: &mut Graph,
        x: ValueId,
    ) -> Result<(ValueId, ValueId), GraphError> {
        self.forward(g, x, Mode::Eval, true)
    }
    fn reconstruct(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        Ok(self.forward(g, x, Mode::Eval, false)?.1)
    }
    fn validate_regularization(&self, reg: &Regularization) -> Result<(), String> {
        reg.denoising_only("pooling convolutional autoencoders")
    }
    fn uses_rng(&self, reg: &Regularization) -> bool {
        reg.noise.is_some()
    }
    /// L = loss(net(x̃), x), x̃ the corrupted batch (denoising) or x itself; batch norm
    /// in training mode.
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
        let bce = loss == Loss::BceWithLogits;
        let (logits, recon) = self.forward(g, input, Mode::Train, bce)?;
        let value = reconstruction_term(g, loss, logits, recon, x)?;
        Ok(Objective::single(RECONSTRUCTION, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnist_preset_has_the_strided_conv_s_parameter_count_and_code() {
        let m = ConvPoolAutoencoder::new(ConvPoolConfig::mnist(), 0).unwrap();
        // 16·9 + 16 + 32·16·9 + 32 + (16·32·9 + 16) + (16·9 + 1)
        assert_eq!(m.parameter_count(), 160 + 4640 + 4624 + 145);
        assert_eq!(m.code_width(), 32 * 7 * 7);
        let names: Vec<&str> = m
            .parameters()
            .iter()
            .map(|&id| m.store.get(id).name.as_str())
            .collect();
        // encoder: conv 0, pool 1, conv 2, pool 3; decoder: up 0, conv 1, up 2, conv 3
        assert_eq!(
            names,
            [
                "encoder.0.weight",
                "encoder.0.bias",
                "encoder.2.weight",
                "encoder.2.bias",
                "decoder.1.weight",
                "decoder.1.bias",
                "decoder.3.weight",
                "decoder.3.bias"
            ]
        );
    }

    #[test]
    fn batch_norm_adds_affine_parameters_and_running_statistics() {
        let config = ConvPoolConfig {
            batch_norm: true,
            ..ConvPoolConfig::mnist()
        };
        let m = ConvPoolAutoencoder::new(config, 0).unwrap();
        // γ and β of the 16-, 32- and 16-channel batch norms.
        assert_eq!(m.parameter_count(), 9569 + 2 * (16 + 32 + 16));
        let buffers: Vec<&str> = m
            .buffers()
            .iter()
            .map(|&id| m.store.get(id).name.as_str())
            .collect();
        assert_eq!(
            buffers,
            [
                "encoder.1.running_mean",
                "encoder.1.running_var",
                "encoder.5.running_mean",
                "encoder.5.running_var",
                "decoder.2.running_mean",
                "decoder.2.running_var"
            ]
        );
        assert_eq!(
            m.describe(),
            "conv-pool 1×28×28 16,32 k3 max nearest batch-norm"
        );
    }

    #[test]
    fn image_sides_must_divide_by_the_total_pooling() {
        let mut c = ConvPoolConfig::mnist();
        c.input = ImageShape::new(1, 30, 30);
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("divide by 4"), "{e}");
        c.channels = vec![4; 6];
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("to nothing"), "{e}");
    }
}
