//! The encoder of predictive sparse decomposition (Kavukcuoglu, Ranzato & LeCun,
//! "Fast inference in sparse coding algorithms with applications to object
//! recognition", 2008), in its shrinkage form (Gregor & LeCun 2010, LISTA with no
//! recurrent step):
//!
//! ```text
//! f(x) = S_θ(x·W + b) = relu(a − θ) − relu(−a − θ),  a = x·W + b
//!        W [n, K], b [1, K], θ [1, K] (a threshold per atom)
//! ```
//!
//! PSD's original g ⊙ tanh(·) never outputs an exact 0, so its codes pay λ‖h‖₁ on every
//! atom and cannot match sparse codes in the objective; the shrinkage keeps them
//! sparse, which is what lets the encoder stand in for FISTA at equal error.
//!
//! trained to predict the sparse codes h* (the minimisers of the joint objective, see
//! `fista.rs`) by descending (γ/2)‖h* − f(x)‖²: the MSE between f(x) and h*, one Adam
//! step per minibatch, the codes held fixed. At inference f(x) replaces FISTA: one
//! matmul and a shrinkage instead of an iteration loop.
//!
//! W starts at Dᵀ/L, b at 0 and θ at λ/L: f then begins as exactly one ISTA step from
//! h = 0, S_{λ/L}(x·Dᵀ/L), and training only improves on it.

use crate::graph::{
    grad, DType, EntryId, EntryKind, Graph, GraphError, ParamStore, Shape, ValueId,
};
use crate::nn::dense;
use crate::ops::{Activation, BinaryOp, Loss, Op, Optimizer};
use crate::train::push_updates;

use super::Dictionary;

/// The encoder's parameters in a store (names `encoder.weight`, `encoder.bias`,
/// `encoder.threshold`) and its Adam state.
#[derive(Clone, Debug)]
pub struct Encoder {
    pub weight: EntryId,
    pub bias: EntryId,
    pub threshold: EntryId,
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
    /// A fresh encoder for `dictionary` at ℓ1 weight `lambda` whose Gram matrix has
    /// largest eigenvalue `lipschitz` (W = Dᵀ/L, b = 0, θ = λ/L).
    pub fn for_dictionary(
        store: &mut ParamStore,
        dictionary: &Dictionary,
        lambda: f32,
        lipschitz: f64,
    ) -> Encoder {
        let (k, n) = (dictionary.atoms(), dictionary.width());
        let mut w = vec![0.0; n * k];
        for j in 0..k {
            for (p, &d) in dictionary.atom(j).iter().enumerate() {
                w[p * k + j] = (d as f64 / lipschitz) as f32;
            }
        }
        let theta = (lambda as f64 / lipschitz) as f32;
        Encoder::with_values(store, (n, k), w, vec![0.0; k], vec![theta; k])
    }

    /// An encoder from given values (a loaded model): W `[n, K]`, b and θ `[1, K]`.
    pub fn with_values(
        store: &mut ParamStore,
        (n, k): (usize, usize),
        weight: Vec<f32>,
        bias: Vec<f32>,
        threshold: Vec<f32>,
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
        let threshold = store.put(
            "encoder.threshold",
            Shape::new(1, k),
            p,
            crate::graph::EntryData::F32(threshold),
        );
        let optimizer = Optimizer::adam();
        let states = [weight, bias, threshold]
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
            threshold,
            states,
            optimizer,
        }
    }

    pub fn optimizer(&self) -> Optimizer {
        self.optimizer
    }

    /// f(x) = relu(a − θ) − relu(−a − θ), a = x·W + b, for x `[B, n]`.
    pub fn forward(
        &self,
        g: &mut Graph,
        store: &ParamStore,
        x: ValueId,
    ) -> Result<ValueId, GraphError> {
        g.set_label("psd encoder");
        let a = dense(
            g,
            store,
            x,
            self.weight,
            self.bias,
            false,
            Activation::Linear,
        )?;
        let theta = g.entry(store, self.threshold);
        let theta = g.push(Op::Broadcast(g.shape(a)), &[theta])?;
        let above = g.push(Op::Binary(BinaryOp::Sub), &[a, theta])?;
        let above = g.push(Op::Activate(Activation::Relu), &[above])?;
        let negated = g.push(Op::Scale(-1.0), &[a])?;
        let below = g.push(Op::Binary(BinaryOp::Sub), &[negated, theta])?;
        let below = g.push(Op::Activate(Activation::Relu), &[below])?;
        g.push(Op::Binary(BinaryOp::Sub), &[above, below])
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
        let params: Vec<ValueId> = [self.weight, self.bias, self.threshold]
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
