//! What a VAE is: its architecture and objective settings ([`VaeConfig`], saved in
//! model files), the decoder's distribution, the convolutional part, and the flags of
//! `aegpu train --model vae` that make a config.

use std::fmt;
use std::str::FromStr;

use clap::Args;
use serde::{Deserialize, Serialize};

use crate::graph::Shape;
use crate::models::args::{ActivationArgs, ImageArgs};
use crate::models::{ModelError, MAX_PARAMETERS};
use crate::nn::init::Init;
use crate::ops::{Activation, ConvGeometry, ImageShape};

/// The decoder's distribution p(x|z).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Likelihood {
    /// Bernoulli on the output logits (data in [0, 1], binarised or grey).
    Bernoulli,
    /// Gaussian around the output with standard deviation `sigma`; with `learned`, a
    /// log-variance per input column is trained, starting at ln σ².
    Gaussian { sigma: f32, learned: bool },
}

impl Likelihood {
    /// The activation that turns the output layer into the decoder's mean.
    pub fn mean_activation(self) -> Activation {
        match self {
            Likelihood::Bernoulli => Activation::Sigmoid,
            Likelihood::Gaussian { .. } => Activation::Linear,
        }
    }
}

impl fmt::Display for Likelihood {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Likelihood::Bernoulli => write!(f, "bernoulli"),
            Likelihood::Gaussian { sigma, learned } => {
                write!(
                    f,
                    "gaussian σ {sigma}{}",
                    if learned { " learned" } else { "" }
                )
            }
        }
    }
}

/// `--likelihood`: the family of the decoder's p(x|z).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecoderFamily {
    Bernoulli,
    Gaussian,
}

impl FromStr for DecoderFamily {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "bernoulli" => Ok(DecoderFamily::Bernoulli),
            "gaussian" => Ok(DecoderFamily::Gaussian),
            _ => Err(format!(
                "unknown decoder `{s}` (expected bernoulli or gaussian)"
            )),
        }
    }
}

/// A convolutional VAE's image side: stride-2 convolutions (padding k/2) from the
/// image before the dense layers, mirrored by transposed convolutions after them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvStack {
    pub image: ImageShape,
    /// Output channels of each encoder convolution.
    pub channels: Vec<usize>,
    /// Kernel size (odd).
    pub kernel: usize,
}

impl ConvStack {
    /// The geometry of every encoder convolution, from the image down.
    pub fn geometries(&self) -> Result<Vec<ConvGeometry>, String> {
        if self.channels.is_empty() || self.channels.contains(&0) {
            return Err(format!(
                "a convolutional VAE needs channels ≥ 1, got {:?}",
                self.channels
            ));
        }
        if self.kernel % 2 == 0 {
            return Err(format!("the kernel size must be odd, got {}", self.kernel));
        }
        let mut image = self.image;
        let mut out = vec![];
        for &c in &self.channels {
            // The decoder's transposed convolution of the same geometry gives back
            // exactly this image.
            let g = ConvGeometry::conv(image, c, self.kernel, 2, self.kernel / 2)?;
            image = g.features;
            out.push(g);
        }
        Ok(out)
    }

    /// The feature maps the dense layers read (and the decoder's dense part writes).
    pub fn features(&self) -> Result<ImageShape, String> {
        Ok(self.geometries()?.last().map_or(self.image, |g| g.features))
    }
}

/// A dense layer's (fan_in, fan_out).
pub(super) type Sides = (usize, usize);

/// Everything needed to rebuild the network and its objective; saved as JSON in the
/// model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VaeConfig {
    /// Values per input row.
    pub input: usize,
    /// Hidden widths of the encoder (the decoder mirrors them), e.g. `[400]`.
    pub hidden: Vec<usize>,
    /// Latent units.
    pub latent: usize,
    /// Activation of the hidden layers.
    pub activation: Activation,
    pub likelihood: Likelihood,
    /// Label classes of a conditional VAE; 0 for an unconditional one.
    pub classes: usize,
    /// The weight of the KL term.
    pub beta: f32,
    /// Epochs over which β rises linearly from 0 (0: none).
    pub beta_warmup: usize,
    /// Dynamic binarisation while training: every time a row is drawn its values are
    /// replaced by Bernoulli draws of them (stream `vae/binarize`), so grey MNIST
    /// trains a model of binarised digits without a fixed binarisation to overfit.
    #[serde(default)]
    pub binarize: bool,
    /// Convolutions in front of the dense encoder and after the dense decoder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv: Option<ConvStack>,
    pub init: Init,
}

impl VaeConfig {
    /// A `input → hidden… → latent` Bernoulli VAE, relu hidden layers, β = 1, no
    /// warm-up, unconditional.
    pub fn new(input: usize, hidden: &[usize], latent: usize) -> Self {
        VaeConfig {
            input,
            hidden: hidden.to_vec(),
            latent,
            activation: Activation::Relu,
            likelihood: Likelihood::Bernoulli,
            classes: 0,
            beta: 1.0,
            beta_warmup: 0,
            binarize: false,
            conv: None,
            init: Init::Glorot,
        }
    }

    pub fn is_conditional(&self) -> bool {
        self.classes > 0
    }

    /// β in epoch `epoch` (1-based): β·min(1, (epoch − 1)/W).
    pub fn beta_at(&self, epoch: usize) -> f32 {
        if self.beta_warmup == 0 || epoch > self.beta_warmup {
            self.beta
        } else {
            self.beta * (epoch.saturating_sub(1) as f32 / self.beta_warmup as f32)
        }
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        if self.input == 0 || self.latent == 0 {
            return bad(format!(
                "a VAE needs inputs and latent units, got {} inputs and {} latent",
                self.input, self.latent
            ));
        }
        if self.hidden.contains(&0) {
            return bad(format!("a hidden width is zero in {:?}", self.hidden));
        }
        if !(self.beta >= 0.0 && self.beta.is_finite()) {
            return bad(format!("β must be finite and ≥ 0, got {}", self.beta));
        }
        if let Activation::LeakyRelu { alpha } = self.activation {
            if !(alpha.is_finite() && alpha >= 0.0) {
                return bad(format!(
                    "leaky_relu slope must be finite and ≥ 0, got {alpha}"
                ));
            }
        }
        if let Likelihood::Gaussian { sigma, .. } = self.likelihood {
            if !(sigma > 0.0 && sigma.is_finite()) {
                return bad(format!(
                    "the Gaussian decoder's σ must be finite and > 0, got {sigma}"
                ));
            }
        }
        if let Some(conv) = &self.conv {
            conv.features().map_err(ModelError::Config)?;
            if conv.image.len() != self.input {
                return bad(format!(
                    "image {} has {} values, the VAE reads {}",
                    conv.image,
                    conv.image.len(),
                    self.input
                ));
            }
        }
        let total = self
            .parameter_shapes()
            .iter()
            .try_fold(0usize, |sum, (_, s)| {
                s.rows.checked_mul(s.cols).and_then(|n| sum.checked_add(n))
            });
        match total {
            Some(n) if n <= MAX_PARAMETERS => Ok(()),
            _ => bad(format!(
                "hidden {:?} and latent {} need more than {MAX_PARAMETERS} parameters",
                self.hidden, self.latent
            )),
        }
    }

    /// Values per row where the dense layers start (the input, or the last
    /// convolution's feature maps).
    pub(super) fn dense_width(&self) -> usize {
        self.conv
            .as_ref()
            .and_then(|c| c.features().ok())
            .map_or(self.input, |f| f.len())
    }

    /// The (fan_in, fan_out) of the encoder's hidden layers and of the decoder's dense
    /// layers (hidden ones, then the output or the feature maps).
    pub(super) fn layer_sides(&self) -> (Vec<Sides>, Vec<Sides>) {
        let mut encoder = vec![];
        let mut width = self.dense_width() + self.classes;
        for &h in &self.hidden {
            encoder.push((width, h));
            width = h;
        }
        let mut decoder = vec![];
        let mut width = self.latent + self.classes;
        for &h in self.hidden.iter().rev() {
            decoder.push((width, h));
            width = h;
        }
        decoder.push((width, self.dense_width()));
        (encoder, decoder)
    }

    /// The width the mean and log-variance heads read.
    pub(super) fn head_inputs(&self) -> usize {
        self.hidden
            .last()
            .copied()
            .unwrap_or(self.dense_width() + self.classes)
    }

    /// The name and shape of every parameter tensor, in [`Vae::parameters`] order;
    /// computed without allocating, so a model file can be checked first.
    pub fn parameter_shapes(&self) -> Vec<(String, Shape)> {
        let (encoder, decoder) = self.layer_sides();
        let geometries = self
            .conv
            .as_ref()
            .and_then(|c| c.geometries().ok())
            .unwrap_or_default();
        let mut shapes = vec![];
        for (i, g) in geometries.iter().enumerate() {
            shapes.push((format!("encoder.conv.{i}.weight"), g.weight_shape()));
            shapes.push((
                format!("encoder.conv.{i}.bias"),
                Shape::new(1, g.features.channels),
            ));
        }
        let mut linear = |name: String, (i, o): (usize, usize)| {
            shapes.push((format!("{name}.weight"), Shape::new(i, o)));
            shapes.push((format!("{name}.bias"), Shape::new(1, o)));
        };
        for (i, &sides) in encoder.iter().enumerate() {
            linear(format!("encoder.{i}"), sides);
        }
        let heads = (self.head_inputs(), self.latent);
        linear("encoder.mean".into(), heads);
        linear("encoder.log_var".into(), heads);
        for (j, &sides) in decoder.iter().enumerate() {
            linear(format!("decoder.{j}"), sides);
        }
        for (j, g) in geometries.iter().rev().enumerate() {
            shapes.push((format!("decoder.conv.{j}.weight"), g.weight_shape()));
            shapes.push((
                format!("decoder.conv.{j}.bias"),
                Shape::new(1, g.image.channels),
            ));
        }
        if let Likelihood::Gaussian { learned: true, .. } = self.likelihood {
            shapes.push(("decoder.log_var".into(), Shape::new(1, self.input)));
        }
        shapes
    }
}

/// The flags of `aegpu train --model vae`.
#[derive(Args, Debug, Clone)]
pub struct VaeArgs {
    /// VAE and hash: hidden widths of the encoder (the decoder mirrors them).
    #[arg(long, value_delimiter = ',', default_value = "400")]
    pub hidden: Vec<usize>,
    /// VAE: latent units.
    #[arg(long, default_value_t = 40)]
    pub latent: usize,
    /// VAE: weight β of the KL term (β-VAE).
    #[arg(long, default_value_t = 1.0)]
    pub beta: f32,
    /// VAE: epochs over which β rises linearly from 0 (0: none).
    #[arg(long, default_value_t = 0)]
    pub beta_warmup: usize,
    /// VAE: the decoder's distribution p(x|z), bernoulli (data in [0, 1]) or gaussian.
    #[arg(long, default_value = "bernoulli")]
    pub likelihood: DecoderFamily,
    /// VAE: the Gaussian decoder's standard deviation (its start when learned).
    #[arg(long, default_value_t = 0.1)]
    pub decoder_sigma: f32,
    /// VAE: learn the Gaussian decoder's variance (one per input column).
    #[arg(long)]
    pub learn_variance: bool,
    /// VAE: dynamic binarisation: each time a row is drawn for training, its values
    /// (in [0, 1]) become Bernoulli draws of them.
    #[arg(long)]
    pub binarize: bool,
    /// VAE: condition encoder and decoder on the one-hot label of each row.
    #[arg(long)]
    pub conditional: bool,
    /// VAE: label classes of a conditional VAE (default: the largest label + 1).
    #[arg(long)]
    pub classes: Option<usize>,
    /// VAE: stride-2 convolutions (`--channels`, `--kernel`, `--image`) before the
    /// dense encoder, transposed ones after the dense decoder.
    #[arg(long)]
    pub conv: bool,
    #[command(flatten)]
    pub shared: ActivationArgs,
    #[command(flatten)]
    pub image: ImageArgs,
}

impl VaeArgs {
    /// The network for data of `cols` columns; `labels` are the training rows' labels
    /// (a conditional VAE needs them).
    pub fn config(
        &self,
        data: &str,
        cols: usize,
        labels: Option<&[u32]>,
    ) -> Result<VaeConfig, String> {
        if self.shared.output_activation.is_some() {
            return Err(
                "--output-activation does not apply to --model vae: --likelihood sets the output"
                    .into(),
            );
        }
        if self.learn_variance && self.likelihood != DecoderFamily::Gaussian {
            return Err("--learn-variance needs --likelihood gaussian".into());
        }
        let classes = match (self.conditional, self.classes) {
            (false, None) => 0,
            (false, Some(_)) => return Err("--classes needs --conditional".into()),
            (true, Some(0)) => return Err("--classes must be at least 1".into()),
            (true, Some(c)) => c,
            (true, None) => match labels {
                Some(l) => l.iter().max().map_or(0, |&m| m as usize + 1),
                None => {
                    return Err(
                        "--conditional needs labelled data (--label-column for a CSV)".into(),
                    )
                }
            },
        };
        let mut config = VaeConfig::new(cols, &self.hidden, self.latent);
        config.activation = self.shared.activation;
        config.init = self.shared.init.unwrap_or(Init::Glorot);
        config.likelihood = match self.likelihood {
            DecoderFamily::Bernoulli => Likelihood::Bernoulli,
            DecoderFamily::Gaussian => Likelihood::Gaussian {
                sigma: self.decoder_sigma,
                learned: self.learn_variance,
            },
        };
        config.classes = classes;
        config.beta = self.beta;
        config.beta_warmup = self.beta_warmup;
        config.binarize = self.binarize;
        if self.conv {
            config.conv = Some(ConvStack {
                image: self.image.input(data, cols)?,
                channels: self.image.channels.clone(),
                kernel: self.image.kernel,
            });
        }
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }
}
