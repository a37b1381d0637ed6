//! The variational autoencoder (Kingma & Welling 2014): a dense Gaussian encoder
//! q(z|x) = N(μ(x), diag exp(logvar(x))), a decoder p(x|z) that is a distribution
//! (Bernoulli on logits, or Gaussian with a fixed or learned variance), and the prior
//! p(z) = N(0, I). Training minimises the negative ELBO per example, with β weighting
//! the KL term (β-VAE, Higgins et al. 2017) and an optional linear warm-up of β over
//! the first epochs (Bowman et al. 2016; Sønderby et al. 2016):
//!
//! ```text
//! z = μ + exp(½ logvar) ⊙ ε,  ε ~ N(0, I) from Philox (stream `vae/epsilon`)
//! reconstruction = −log p(x|z)        Bernoulli: Σ_j BCE(l_j, x_j)
//!                                     Gaussian:  Σ_j (x_j − μ_j)²/(2σ_j²) + ½ log(2πσ_j²)
//! kl = KL(q(z|x) ‖ N(0, I)) = ½ Σ_u (μ_u² + exp(logvar_u) − logvar_u − 1)
//! loss = reconstruction + β_e · kl,   β_e = β · min(1, (e − 1)/W) with W warm-up epochs
//! ```
//!
//! both terms averaged over the batch's rows and reported per epoch as `reconstruction`
//! and `kl` (nats per example; their sum is the negative ELBO). A conditional VAE
//! (Sohn et al. 2015) concatenates the one-hot label to the encoder's input and to the
//! decoder's: the trainer keeps the one-hot labels resident as the task's targets.
//!
//! A convolutional VAE ([`ConvStack`]) puts stride-2 convolutions before the dense
//! encoder and the transposed convolutions of the same geometries after the dense
//! decoder; the label of a conditional one joins at the first dense layer.
//!
//! Parameters: `encoder.conv.{i}` (convolutions), `encoder.{i}` (hidden layers),
//! `encoder.mean`, `encoder.log_var`, `decoder.{j}` (hidden layers, then the output
//! layer or the feature maps), `decoder.conv.{j}` (transposed convolutions, the last
//! one the output) and `decoder.log_var` ([1, input], a learned Gaussian variance). Evaluation (ELBO, the IWAE bound on
//! −log p(x), active units) is in [`eval`]; sampling in [`generate`] (interpolation and
//! the manifold grid, shared with the AAE, in [`crate::models::latent`]); the training task (β warm-up, labels) in [`task`].

mod config;
pub mod eval;
pub mod generate;
pub mod task;

use std::collections::BTreeMap;
use std::path::Path;

use clap::{ArgMatches, Args, FromArgMatches};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::graph::{EntryId, Graph, GraphError, ParamStore, Shape, ValueId};
use crate::io::NamedTensor;
use crate::models::file::{find_parameters, read_kind, restore};
use crate::models::registry::{BuildContext, Built, Kind};
use crate::models::{Autoencoder, ModelError};
use crate::nn::{Conv2d, Forward, Linear, Mode, Module, Scope};
use crate::ops::random::{Noise, Streams};
use crate::ops::{Activation, Axis, BinaryOp, ImageShape, Loss, Op, Reduce, ReduceKind, UnaryOp};
use crate::train::objective::{Objective, RECONSTRUCTION};
use crate::train::{Regularization, TrainError};

pub use config::{ConvStack, DecoderFamily, Likelihood, VaeArgs, VaeConfig};
pub use eval::{
    active_units, binarized, evaluate_vae, log_mean_exp, VaeEvaluation, ACTIVE_UNIT_THRESHOLD,
};
pub use generate::{check_label, decode_latents, encode_means, sample, save_image_grid};
pub use task::{fit_vae, one_hot_labels};

/// The name of the KL term.
pub const KL: &str = "kl";

/// The random stream of the reparameterisation's ε.
pub const EPSILON_STREAM: &str = "vae/epsilon";

/// The random stream of dynamic binarisation.
pub const BINARIZE_STREAM: &str = "vae/binarize";

/// ½ ln(2π).
const HALF_LN_2PI: f32 = 0.918_938_5;

/// The VAE kind in the registry.
pub const KIND: Kind = Kind {
    name: "vae",
    about: "variational, `--latent`, `--beta`, `--likelihood`, `--conditional`",
    args: VaeArgs::augment_args,
    build: build_from_flags,
    restore: restore_boxed,
};

fn build_from_flags(m: &ArgMatches, cx: &BuildContext) -> Built {
    let args = VaeArgs::from_arg_matches(m).map_err(|e| e.to_string())?;
    if !args.conv {
        for flag in ["image", "channels", "kernel"] {
            let given = m.try_contains_id(flag).unwrap_or(false)
                && m.value_source(flag) == Some(clap::parser::ValueSource::CommandLine);
            if given {
                return Err(format!("--{flag} shapes a convolutional VAE: add --conv"));
            }
        }
    }
    let config = args.config(cx.data, cx.cols, cx.labels)?;
    let model = Vae::new(config, cx.seed).map_err(|e| e.to_string())?;
    Ok(Box::new(model))
}

fn restore_boxed(
    path: &Path,
    tensors: &[NamedTensor],
    meta: &BTreeMap<String, String>,
) -> Result<Box<dyn Autoencoder>, ModelError> {
    Ok(Box::new(Vae::restore(path, tensors, meta)?))
}

/// The message of a conditional VAE asked to run without labels.
pub(crate) const NEEDS_LABELS: &str =
    "a conditional VAE reads each row's label: run it through the VAE's own calls \
     (aegpu eval --nll-samples, aegpu sample --label)";

/// A variational autoencoder: its config and the store holding its weights.
#[derive(Clone, Debug)]
pub struct Vae {
    pub config: VaeConfig,
    pub store: ParamStore,
    /// The convolutions before the dense encoder (a convolutional VAE).
    encoder_conv: Vec<Conv2d>,
    encoder: Vec<Linear>,
    mean: Linear,
    log_var: Linear,
    /// Hidden layers from the latent side, then the output layer (linear: logits or
    /// the Gaussian mean).
    decoder: Vec<Linear>,
    /// The transposed convolutions after the dense decoder, the last one linear.
    decoder_conv: Vec<Conv2d>,
    /// The learned log-variance of a Gaussian decoder, [1, input].
    decoder_log_var: Option<EntryId>,
}

impl Vae {
    /// A freshly initialised network in a store of its own.
    pub fn new(config: VaeConfig, seed: u64) -> Result<Self, ModelError> {
        config.validate()?;
        let mut store = ParamStore::new();
        let mut rng = StdRng::seed_from_u64(seed);
        let root = Scope::root();
        let (encoder_sides, decoder_sides) = config.layer_sides();
        let (act, init) = (config.activation, config.init);
        let geometries = match &config.conv {
            Some(c) => c.geometries().map_err(ModelError::Config)?,
            None => vec![],
        };
        let mut encoder_conv = vec![];
        for (i, &g) in geometries.iter().enumerate() {
            let scope = root.child("encoder").child("conv").child(i);
            encoder_conv.push(Conv2d::new(&mut store, &scope, g, act, init, &mut rng)?);
        }
        let mut encoder = vec![];
        for (i, &sides) in encoder_sides.iter().enumerate() {
            let scope = root.child("encoder").child(i);
            encoder.push(Linear::new(&mut store, &scope, sides, act, init, &mut rng)?);
        }
        let heads = (config.head_inputs(), config.latent);
        let lin = Activation::Linear;
        let mean = Linear::new(
            &mut store,
            &root.child("encoder").child("mean"),
            heads,
            lin,
            init,
            &mut rng,
        )?;
        let log_var = Linear::new(
            &mut store,
            &root.child("encoder").child("log_var"),
            heads,
            lin,
            init,
            &mut rng,
        )?;
        let mut decoder = vec![];
        let last = decoder_sides.len() - 1;
        for (j, &sides) in decoder_sides.iter().enumerate() {
            let scope = root.child("decoder").child(j);
            let a = if j == last && geometries.is_empty() {
                lin
            } else {
                act
            };
            decoder.push(Linear::new(&mut store, &scope, sides, a, init, &mut rng)?);
        }
        let mut decoder_conv = vec![];
        for (j, &g) in geometries.iter().rev().enumerate() {
            let scope = root.child("decoder").child("conv").child(j);
            let a = if j + 1 == geometries.len() { lin } else { act };
            decoder_conv.push(Conv2d::transposed(
                &mut store, &scope, g, a, init, &mut rng,
            )?);
        }
        let decoder_log_var = match config.likelihood {
            Likelihood::Gaussian {
                sigma,
                learned: true,
            } => Some(root.child("decoder").register(
                &mut store,
                "log_var",
                Shape::new(1, config.input),
                vec![2.0 * sigma.ln(); config.input],
            )?),
            _ => None,
        };
        Ok(Vae {
            config,
            store,
            encoder_conv,
            encoder,
            mean,
            log_var,
            decoder,
            decoder_conv,
            decoder_log_var,
        })
    }

    /// The trainable entries, in [`VaeConfig::parameter_shapes`] order.
    pub fn parameters(&self) -> Vec<EntryId> {
        let mut ids: Vec<EntryId> = self
            .encoder_conv
            .iter()
            .flat_map(Module::parameters)
            .collect();
        ids.extend(
            self.encoder
                .iter()
                .chain([&self.mean, &self.log_var])
                .chain(&self.decoder)
                .flat_map(Module::parameters),
        );
        ids.extend(self.decoder_conv.iter().flat_map(Module::parameters));
        ids.extend(self.decoder_log_var);
        ids
    }

    /// Loads a model saved by [`Autoencoder::save`], with the file's metadata.
    pub fn load(path: &Path) -> Result<(Self, BTreeMap<String, String>), ModelError> {
        let (tensors, meta) = read_kind(path, KIND.name, "a variational autoencoder")?;
        Ok((Self::restore(path, &tensors, &meta)?, meta))
    }

    fn restore(
        path: &Path,
        tensors: &[NamedTensor],
        meta: &BTreeMap<String, String>,
    ) -> Result<Self, ModelError> {
        restore(path, tensors, meta, |config: VaeConfig| {
            config.validate()?;
            find_parameters(path, tensors, &config.parameter_shapes())?;
            Vae::new(config, 0)
        })
    }

    /// `[h, y]` for a conditional model, `h` otherwise; refuses a missing or extra
    /// label.
    fn condition(
        &self,
        g: &mut Graph,
        h: ValueId,
        labels: Option<ValueId>,
    ) -> Result<ValueId, GraphError> {
        match (self.config.is_conditional(), labels) {
            (true, Some(y)) => g.push(Op::ConcatCols, &[h, y]),
            (false, None) => Ok(h),
            (true, None) => Err(GraphError::Invalid(NEEDS_LABELS.into())),
            (false, Some(_)) => Err(GraphError::Invalid(
                "labels given to an unconditional VAE".into(),
            )),
        }
    }

    /// Appends the encoder: `x [n, input]` (and the one-hot `labels` [n, classes] of a
    /// conditional model) → `(μ, logvar)`, each [n, latent].
    pub fn encode_gaussian(
        &self,
        g: &mut Graph,
        x: ValueId,
        labels: Option<ValueId>,
    ) -> Result<(ValueId, ValueId), GraphError> {
        g.set_label("vae encoder");
        let mut h = x;
        for layer in &self.encoder_conv {
            h = layer.forward(&mut Forward::new(g, &self.store, Mode::Eval), h)?;
        }
        let mut h = self.condition(g, h, labels)?;
        for layer in &self.encoder {
            h = layer.forward(&mut Forward::new(g, &self.store, Mode::Eval), h)?;
        }
        let mut cx = Forward::new(g, &self.store, Mode::Eval);
        let mu = self.mean.forward(&mut cx, h)?;
        let log_var = self.log_var.forward(&mut cx, h)?;
        Ok((mu, log_var))
    }

    /// Appends the decoder's output layer before its mean activation: `z [n, latent]`
    /// (and labels) → Bernoulli logits or the Gaussian mean, [n, input].
    pub fn decode_output(
        &self,
        g: &mut Graph,
        z: ValueId,
        labels: Option<ValueId>,
    ) -> Result<ValueId, GraphError> {
        g.set_label("vae decoder");
        let mut h = self.condition(g, z, labels)?;
        for layer in &self.decoder {
            h = layer.forward(&mut Forward::new(g, &self.store, Mode::Eval), h)?;
        }
        for layer in &self.decoder_conv {
            h = layer.forward(&mut Forward::new(g, &self.store, Mode::Eval), h)?;
        }
        Ok(h)
    }

    /// The decoder's mean: σ(logits) for a Bernoulli decoder, the output itself for a
    /// Gaussian one.
    pub fn decoder_mean(&self, g: &mut Graph, output: ValueId) -> Result<ValueId, GraphError> {
        match self.config.likelihood.mean_activation() {
            Activation::Linear => Ok(output),
            act => g.push(Op::Activate(act), &[output]),
        }
    }

    /// The reparameterised draw `z = μ + exp(½ logvar) ⊙ ε` with ε ~ N(0, I) drawn
    /// from stream `stream` of the key `rng`; returns `(z, ε)`.
    pub fn draw_latent(
        g: &mut Graph,
        mu: ValueId,
        log_var: ValueId,
        rng: ValueId,
        stream: u32,
    ) -> Result<(ValueId, ValueId), GraphError> {
        g.set_label("reparameterisation");
        let zeros = g.push(
            Op::Fill {
                value: 0.0,
                shape: g.shape(mu),
            },
            &[],
        )?;
        let eps = g.push(
            Op::Noise {
                noise: Noise::Gaussian { sigma: 1.0 },
                stream,
            },
            &[zeros, rng],
        )?;
        let half = g.push(Op::Scale(0.5), &[log_var])?;
        let std = g.push(Op::Unary(UnaryOp::Exp), &[half])?;
        let spread = g.push(Op::Binary(BinaryOp::Mul), &[std, eps])?;
        let z = g.push(Op::Binary(BinaryOp::Add), &[mu, spread])?;
        Ok((z, eps))
    }

    /// KL(q(z|x) ‖ N(0, I)) of every row, [n, 1]:
    /// ½ Σ_u (μ_u² + exp(logvar_u) − logvar_u − 1).
    pub fn kl_rows(g: &mut Graph, mu: ValueId, log_var: ValueId) -> Result<ValueId, GraphError> {
        g.set_label("kl");
        let s = g.shape(mu);
        let per_unit = Self::kl_units(g, mu, log_var)?;
        let rows = g.push(sum(Axis::Cols), &[per_unit])?;
        let half = g.push(Op::Scale(0.5), &[rows])?;
        let offset = g.push(
            Op::Fill {
                value: -0.5 * s.cols as f32,
                shape: Shape::new(s.rows, 1),
            },
            &[],
        )?;
        g.push(Op::Binary(BinaryOp::Add), &[half, offset])
    }

    /// The KL term of a batch, [1, 1]: [`Self::kl_rows`] averaged over the rows.
    pub fn kl_mean(g: &mut Graph, mu: ValueId, log_var: ValueId) -> Result<ValueId, GraphError> {
        g.set_label("kl");
        let s = g.shape(mu);
        let per_unit = Self::kl_units(g, mu, log_var)?;
        let total = g.push(sum(Axis::All), &[per_unit])?;
        let half = g.push(Op::Scale(0.5 / s.rows as f32), &[total])?;
        let offset = g.push(
            Op::Fill {
                value: -0.5 * s.cols as f32,
                shape: Shape::SCALAR,
            },
            &[],
        )?;
        g.push(Op::Binary(BinaryOp::Add), &[half, offset])
    }

    /// μ² + exp(logvar) − logvar, element by element.
    fn kl_units(g: &mut Graph, mu: ValueId, log_var: ValueId) -> Result<ValueId, GraphError> {
        let mu2 = g.push(Op::Binary(BinaryOp::Mul), &[mu, mu])?;
        let var = g.push(Op::Unary(UnaryOp::Exp), &[log_var])?;
        let sum = g.push(Op::Binary(BinaryOp::Add), &[mu2, var])?;
        g.push(Op::Binary(BinaryOp::Sub), &[sum, log_var])
    }

    /// −log p(x|z) averaged over the batch's rows, [1, 1], from the decoder's `output`
    /// (the fused BCE or MSE kernels where the variance is fixed).
    pub fn reconstruction_mean(
        &self,
        g: &mut Graph,
        output: ValueId,
        x: ValueId,
    ) -> Result<ValueId, GraphError> {
        g.set_label("reconstruction");
        let s = g.shape(x);
        let d = s.cols as f32;
        match self.config.likelihood {
            Likelihood::Bernoulli => {
                let mean = g.push(Op::Loss(Loss::BceWithLogits), &[output, x])?;
                g.push(Op::Scale(d), &[mean])
            }
            Likelihood::Gaussian {
                sigma,
                learned: false,
            } => {
                // Σ_j (x_j − μ_j)²/(2σ²) + d·½ ln(2πσ²); the loss is a mean over n·d.
                let mse = g.push(Op::Loss(Loss::Mse), &[output, x])?;
                let scaled = g.push(Op::Scale(d / (2.0 * sigma * sigma)), &[mse])?;
                let constant = g.push(
                    Op::Fill {
                        value: d * (HALF_LN_2PI + sigma.ln()),
                        shape: Shape::SCALAR,
                    },
                    &[],
                )?;
                g.push(Op::Binary(BinaryOp::Add), &[scaled, constant])
            }
            Likelihood::Gaussian { learned: true, .. } => {
                let nll = self.nll_elements(g, output, x)?;
                let total = g.push(sum(Axis::All), &[nll])?;
                g.push(Op::Scale(1.0 / s.rows as f32), &[total])
            }
        }
    }

    /// log p(x|z) of every row, [n, 1].
    pub fn log_likelihood_rows(
        &self,
        g: &mut Graph,
        output: ValueId,
        x: ValueId,
    ) -> Result<ValueId, GraphError> {
        g.set_label("log-likelihood");
        let nll = self.nll_elements(g, output, x)?;
        let rows = g.push(sum(Axis::Cols), &[nll])?;
        g.push(Op::Scale(-1.0), &[rows])
    }

    /// −log p(x_j|z) of every element, [n, input].
    fn nll_elements(
        &self,
        g: &mut Graph,
        output: ValueId,
        x: ValueId,
    ) -> Result<ValueId, GraphError> {
        let s = g.shape(x);
        match self.config.likelihood {
            Likelihood::Bernoulli => {
                // softplus(l) − x·l = −[x ln σ(l) + (1 − x) ln(1 − σ(l))], stable.
                let soft = g.push(Op::Activate(Activation::Softplus), &[output])?;
                let xl = g.push(Op::Binary(BinaryOp::Mul), &[x, output])?;
                g.push(Op::Binary(BinaryOp::Sub), &[soft, xl])
            }
            Likelihood::Gaussian { sigma, learned } => {
                let diff = g.push(Op::Binary(BinaryOp::Sub), &[output, x])?;
                let sq = g.push(Op::Binary(BinaryOp::Mul), &[diff, diff])?;
                // ½ (x − μ)² / σ² + ½ ln σ² + ½ ln 2π
                let (weighted, log_var) = match (learned, self.decoder_log_var) {
                    (true, Some(id)) => {
                        let lv = g.entry(&self.store, id);
                        let lv = g.push(Op::Broadcast(s), &[lv])?;
                        let neg = g.push(Op::Scale(-1.0), &[lv])?;
                        let precision = g.push(Op::Unary(UnaryOp::Exp), &[neg])?;
                        (g.push(Op::Binary(BinaryOp::Mul), &[sq, precision])?, lv)
                    }
                    _ => {
                        let w = g.push(Op::Scale(1.0 / (sigma * sigma)), &[sq])?;
                        let lv = g.push(
                            Op::Fill {
                                value: 2.0 * sigma.ln(),
                                shape: s,
                            },
                            &[],
                        )?;
                        (w, lv)
                    }
                };
                let both = g.push(Op::Binary(BinaryOp::Add), &[weighted, log_var])?;
                let half = g.push(Op::Scale(0.5), &[both])?;
                let constant = g.push(
                    Op::Fill {
                        value: HALF_LN_2PI,
                        shape: s,
                    },
                    &[],
                )?;
                g.push(Op::Binary(BinaryOp::Add), &[half, constant])
            }
        }
    }

    /// The negative ELBO of a batch with KL weight `beta`: terms `reconstruction` and
    /// `kl` (nats per row), total reconstruction + β·kl. With `rng`, z is drawn by the
    /// reparameterisation (and the batch binarised, when the model trains so);
    /// without, z = μ (a deterministic pass).
    pub fn elbo_objective(
        &self,
        g: &mut Graph,
        x: ValueId,
        labels: Option<ValueId>,
        rng: Option<ValueId>,
        beta: f32,
    ) -> Result<Objective, TrainError> {
        let mut streams = Streams::new();
        let epsilon = streams.allocate(EPSILON_STREAM).map_err(GraphError::from)?;
        let binarize = streams
            .allocate(BINARIZE_STREAM)
            .map_err(GraphError::from)?;
        let x = match rng {
            Some(rng) if self.config.binarize => {
                g.set_label("dynamic binarisation");
                g.push(
                    Op::Noise {
                        noise: Noise::Binarize,
                        stream: binarize,
                    },
                    &[x, rng],
                )?
            }
            _ => x,
        };
        let (mu, log_var) = self.encode_gaussian(g, x, labels)?;
        let z = match rng {
            Some(rng) => Self::draw_latent(g, mu, log_var, rng, epsilon)?.0,
            None => mu,
        };
        let output = self.decode_output(g, z, labels)?;
        let reconstruction = self.reconstruction_mean(g, output, x)?;
        let kl = Self::kl_mean(g, mu, log_var)?;
        g.set_label("negative elbo");
        let weighted = g.push(Op::Scale(beta), &[kl])?;
        let total = g.push(Op::Binary(BinaryOp::Add), &[reconstruction, weighted])?;
        Ok(Objective {
            total,
            terms: vec![(RECONSTRUCTION.into(), reconstruction), (KL.into(), kl)],
        })
    }
}

fn sum(axis: Axis) -> Op {
    Op::Reduce(Reduce {
        kind: ReduceKind::Sum,
        axis,
    })
}

impl Autoencoder for Vae {
    fn kind(&self) -> &'static str {
        KIND.name
    }
    /// `vae 784-400-40 bernoulli`, `cvae 784-400-40 bernoulli 10 classes`.
    fn describe(&self) -> String {
        let c = &self.config;
        let widths: Vec<String> = std::iter::once(c.input)
            .chain(c.hidden.iter().copied())
            .chain([c.latent])
            .map(|w| w.to_string())
            .collect();
        let mut out = format!("vae {} {}", widths.join("-"), c.likelihood);
        if let Some(conv) = &c.conv {
            let ch: Vec<String> = conv.channels.iter().map(|c| c.to_string()).collect();
            out = format!(
                "conv {out}, {} {} k{}",
                conv.image,
                ch.join(","),
                conv.kernel
            );
        }
        if c.is_conditional() {
            out = format!("c{out} {} classes", c.classes);
        }
        if c.beta != 1.0 {
            out += &format!(" β {}", c.beta);
        }
        out
    }
    fn code_width(&self) -> usize {
        self.config.latent
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
        Vae::parameters(self)
    }
    fn input_width(&self) -> usize {
        self.config.input
    }
    fn widest_row(&self) -> usize {
        let c = &self.config;
        let hidden = c.hidden.iter().copied().max().unwrap_or(0);
        let maps = self
            .encoder_conv
            .iter()
            .map(|l| l.output().len())
            .max()
            .unwrap_or(0);
        (c.input + c.classes)
            .max(c.dense_width() + c.classes)
            .max(hidden)
            .max(maps)
    }
    fn image_shape(&self) -> Option<ImageShape> {
        self.config.conv.as_ref().map(|c| c.image)
    }
    fn output_activation(&self) -> Activation {
        self.config.likelihood.mean_activation()
    }
    /// The code of a row is the mean of q(z|x).
    fn encode(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        Ok(self.encode_gaussian(g, x, None)?.0)
    }
    /// Decodes the mean code (no sampling): a deterministic reconstruction.
    fn reconstruct_logits(
        &self,
        g: &mut Graph,
        x: ValueId,
    ) -> Result<(ValueId, ValueId), GraphError> {
        let (mu, _) = self.encode_gaussian(g, x, None)?;
        let output = self.decode_output(g, mu, None)?;
        Ok((output, self.decoder_mean(g, output)?))
    }
    fn reconstruct(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        Ok(self.reconstruct_logits(g, x)?.1)
    }
    fn validate_regularization(&self, reg: &Regularization) -> Result<(), String> {
        if *reg != Regularization::default() {
            return Err(
                "--model vae takes no noise, dropout, sparsity or contractive penalty: its \
                 KL term is the regulariser (weight it with --beta)"
                    .into(),
            );
        }
        Ok(())
    }
    fn uses_rng(&self, _reg: &Regularization) -> bool {
        true
    }
    /// The negative ELBO with the final β (the warm-up is the task's, see
    /// [`task::VaeTask`]). `loss` is not read: the decoder's distribution is the loss.
    fn objective(
        &self,
        g: &mut Graph,
        x: ValueId,
        _loss: Loss,
        _reg: &Regularization,
        rng: Option<ValueId>,
    ) -> Result<Objective, TrainError> {
        self.elbo_objective(g, x, None, rng, self.config.beta)
    }
    /// The negative ELBO measured with one draw of z (the key of the validation
    /// pass), β as trained at the end.
    fn eval_objective(
        &self,
        g: &mut Graph,
        x: ValueId,
        _loss: Loss,
        _reg: &Regularization,
        rng: Option<ValueId>,
    ) -> Result<Objective, TrainError> {
        self.elbo_objective(g, x, None, rng, self.config.beta)
    }
    fn report_json(&self) -> serde_json::Map<String, serde_json::Value> {
        let c = &self.config;
        let mut out = serde_json::Map::new();
        out.insert("hidden".into(), c.hidden.clone().into());
        out.insert("latent".into(), c.latent.into());
        out.insert("decoder".into(), c.likelihood.to_string().into());
        out.insert("beta".into(), c.beta.into());
        out.insert("beta_warmup".into(), c.beta_warmup.into());
        out.insert("classes".into(), c.classes.into());
        out.insert("binarize".into(), c.binarize.into());
        out
    }
    fn training_task<'a>(
        &'a mut self,
        cfg: &'a crate::train::TrainConfig,
    ) -> Option<Box<dyn crate::train::Task + 'a>> {
        Some(Box::new(task::VaeTask { model: self, cfg }))
    }
}
