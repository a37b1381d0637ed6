//! The adversarial autoencoder (Makhzani et al. 2016, "Adversarial Autoencoders"): a
//! dense deterministic autoencoder whose codes are pushed towards an imposed prior p(z)
//! by a discriminator, trained as three phases of one step on the one trainer, each
//! with its own optimiser state:
//!
//! ```text
//! reconstruction (encoder + decoder):  L_rec = loss(dec(enc(x)), x)
//! discriminator  (discriminator):      L_D = BCE(D(z′, y), 1) + BCE(D(enc(x), y), 0),  z′ ~ p(z | y)
//! generator      (encoder):            L_G = BCE(D(enc(x), y), 1)
//! ```
//!
//! each phase seeing the weights the phases before it updated. The prior is N(0, I),
//! or, label-conditioned (the paper's §5), a mixture of one Gaussian per class, class c
//! centred at radius·(cos 2πc/C, sin 2πc/C, 0, …) with standard deviation σ: the
//! discriminator sees the one-hot label beside the code, so the encoder learns to put
//! class c's images in component c, and decoding draws of component c generates class c.
//!
//! Parameters: `encoder.{i}`, `decoder.{j}`, `discriminator.{k}` (Linear layers), and
//! the buffer `prior.means` `[C, latent]` of a mixture prior.

use std::collections::BTreeMap;
use std::path::Path;

use clap::{ArgMatches, Args, FromArgMatches};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::backend::Backend;
use crate::data::Dataset;
use crate::graph::{DType, EntryId, Graph, GraphError, ParamStore, Shape, ValueId};
use crate::io::NamedTensor;
use crate::models::args::ActivationArgs;
use crate::models::file::restore;
use crate::models::registry::{BuildContext, Built, Kind};
use crate::models::vae::task::one_hot;
use crate::models::{Autoencoder, ModelError};
use crate::nn::{
    init::Init, output_with_logits, Forward, Linear, Mode as NnMode, Module, Scope, Sequential,
};
use crate::ops::random::{rng_feed, Noise, Streams};
use crate::ops::{Activation, BinaryOp, Loss, MatMul, Op};
use crate::train::objective::{reconstruction_term, Objective, RECONSTRUCTION};
use crate::train::{Batch, Mode, Phase, Regularization, Task, TrainConfig, TrainError};

/// The prior the codes are matched to.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Prior {
    /// N(0, I).
    Gaussian,
    /// One Gaussian per class on a circle in the first two code units (label-conditioned).
    LabelMixture {
        classes: usize,
        radius: f32,
        sigma: f32,
    },
}

impl Prior {
    pub fn classes(&self) -> Option<usize> {
        match *self {
            Prior::Gaussian => None,
            Prior::LabelMixture { classes, .. } => Some(classes),
        }
    }
}

/// Everything needed to rebuild the network; saved as JSON in the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AaeConfig {
    pub input: usize,
    /// Hidden widths of the encoder (the decoder mirrors them).
    pub hidden: Vec<usize>,
    pub latent: usize,
    /// Hidden widths of the discriminator.
    pub discriminator: Vec<usize>,
    pub prior: Prior,
    pub activation: Activation,
    pub output_activation: Activation,
    pub init: Init,
}

impl AaeConfig {
    /// MNIST: 784-512-512-8, a 512-512 discriminator, N(0, I).
    pub fn mnist() -> Self {
        AaeConfig {
            input: 784,
            hidden: vec![512, 512],
            latent: 8,
            discriminator: vec![512, 512],
            prior: Prior::Gaussian,
            activation: Activation::Relu,
            output_activation: Activation::Sigmoid,
            init: Init::Auto,
        }
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Config(m));
        if self.input == 0 || self.latent == 0 || self.hidden.contains(&0) {
            return bad("an adversarial autoencoder needs non-zero widths".into());
        }
        if self.discriminator.is_empty() || self.discriminator.contains(&0) {
            return bad("the discriminator needs at least one hidden layer".into());
        }
        if let Prior::LabelMixture {
            classes,
            radius,
            sigma,
        } = self.prior
        {
            if classes < 2 {
                return bad(format!(
                    "a label mixture needs at least 2 classes, got {classes}"
                ));
            }
            if self.latent < 2 {
                return bad(
                    "a label mixture lies in the first two code units: --latent ≥ 2".into(),
                );
            }
            if !(radius > 0.0 && radius.is_finite() && sigma > 0.0 && sigma.is_finite()) {
                return bad(format!(
                    "the mixture's radius and σ must be > 0, got {radius} and {sigma}"
                ));
            }
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let mut widths = vec![self.input.to_string()];
        widths.extend(self.hidden.iter().map(|h| h.to_string()));
        widths.push(self.latent.to_string());
        let d: Vec<String> = self.discriminator.iter().map(|h| h.to_string()).collect();
        let prior = match self.prior {
            Prior::Gaussian => "N(0, I)".to_string(),
            Prior::LabelMixture { classes, .. } => format!("{classes}-class mixture"),
        };
        format!(
            "aae {} disc {} prior {prior}",
            widths.join("-"),
            d.join("-")
        )
    }
}

/// The flags of `aegpu train --model aae`.
#[derive(Args, Debug, Clone)]
pub struct AaeArgs {
    #[command(flatten)]
    pub shared: ActivationArgs,
    /// AAE: hidden widths of the encoder (the decoder mirrors them).
    #[arg(
        id = "aae_hidden",
        long = "aae-hidden",
        value_delimiter = ',',
        default_value = "512,512"
    )]
    pub hidden: Vec<usize>,
    /// AAE: code units.
    #[arg(id = "aae_latent", long = "aae-latent", default_value_t = 8)]
    pub latent: usize,
    /// AAE: hidden widths of the discriminator.
    #[arg(long, value_delimiter = ',', default_value = "512,512")]
    pub discriminator: Vec<usize>,
    /// AAE: the imposed prior: `gaussian`, or `mixture` (one Gaussian per class; the
    /// labels go to the discriminator, and `aegpu sample --label` generates a class).
    #[arg(long, default_value = "gaussian")]
    pub prior: String,
    /// AAE mixture: the components' distance from the origin, and their σ.
    #[arg(long, default_value_t = 4.0)]
    pub mixture_radius: f32,
    #[arg(long, default_value_t = 0.5)]
    pub mixture_sigma: f32,
}

/// The adversarial autoencoder in the registry.
pub const KIND: Kind = Kind {
    name: "aae",
    about: "adversarial (a discriminator imposes a Gaussian or label-mixture prior on the code), `--aae-hidden`, `--aae-latent`, `--discriminator`, `--prior`",
    args: AaeArgs::augment_args,
    build: build_from_flags,
    restore: restore_boxed,
};

fn build_from_flags(m: &ArgMatches, cx: &BuildContext) -> Built {
    let a = AaeArgs::from_arg_matches(m).map_err(|e| e.to_string())?;
    let prior = match a.prior.as_str() {
        "gaussian" => Prior::Gaussian,
        "mixture" => {
            let labels = cx.labels.ok_or(
                "--prior mixture needs labelled data (--label-column for a CSV, or mnist)",
            )?;
            let classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
            Prior::LabelMixture {
                classes,
                radius: a.mixture_radius,
                sigma: a.mixture_sigma,
            }
        }
        other => {
            return Err(format!(
                "unknown prior `{other}` (expected gaussian or mixture)"
            ))
        }
    };
    let config = AaeConfig {
        input: cx.cols,
        hidden: a.hidden,
        latent: a.latent,
        discriminator: a.discriminator,
        prior,
        activation: a.shared.activation,
        output_activation: a.shared.output_activation.unwrap_or(Activation::Sigmoid),
        init: a.shared.init.unwrap_or(Init::Auto),
    };
    let model = Aae::new(config, cx.seed).map_err(|e| e.to_string())?;
    Ok(Box::new(model))
}

fn restore_boxed(
    path: &Path,
    tensors: &[NamedTensor],
    meta: &BTreeMap<String, String>,
) -> Result<Box<dyn Autoencoder>, ModelError> {
    let model = restore(path, tensors, meta, |c| Aae::new(c, 0))?;
    Ok(Box::new(model))
}

/// The random stream of the prior's draws.
const PRIOR_STREAM: &str = "aae/prior";

/// An adversarial autoencoder and the store holding its weights.
#[derive(Clone, Debug)]
pub struct Aae {
    pub config: AaeConfig,
    pub store: ParamStore,
    encoder: Sequential,
    /// The decoder's hidden layers; `output` is its last.
    decoder: Sequential,
    output: Linear,
    discriminator: Sequential,
    /// `[C, latent]` component means of a mixture prior.
    means: Option<EntryId>,
}

impl Aae {
    pub fn new(config: AaeConfig, seed: u64) -> Result<Self, ModelError> {
        config.validate()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut store = ParamStore::new();
        let (act, init) = (config.activation, config.init);
        let mut mlp = |name: &str, widths: &[usize], last: Activation| {
            let scope = Scope::root().child(name);
            let mut seq = Sequential::new();
            for (i, w) in widths.windows(2).enumerate() {
                let a = if i + 2 == widths.len() { last } else { act };
                seq.push(Linear::new(
                    &mut store,
                    &scope.child(i),
                    (w[0], w[1]),
                    a,
                    init,
                    &mut rng,
                )?);
            }
            Ok::<_, ModelError>(seq)
        };
        let mut enc_widths = vec![config.input];
        enc_widths.extend(&config.hidden);
        enc_widths.push(config.latent);
        let dec_widths: Vec<usize> = enc_widths.iter().rev().copied().collect();
        let encoder = mlp("encoder", &enc_widths, Activation::Linear)?;
        let decoder = mlp("decoder", &dec_widths[..dec_widths.len() - 1], act)?;
        let label_width = config.prior.classes().unwrap_or(0);
        let mut disc_widths = vec![config.latent + label_width];
        disc_widths.extend(&config.discriminator);
        disc_widths.push(1);
        let discriminator = mlp("discriminator", &disc_widths, Activation::Linear)?;
        let n = dec_widths.len();
        let output = Linear::new(
            &mut store,
            &Scope::root().child("decoder").child(n - 2),
            (dec_widths[n - 2], dec_widths[n - 1]),
            config.output_activation,
            init,
            &mut rng,
        )?;
        let means = match config.prior {
            Prior::Gaussian => None,
            Prior::LabelMixture {
                classes, radius, ..
            } => {
                let mut m = vec![0.0f32; classes * config.latent];
                for c in 0..classes {
                    let angle = std::f32::consts::TAU * c as f32 / classes as f32;
                    m[c * config.latent] = radius * angle.cos();
                    m[c * config.latent + 1] = radius * angle.sin();
                }
                let scope = Scope::root().child("prior");
                Some(scope.register(&mut store, "means", Shape::new(classes, config.latent), m)?)
            }
        };
        Ok(Aae {
            config,
            store,
            encoder,
            decoder,
            output,
            discriminator,
            means,
        })
    }

    fn forward(&self, g: &mut Graph, net: &Sequential, x: ValueId) -> Result<ValueId, GraphError> {
        net.forward(&mut Forward::new(g, &self.store, NnMode::Train), x)
    }

    /// The decoder's logits and output for codes `z`.
    fn decode_logits(&self, g: &mut Graph, z: ValueId) -> Result<(ValueId, ValueId), GraphError> {
        let mut cx = Forward::new(g, &self.store, NnMode::Train);
        let h = self.decoder.forward(&mut cx, z)?;
        output_with_logits(
            &self.output,
            &mut cx,
            h,
            self.config.output_activation,
            true,
        )
    }

    /// The discriminator's logit for codes `z` (beside their one-hot labels).
    fn discriminate(
        &self,
        g: &mut Graph,
        z: ValueId,
        labels: Option<ValueId>,
    ) -> Result<ValueId, GraphError> {
        let input = match labels {
            Some(y) => g.push(Op::ConcatCols, &[z, y])?,
            None => z,
        };
        self.forward(g, &self.discriminator, input)
    }

    /// Draws from the prior, one per row of `rows` (of class `labels` for a mixture).
    fn prior_draws(
        &self,
        g: &mut Graph,
        rows: usize,
        labels: Option<ValueId>,
        rng: ValueId,
    ) -> Result<ValueId, GraphError> {
        let stream = Streams::new().allocate(PRIOR_STREAM)?;
        let zeros = g.push(
            Op::Fill {
                value: 0.0,
                shape: Shape::new(rows, self.config.latent),
            },
            &[],
        )?;
        let sigma = match self.config.prior {
            Prior::Gaussian => 1.0,
            Prior::LabelMixture { sigma, .. } => sigma,
        };
        let noise = g.push(
            Op::Noise {
                noise: Noise::Gaussian { sigma },
                stream,
            },
            &[zeros, rng],
        )?;
        match (self.means, labels) {
            (Some(means), Some(y)) => {
                let m = g.entry(&self.store, means);
                let centres = g.push(Op::MatMul(MatMul::plain()), &[y, m])?;
                g.push(Op::Binary(BinaryOp::Add), &[noise, centres])
            }
            _ => Ok(noise),
        }
    }

    /// The codes `z` (rows of `latent` values) decoded: rows of `input` values.
    pub fn decode(&self, backend: &mut dyn Backend, z: &[f32]) -> Result<Vec<f32>, TrainError> {
        let n = z.len() / self.config.latent.max(1);
        let mut g = Graph::new();
        let zv = g.input("z", Shape::new(n, self.config.latent), DType::F32);
        let (_, out) = self.decode_logits(&mut g, zv)?;
        g.mark_output(out);
        let plan = crate::graph::Plan::new(&g, &self.store)?;
        backend.upload_store(&self.store)?;
        let id = backend.prepare(&plan)?;
        let run = backend
            .run(id, &[crate::backend::Feed::F32(z)])
            .and_then(|_| backend.read_output(id, out));
        backend.release(id);
        Ok(run?)
    }

    /// Codes of `n` prior draws of class `label` (a mixture prior; without a label,
    /// the classes in turn), decoded: rows of `input` values. The draws are Philox
    /// Gaussians of `seed`, the same on every backend.
    pub fn sample(
        &self,
        backend: &mut dyn Backend,
        n: usize,
        label: Option<u32>,
        seed: u64,
    ) -> Result<Vec<f32>, TrainError> {
        if n == 0 {
            return Err(TrainError::Config("asked for 0 samples".into()));
        }
        let labels = match (self.config.prior.classes(), label) {
            (None, Some(_)) => {
                return Err(TrainError::Config(
                    "--label needs an AAE with a label mixture prior (--prior mixture)".into(),
                ))
            }
            (Some(c), Some(l)) if l as usize >= c => {
                return Err(TrainError::Config(format!(
                    "label {l} is out of range: the model has {c} classes"
                )))
            }
            (Some(c), l) => Some(
                (0..n)
                    .map(|i| l.unwrap_or((i % c) as u32))
                    .collect::<Vec<_>>(),
            ),
            (None, None) => None,
        };
        let mut g = Graph::new();
        let rng = g.input("rng", Shape::new(1, 4), DType::U32);
        let y = match (&labels, self.config.prior.classes()) {
            (Some(_), Some(c)) => Some(g.input("labels", Shape::new(n, c), DType::F32)),
            _ => None,
        };
        let z = self.prior_draws(&mut g, n, y, rng)?;
        let (_, out) = self.decode_logits(&mut g, z)?;
        g.mark_output(out);
        let plan = crate::graph::Plan::new(&g, &self.store)?;
        backend.upload_store(&self.store)?;
        let id = backend.prepare(&plan)?;
        let key = rng_feed(seed, 0);
        let hot = match (&labels, self.config.prior.classes()) {
            (Some(l), Some(c)) => one_hot(l, c)?.values,
            _ => vec![],
        };
        let mut feeds = vec![crate::backend::Feed::U32(&key)];
        if y.is_some() {
            feeds.push(crate::backend::Feed::F32(&hot));
        }
        let run = backend
            .run(id, &feeds)
            .and_then(|_| backend.read_output(id, out));
        backend.release(id);
        Ok(run?)
    }
}

impl Autoencoder for Aae {
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
        p.extend(self.discriminator.parameters());
        p
    }
    fn buffers(&self) -> Vec<EntryId> {
        self.means.into_iter().collect()
    }
    fn input_width(&self) -> usize {
        self.config.input
    }
    fn widest_row(&self) -> usize {
        let widest = |s: &[usize]| s.iter().copied().max().unwrap_or(0);
        self.config
            .input
            .max(widest(&self.config.hidden))
            .max(widest(&self.config.discriminator))
    }
    fn output_activation(&self) -> Activation {
        self.config.output_activation
    }
    fn encode(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        self.forward(g, &self.encoder, x)
    }
    fn reconstruct_logits(
        &self,
        g: &mut Graph,
        x: ValueId,
    ) -> Result<(ValueId, ValueId), GraphError> {
        let z = self.encode(g, x)?;
        self.decode_logits(g, z)
    }
    fn reconstruct(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        Ok(self.reconstruct_logits(g, x)?.1)
    }
    fn validate_regularization(&self, reg: &Regularization) -> Result<(), String> {
        if *reg != Regularization::default() {
            return Err("an adversarial autoencoder takes no noise, dropout or penalties: the discriminator is its regulariser".into());
        }
        Ok(())
    }
    fn uses_rng(&self, _reg: &Regularization) -> bool {
        false
    }
    /// The reconstruction phase's objective (the adversarial phases are the task's).
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
        let (logits, recon) = self.reconstruct_logits(g, x)?;
        let value = reconstruction_term(g, loss, logits, recon, x)?;
        Ok(Objective::single(RECONSTRUCTION, value))
    }
    fn training_task<'a>(&'a mut self, cfg: &'a TrainConfig) -> Option<Box<dyn Task + 'a>> {
        Some(Box::new(AaeTask { model: self, cfg }))
    }
}

/// The three phases of an AAE step.
struct AaeTask<'a> {
    model: &'a mut Aae,
    cfg: &'a TrainConfig,
}

const RECONSTRUCTION_PHASE: usize = 0;
const DISCRIMINATOR_PHASE: usize = 1;

impl Task for AaeTask<'_> {
    fn kind(&self) -> String {
        KIND.name.into()
    }
    fn config_json(&self) -> serde_json::Value {
        self.model.config_json()
    }
    fn settings(&self) -> serde_json::Value {
        serde_json::to_value(self.cfg).unwrap_or(serde_json::Value::Null)
    }
    fn store(&self) -> &ParamStore {
        &self.model.store
    }
    fn store_mut(&mut self) -> &mut ParamStore {
        &mut self.model.store
    }
    fn input_width(&self) -> usize {
        self.model.config.input
    }
    fn widest_row(&self) -> usize {
        self.model.widest_row()
    }
    /// `reconstruction` (encoder and decoder), `discriminator`, `generator` (the
    /// encoder again, with optimiser state of its own).
    fn phases(&self) -> Vec<Phase> {
        let cfg = self.cfg;
        let m = &self.model;
        let mut autoencoder = m.encoder.parameters();
        autoencoder.extend(m.decoder.parameters());
        autoencoder.extend(m.output.parameters());
        let phase = |name: &str, params| Phase {
            schedule: cfg.schedule,
            warmup_steps: cfg.warmup_steps,
            clip_norm: cfg.clip_norm,
            ..Phase::new(name, params, cfg.optimizer, cfg.lr)
        };
        vec![
            phase("reconstruction", autoencoder),
            phase("discriminator", m.discriminator.parameters()),
            phase("generator", m.encoder.parameters()),
        ]
    }
    fn buffers(&self) -> Vec<EntryId> {
        self.model.buffers()
    }
    fn uses_rng(&self) -> bool {
        true
    }
    fn objective(
        &self,
        g: &mut Graph,
        phase: usize,
        batch: &Batch,
        _mode: Mode,
    ) -> Result<Objective, TrainError> {
        let m = &self.model;
        let x = batch.x;
        if phase == RECONSTRUCTION_PHASE {
            g.set_label("reconstruction");
            return m.objective(g, x, self.cfg.loss, &self.cfg.regularization, None);
        }
        let labels = match m.config.prior.classes() {
            Some(_) => Some(batch.targets.ok_or_else(|| {
                TrainError::Config("a label mixture prior needs the labels".into())
            })?),
            None => None,
        };
        let rows = g.shape(x).rows;
        let z = m.encode(g, x)?;
        let fake = m.discriminate(g, z, labels)?;
        let target = |g: &mut Graph, value: f32| {
            g.push(
                Op::Fill {
                    value,
                    shape: Shape::new(rows, 1),
                },
                &[],
            )
        };
        if phase == DISCRIMINATOR_PHASE {
            g.set_label("discriminator");
            let rng = batch
                .rng
                .ok_or_else(|| TrainError::Config("the prior draws need the random key".into()))?;
            let draws = m.prior_draws(g, rows, labels, rng)?;
            let real = m.discriminate(g, draws, labels)?;
            let (ones, zeros) = (target(g, 1.0)?, target(g, 0.0)?);
            let on_real = g.push(Op::Loss(Loss::BceWithLogits), &[real, ones])?;
            let on_fake = g.push(Op::Loss(Loss::BceWithLogits), &[fake, zeros])?;
            let total = g.push(Op::Binary(BinaryOp::Add), &[on_real, on_fake])?;
            return Ok(Objective::single("discriminator", total));
        }
        g.set_label("generator");
        let ones = target(g, 1.0)?;
        let fooled = g.push(Op::Loss(Loss::BceWithLogits), &[fake, ones])?;
        Ok(Objective::single("generator", fooled))
    }
    fn targets(&self, data: &Dataset) -> Result<Option<Dataset>, TrainError> {
        let Some(classes) = self.model.config.prior.classes() else {
            return Ok(None);
        };
        let labels = data.labels.as_ref().ok_or_else(|| {
            TrainError::Config(
                "a label mixture prior needs labelled data (--label-column for a CSV)".into(),
            )
        })?;
        one_hot(labels, classes).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_named_like_a_pytorch_state_dict() {
        let config = AaeConfig {
            hidden: vec![16],
            latent: 2,
            discriminator: vec![8],
            prior: Prior::LabelMixture {
                classes: 3,
                radius: 4.0,
                sigma: 0.5,
            },
            ..AaeConfig::mnist()
        };
        let m = Aae::new(config, 0).unwrap();
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
                "decoder.0.weight",
                "decoder.0.bias",
                "decoder.1.weight",
                "decoder.1.bias",
                "discriminator.0.weight",
                "discriminator.0.bias",
                "discriminator.1.weight",
                "discriminator.1.bias",
                "prior.means",
            ]
        );
        // Component 1 of 3 sits at 120°.
        let means = m.store.values(m.means.unwrap());
        assert!((means[2] - 4.0 * (120f32.to_radians()).cos()).abs() < 1e-6);
        assert!((means[3] - 4.0 * (120f32.to_radians()).sin()).abs() < 1e-6);
    }

    #[test]
    fn a_mixture_needs_two_classes_and_two_code_units() {
        let mut c = AaeConfig::mnist();
        c.prior = Prior::LabelMixture {
            classes: 1,
            radius: 4.0,
            sigma: 0.5,
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("at least 2 classes"));
        c.prior = Prior::LabelMixture {
            classes: 10,
            radius: 4.0,
            sigma: 0.5,
        };
        c.latent = 1;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--latent ≥ 2"));
    }
}
