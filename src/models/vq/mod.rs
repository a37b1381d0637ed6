//! The vector-quantised autoencoder (VQ-VAE, van den Oord et al. 2017), convolutional,
//! with a grid of codes per image: strided convolutions bring the image to an h×w map
//! of D-dimensional vectors (the last one a linear 1×1 convolution), each vector is
//! replaced by its nearest code of a K-entry codebook ([`crate::nn::Codebook`]), and
//! transposed convolutions decode the quantised map. Training minimises
//!
//! ```text
//! L = reconstruction(x̂, x) + ‖sg(z) − z_q‖² + β ‖z − sg(z_q)‖²
//! ```
//!
//! (means over every value; β = 0.25 by default) with the straight-through gradient,
//! or, with `ema`, drops the codebook term and moves the codes by exponential moving
//! averages after each step. `restart` moves codes that no vector of a batch chose to
//! vectors of that batch. Each epoch reports the terms `reconstruction`, `codebook`
//! (loss mode), `commitment` (β-weighted, as in L), `code_usage` (the share of codes a
//! batch used, averaged over batches) and `perplexity` (of a batch's code frequencies).
//!
//! With a code prior ([`prior::CodePrior`], `--prior-epochs P`), the run's last P
//! epochs train an LSTM over the grid of code indices on the frozen encoder's codes
//! ([`task::VqTask`]), and [`VqAutoencoder::sample`] generates images by drawing a
//! grid from it and decoding it.
//!
//! Parameter names: `encoder.{i}.weight/bias` (convolutions), `quantizer.embedding`
//! `[K, D]` (with EMA also the buffers `quantizer.ema_count`, `quantizer.ema_sum`),
//! `decoder.{i}.weight/bias` (transposed convolutions), and with a prior
//! `prior.lstm.weight/bias`, `prior.out.weight/bias`.

pub mod prior;
pub mod task;

use std::collections::BTreeMap;
use std::path::Path;

use clap::{ArgMatches, Args, FromArgMatches};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, Feed};
use crate::graph::{DType, EntryId, Graph, GraphError, ParamStore, Plan, Shape, ValueId};
use crate::io::NamedTensor;
use crate::models::args::{ActivationArgs, ImageArgs};
use crate::models::file::restore;
use crate::models::registry::{BuildContext, Built, Kind};
use crate::models::{Autoencoder, ModelError};
use crate::nn::codebook::{
    straight_through, usage, vq_losses, Codebook, CodebookUpdate, Quantized,
};
use crate::nn::{init::Init, output_with_logits, Conv2d, Forward, Mode, Module, Scope, Sequential};
use crate::ops::random::Streams;
use crate::ops::{Activation, BinaryOp, ConvGeometry, ImageShape, Loss, Op};
use crate::train::objective::{reconstruction_term, Objective, RECONSTRUCTION};
use crate::train::{Regularization, Task, TrainConfig, TrainError};

use prior::CodePrior;

/// Everything needed to rebuild the network; saved as JSON in the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VqConfig {
    pub input: ImageShape,
    /// Output channels of each stride-2 encoder convolution.
    pub channels: Vec<usize>,
    /// Kernel size (odd), padding k/2.
    pub kernel: usize,
    /// K: codes in the codebook.
    pub codes: usize,
    /// D: values per code (the channels of the quantised map).
    pub code_dim: usize,
    /// β, the commitment term's weight.
    pub commitment: f32,
    /// EMA decay γ of the codebook (None: the codebook loss trains it).
    pub ema: Option<f32>,
    /// Restart codes that no vector of a batch chose.
    pub restart: bool,
    /// Activation of every hidden layer.
    pub activation: Activation,
    pub output_activation: Activation,
    pub init: Init,
    /// An LSTM prior over the codes, trained in the run's last epochs (files written
    /// before priors existed have none).
    #[serde(default)]
    pub prior: Option<PriorConfig>,
}

/// The code prior's size and the epochs that train it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PriorConfig {
    /// Hidden units of the LSTM.
    pub hidden: usize,
    /// The run's last `epochs` epochs train the prior (and only the prior).
    pub epochs: usize,
}

impl VqConfig {
    /// MNIST-sized images: 1×28×28 → 32@14×14 → 64@7×7 → 16@7×7 codes from 128,
    /// β = 0.25, EMA 0.99, restarts on.
    pub fn mnist() -> Self {
        VqConfig {
            input: ImageShape::new(1, 28, 28),
            channels: vec![32, 64],
            kernel: 3,
            codes: 128,
            code_dim: 16,
            commitment: 0.25,
            ema: Some(0.99),
            restart: true,
            activation: Activation::Relu,
            output_activation: Activation::Sigmoid,
            init: Init::Auto,
            prior: None,
        }
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        if self.input.is_empty() || self.channels.is_empty() || self.channels.contains(&0) {
            return bad(format!(
                "a VQ-VAE needs an image and at least one encoder convolution, got {} and {:?}",
                self.input, self.channels
            ));
        }
        if self.kernel % 2 == 0 {
            return bad(format!("the kernel size must be odd, got {}", self.kernel));
        }
        if self.codes < 2 || self.code_dim == 0 {
            return bad(format!(
                "the codebook needs at least 2 codes of at least 1 value, got {} × {}",
                self.codes, self.code_dim
            ));
        }
        if !(self.commitment >= 0.0 && self.commitment.is_finite()) {
            return bad(format!(
                "the commitment weight must be ≥ 0, got {}",
                self.commitment
            ));
        }
        if let Some(d) = self.ema {
            if !(d > 0.0 && d < 1.0) {
                return bad(format!("the EMA decay must be in (0, 1), got {d}"));
            }
        }
        if let Some(p) = self.prior {
            if p.hidden == 0 || p.epochs == 0 {
                return bad(format!(
                    "the code prior needs at least 1 hidden unit and 1 epoch, got {} and {}",
                    p.hidden, p.epochs
                ));
            }
        }
        Ok(())
    }

    /// `vq 1×28×28 32,64 k3 codes 128×16 ema 0.99 restart`.
    pub fn describe(&self) -> String {
        let channels: Vec<String> = self.channels.iter().map(|c| c.to_string()).collect();
        let mut s = format!(
            "vq {} {} k{} codes {}×{}",
            self.input,
            channels.join(","),
            self.kernel,
            self.codes,
            self.code_dim
        );
        if let Some(d) = self.ema {
            s += &format!(" ema {d}");
        }
        if self.restart {
            s += " restart";
        }
        if let Some(p) = self.prior {
            s += &format!(" prior lstm {}", p.hidden);
        }
        s
    }
}

/// The flags of `aegpu train --model vq`.
#[derive(Args, Debug, Clone)]
pub struct VqArgs {
    #[command(flatten)]
    pub shared: ActivationArgs,
    #[command(flatten)]
    pub image: ImageArgs,
    /// VQ: codes in the codebook (K).
    #[arg(long, default_value_t = 128)]
    pub codes: usize,
    /// VQ: values per code (D, the quantised map's channels).
    #[arg(long, default_value_t = 16)]
    pub code_dim: usize,
    /// VQ: β, the weight of the commitment term.
    #[arg(long, default_value_t = 0.25)]
    pub commitment: f32,
    /// VQ: move the codes by exponential moving averages with this decay (e.g. 0.99)
    /// instead of the codebook loss; `--ema 0` for the codebook loss.
    #[arg(long, default_value_t = 0.99)]
    pub ema: f32,
    /// VQ: restart codes no vector of a batch chose: `on` or `off`.
    #[arg(long, default_value = "on", value_parser = parse_on_off, action = clap::ArgAction::Set)]
    pub restart_dead_codes: bool,
    /// VQ: train an LSTM prior over the codes in the run's last N epochs (of
    /// `--epochs`), so `aegpu sample` can generate; 0: no prior.
    #[arg(long, default_value_t = 0)]
    pub prior_epochs: usize,
    /// VQ: hidden units of the code prior's LSTM.
    #[arg(long, default_value_t = 128)]
    pub prior_hidden: usize,
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(format!("expected on or off, got `{other}`")),
    }
}

/// The VQ-VAE in the registry.
pub const KIND: Kind = Kind {
    name: "vq",
    about: "vector-quantised (VQ-VAE), a grid of codes per image, `--channels`, `--codes`, `--code-dim`, `--commitment`, `--ema`, `--restart-dead-codes`",
    args: VqArgs::augment_args,
    build: build_from_flags,
    restore: restore_boxed,
};

fn build_from_flags(m: &ArgMatches, cx: &BuildContext) -> Built {
    let a = VqArgs::from_arg_matches(m).map_err(|e| e.to_string())?;
    let config = VqConfig {
        input: a.image.input(cx.data, cx.cols)?,
        channels: a.image.channels.clone(),
        kernel: a.image.kernel,
        codes: a.codes,
        code_dim: a.code_dim,
        commitment: a.commitment,
        ema: (a.ema != 0.0).then_some(a.ema),
        restart: a.restart_dead_codes,
        activation: a.shared.activation,
        output_activation: a.shared.output_activation.unwrap_or(Activation::Sigmoid),
        init: a.shared.init.unwrap_or(Init::Auto),
        prior: (a.prior_epochs > 0).then_some(PriorConfig {
            hidden: a.prior_hidden,
            epochs: a.prior_epochs,
        }),
    };
    let model = VqAutoencoder::new(config, cx.seed).map_err(|e| e.to_string())?;
    Ok(Box::new(model))
}

fn restore_boxed(
    path: &Path,
    tensors: &[NamedTensor],
    meta: &BTreeMap<String, String>,
) -> Result<Box<dyn Autoencoder>, ModelError> {
    let model = restore(path, tensors, meta, |c| VqAutoencoder::new(c, 0))?;
    Ok(Box::new(model))
}

/// The random stream of the dead-code restarts.
const RESTART_STREAM: &str = "vq/restart";

/// A VQ-VAE and the store holding its weights.
#[derive(Clone, Debug)]
pub struct VqAutoencoder {
    pub config: VqConfig,
    pub store: ParamStore,
    encoder: Sequential,
    /// The encoder's output map (D channels).
    latent: ImageShape,
    pub codebook: Codebook,
    /// Every decoder layer but the output one.
    decoder: Sequential,
    output: Conv2d,
    /// The LSTM over the code grid, when the model has one.
    pub prior: Option<CodePrior>,
}

/// What one pass through the network gives.
struct Pass {
    /// The encoder's vectors `[M, D]`, one row per position of the map.
    z: ValueId,
    q: Quantized,
    logits: ValueId,
    recon: ValueId,
}

impl VqAutoencoder {
    /// A freshly initialised network.
    pub fn new(config: VqConfig, seed: u64) -> Result<Self, ModelError> {
        config.validate()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut store = ParamStore::new();
        let (k, pad) = (config.kernel, config.kernel / 2);
        let err = |e: String| ModelError::Config(e);
        let enc = Scope::root().child("encoder");
        let mut encoder = Sequential::new();
        let mut sizes = vec![config.input];
        for &c in &config.channels {
            let from = *sizes.last().expect("starts with the input");
            let geometry = ConvGeometry::conv(from, c, k, 2, pad).map_err(err)?;
            let conv = Conv2d::new(
                &mut store,
                &enc.child(encoder.len()),
                geometry,
                config.activation,
                config.init,
                &mut rng,
            )?;
            sizes.push(conv.output());
            encoder.push(conv);
        }
        let last = *sizes.last().expect("at least one stage");
        let to_codes = ConvGeometry::conv(last, config.code_dim, 1, 1, 0).map_err(err)?;
        let pre = Conv2d::new(
            &mut store,
            &enc.child(encoder.len()),
            to_codes,
            Activation::Linear,
            config.init,
            &mut rng,
        )?;
        let latent = pre.output();
        encoder.push(pre);
        let codebook = Codebook::new(
            &mut store,
            &Scope::root().child("quantizer"),
            config.codes,
            config.code_dim,
            config.ema.is_some(),
            &mut rng,
        )?;
        // Transposed convolutions back through the encoder's sizes.
        let dec = Scope::root().child("decoder");
        let mut decoder = Sequential::new();
        let mut channels = config.code_dim;
        let mut output = None;
        for i in (0..config.channels.len()).rev() {
            let target = sizes[i];
            let geometry = ConvGeometry::conv(target, channels, k, 2, pad).map_err(err)?;
            if geometry.features.height != sizes[i + 1].height
                || geometry.features.width != sizes[i + 1].width
            {
                return Err(err(format!(
                    "the decoder cannot mirror the encoder at {target}"
                )));
            }
            let act = if i == 0 {
                config.output_activation
            } else {
                config.activation
            };
            let scope = dec.child(decoder.len());
            let conv =
                Conv2d::transposed(&mut store, &scope, geometry, act, config.init, &mut rng)?;
            channels = target.channels;
            if i == 0 {
                output = Some(conv);
            } else {
                decoder.push(conv);
            }
        }
        let output = output.ok_or_else(|| err("no output layer".into()))?;
        // Built last, so a prior leaves every other weight's initial draw as it was.
        let prior = match config.prior {
            Some(p) => Some(CodePrior::new(
                &mut store,
                &Scope::root().child("prior"),
                (config.codes, config.code_dim, latent.plane()),
                p.hidden,
                &mut rng,
            )?),
            None => None,
        };
        Ok(VqAutoencoder {
            config,
            store,
            encoder,
            latent,
            codebook,
            decoder,
            output,
            prior,
        })
    }

    /// The h×w grid of codes of one image.
    pub fn latent(&self) -> ImageShape {
        self.latent
    }

    /// The encoder's vectors of `x`, one row per position of the map `[N·h·w, D]`
    /// (image by image, raster order within an image).
    pub fn encode_vectors(&self, cx: &mut Forward, x: ValueId) -> Result<ValueId, GraphError> {
        cx.g.set_label("encoder");
        let map = self.encoder.forward(cx, x)?;
        cx.g.push(Op::ToPixelRows(self.latent), &[map])
    }

    /// Every position's nearest code for `x` (one-hot and vector rows, `[N·h·w, ·]`):
    /// what inference, the code statistics and the prior read.
    pub fn codes(&self, cx: &mut Forward, x: ValueId) -> Result<Quantized, GraphError> {
        let z = self.encode_vectors(cx, x)?;
        self.codebook.quantize(cx, z)
    }

    /// The decoder's logits and output for a quantised map given as pixel rows
    /// `[N·h·w, D]`.
    fn decode_rows(
        &self,
        cx: &mut Forward,
        rows: ValueId,
        logits: bool,
    ) -> Result<(ValueId, ValueId), GraphError> {
        let quantized = cx.g.push(Op::FromPixelRows(self.latent), &[rows])?;
        cx.g.set_label("decoder");
        let h = self.decoder.forward(cx, quantized)?;
        let act = self.config.output_activation;
        output_with_logits(&self.output, cx, h, act, logits)
    }

    /// The whole network on `x`, quantisation included.
    fn pass(&self, g: &mut Graph, x: ValueId, logits: bool) -> Result<Pass, GraphError> {
        let mut cx = Forward::new(g, &self.store, Mode::Train);
        let z = self.encode_vectors(&mut cx, x)?;
        let q = self.codebook.quantize(&mut cx, z)?;
        let st = straight_through(&mut cx, z, q.nearest)?;
        let (logits, recon) = self.decode_rows(&mut cx, st, logits)?;
        Ok(Pass {
            z,
            q,
            logits,
            recon,
        })
    }

    /// The losses and usage figures of a pass, by name.
    fn terms(&self, g: &mut Graph, x: ValueId, loss: Loss) -> Result<Objective, TrainError> {
        let pass = self.pass(g, x, loss == Loss::BceWithLogits)?;
        let reconstruction = reconstruction_term(g, loss, pass.logits, pass.recon, x)?;
        let mut cx = Forward::new(g, &self.store, Mode::Train);
        let (codebook, commitment) = vq_losses(&mut cx, pass.z, pass.q.nearest)?;
        let (used, perplexity) = usage(&mut cx, pass.q.one_hot)?;
        let commitment = g.push(Op::Scale(self.config.commitment), &[commitment])?;
        let mut total = g.push(Op::Binary(BinaryOp::Add), &[reconstruction, commitment])?;
        let mut terms = vec![(RECONSTRUCTION.to_string(), reconstruction)];
        if self.config.ema.is_none() {
            total = g.push(Op::Binary(BinaryOp::Add), &[total, codebook])?;
            terms.push(("codebook".into(), codebook));
        }
        terms.push(("commitment".into(), commitment));
        terms.push(("code_usage".into(), used));
        terms.push(("perplexity".into(), perplexity));
        Ok(Objective { total, terms })
    }

    /// The prior, or why a model without one cannot generate.
    fn code_prior(&self) -> Result<&CodePrior, TrainError> {
        self.prior.as_ref().ok_or_else(|| {
            TrainError::Config(
                "this VQ-VAE has no code prior to sample from: train it with --prior-epochs N"
                    .into(),
            )
        })
    }

    /// Grids of code indices `[n, h·w]` (raster order) decoded: rows of input values.
    pub fn decode_indices(
        &self,
        backend: &mut dyn Backend,
        indices: &[u32],
    ) -> Result<Vec<f32>, TrainError> {
        let (k, d, p) = (self.config.codes, self.config.code_dim, self.latent.plane());
        if indices.is_empty() || indices.len() % p != 0 {
            return Err(TrainError::Config(format!(
                "{} code indices are not whole grids of {p}",
                indices.len()
            )));
        }
        let codebook = self.store.values(self.codebook.embedding);
        let mut rows = Vec::with_capacity(indices.len() * d);
        for &i in indices {
            let i = i as usize;
            if i >= k {
                return Err(TrainError::Config(format!(
                    "code {i} is out of range for a codebook of {k}"
                )));
            }
            rows.extend_from_slice(&codebook[i * d..(i + 1) * d]);
        }
        let mut g = Graph::new();
        let z = g.input("codes", Shape::new(indices.len(), d), DType::F32);
        let mut cx = Forward::new(&mut g, &self.store, Mode::Eval);
        let (_, out) = self.decode_rows(&mut cx, z, false)?;
        g.mark_output(out);
        backend.upload_store(&self.store)?;
        let id = backend.prepare(&Plan::new(&g, &self.store)?)?;
        let result = backend
            .run(id, &[Feed::F32(&rows)])
            .and_then(|()| backend.read_output(id, out));
        backend.release(id);
        Ok(result?)
    }

    /// `n` new images: grids drawn from the code prior (logits divided by
    /// `temperature`, Philox draws of `seed`), decoded. Rows of input values.
    pub fn sample(
        &self,
        backend: &mut dyn Backend,
        n: usize,
        temperature: f32,
        seed: u64,
    ) -> Result<Vec<f32>, TrainError> {
        let prior = self.code_prior()?;
        let codebook = self.store.values(self.codebook.embedding);
        let indices = prior.sample(backend, &self.store, codebook, n, temperature, seed)?;
        self.decode_indices(backend, &indices)
    }

    /// How often each code is chosen over the rows of `data` (K counts).
    pub fn code_counts(
        &self,
        backend: &mut dyn Backend,
        data: &crate::data::Dataset,
    ) -> Result<Vec<f64>, TrainError> {
        let mut counts = vec![0.0f64; self.config.codes];
        let sum = Op::Reduce(crate::ops::Reduce {
            kind: crate::ops::ReduceKind::Sum,
            axis: crate::ops::Axis::Rows,
        });
        self.for_each_coded_batch(
            backend,
            data,
            |cx, q| cx.g.push(sum.clone(), &[q.one_hot]),
            |_, out| {
                for (c, v) in counts.iter_mut().zip(out) {
                    *c += *v as f64;
                }
            },
        )?;
        Ok(counts)
    }

    /// The code prior's mean −ln p(k_t | k_<t) over every code of `data`'s rows, in
    /// nats per code (times h·w: nats per image).
    pub fn prior_nll(
        &self,
        backend: &mut dyn Backend,
        data: &crate::data::Dataset,
    ) -> Result<f64, TrainError> {
        let prior = self.code_prior()?;
        let mut total = 0.0f64;
        self.for_each_coded_batch(
            backend,
            data,
            |cx, q| prior.nll(cx, q.nearest, q.one_hot),
            |rows, out| total += out[0] as f64 * rows as f64,
        )?;
        Ok(total / data.rows.max(1) as f64)
    }

    /// Runs `measure` on the codes of each inference batch of `data` and gives
    /// `consume` the batch's rows and that one output.
    fn for_each_coded_batch(
        &self,
        backend: &mut dyn Backend,
        data: &crate::data::Dataset,
        measure: impl Fn(&mut Forward, Quantized) -> Result<ValueId, GraphError>,
        mut consume: impl FnMut(usize, &[f32]),
    ) -> Result<(), TrainError> {
        crate::train::check_width(self, data)?;
        backend.upload_store(&self.store)?;
        let build = |g: &mut Graph, x: ValueId| -> Result<Vec<ValueId>, TrainError> {
            let mut cx = Forward::new(g, &self.store, Mode::Eval);
            let q = self.codes(&mut cx, x)?;
            Ok(vec![measure(&mut cx, q)?])
        };
        crate::train::for_each_batch_of(
            &self.store,
            self.widest_row(),
            backend,
            data,
            &build,
            &mut |_, rows, outs| consume(rows, &outs[0]),
        )
    }

    /// Codes in EMA mode are moved by the state updates, not by the optimiser.
    fn codebook_trained(&self) -> bool {
        self.config.ema.is_none()
    }
}

impl Autoencoder for VqAutoencoder {
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
        if self.codebook_trained() {
            p.push(self.codebook.embedding);
        }
        p.extend(self.decoder.parameters());
        p.extend(self.output.parameters());
        if let Some(prior) = &self.prior {
            p.extend(prior.parameters());
        }
        p
    }
    /// In EMA mode the codes and their running counts and sums.
    fn buffers(&self) -> Vec<EntryId> {
        match self.codebook.ema {
            Some((count, sum)) => vec![self.codebook.embedding, count, sum],
            None => vec![],
        }
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
            .chain([
                self.config.input.len(),
                self.codebook.codes * self.latent.height * self.latent.width,
                self.prior.as_ref().map_or(0, |p| p.widest_row()),
            ])
            .max()
            .unwrap_or(0)
    }
    fn output_activation(&self) -> Activation {
        self.config.output_activation
    }
    /// The quantised map `[N, D·h·w]`: each position's code vector.
    fn encode(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        let mut cx = Forward::new(g, &self.store, Mode::Eval);
        let q = self.codes(&mut cx, x)?;
        cx.g.push(Op::FromPixelRows(self.latent), &[q.nearest])
    }
    fn reconstruct_logits(
        &self,
        g: &mut Graph,
        x: ValueId,
    ) -> Result<(ValueId, ValueId), GraphError> {
        let pass = self.pass(g, x, true)?;
        Ok((pass.logits, pass.recon))
    }
    fn reconstruct(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        Ok(self.pass(g, x, false)?.recon)
    }
    fn validate_regularization(&self, reg: &Regularization) -> Result<(), String> {
        if *reg != Regularization::default() {
            return Err(
                "a VQ-VAE takes no noise, dropout or penalties: its code is the bottleneck".into(),
            );
        }
        Ok(())
    }
    fn uses_rng(&self, _reg: &Regularization) -> bool {
        self.config.restart
    }
    fn check_data(&self, rows: usize) -> Result<(), String> {
        let vectors = rows * self.latent.height * self.latent.width;
        if vectors < self.config.codes {
            return Err(format!(
                "the codebook has {} codes but the {rows} training images give only {vectors} \
                 vectors to quantise: use fewer --codes",
                self.config.codes
            ));
        }
        Ok(())
    }
    fn objective(
        &self,
        g: &mut Graph,
        x: ValueId,
        loss: Loss,
        reg: &Regularization,
        _rng: Option<ValueId>,
    ) -> Result<Objective, TrainError> {
        self.validate_regularization(reg)
            .map_err(TrainError::Config)?;
        self.terms(g, x, loss)
    }
    /// Every term, on the clean batch (the network has no noise or batch statistics).
    fn eval_objective(
        &self,
        g: &mut Graph,
        x: ValueId,
        loss: Loss,
        _reg: &Regularization,
        _rng: Option<ValueId>,
    ) -> Result<Objective, TrainError> {
        self.terms(g, x, loss)
    }
    /// The EMA codebook update and the dead-code restarts, on the batch encoded by the
    /// encoder the step has just updated.
    fn state_updates(
        &self,
        g: &mut Graph,
        x: ValueId,
        _reg: &Regularization,
        rng: Option<ValueId>,
    ) -> Result<(), TrainError> {
        let how = CodebookUpdate {
            decay: self.config.ema,
            restart: if self.config.restart { rng } else { None },
            stream: Streams::new()
                .allocate(RESTART_STREAM)
                .map_err(GraphError::from)?,
        };
        if how.decay.is_none() && how.restart.is_none() {
            return Ok(());
        }
        let mut cx = Forward::new(g, &self.store, Mode::Eval);
        let z = self.encode_vectors(&mut cx, x)?;
        cx.g.set_label("encoder (codebook update)");
        let z = cx.g.push(Op::StopGradient, &[z])?;
        let q = self.codebook.quantize(&mut cx, z)?;
        self.codebook.update(&mut cx, z, q, &how)?;
        Ok(())
    }
    /// With a prior, the two phases of [`task::VqTask`]; without, the one phase every
    /// kind has.
    fn training_task<'a>(&'a mut self, cfg: &'a TrainConfig) -> Option<Box<dyn Task + 'a>> {
        self.prior.as_ref()?;
        Some(Box::new(task::VqTask { model: self, cfg }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnist_preset_names_its_parameters_like_pytorch() {
        let m = VqAutoencoder::new(VqConfig::mnist(), 0).unwrap();
        let names: Vec<&str> = m
            .saved_entries()
            .iter()
            .map(|&id| m.store.get(id).name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "encoder.0.weight",
                "encoder.0.bias",
                "encoder.1.weight",
                "encoder.1.bias",
                "encoder.2.weight",
                "encoder.2.bias",
                "decoder.0.weight",
                "decoder.0.bias",
                "decoder.1.weight",
                "decoder.1.bias",
                "quantizer.embedding",
                "quantizer.ema_count",
                "quantizer.ema_sum",
            ]
        );
        assert_eq!(m.code_width(), 16 * 7 * 7);
        assert_eq!(
            m.describe(),
            "vq 1×28×28 32,64 k3 codes 128×16 ema 0.99 restart"
        );
    }

    #[test]
    fn bad_configs_are_refused() {
        let mut c = VqConfig::mnist();
        c.codes = 1;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("at least 2 codes"));
        let mut c = VqConfig::mnist();
        c.ema = Some(1.0);
        assert!(c.validate().unwrap_err().to_string().contains("(0, 1)"));
    }
}
