//! The blind image denoiser (DnCNN-B, Zhang et al. 2017, "Beyond a Gaussian denoiser"):
//! a stack of 3×3 convolutions of one width, stride 1, that predicts the noise and
//! subtracts it from its input, x̂ = x̃ − net(x̃). The first convolution is followed by
//! a relu, each middle one by a batch norm and a relu (`batch_norm`) or by a relu
//! alone, the last one maps back to the image's channels with no activation. Grey
//! (1 channel) and colour (3 channels, denoised jointly) models are the same kind.
//!
//! Blind training: every patch of every step gets Gaussian noise of its own level σ,
//! drawn uniformly from `[sigma_min, sigma_max]`, so one model serves every noise level
//! in that range without being told which. Both draws are on the device, from the
//! step's Philox key: the noise from the `input_noise` stream, the levels from
//! [`NOISE_LEVEL`]. A uniform level comes from two standard normal draws z₁, z₂:
//! z₁² + z₂² is χ² with two degrees of freedom, i.e. exponential with mean 2, so
//! u = exp(−(z₁² + z₂²)/2) is uniform on (0, 1], and σ = σ_min + (σ_max − σ_min)·u.
//!
//! Parameter names follow `nn.Sequential`: `body.0.weight` (the first convolution),
//! `body.2.weight` and `body.3.running_mean` (a middle convolution and its batch norm),
//! …, `output.weight`.

use std::collections::BTreeMap;
use std::path::Path;

use clap::{ArgMatches, Args, FromArgMatches};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::graph::{EntryId, Graph, GraphError, ParamStore, Shape, ValueId};
use crate::io::NamedTensor;
use crate::models::args::parse_image_shape;
use crate::models::file::restore;
use crate::models::registry::{BuildContext, Built, Kind};
use crate::models::{Autoencoder, ModelError};
use crate::nn::{init::Init, Act, BatchNorm, Conv2d, Forward, Mode, Module, Scope, Sequential};
use crate::ops::random::{Noise, Streams, INPUT_NOISE};
use crate::ops::reduce::{Axis, Reduce, ReduceKind};
use crate::ops::{Activation, BinaryOp, ConvGeometry, ImageShape, Loss, Op, UnaryOp};
use crate::train::objective::{reconstruction_term, Objective, RECONSTRUCTION};
use crate::train::{Regularization, TrainError};

/// The Philox stream the per-patch noise levels are drawn from.
pub const NOISE_LEVEL: &str = "denoiser.noise_level";

/// Everything needed to rebuild the network; saved as JSON in the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenoiserConfig {
    /// The training patch (any size works at inference: see [`Denoiser::with_input`]);
    /// 1 channel (grey) or 3 (colour, RGB).
    pub input: ImageShape,
    /// Channels of every hidden convolution.
    pub width: usize,
    /// Convolutions in all, the first and the output one included (DnCNN-B: 20).
    pub depth: usize,
    /// A batch norm between each middle convolution and its relu.
    pub batch_norm: bool,
    /// The range of noise levels trained on, standard deviations on the 0–1 scale.
    pub sigma_min: f32,
    pub sigma_max: f32,
}

impl DenoiserConfig {
    /// A blind denoiser of `channels`-channel `patch` × `patch` patches, trained on
    /// σ ∈ [0, 50] (0–255 scale), the DnCNN-B range.
    pub fn blind(channels: usize, patch: usize, width: usize, depth: usize) -> Self {
        DenoiserConfig {
            input: ImageShape::new(channels, patch, patch),
            width,
            depth,
            batch_norm: true,
            sigma_min: 0.0,
            sigma_max: 50.0 / 255.0,
        }
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        if self.input.is_empty() {
            return bad(format!("empty input image {}", self.input));
        }
        if self.width == 0 || self.depth < 2 {
            return bad(format!(
                "a denoiser needs a width of at least 1 and at least 2 convolutions, got \
                 width {} and depth {}",
                self.width, self.depth
            ));
        }
        let range_ok = self.sigma_min.is_finite()
            && self.sigma_max.is_finite()
            && 0.0 <= self.sigma_min
            && self.sigma_min <= self.sigma_max;
        if !range_ok {
            return bad(format!(
                "the training noise range must satisfy 0 ≤ min ≤ max, got [{}, {}] \
                 (0–255 scale)",
                self.sigma_min * 255.0,
                self.sigma_max * 255.0
            ));
        }
        Ok(())
    }

    /// `denoiser 3×40×40 w64 d17 bn σ 0–50`.
    pub fn describe(&self) -> String {
        format!(
            "denoiser {} w{} d{}{} σ {}–{}",
            self.input,
            self.width,
            self.depth,
            if self.batch_norm { " bn" } else { "" },
            self.sigma_min * 255.0,
            self.sigma_max * 255.0
        )
    }

    /// Whether `sigma_255` (0–255 scale) is inside the trained range, with a little
    /// slack for the estimate's rounding.
    pub fn covers(&self, sigma_255: f32) -> bool {
        let s = sigma_255 / 255.0;
        s >= self.sigma_min - 0.5 / 255.0 && s <= self.sigma_max + 0.5 / 255.0
    }
}

/// The flags of `aegpu train --model denoiser`.
#[derive(Args, Debug, Clone)]
pub struct DenoiserArgs {
    /// Denoiser: the training patch, CxHxW (C = 1 grey, 3 colour).
    #[arg(long = "patch-shape")]
    pub patch_shape: Option<String>,
    /// Denoiser: channels of every hidden convolution.
    #[arg(long, default_value_t = 64, value_parser = crate::ranges::count)]
    pub width: usize,
    /// Denoiser: convolutions in all (DnCNN-B: 20).
    #[arg(long, default_value_t = 17, value_parser = crate::ranges::count)]
    pub depth: usize,
    /// Denoiser: no batch norm after the middle convolutions.
    #[arg(long)]
    pub no_batch_norm: bool,
    /// Denoiser: the noise levels trained on, MIN,MAX on the 0–255 scale (one level
    /// per patch per step, drawn uniformly).
    #[arg(long, value_delimiter = ',', num_args = 2, default_values_t = [0.0, 50.0])]
    pub sigma_range: Vec<f32>,
}

/// The blind denoiser kind in the registry.
pub const KIND: Kind = Kind {
    name: "denoiser",
    about: "blind residual image denoiser (DnCNN-B), `--patch-shape`, `--width`, `--depth`, \
            `--sigma-range`",
    args: DenoiserArgs::augment_args,
    build: build_from_flags,
    restore: restore_boxed,
};

fn build_from_flags(m: &ArgMatches, cx: &BuildContext) -> Built {
    let a = DenoiserArgs::from_arg_matches(m).map_err(|e| e.to_string())?;
    let input = match &a.patch_shape {
        Some(s) => parse_image_shape(s)?,
        None => {
            let side = (cx.cols as f64).sqrt().round() as usize;
            if side * side != cx.cols {
                return Err(format!(
                    "the data has {} columns, not a square grey patch: give --patch-shape CxHxW",
                    cx.cols
                ));
            }
            ImageShape::new(1, side, side)
        }
    };
    if input.len() != cx.cols {
        return Err(format!(
            "--patch-shape {input} has {} values, the data's rows {}",
            input.len(),
            cx.cols
        ));
    }
    if cx.regularization.noise.is_some() {
        return Err(
            "the denoiser adds its own noise (--sigma-range); leave out --noise".to_string(),
        );
    }
    let config = DenoiserConfig {
        input,
        width: a.width,
        depth: a.depth,
        batch_norm: !a.no_batch_norm,
        sigma_min: a.sigma_range[0] / 255.0,
        sigma_max: a.sigma_range[1] / 255.0,
    };
    let model = Denoiser::new(config, cx.seed).map_err(|e| e.to_string())?;
    Ok(Box::new(model))
}

fn restore_boxed(
    path: &Path,
    tensors: &[NamedTensor],
    meta: &BTreeMap<String, String>,
) -> Result<Box<dyn Autoencoder>, ModelError> {
    Ok(Box::new(restore(path, tensors, meta, |c| {
        Denoiser::new(c, 0)
    })?))
}

/// A blind residual denoiser and the store holding its weights.
#[derive(Clone, Debug)]
pub struct Denoiser {
    pub config: DenoiserConfig,
    pub store: ParamStore,
    /// Every layer but the output convolution.
    body: Sequential,
    output: Conv2d,
}

impl Denoiser {
    /// A freshly initialised network (He initialisation for the relu layers).
    pub fn new(config: DenoiserConfig, seed: u64) -> Result<Self, ModelError> {
        config.validate()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut store = ParamStore::new();
        let err = ModelError::Config;
        let scope = Scope::root().child("body");
        let mut body = Sequential::new();
        let mut current = config.input;
        for i in 0..config.depth - 1 {
            let normed = config.batch_norm && i > 0;
            let geometry = ConvGeometry::conv(current, config.width, 3, 1, 1).map_err(err)?;
            let act = if normed {
                Activation::Linear
            } else {
                Activation::Relu
            };
            let conv = Conv2d::new(
                &mut store,
                &scope.child(body.len()),
                geometry,
                act,
                Init::He,
                &mut rng,
            )?;
            current = conv.output();
            body.push(conv);
            if normed {
                let bn = BatchNorm::new(&mut store, &scope.child(body.len()), current)?;
                body.push(bn);
                body.push(Act {
                    act: Activation::Relu,
                    width: current.len(),
                });
            }
        }
        let geometry = ConvGeometry::conv(current, config.input.channels, 3, 1, 1).map_err(err)?;
        let output = Conv2d::new(
            &mut store,
            &Scope::root().child("output"),
            geometry,
            Activation::Linear,
            Init::Glorot,
            &mut rng,
        )?;
        Ok(Denoiser {
            config,
            store,
            body,
            output,
        })
    }

    /// The same weights (and running statistics) for another input size: the network
    /// is fully convolutional, so a model trained on patches denoises whole tiles.
    pub fn with_input(&self, input: ImageShape) -> Result<Self, ModelError> {
        if input.channels != self.config.input.channels {
            return Err(ModelError::Config(format!(
                "the model takes {}-channel images, not {}",
                self.config.input.channels, input.channels
            )));
        }
        let config = DenoiserConfig {
            input,
            ..self.config.clone()
        };
        let mut model = Denoiser::new(config, 0)?;
        crate::models::autoencoder::copy_saved_values(&mut model, self);
        Ok(model)
    }

    /// The receptive-field radius: one pixel per 3×3 convolution.
    pub fn receptive_radius(&self) -> usize {
        self.config.depth
    }

    /// x̂ = x − net(x).
    fn forward(&self, g: &mut Graph, x: ValueId, mode: Mode) -> Result<ValueId, GraphError> {
        let mut cx = Forward::new(g, &self.store, mode);
        cx.g.set_label("body");
        let h = self.body.forward(&mut cx, x)?;
        cx.g.set_label("output");
        let noise = self.output.forward(&mut cx, h)?;
        g.set_label("residual");
        g.push(Op::Binary(BinaryOp::Sub), &[x, noise])
    }

    /// `x` plus Gaussian noise of a level drawn per row from the trained range (see the
    /// module's header).
    fn blind_noise(&self, g: &mut Graph, x: ValueId, rng: ValueId) -> Result<ValueId, GraphError> {
        g.set_label("blind input noise");
        let shape = g.shape(x);
        let mut streams = Streams::new();
        let noise_stream = streams.allocate(INPUT_NOISE)?;
        let level_stream = streams.allocate(NOISE_LEVEL)?;
        let standard = Noise::Gaussian { sigma: 1.0 };
        let draw = |g: &mut Graph, shape: Shape, stream: u32| -> Result<ValueId, GraphError> {
            let zeros = g.push(Op::Fill { value: 0.0, shape }, &[])?;
            g.push(
                Op::Noise {
                    noise: standard,
                    stream,
                },
                &[zeros, rng],
            )
        };
        let z = draw(g, shape, noise_stream)?;
        let pair = draw(g, Shape::new(shape.rows, 2), level_stream)?;
        let squares = g.push(Op::Binary(BinaryOp::Mul), &[pair, pair])?;
        let chi2 = g.push(
            Op::Reduce(Reduce {
                kind: ReduceKind::Sum,
                axis: Axis::Cols,
            }),
            &[squares],
        )?;
        let half = g.push(Op::Scale(-0.5), &[chi2])?;
        let uniform = g.push(Op::Unary(UnaryOp::Exp), &[half])?;
        let (lo, hi) = (self.config.sigma_min, self.config.sigma_max);
        let spread = g.push(Op::Scale(hi - lo), &[uniform])?;
        let floor = g.push(
            Op::Fill {
                value: lo,
                shape: Shape::new(shape.rows, 1),
            },
            &[],
        )?;
        let sigma = g.push(Op::Binary(BinaryOp::Add), &[spread, floor])?;
        let sigma = g.push(Op::Broadcast(shape), &[sigma])?;
        let noise = g.push(Op::Binary(BinaryOp::Mul), &[z, sigma])?;
        g.push(Op::Binary(BinaryOp::Add), &[x, noise])
    }
}

impl Autoencoder for Denoiser {
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
        let mut p = self.body.parameters();
        p.extend(self.output.parameters());
        p
    }
    fn buffers(&self) -> Vec<EntryId> {
        self.body.buffers()
    }
    fn input_width(&self) -> usize {
        self.config.input.len()
    }
    fn image_shape(&self) -> Option<ImageShape> {
        Some(self.config.input)
    }
    fn widest_row(&self) -> usize {
        self.body
            .layers
            .iter()
            .map(|l| l.output_width())
            .chain([self.config.input.len()])
            .max()
            .unwrap_or(0)
    }
    fn output_activation(&self) -> Activation {
        Activation::Linear
    }
    /// The code of a denoiser is its last hidden feature map.
    fn encode(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        g.set_label("body");
        self.body
            .forward(&mut Forward::new(g, &self.store, Mode::Eval), x)
    }
    fn reconstruct_logits(
        &self,
        g: &mut Graph,
        x: ValueId,
    ) -> Result<(ValueId, ValueId), GraphError> {
        let y = self.forward(g, x, Mode::Eval)?;
        Ok((y, y))
    }
    fn reconstruct(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        self.forward(g, x, Mode::Eval)
    }
    fn validate_regularization(&self, reg: &Regularization) -> Result<(), String> {
        if reg.noise.is_some() {
            return Err(format!(
                "a blind denoiser adds its own Gaussian noise (σ {}–{} on the 0–255 scale, \
                 per patch); leave out the input noise",
                self.config.sigma_min * 255.0,
                self.config.sigma_max * 255.0
            ));
        }
        reg.denoising_only("blind denoisers")
    }
    fn uses_rng(&self, _reg: &Regularization) -> bool {
        true
    }
    /// L = MSE(x̃ − net(x̃), x) with x̃ = x + σ·z, σ drawn per patch; batch norm in
    /// training mode.
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
        if loss != Loss::Mse {
            return Err(TrainError::Config(
                "a denoiser predicts unbounded noise: train it with the MSE loss".into(),
            ));
        }
        let rng =
            rng.ok_or_else(|| TrainError::Config("denoising needs the random key input".into()))?;
        let noisy = self.blind_noise(g, x, rng)?;
        let recon = self.forward(g, noisy, Mode::Train)?;
        let value = reconstruction_term(g, loss, recon, recon, x)?;
        Ok(Objective::single(RECONSTRUCTION, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_counts_and_description() {
        let m = Denoiser::new(DenoiserConfig::blind(3, 8, 4, 4), 0).unwrap();
        // 3→4, 4→4 (+bn), 4→4 (+bn), 4→3
        let convs = (3 * 9 * 4 + 4) + 2 * (4 * 9 * 4 + 4) + (4 * 9 * 3 + 3);
        assert_eq!(m.parameter_count(), convs + 2 * 2 * 4);
        let names: Vec<&str> = m
            .saved_entries()
            .iter()
            .map(|&id| m.store.get(id).name.as_str())
            .collect();
        assert_eq!(names[0], "body.0.weight");
        assert!(names.contains(&"body.2.running_var"), "{names:?}");
        assert!(names.contains(&"output.bias"), "{names:?}");
        assert_eq!(m.describe(), "denoiser 3×8×8 w4 d4 bn σ 0–50");
        assert_eq!(m.receptive_radius(), 4);
    }

    #[test]
    fn bad_configs_are_refused() {
        let mut c = DenoiserConfig::blind(1, 8, 4, 1);
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("2 convolutions"));
        c.depth = 3;
        c.sigma_min = 0.3;
        c.sigma_max = 0.1;
        assert!(c.validate().unwrap_err().to_string().contains("min ≤ max"));
    }
}
