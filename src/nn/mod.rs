//! Layers (modules) the model kinds are composed of, in PyTorch's spirit: each layer
//! registers its named parameters in a [`ParamStore`] passed in, under a [`Scope`]
//! (`encoder.0` → `encoder.0.weight`, `encoder.0.bias`), and appends its ops to a graph
//! with [`Module::forward`]. A layer holds only entry ids and its geometry, so one
//! store (and the backend it is uploaded to) holds every model built into it: an
//! autoencoder and a discriminator registered under `autoencoder` and `discriminator`
//! share one backend, and a repeated name is refused ([`NnError::Duplicate`]).
//!
//! | layer | PyTorch | parameters |
//! | --- | --- | --- |
//! | [`Linear`] | `nn.Linear` (weight stored `[in, out]`, the matmul's layout) | `weight`, `bias` |
//! | [`Conv2d`], [`Conv2d::transposed`] | `nn.Conv2d`, `nn.ConvTranspose2d` (weight flattened to 2-D) | `weight`, `bias` |
//! | [`Pool2d`] | `nn.MaxPool2d`, `nn.AvgPool2d` | — |
//! | [`Upsample`] | `nn.Upsample` (nearest, bilinear) | — |
//! | [`BatchNorm`] | `nn.BatchNorm2d`, `nn.BatchNorm1d` | `weight`, `bias`; buffers `running_mean`, `running_var` |
//! | [`Act`] | `nn.ReLU`, `nn.Sigmoid`, … | — |
//! | [`Sequential`] | `nn.Sequential` (children `0`, `1`, …) | its children's |
//!
//! [`Codebook`] (VQ-VAE's `quantizer.embedding`, with optional EMA buffers) replaces
//! each row by its nearest code. [`Lstm`] (`nn.LSTM`, one layer) registers `weight`
//! `[(F + H), 4H]` (PyTorch's `weight_ih_l0ᵀ` above `weight_hh_l0ᵀ`) and `bias` and
//! reads a sequence laid out along the row, one fused step at a time (`recurrent.rs`).
//!
//! Buffers (running statistics) are saved with the model but no optimiser moves them;
//! they are `EntryKind::Parameter` entries that [`Module::parameters`] leaves out, so
//! the trainer uploads, downloads and checkpoints them with the weights.

pub mod codebook;
pub mod init;
mod layers;
mod norm;
pub mod recurrent;

pub use codebook::Codebook;
pub use layers::{Act, Conv2d, Linear, Pool2d, Sequential, Upsample};
pub use norm::BatchNorm;
pub use recurrent::Lstm;

use std::fmt;
use std::sync::Arc;

use crate::graph::{EntryId, EntryKind, Graph, GraphError, ParamStore, Shape, ValueId};
use crate::ops::{Activation, MatMul, Op};

#[derive(Debug, thiserror::Error)]
pub enum NnError {
    #[error("parameter `{0}` is registered twice in one store")]
    Duplicate(String),
    #[error("{layer}: {detail}")]
    Layer { layer: String, detail: String },
}

/// Where a layer's parameters live in the store: a dotted path such as `encoder.0`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Scope {
    path: String,
}

impl Scope {
    /// The top of a store (parameter names without a prefix).
    pub fn root() -> Self {
        Scope::default()
    }

    /// `self.name`: `Scope::root().child("encoder").child(0)` is `encoder.0`.
    pub fn child(&self, name: impl fmt::Display) -> Scope {
        Scope {
            path: if self.path.is_empty() {
                name.to_string()
            } else {
                format!("{}.{name}", self.path)
            },
        }
    }

    /// The full name of this scope's parameter `leaf` (`encoder.0.weight`).
    pub fn name(&self, leaf: &str) -> String {
        self.child(leaf).path
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Adds the parameter `leaf` to `store`, refusing a name the store already holds.
    pub fn register(
        &self,
        store: &mut ParamStore,
        leaf: &str,
        shape: Shape,
        values: Vec<f32>,
    ) -> Result<EntryId, NnError> {
        let name = self.name(leaf);
        if store.find(&name).is_some() {
            return Err(NnError::Duplicate(name));
        }
        Ok(store.add(&name, shape, EntryKind::Parameter, values))
    }

    /// Refuses a parameter of `shape` that would take the store past the parameter limit
    /// ([`crate::io::limits::PARAMETERS`]): checked before its values are drawn, so a
    /// `--channels 100000,100000` conv model is a message, not a 360 GB allocation.
    pub fn check_room(&self, store: &ParamStore, shape: Shape) -> Result<(), NnError> {
        let held: u64 = store
            .ids()
            .filter(|&id| store.get(id).kind == EntryKind::Parameter)
            .map(|id| store.get(id).shape.len() as u64)
            .sum();
        let total = (shape.rows as u64)
            .checked_mul(shape.cols as u64)
            .and_then(|n| n.checked_add(held));
        let limit = crate::io::limits::PARAMETERS;
        match total {
            Some(n) if n <= limit.get() => Ok(()),
            _ => Err(self.error(format!(
                "a parameter of shape {shape} would take the model past {} parameters \
                 (it holds {held} so far); set {}=N to raise the limit",
                limit.get(),
                limit.variable
            ))),
        }
    }

    /// An error of the layer at this scope.
    pub fn error(&self, detail: impl fmt::Display) -> NnError {
        NnError::Layer {
            layer: if self.path.is_empty() {
                "model".into()
            } else {
                self.path.clone()
            },
            detail: detail.to_string(),
        }
    }
}

/// Whether a graph trains (batch norm uses the batch's statistics and updates its
/// running ones) or evaluates (running statistics, no side effects).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// What a layer appends its ops with: the graph, the store its parameters are in, and
/// the mode.
pub struct Forward<'a> {
    pub g: &'a mut Graph,
    pub store: &'a ParamStore,
    pub mode: Mode,
}

impl<'a> Forward<'a> {
    pub fn new(g: &'a mut Graph, store: &'a ParamStore, mode: Mode) -> Self {
        Forward { g, store, mode }
    }

    /// The graph value of a store entry.
    pub fn entry(&mut self, id: EntryId) -> ValueId {
        self.g.entry(self.store, id)
    }
}

/// A layer: its parameters in a store and the ops it appends.
pub trait Module: fmt::Debug + Send + Sync {
    /// Appends the layer: `x [n, in] → y [n, out]`.
    fn forward(&self, cx: &mut Forward, x: ValueId) -> Result<ValueId, GraphError>;
    /// The trained entries, in registration order.
    fn parameters(&self) -> Vec<EntryId>;
    /// Entries saved with the model that no optimiser trains (running statistics).
    fn buffers(&self) -> Vec<EntryId> {
        vec![]
    }
    /// Values per output row.
    fn output_width(&self) -> usize;
}

impl Module for Arc<dyn Module> {
    fn forward(&self, cx: &mut Forward, x: ValueId) -> Result<ValueId, GraphError> {
        (**self).forward(cx, x)
    }
    fn parameters(&self) -> Vec<EntryId> {
        (**self).parameters()
    }
    fn buffers(&self) -> Vec<EntryId> {
        (**self).buffers()
    }
    fn output_width(&self) -> usize {
        (**self).output_width()
    }
}

/// A layer whose activation can be swapped (its epilogue): [`Linear`], [`Conv2d`].
pub trait OutputLayer: Module + Sized {
    fn with_activation(&self, act: Activation) -> Self;
}

impl OutputLayer for Linear {
    fn with_activation(&self, act: Activation) -> Self {
        Linear::with_activation(self, act)
    }
}

impl OutputLayer for Conv2d {
    fn with_activation(&self, act: Activation) -> Self {
        Conv2d::with_activation(self, act)
    }
}

/// An output layer whose activation is `act` on `h`: `(logits, output)`. With
/// `logits` (for the stable BCE, which reads pre-activations) and a non-linear `act`,
/// the layer runs without its activation and `act` follows as an op of its own;
/// otherwise the activation stays fused and both are the output.
pub fn output_with_logits<L: OutputLayer>(
    layer: &L,
    cx: &mut Forward,
    h: ValueId,
    act: Activation,
    logits: bool,
) -> Result<(ValueId, ValueId), GraphError> {
    if logits && act != Activation::Linear {
        let z = layer.with_activation(Activation::Linear).forward(cx, h)?;
        cx.g.set_label("output activation");
        let y = cx.g.push(Op::Activate(act), &[z])?;
        return Ok((z, y));
    }
    let y = layer.forward(cx, h)?;
    Ok((y, y))
}

/// `act(x · W + b)`, or `act(x · Wᵀ + b)` when `transpose` (a tied decoder layer
/// reusing an encoder weight without a copy). One launch: the bias and activation are
/// the matmul's epilogue.
pub fn dense(
    g: &mut Graph,
    store: &ParamStore,
    x: ValueId,
    weight: EntryId,
    bias: EntryId,
    transpose: bool,
    act: Activation,
) -> Result<ValueId, GraphError> {
    let w = g.entry(store, weight);
    let b = g.entry(store, bias);
    g.push(
        Op::MatMul(MatMul {
            trans_a: false,
            trans_b: transpose,
            bias: true,
            act,
        }),
        &[x, w, b],
    )
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::backend::cpu::CpuBackend;
    use crate::backend::{Backend, Feed};
    use crate::graph::{DType, Plan};
    use crate::nn::init::Init;
    use crate::ops::ImageShape;

    /// An autoencoder and a discriminator registered in one store under their own
    /// scopes, uploaded once to one backend, run in one graph: each gives what its
    /// weights give by hand.
    #[test]
    fn two_models_share_one_store_and_one_backend() {
        let mut store = ParamStore::new();
        let mut rng = StdRng::seed_from_u64(7);
        let ae = Scope::root().child("autoencoder");
        let enc = Linear::new(
            &mut store,
            &ae.child("encoder").child(0),
            (3, 2),
            Activation::Linear,
            Init::Glorot,
            &mut rng,
        )
        .unwrap();
        let dec = Linear::tied(
            &mut store,
            &ae.child("decoder").child(0),
            &enc,
            Activation::Linear,
        )
        .unwrap();
        let disc = Linear::new(
            &mut store,
            &Scope::root().child("discriminator").child(0),
            (2, 1),
            Activation::Linear,
            Init::Glorot,
            &mut rng,
        )
        .unwrap();
        let names: Vec<&str> = store.ids().map(|id| store.get(id).name.as_str()).collect();
        assert_eq!(
            names,
            [
                "autoencoder.encoder.0.weight",
                "autoencoder.encoder.0.bias",
                "autoencoder.decoder.0.bias",
                "discriminator.0.weight",
                "discriminator.0.bias"
            ]
        );
        assert_eq!(dec.parameters(), vec![dec.bias]);

        let mut g = Graph::new();
        let x = g.input("x", Shape::new(1, 3), DType::F32);
        let mut cx = Forward::new(&mut g, &store, Mode::Eval);
        let code = enc.forward(&mut cx, x).unwrap();
        let recon = dec.forward(&mut cx, code).unwrap();
        let score = disc.forward(&mut cx, code).unwrap();
        g.mark_output(recon);
        g.mark_output(score);
        let mut cpu = CpuBackend::<f32>::new();
        cpu.upload_store(&store).unwrap();
        let plan = cpu.prepare(&Plan::new(&g, &store).unwrap()).unwrap();
        let input = [1.0f32, -2.0, 0.5];
        cpu.run(plan, &[Feed::F32(&input)]).unwrap();

        let w = store.values(enc.weight); // [3, 2]
        let c: Vec<f32> = (0..2)
            .map(|j| (0..3).map(|i| input[i] * w[i * 2 + j]).sum())
            .collect();
        let r: Vec<f32> = (0..3)
            .map(|i| (0..2).map(|j| c[j] * w[i * 2 + j]).sum())
            .collect();
        let d = store.values(disc.weight);
        let s = c[0] * d[0] + c[1] * d[1];
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-5);
        assert!(close(&cpu.read_output(plan, recon).unwrap(), &r));
        assert!(close(&cpu.read_output(plan, score).unwrap(), &[s]));
    }

    #[test]
    fn a_name_registered_twice_is_refused() {
        let mut store = ParamStore::new();
        let mut rng = StdRng::seed_from_u64(0);
        let scope = Scope::root().child("encoder").child(0);
        let new = |store: &mut ParamStore, rng: &mut StdRng| {
            Linear::new(store, &scope, (2, 2), Activation::Relu, Init::He, rng)
        };
        new(&mut store, &mut rng).unwrap();
        let e = new(&mut store, &mut rng).unwrap_err().to_string();
        assert_eq!(
            e,
            "parameter `encoder.0.weight` is registered twice in one store"
        );
    }

    /// Training mode normalises with the batch's statistics and moves the running ones
    /// (in place, after the step); evaluation uses the running ones and moves nothing.
    #[test]
    fn batch_norm_trains_on_the_batch_and_evaluates_on_running_statistics() {
        let mut store = ParamStore::new();
        let image = ImageShape::new(1, 1, 2);
        let bn = BatchNorm::new(&mut store, &Scope::root().child("bn"), image).unwrap();
        assert_eq!(store.get(bn.running_var).name, "bn.running_var");
        assert_eq!(bn.parameters(), vec![bn.weight, bn.bias]);
        assert_eq!(bn.buffers(), vec![bn.running_mean, bn.running_var]);
        let x = [1.0f32, 3.0, 5.0, 7.0]; // two images of two pixels: mean 4, var 5
        let mut cpu = CpuBackend::<f32>::new();
        cpu.upload_store(&store).unwrap();
        let run = |cpu: &mut CpuBackend<f32>, mode: Mode| {
            let mut g = Graph::new();
            let xv = g.input("x", Shape::new(2, 2), DType::F32);
            let y = bn
                .forward(&mut Forward::new(&mut g, &store, mode), xv)
                .unwrap();
            g.mark_output(y);
            let plan = cpu.prepare(&Plan::new(&g, &store).unwrap()).unwrap();
            cpu.run(plan, &[Feed::F32(&x)]).unwrap();
            cpu.read_output(plan, y).unwrap()
        };
        let train = run(&mut cpu, Mode::Train);
        let r = 1.0 / (5.0f32 + 1e-5).sqrt();
        for (y, x) in train.iter().zip(x) {
            assert!((y - (x - 4.0) * r).abs() < 1e-5, "{train:?}");
        }
        // momentum 0.1: mean 0.1·4, variance 0.9·1 + 0.1·(20/3) (unbiased)
        let mean = cpu.read_entry(bn.running_mean).unwrap();
        let var = cpu.read_entry(bn.running_var).unwrap();
        assert!((mean[0] - 0.4).abs() < 1e-6 && (var[0] - (0.9 + 2.0 / 3.0)).abs() < 1e-5);
        let eval = run(&mut cpu, Mode::Eval);
        let r = 1.0 / (var[0] + 1e-5).sqrt();
        for (y, x) in eval.iter().zip(x) {
            assert!((y - (x - mean[0]) * r).abs() < 1e-5, "{eval:?}");
        }
        assert_eq!(cpu.read_entry(bn.running_mean).unwrap(), mean);
    }
}
