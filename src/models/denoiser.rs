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
//!
//! ## The U-Net body (`unet_levels` L > 0)
//!
//! The same residual denoiser with a U-Net body instead of the plain stack (Ronneberger
//! et al. 2015; as a denoiser, DRUNet of Zhang et al. 2021, "Plug-and-play image
//! restoration"): level l runs at 1/2^l of the image's side with `width`·2^l channels.
//!
//! ```text
//! x ─ down.0 (depth 3×3 convs, width w) ─ skip₀ ─ 2×2/2 conv ─ down.1 (2w) ─ skip₁ ─ … ─ bottom (2^L·w)
//!                                           │                                  │             │
//! x − output(up.0) ← up.0 (depth convs) ← + ← 2×2/2 transposed conv ← up.1 ← + ← 2×2/2 transposed
//! ```
//!
//! Every level keeps `depth` 3×3 convolutions (with relu, and batch norm when asked)
//! on the way down and on the way up; a 2×2 convolution of stride 2 (relu) halves the
//! side and doubles the channels, a 2×2 transposed convolution of stride 2 (linear)
//! undoes it and its output is added to the skip of its level. Each halving makes a
//! 3×3 convolution see twice as far at a quarter of the pixels, so the receptive field
//! grows as 2^L at about the cost per pixel of one level: a large field at low cost.
//! The image's sides must be multiples of 2^L (the tiles of [`crate::imaging::denoise`]
//! are), and tiles are aligned to that grid so tiled inference stays exact.
//! Names: `down.0.0.weight`, `downsample.0.weight`, `bottom.0.weight`,
//! `upsample.0.weight`, `up.0.1.weight`, `output.weight`.

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
    /// 0: the plain DnCNN stack of `depth` convolutions. L > 0: a U-Net body of L
    /// halvings with `depth` 3×3 convolutions per level and side (see the module's
    /// header); the image's sides must be multiples of 2^L.
    #[serde(default)]
    pub unet_levels: usize,
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
            unet_levels: 0,
        }
    }

    /// A blind U-Net denoiser (see the module's header): `levels` halvings, `convs`
    /// 3×3 convolutions per level and side, `width` channels at full resolution, no
    /// batch norm (DRUNet has none).
    pub fn unet(channels: usize, patch: usize, width: usize, levels: usize, convs: usize) -> Self {
        DenoiserConfig {
            depth: convs,
            batch_norm: false,
            unet_levels: levels,
            ..Self::blind(channels, patch, width, convs)
        }
    }

    /// Multiply-adds per pixel of one forward pass (biases and the residual left out).
    /// The stack: 9·(C·w + (d − 2)·w² + w·C). The U-Net: a 3×3 convolution at level l
    /// has (2^l·w)² weights per tap at 1/4^l of the pixels, so every level costs 9·w²
    /// per convolution, and each 2×2 down- and upsampling 2·w², giving
    /// 18·C·w + 9·w²·(d·(2L + 1) − 1) + 4·L·w².
    pub fn macs_per_pixel(&self) -> usize {
        let (c, w, d, l) = (
            self.input.channels,
            self.width,
            self.depth,
            self.unet_levels,
        );
        if l == 0 {
            return 9 * (c * w + d.saturating_sub(2) * w * w + w * c);
        }
        18 * c * w + 9 * w * w * (d * (2 * l + 1) - 1) + 4 * l * w * w
    }

    /// The side every input must be a multiple of: 2^L for a U-Net, 1 for the stack.
    pub fn alignment(&self) -> usize {
        1usize << self.unet_levels.min(16)
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        if self.input.is_empty() {
            return bad(format!("empty input image {}", self.input));
        }
        if self.unet_levels == 0 && (self.width == 0 || self.depth < 2) {
            return bad(format!(
                "a denoiser needs a width of at least 1 and at least 2 convolutions, got \
                 width {} and depth {}",
                self.width, self.depth
            ));
        }
        if self.unet_levels > 0 {
            if self.unet_levels > 6 || self.width == 0 || self.depth == 0 {
                return bad(format!(
                    "a U-Net denoiser needs 1 to 6 levels, a width and at least 1 convolution \
                     per level, got {} levels, width {} and {} convolutions",
                    self.unet_levels, self.width, self.depth
                ));
            }
            // The deepest level's channels, width·2^L, bound the weights' size.
            if self
                .width
                .checked_shl(self.unet_levels as u32)
                .is_none_or(|w| w > 8192)
            {
                return bad(format!(
                    "width {} doubled over {} levels is over 8192 channels",
                    self.width, self.unet_levels
                ));
            }
            let a = self.alignment();
            if self.input.height % a != 0 || self.input.width % a != 0 {
                return bad(format!(
                    "a U-Net of {} levels takes images whose sides are multiples of {a}, not {}",
                    self.unet_levels, self.input
                ));
            }
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

    /// `denoiser 3×40×40 w64 d17 bn σ 0–50`, or `denoiser 3×40×40 unet2 w32 d2 σ 0–50`
    /// (2 levels, 2 convolutions per level and side).
    pub fn describe(&self) -> String {
        let body = match self.unet_levels {
            0 => String::new(),
            l => format!("unet{l} "),
        };
        format!(
            "denoiser {} {body}w{} d{}{} σ {}–{}",
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
    /// Denoiser: convolutions in all (DnCNN-B: 20); with --unet-levels, 3×3
    /// convolutions per level and side.
    #[arg(long, default_value_t = 17, value_parser = crate::ranges::count)]
    pub depth: usize,
    /// Denoiser: a U-Net body of this many halvings (0: the plain DnCNN stack); patch
    /// sides must be multiples of 2^L.
    #[arg(long, default_value_t = 0)]
    pub unet_levels: usize,
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
        unet_levels: a.unet_levels,
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
    body: Body,
    output: Conv2d,
}

/// Everything between the noisy image and the output convolution.
#[derive(Clone, Debug)]
enum Body {
    /// DnCNN: `depth − 1` convolutions of one width.
    Plain(Sequential),
    UNet(UNet),
}

/// The U-Net body (see the module's header); index l is level l.
#[derive(Clone, Debug)]
struct UNet {
    /// Level l's convolutions on the way down (level 0's first one reads the image).
    down: Vec<Sequential>,
    /// The 2×2 stride-2 convolution from level l to level l + 1.
    downsample: Vec<Conv2d>,
    /// Level L's convolutions.
    bottom: Sequential,
    /// The 2×2 stride-2 transposed convolution from level l + 1 back to level l.
    upsample: Vec<Conv2d>,
    /// Level l's convolutions on the way up, after the skip is added.
    up: Vec<Sequential>,
}

/// `convs` 3×3 convolutions to `width` channels from `input`, each followed by a relu,
/// with a batch norm before the relu from convolution `norm_from` on when `batch_norm`.
#[allow(clippy::too_many_arguments)]
fn conv_stack(
    store: &mut ParamStore,
    scope: &Scope,
    rng: &mut StdRng,
    input: ImageShape,
    width: usize,
    convs: usize,
    batch_norm: bool,
    norm_from: usize,
) -> Result<Sequential, ModelError> {
    let mut stack = Sequential::new();
    let mut current = input;
    for i in 0..convs {
        let normed = batch_norm && i >= norm_from;
        let geometry = ConvGeometry::conv(current, width, 3, 1, 1).map_err(ModelError::Config)?;
        let act = if normed {
            Activation::Linear
        } else {
            Activation::Relu
        };
        let conv = Conv2d::new(
            store,
            &scope.child(stack.len()),
            geometry,
            act,
            Init::He,
            rng,
        )?;
        current = conv.output();
        stack.push(conv);
        if normed {
            let bn = BatchNorm::new(store, &scope.child(stack.len()), current)?;
            stack.push(bn);
            stack.push(Act {
                act: Activation::Relu,
                width: current.len(),
            });
        }
    }
    Ok(stack)
}

impl UNet {
    fn new(
        config: &DenoiserConfig,
        store: &mut ParamStore,
        rng: &mut StdRng,
    ) -> Result<Self, ModelError> {
        let err = ModelError::Config;
        let root = Scope::root();
        let mut net = UNet {
            down: Vec::new(),
            downsample: Vec::new(),
            bottom: Sequential::new(),
            upsample: Vec::new(),
            up: Vec::new(),
        };
        let (bn, depth) = (config.batch_norm, config.depth);
        let mut current = config.input;
        // Level l's feature shape, kept for the way up.
        let mut levels = Vec::new();
        for l in 0..config.unet_levels {
            let width = config.width << l;
            let scope = root.child("down").child(l);
            let norm_from = usize::from(l == 0);
            let stage = conv_stack(store, &scope, rng, current, width, depth, bn, norm_from)?;
            current = ImageShape::new(width, current.height, current.width);
            levels.push(current);
            net.down.push(stage);
            let geometry = ConvGeometry::conv(current, width * 2, 2, 2, 0).map_err(err)?;
            let down = Conv2d::new(
                store,
                &root.child("downsample").child(l),
                geometry,
                Activation::Relu,
                Init::He,
                rng,
            )?;
            current = down.output();
            net.downsample.push(down);
        }
        let width = current.channels;
        net.bottom = conv_stack(
            store,
            &root.child("bottom"),
            rng,
            current,
            width,
            depth,
            bn,
            0,
        )?;
        // The way up is built deepest first, then stored by level.
        for l in (0..config.unet_levels).rev() {
            let level = levels[l];
            let geometry =
                ConvGeometry::transposed(current, level.channels, 2, 2, 0, 0).map_err(err)?;
            let upsample = Conv2d::transposed(
                store,
                &root.child("upsample").child(l),
                geometry,
                Activation::Linear,
                Init::Glorot,
                rng,
            )?;
            let scope = root.child("up").child(l);
            let stage = conv_stack(store, &scope, rng, level, level.channels, depth, bn, 0)?;
            net.upsample.push(upsample);
            net.up.push(stage);
            current = level;
        }
        net.upsample.reverse();
        net.up.reverse();
        Ok(net)
    }

    fn forward(&self, cx: &mut Forward, x: ValueId) -> Result<ValueId, GraphError> {
        let mut skips = Vec::with_capacity(self.down.len());
        let mut h = x;
        for (l, (stage, down)) in self.down.iter().zip(&self.downsample).enumerate() {
            cx.g.set_label(format!("down.{l}"));
            h = stage.forward(cx, h)?;
            skips.push(h);
            h = down.forward(cx, h)?;
        }
        cx.g.set_label("bottom");
        h = self.bottom.forward(cx, h)?;
        for l in (0..self.up.len()).rev() {
            cx.g.set_label(format!("up.{l}"));
            let upsampled = self.upsample[l].forward(cx, h)?;
            let joined =
                cx.g.push(Op::Binary(BinaryOp::Add), &[upsampled, skips[l]])?;
            h = self.up[l].forward(cx, joined)?;
        }
        Ok(h)
    }

    /// Every layer, in no particular order.
    fn modules(&self) -> impl Iterator<Item = &dyn Module> {
        let stacks = self.down.iter().chain([&self.bottom]).chain(&self.up);
        let convs = self.downsample.iter().chain(&self.upsample);
        stacks
            .map(|s| s as &dyn Module)
            .chain(convs.map(|c| c as &dyn Module))
    }
}

impl Body {
    fn forward(&self, cx: &mut Forward, x: ValueId) -> Result<ValueId, GraphError> {
        match self {
            Body::Plain(stack) => {
                cx.g.set_label("body");
                stack.forward(cx, x)
            }
            Body::UNet(net) => net.forward(cx, x),
        }
    }

    /// Every layer: the stack, or the U-Net's stages and resamplings.
    fn modules(&self) -> Box<dyn Iterator<Item = &dyn Module> + '_> {
        match self {
            Body::Plain(stack) => Box::new(std::iter::once(stack as &dyn Module)),
            Body::UNet(net) => Box::new(net.modules()),
        }
    }

    fn parameters(&self) -> Vec<EntryId> {
        self.modules().flat_map(|m| m.parameters()).collect()
    }

    fn buffers(&self) -> Vec<EntryId> {
        self.modules().flat_map(|m| m.buffers()).collect()
    }

    /// The widest feature map. Every layer of a stack (convolution, batch norm, relu)
    /// keeps its input's shape, so a stack's output is as wide as its widest layer.
    fn widest_row(&self) -> usize {
        self.modules().map(|m| m.output_width()).max().unwrap_or(0)
    }
}

impl Denoiser {
    /// A freshly initialised network (He initialisation for the relu layers, zero for
    /// the output convolution).
    pub fn new(config: DenoiserConfig, seed: u64) -> Result<Self, ModelError> {
        config.validate()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut store = ParamStore::new();
        let root = Scope::root();
        let body = if config.unet_levels == 0 {
            let stack = conv_stack(
                &mut store,
                &root.child("body"),
                &mut rng,
                config.input,
                config.width,
                config.depth - 1,
                config.batch_norm,
                1,
            )?;
            Body::Plain(stack)
        } else {
            Body::UNet(UNet::new(&config, &mut store, &mut rng)?)
        };
        // Both bodies end in `width` channels at the input's size.
        let hidden = ImageShape::new(config.width, config.input.height, config.input.width);
        let geometry = ConvGeometry::conv(hidden, config.input.channels, 3, 1, 1)
            .map_err(ModelError::Config)?;
        let output = Conv2d::new(
            &mut store,
            &root.child("output"),
            geometry,
            Activation::Linear,
            Init::Glorot,
            &mut rng,
        )?;
        // The output convolution starts at zero, so the untrained network is the
        // identity x̂ = x̃ and training starts from the noisy input's error instead of
        // from a random residual (the last layer of a residual branch zero-initialised,
        // as in Goyal et al. 2017 and Fixup): on the photos, 2 epochs of a 32 × 8
        // stack reach 26.6 dB on the patches instead of 25.8, a U-Net 26.9 instead of
        // 24.1.
        let n = store.values(output.weight).len();
        store.set_values(output.weight, vec![0.0; n]);
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

    /// The receptive-field radius in pixels. The stack: one per 3×3 convolution. The
    /// U-Net: a 3×3 convolution at level l reaches 2^l pixels, and so (at most) does
    /// each 2×2 stride-2 convolution into or out of level l; with d convolutions per
    /// level and side that is (2d + 2)(2^L − 1) + d·2^L, plus 1 for the output.
    pub fn receptive_radius(&self) -> usize {
        let (d, levels) = (self.config.depth, self.config.unet_levels);
        if levels == 0 {
            return d;
        }
        let scale = 1usize << levels;
        (2 * d + 2) * (scale - 1) + d * scale + 1
    }

    /// x̂ = x − net(x).
    fn forward(&self, g: &mut Graph, x: ValueId, mode: Mode) -> Result<ValueId, GraphError> {
        let mut cx = Forward::new(g, &self.store, mode);
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
        self.body.widest_row().max(self.config.input.len())
    }
    fn output_activation(&self) -> Activation {
        Activation::Linear
    }
    /// The code of a denoiser is its last hidden feature map.
    fn encode(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
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
