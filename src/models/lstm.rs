//! The LSTM sequence autoencoder (Srivastava, Mansimov & Salakhutdinov 2015, "Unsupervised
//! learning of video representations using LSTMs"): an LSTM encoder reads the sequence
//! into its final hidden state, a linear layer makes the code of it, and an LSTM decoder
//! given the code at every step emits the sequence back, one linear read-out per step.
//! By default the decoder emits it in reverse order (the last step first), as the paper
//! does: the first values it has to produce are the ones the encoder read last, which
//! shortens the paths the gradient travels early in training.
//!
//! ```text
//! x [N, T·F] ─ LSTM(F → H), T steps ─ h_T ─ Linear(H → K) ─ code [N, K]
//! code ─ LSTM(K → H), T steps, the code as each step's input ─ h_s ─ Linear(H → F) ─ x̂_{t(s)}
//! t(s) = T − 1 − s (reverse, the default) or s (forward)
//! ```
//!
//! Each row of the data is one sequence of T steps of F values, time-major (`[x_1 | x_2
//! | …]`): a univariate series is F = 1, a multivariate one F channels per step. Every
//! row has the same length; the loaders refuse ragged rows, so series of unequal
//! length are padded (or cut) to one length before training.
//!
//! Parameter names: `encoder.weight/bias` (the LSTM, `weight` `[(F + H), 4H]`),
//! `code.weight/bias`, `decoder.weight/bias` (`[(K + H), 4H]`), `output.weight/bias`.

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
use crate::nn::recurrent::concat_all;
use crate::nn::{output_with_logits, Forward, Linear, Lstm, Mode, Module, Scope};
use crate::ops::{Activation, Loss};
use crate::train::objective::{reconstruction_term, Objective, RECONSTRUCTION};
use crate::train::{Regularization, TrainError};

/// The order the decoder emits the sequence in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// The last step first (Srivastava et al. 2015).
    Reverse,
    /// The first step first.
    Forward,
}

impl std::str::FromStr for Order {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "reverse" => Ok(Order::Reverse),
            "forward" => Ok(Order::Forward),
            other => Err(format!("expected reverse or forward, got `{other}`")),
        }
    }
}

/// Everything needed to rebuild the network; saved as JSON in the model file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LstmConfig {
    /// T, time steps per sequence.
    pub steps: usize,
    /// F, values per time step.
    pub features: usize,
    /// H, hidden units of the encoder and of the decoder.
    pub units: usize,
    /// K, values of the code.
    pub code: usize,
    pub order: Order,
    /// Activation of the per-step read-out (linear for standardised series).
    pub output_activation: Activation,
}

impl LstmConfig {
    /// Sequences of `steps` × `features` values, 64 units, a code of 16, reversed.
    pub fn new(steps: usize, features: usize) -> Self {
        LstmConfig {
            steps,
            features,
            units: 64,
            code: 16,
            order: Order::Reverse,
            output_activation: Activation::Linear,
        }
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        let sizes = [
            ("time steps", self.steps),
            ("values per step", self.features),
            ("units", self.units),
            ("code values", self.code),
        ];
        if let Some((what, _)) = sizes.iter().find(|(_, n)| *n == 0) {
            return Err(ModelError::Config(format!(
                "an LSTM autoencoder needs at least one of its {what}"
            )));
        }
        if self.steps.checked_mul(self.features).is_none() {
            return Err(ModelError::Config(format!(
                "{} steps of {} values overflow",
                self.steps, self.features
            )));
        }
        Ok(())
    }

    /// `lstm 140×1 → 64 → code 16 → 64 reverse`.
    pub fn describe(&self) -> String {
        format!(
            "lstm {}×{} → {} → code {} → {} {}",
            self.steps,
            self.features,
            self.units,
            self.code,
            self.units,
            match self.order {
                Order::Reverse => "reverse",
                Order::Forward => "forward",
            }
        )
    }
}

/// The flags of `aegpu train --model lstm`.
#[derive(Args, Debug, Clone)]
pub struct LstmArgs {
    /// LSTM: values per time step (F); each row holds T = columns / F steps.
    #[arg(long, default_value_t = 1)]
    pub step_features: usize,
    /// LSTM: hidden units of the encoder and decoder LSTMs.
    #[arg(long, default_value_t = 64)]
    pub units: usize,
    /// LSTM: values of the code (a linear layer on the encoder's last hidden state).
    #[arg(long, default_value_t = 16)]
    pub code_size: usize,
    /// LSTM: the order the decoder emits the sequence in: reverse (the last step first,
    /// Srivastava et al. 2015) or forward.
    #[arg(long, default_value = "reverse")]
    pub order: Order,
    /// Activation of the output layer (default sigmoid, for data in [0, 1]; linear for
    /// a `--residual` conv model, an LSTM and a `--words` hashing model).
    #[arg(long)]
    pub output_activation: Option<Activation>,
}

/// The LSTM autoencoder in the registry.
pub const KIND: Kind = Kind {
    name: "lstm",
    about: "LSTM sequence autoencoder, `--step-features`, `--units`, `--code-size`, `--order reverse|forward`",
    args: LstmArgs::augment_args,
    build: build_from_flags,
    restore: restore_boxed,
};

fn build_from_flags(m: &ArgMatches, cx: &BuildContext) -> Built {
    let a = LstmArgs::from_arg_matches(m).map_err(|e| e.to_string())?;
    if a.step_features == 0 || cx.cols % a.step_features != 0 {
        return Err(format!(
            "the data has {} columns, not a whole number of steps of --step-features {}",
            cx.cols, a.step_features
        ));
    }
    let config = LstmConfig {
        steps: cx.cols / a.step_features,
        features: a.step_features,
        units: a.units,
        code: a.code_size,
        order: a.order,
        output_activation: a.output_activation.unwrap_or(Activation::Linear),
    };
    let model = LstmAutoencoder::new(config, cx.seed).map_err(|e| e.to_string())?;
    Ok(Box::new(model))
}

fn restore_boxed(
    path: &Path,
    tensors: &[NamedTensor],
    meta: &BTreeMap<String, String>,
) -> Result<Box<dyn Autoencoder>, ModelError> {
    let model = restore(path, tensors, meta, |c| LstmAutoencoder::new(c, 0))?;
    Ok(Box::new(model))
}

/// An LSTM autoencoder and the store holding its weights.
#[derive(Clone, Debug)]
pub struct LstmAutoencoder {
    pub config: LstmConfig,
    pub store: ParamStore,
    encoder: Lstm,
    to_code: Linear,
    decoder: Lstm,
    output: Linear,
}

impl LstmAutoencoder {
    /// A freshly initialised network.
    pub fn new(config: LstmConfig, seed: u64) -> Result<Self, ModelError> {
        config.validate()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut store = ParamStore::new();
        let root = Scope::root();
        let (f, h, k) = (config.features, config.units, config.code);
        let encoder = Lstm::new(&mut store, &root.child("encoder"), f, h, &mut rng)?;
        let to_code = Linear::new(
            &mut store,
            &root.child("code"),
            (h, k),
            Activation::Linear,
            Init::Glorot,
            &mut rng,
        )?;
        let decoder = Lstm::new(&mut store, &root.child("decoder"), k, h, &mut rng)?;
        let output = Linear::new(
            &mut store,
            &root.child("output"),
            (h, f),
            config.output_activation,
            Init::Glorot,
            &mut rng,
        )?;
        Ok(LstmAutoencoder {
            config,
            store,
            encoder,
            to_code,
            decoder,
            output,
        })
    }

    fn code(&self, cx: &mut Forward, x: ValueId) -> Result<ValueId, GraphError> {
        cx.g.set_label("encoder");
        let states = self.encoder.read(cx, x, self.config.steps)?;
        let last = *states.last().expect("validate: at least one step");
        let h = self.encoder.hidden_of(cx, last)?;
        cx.g.set_label("code");
        self.to_code.forward(cx, h)
    }

    /// The whole network: `(logits, reconstruction)`, both `[N, T·F]` in time order.
    fn pass(
        &self,
        g: &mut Graph,
        x: ValueId,
        logits: bool,
    ) -> Result<(ValueId, ValueId), GraphError> {
        let mut cx = Forward::new(g, &self.store, Mode::Eval);
        let code = self.code(&mut cx, x)?;
        cx.g.set_label("decoder");
        let rows = cx.g.shape(x).rows;
        let mut state = self.decoder.zero_state(&mut cx, rows);
        let steps = self.config.steps;
        let (mut zs, mut ys) = (vec![None; steps], vec![None; steps]);
        let act = self.config.output_activation;
        for s in 0..steps {
            state = self.decoder.step(&mut cx, code, state)?;
            let h = self.decoder.hidden_of(&mut cx, state)?;
            let (z, y) = output_with_logits(&self.output, &mut cx, h, act, logits)?;
            let t = match self.config.order {
                Order::Reverse => steps - 1 - s,
                Order::Forward => s,
            };
            zs[t] = Some(z);
            ys[t] = Some(y);
        }
        let ys: Vec<ValueId> = ys.into_iter().flatten().collect();
        let zs: Vec<ValueId> = zs.into_iter().flatten().collect();
        cx.g.set_label("sequence");
        let recon = concat_all(&mut cx, &ys)?;
        let logits = if zs == ys {
            recon
        } else {
            concat_all(&mut cx, &zs)?
        };
        Ok((logits, recon))
    }
}

impl Autoencoder for LstmAutoencoder {
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
        p.extend(self.to_code.parameters());
        p.extend(self.decoder.parameters());
        p.extend(self.output.parameters());
        p
    }
    fn input_width(&self) -> usize {
        self.config.steps * self.config.features
    }
    /// Every step's gates and states stay alive for the backward pass: per row about
    /// T · (4H gates + 2H state + (F or K) + H input rows) on each side.
    fn widest_row(&self) -> usize {
        let c = &self.config;
        let per_step = 7 * c.units + c.features.max(c.code) + c.features;
        2 * c.steps * per_step
    }
    fn output_activation(&self) -> Activation {
        self.config.output_activation
    }
    fn code_width(&self) -> usize {
        self.config.code
    }
    fn encode(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        let mut cx = Forward::new(g, &self.store, Mode::Eval);
        self.code(&mut cx, x)
    }
    fn reconstruct_logits(
        &self,
        g: &mut Graph,
        x: ValueId,
    ) -> Result<(ValueId, ValueId), GraphError> {
        self.pass(g, x, true)
    }
    fn reconstruct(&self, g: &mut Graph, x: ValueId) -> Result<ValueId, GraphError> {
        Ok(self.pass(g, x, false)?.1)
    }
    fn validate_regularization(&self, reg: &Regularization) -> Result<(), String> {
        if *reg != Regularization::default() {
            return Err(
                "an LSTM autoencoder takes no noise, dropout or penalties (its code is the bottleneck)"
                    .into(),
            );
        }
        Ok(())
    }
    fn uses_rng(&self, _reg: &Regularization) -> bool {
        false
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
        let (logits, recon) = self.pass(g, x, loss == Loss::BceWithLogits)?;
        let value = reconstruction_term(g, loss, logits, recon, x)?;
        Ok(Objective::single(RECONSTRUCTION, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Shape;

    #[test]
    fn names_its_parameters_and_describes_itself() {
        let m = LstmAutoencoder::new(LstmConfig::new(140, 1), 0).unwrap();
        let names: Vec<&str> = m
            .saved_entries()
            .iter()
            .map(|&id| m.store.get(id).name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "encoder.weight",
                "encoder.bias",
                "code.weight",
                "code.bias",
                "decoder.weight",
                "decoder.bias",
                "output.weight",
                "output.bias"
            ]
        );
        assert_eq!(m.store.get(m.encoder.weight).shape, Shape::new(65, 256));
        assert_eq!(m.store.get(m.decoder.weight).shape, Shape::new(80, 256));
        assert_eq!(m.code_width(), 16);
        assert_eq!(m.describe(), "lstm 140×1 → 64 → code 16 → 64 reverse");
    }

    #[test]
    fn empty_sizes_are_refused() {
        let mut c = LstmConfig::new(10, 1);
        c.units = 0;
        let e = c.validate().unwrap_err().to_string();
        assert_eq!(
            e,
            "invalid model: an LSTM autoencoder needs at least one of its units"
        );
    }
}
