//! Semantic hashing (Salakhutdinov & Hinton 2009): a deep autoencoder whose sigmoid code
//! is pushed to binary values by Gaussian noise added to the code units' inputs during
//! training. To pass information through the noise the network must drive the inputs
//! far from zero, where the sigmoid saturates at 0 or 1; at inference there is no noise
//! and the code thresholded at ½ is a binary address (`aegpu search --hamming`,
//! [`crate::neighbours::hamming`]) under which similar documents land nearby.
//!
//! ```text
//! x [N, V] ─ Linear + relu, per --hidden ─ Linear(· → B) ─ a ─ σ(a + σ_n · z) ─ code [N, B]
//! code ─ Linear + relu, the hidden widths reversed ─ Linear(· → V) + output activation ─ x̂
//! z ~ N(0, 1) per element and step (Philox, both backends); no noise at inference
//! ```
//!
//! The paper's recipe used σ_n = 4 (its "deterministic noise" of variance 16) on word
//! counts; the default here is the same. With `words` the rows are bags of words (counts
//! or TF-IDF weights w) and the decoder a softmax over the vocabulary, trained by the
//! weighted cross-entropy −Σ_j w_j log p_j (the multinomial log-likelihood of the bag,
//! as the paper's constrained Poisson model, up to a constant); its reconstruction is
//! p · Σ_j w_j, the expected bag at the row's own weight.
//!
//! Parameter names: `encoder.{i}.weight/bias`, `decoder.{i}.weight/bias`.

use std::collections::BTreeMap;
use std::path::Path;

use clap::{ArgMatches, Args, FromArgMatches};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::graph::{EntryId, Graph, GraphError, ParamStore, ValueId};
use crate::io::NamedTensor;
use crate::models::file::restore;
use crate::models::registry::{BuildContext, Built, Kind};
use crate::models::{Autoencoder, ModelError};
use crate::nn::init::Init;
use crate::nn::{output_with_logits, Forward, Linear, Mode, Module, Scope, Sequential};
use crate::ops::random::{Noise, Streams};
use crate::ops::{Activation, Loss, Op};
use crate::train::objective::{reconstruction_term, Objective, RECONSTRUCTION};
use crate::train::{Regularization, TrainError};

/// Everything needed to rebuild the network; saved as JSON in the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HashConfig {
    /// V, values per input row (the vocabulary).
    pub input: usize,
    /// Widths of the hidden layers between the input and the code.
    pub hidden: Vec<usize>,
    /// B, bits of the code.
    pub bits: usize,
    /// σ_n, the standard deviation of the noise on the code units' inputs in training.
    pub code_noise: f32,
    pub output_activation: Activation,
    /// Rows are bags of words: a softmax decoder and the weighted cross-entropy.
    #[serde(default)]
    pub words: bool,
}

impl HashConfig {
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.input == 0 || self.bits == 0 || self.hidden.contains(&0) {
            return Err(ModelError::Config(format!(
                "a hashing autoencoder needs inputs, hidden units and bits, got {} → {:?} → {}",
                self.input, self.hidden, self.bits
            )));
        }
        if !(self.code_noise >= 0.0 && self.code_noise.is_finite()) {
            return Err(ModelError::Config(format!(
                "the code noise must be a standard deviation ≥ 0, got {}",
                self.code_noise
            )));
        }
        Ok(())
    }

    /// `hash 2000-500-32 bits, code noise 4`.
    pub fn describe(&self) -> String {
        let widths: Vec<String> = std::iter::once(self.input)
            .chain(self.hidden.iter().copied())
            .chain([self.bits])
            .map(|w| w.to_string())
            .collect();
        format!(
            "hash {} bits, code noise {}{}",
            widths.join("-"),
            self.code_noise,
            if self.words {
                ", softmax over words"
            } else {
                ""
            }
        )
    }
}

/// The flags of `aegpu train --model hash`.
#[derive(Args, Debug, Clone)]
pub struct HashArgs {
    /// Hash: bits of the binary code.
    #[arg(long, default_value_t = 32)]
    pub bits: usize,
    /// Hash: standard deviation of the Gaussian noise added to the code units' inputs
    /// while training (drives them to saturate).
    #[arg(long, default_value_t = 4.0)]
    pub code_noise: f32,
    /// VAE and hash: hidden widths of the encoder (the decoder mirrors them).
    #[arg(long, value_delimiter = ',', default_value = "400")]
    pub hidden: Vec<usize>,
    /// Activation of the output layer (default sigmoid, for data in [0, 1]; linear for
    /// a `--residual` conv model, an LSTM and a `--words` hashing model).
    #[arg(long)]
    pub output_activation: Option<Activation>,
    /// Hash: the rows are bags of words (counts or TF-IDF): decode a softmax over the
    /// columns, trained by the cross-entropy weighted by each row's values.
    #[arg(long)]
    pub words: bool,
}

/// Semantic hashing in the registry.
pub const KIND: Kind = Kind {
    name: "hash",
    about: "semantic hashing: noise before a sigmoid code so it saturates, binary codes for Hamming search, `--bits`, `--code-noise`, `--hidden`",
    args: HashArgs::augment_args,
    build: build_from_flags,
    restore: restore_boxed,
};

fn build_from_flags(m: &ArgMatches, cx: &BuildContext) -> Built {
    let a = HashArgs::from_arg_matches(m).map_err(|e| e.to_string())?;
    let config = HashConfig {
        input: cx.cols,
        hidden: a.hidden,
        bits: a.bits,
        code_noise: a.code_noise,
        output_activation: a.output_activation.unwrap_or(Activation::Sigmoid),
        words: a.words,
    };
    if config.words && a.output_activation.is_some() {
        return Err(
            "--words decodes a softmax over the words: it takes no --output-activation".into(),
        );
    }
    Ok(Box::new(
        HashAutoencoder::new(config, cx.seed).map_err(|e| e.to_string())?,
    ))
}

fn restore_boxed(
    path: &Path,
    tensors: &[NamedTensor],
    meta: &BTreeMap<String, String>,
) -> Result<Box<dyn Autoencoder>, ModelError> {
    let model = restore(path, tensors, meta, |c| HashAutoencoder::new(c, 0))?;
    Ok(Box::new(model))
}

/// The random stream of the code noise.
const CODE_NOISE_STREAM: &str = "hash/code_noise";

/// A semantic-hashing autoencoder and the store holding its weights.
#[derive(Clone, Debug)]
pub struct HashAutoencoder {
    pub config: HashConfig,
    pub store: ParamStore,
    /// The hidden layers and the code layer (linear: the noise and σ follow).
    encoder: Sequential,
    /// Every decoder layer but the output one.
    decoder: Sequential,
    output: Linear,
}

impl HashAutoencoder {
    pub fn new(config: HashConfig, seed: u64) -> Result<Self, ModelError> {
        config.validate()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut store = ParamStore::new();
        let widths: Vec<usize> = std::iter::once(config.input)
            .chain(config.hidden.iter().copied())
            .chain([config.bits])
            .collect();
        let depth = widths.len() - 1;
        let enc = Scope::root().child("encoder");
        let mut encoder = Sequential::new();
        for i in 0..depth {
            let act = if i + 1 == depth {
                Activation::Linear
            } else {
                Activation::Relu
            };
            let init = if i + 1 == depth {
                Init::Glorot
            } else {
                Init::He
            };
            encoder.push(Linear::new(
                &mut store,
                &enc.child(i),
                (widths[i], widths[i + 1]),
                act,
                init,
                &mut rng,
            )?);
        }
        let dec = Scope::root().child("decoder");
        let mut decoder = Sequential::new();
        let back: Vec<usize> = widths.iter().rev().copied().collect();
        for i in 0..depth - 1 {
            decoder.push(Linear::new(
                &mut store,
                &dec.child(i),
                (back[i], back[i + 1]),
                Activation::Relu,
                Init::He,
                &mut rng,
            )?);
        }
        let output = Linear::new(
            &mut store,
            &dec.child(depth - 1),
            (back[depth - 1], back[depth]),
            if config.words {
                Activation::Linear
            } else {
                config.output_activation
            },
            Init::Glorot,
            &mut rng,
        )?;
        Ok(HashAutoencoder {
            config,
            store,
            encoder,
            decoder,
            output,
        })
    }

    /// The code: σ(a), or σ(a + σ_n z) when `rng` is given (training).
    fn code(
        &self,
        cx: &mut Forward,
        x: ValueId,
        rng: Option<ValueId>,
    ) -> Result<ValueId, GraphError> {
        cx.g.set_label("encoder");
        let mut a = self.encoder.forward(cx, x)?;
        if let Some(rng) = rng.filter(|_| self.config.code_noise > 0.0) {
            cx.g.set_label("code noise");
            let stream = Streams::new().allocate(CODE_NOISE_STREAM)?;
            let noise = Noise::Gaussian {
                sigma: self.config.code_noise,
            };
            a = cx.g.push(Op::Noise { noise, stream }, &[a, rng])?;
        }
        cx.g.set_label("code");
        cx.g.push(Op::Activate(Activation::Sigmoid), &[a])
    }

    fn pass(
        &self,
        g: &mut Graph,
        x: ValueId,
        rng: Option<ValueId>,
        logits: bool,
    ) -> Result<(ValueId, ValueId), GraphError> {
        let mut cx = Forward::new(g, &self.store, Mode::Eval);
        let code = self.code(&mut cx, x, rng)?;
        cx.g.set_label("decoder");
        let h = self.decoder.forward(&mut cx, code)?;
        if self.config.words {
            let z = self.output.forward(&mut cx, h)?;
            let expected = expected_bag(cx.g, z, x)?;
            return Ok((z, expected));
        }
        let act = self.config.output_activation;
        output_with_logits(&self.output, &mut cx, h, act, logits)
    }
}

impl Autoencoder for HashAutoencoder {
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
    fn input_width(&self) -> usize {
        self.config.input
    }
    fn code_width(&self) -> usize {
        self.config.bits
    }
    /// The noiseless sigmoid code (threshold it at ½ for the binary address).
    fn encode(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        let mut cx = Forward::new(g, &self.store, Mode::Eval);
        self.code(&mut cx, x, None)
    }
    fn reconstruct_logits(
        &self,
        g: &mut Graph,
        x: ValueId,
    ) -> Result<(ValueId, ValueId), GraphError> {
        self.pass(g, x, None, true)
    }
    fn reconstruct(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        Ok(self.pass(g, x, None, false)?.1)
    }
    fn validate_regularization(&self, reg: &Regularization) -> Result<(), String> {
        if *reg != Regularization::default() {
            return Err(
                "a hashing autoencoder's regulariser is its code noise (--code-noise); it takes \
                 no input noise, dropout or penalties"
                    .into(),
            );
        }
        Ok(())
    }
    fn uses_rng(&self, _reg: &Regularization) -> bool {
        self.config.code_noise > 0.0
    }
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
        if self.config.code_noise > 0.0 && rng.is_none() {
            return Err(TrainError::Config(
                "the code noise needs the random key input".into(),
            ));
        }
        let (logits, recon) = self.pass(g, x, rng, loss == Loss::BceWithLogits)?;
        let value = if self.config.words {
            g.set_label("loss");
            g.push(Op::SoftmaxCrossEntropy, &[logits, x])?
        } else {
            reconstruction_term(g, loss, logits, recon, x)?
        };
        Ok(Objective::single(RECONSTRUCTION, value))
    }
    /// The same cross-entropy on the clean batch, so validation compares like with like.
    fn eval_objective(
        &self,
        g: &mut Graph,
        x: ValueId,
        loss: Loss,
        _reg: &Regularization,
        _rng: Option<ValueId>,
    ) -> Result<Objective, TrainError> {
        let (logits, recon) = self.pass(g, x, None, loss == Loss::BceWithLogits)?;
        let value = if self.config.words {
            g.set_label("loss");
            g.push(Op::SoftmaxCrossEntropy, &[logits, x])?
        } else {
            reconstruction_term(g, loss, logits, recon, x)?
        };
        Ok(Objective::single(RECONSTRUCTION, value))
    }
    fn output_activation(&self) -> Activation {
        if self.config.words {
            Activation::Linear
        } else {
            self.config.output_activation
        }
    }
}

/// softmax(z) · Σ_j x_j per row: the bag the decoder expects at the row's weight. The
/// logits are shifted by their row mean before exp (softmax is unchanged by a shift);
/// f32 exp overflows past 88, far beyond the spread a trained decoder's logits have.
fn expected_bag(g: &mut Graph, z: ValueId, x: ValueId) -> Result<ValueId, GraphError> {
    use crate::ops::{Axis, BinaryOp, Reduce, ReduceKind, UnaryOp};
    let shape = g.shape(z);
    let row = |g: &mut Graph, kind, v| {
        let r = g.push(
            Op::Reduce(Reduce {
                kind,
                axis: Axis::Cols,
            }),
            &[v],
        )?;
        g.push(Op::Broadcast(shape), &[r])
    };
    g.set_label("expected bag");
    let mean = row(g, ReduceKind::Mean, z)?;
    let shifted = g.push(Op::Binary(BinaryOp::Sub), &[z, mean])?;
    let e = g.push(Op::Unary(UnaryOp::Exp), &[shifted])?;
    let total = row(g, ReduceKind::Sum, e)?;
    let p = g.push(Op::Binary(BinaryOp::Div), &[e, total])?;
    let weight = row(g, ReduceKind::Sum, x)?;
    g.push(Op::Binary(BinaryOp::Mul), &[p, weight])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_describes_itself() {
        let config = HashConfig {
            input: 20,
            hidden: vec![10],
            bits: 4,
            code_noise: 4.0,
            output_activation: Activation::Sigmoid,
            words: false,
        };
        let m = HashAutoencoder::new(config, 0).unwrap();
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
                "decoder.1.bias"
            ]
        );
        assert_eq!(m.describe(), "hash 20-10-4 bits, code noise 4");
        assert_eq!(m.code_width(), 4);
    }
}
