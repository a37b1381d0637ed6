//! The encoder of predictive sparse decomposition (Kavukcuoglu, Ranzato & LeCun,
//! "Fast inference in sparse coding algorithms with applications to object
//! recognition", 2008):
//!
//! ```text
//! f(x) = g ⊙ tanh(x·W + b)      W [n, K], b [1, K], g [1, K] (PSD's diagonal gain)
//! ```
//!
//! trained to predict the sparse codes h* (the minimisers of the joint objective, see
//! `fista.rs`) by descending (γ/2)‖h* − f(x)‖²: the MSE between f(x) and h*, one Adam
//! step per minibatch, the codes held fixed. At inference f(x) replaces FISTA: one
//! matmul and one tanh instead of an iteration loop.
//!
//! W starts at Dᵀ (f then begins as a squashed matched filter x·Dᵀ), b at 0, g at 1.

use crate::graph::{
    grad, DType, EntryId, EntryKind, Graph, GraphError, ParamStore, Shape, ValueId,
};
use crate::nn::dense;
use crate::ops::{Activation, BinaryOp, Loss, Op, Optimizer};
use crate::train::push_updates;

use super::Dictionary;

/// The encoder's parameters in a store (names `encoder.weight`, `encoder.bias`,
/// `encoder.gain`) and its Adam state.
#[derive(Clone, Debug)]
pub struct Encoder {
    pub weight: EntryId,
    pub bias: EntryId,
    pub gain: EntryId,
    states: Vec<Vec<EntryId>>,
    optimizer: Optimizer,
}

/// The encoder's training graph and the value of its loss.
pub struct EncoderStep {
    pub graph: Graph,
    /// mean (f(x) − h*)² `[1, 1]`.
    pub loss: ValueId,
}

impl Encoder {
    /// A fresh encoder for `dictionary` (W = Dᵀ, b = 0, g = 1).
    pub fn for_dictionary(store: &mut ParamStore, dictionary: &Dictionary) -> Encoder {
        let (k, n) = (dictionary.atoms(), dictionary.width());
        let mut w = vec![0.0; n * k];
        for j in 0..k {
            for (p, &d) in dictionary.atom(j).iter().enumerate() {
                w[p * k + j] = d;
            }
        }
        Encoder::with_values(store, (n, k), w, vec![0.0; k], vec![1.0; k])
    }

    /// An encoder from given values (a loaded model): W `[n, K]`, b and g `[1, K]`.
    pub fn with_values(
        store: &mut ParamStore,
        (n, k): (usize, usize),
        weight: Vec<f32>,
        bias: Vec<f32>,
        gain: Vec<f32>,
    ) -> Encoder {
        let p = EntryKind::Parameter;
        let weight = store.put(
            "encoder.weight",
            Shape::new(n, k),
            p,
            crate::graph::EntryData::F32(weight),
        );
        let bias = store.put(
            "encoder.bias",
            Shape::new(1, k),
            p,
            crate::graph::EntryData::F32(bias),
        );
        let gain = store.put(
            "encoder.gain",
            Shape::new(1, k),
            p,
            crate::graph::EntryData::F32(gain),
        );
        let optimizer = Optimizer::adam();
        let states = [weight, bias, gain]
            .iter()
            .map(|&param| {
                let (name, shape) = (store.get(param).name.clone(), store.get(param).shape);
                (0..optimizer.state_count())
                    .map(|s| store.put_zeros(&format!("{name}.adam.{s}"), shape, EntryKind::State))
                    .collect()
            })
            .collect();
        Encoder {
            weight,
            bias,
            gain,
            states,
            optimizer,
        }
    }

    pub fn optimizer(&self) -> Optimizer {
        self.optimizer
    }

    /// f(x) = g ⊙ tanh(x·W + b) for x `[B, n]`.
    pub fn forward(
        &self,
        g: &mut Graph,
        store: &ParamStore,
        x: ValueId,
    ) -> Result<ValueId, GraphError> {
        g.set_label("psd encoder");
        let squashed = dense(g, store, x, self.weight, self.bias, false, Activation::Tanh)?;
        let gain = g.entry(store, self.gain);
        let gain = g.push(Op::Broadcast(g.shape(squashed)), &[gain])?;
        g.push(Op::Binary(BinaryOp::Mul), &[squashed, gain])
    }

    /// One Adam step on mean (f(x) − h*)² for inputs `x` `[rows, n]`, `codes` `[rows, K]`
    /// (the targets h*) and `hyper` `[1, 4]` (see [`Optimizer::hyper`]).
    pub fn training_graph(
        &self,
        store: &ParamStore,
        rows: usize,
    ) -> Result<EncoderStep, GraphError> {
        let mut g = Graph::new();
        let (n, k) = {
            let s = store.get(self.weight).shape;
            (s.rows, s.cols)
        };
        let x = g.input("x", Shape::new(rows, n), DType::F32);
        let codes = g.input("codes", Shape::new(rows, k), DType::F32);
        let hyper = g.input("hyper", Shape::new(1, 4), DType::F32);
        let f = self.forward(&mut g, store, x)?;
        g.set_label("psd prediction loss");
        let loss = g.push(Op::Loss(Loss::Mse), &[f, codes])?;
        let params: Vec<ValueId> = [self.weight, self.bias, self.gain]
            .iter()
            .map(|&p| g.entry(store, p))
            .collect();
        let grads = grad(&mut g, loss, &params)?;
        push_updates(
            &mut g,
            store,
            &params,
            grads,
            &self.states,
            hyper,
            self.optimizer,
            None,
        )?;
        g.mark_output(loss);
        Ok(EncoderStep { graph: g, loss })
    }
}
