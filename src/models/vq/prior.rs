//! A prior over a VQ-VAE's codes, so that new images can be generated: an
//! autoregressive LSTM over the h×w grid of code indices in raster order (row by row,
//! left to right), in the spirit of the paper's PixelCNN prior (van den Oord et al.
//! 2017, §3.2) with a recurrent network in its place:
//!
//! ```text
//! p(k_1, …, k_P) = Π_t p(k_t | k_1 … k_{t−1}),   p(· | k_<t) = softmax(W h_t + b)
//! h_t = LSTM(e_{k_{t−1}}, h_{t−1}),   e_{k_0} = 0
//! ```
//!
//! The LSTM reads the previous position's code vector e_k (the codebook's row, D
//! values, not a K-wide one-hot: the codebook already embeds the codes) and predicts
//! the next index. Training minimises the mean cross-entropy −log p(k_t | k_<t) over
//! every position (nats per code) on the indices the frozen encoder gives the training
//! images; the whole grid is one unrolled graph, the output layer one matmul over all
//! P·B steps. Sampling draws one position at a time by the Gumbel-max trick
//! (argmax_k of logit_k / T + G_k, G_k = −ln(−ln U_k), U_k a Philox uniform of the
//! seed), so a seed gives the same indices on every backend up to ties of the logits.
//!
//! Parameters: `prior.lstm.weight` `[(D + H), 4H]`, `prior.lstm.bias`, and
//! `prior.out.weight` `[H, K]`, `prior.out.bias`.

use rand::Rng;

use crate::backend::{Backend, Feed};
use crate::graph::{DType, EntryId, Graph, GraphError, ParamStore, Plan, Shape, ValueId};
use crate::nn::recurrent::concat_all;
use crate::nn::{init::Init, Forward, Linear, Lstm, Module, NnError, Scope};
use crate::ops::random::{draw, rng_feed, to_positive_uniform};
use crate::ops::{Activation, Op};
use crate::train::TrainError;

/// The LSTM prior over a grid of `positions` codes of a `codes`-entry codebook.
#[derive(Clone, Debug)]
pub struct CodePrior {
    pub lstm: Lstm,
    pub out: Linear,
    /// K, the codebook's size.
    pub codes: usize,
    /// D, the values of one code.
    pub dim: usize,
    /// P = h·w, the codes of one image.
    pub positions: usize,
}

impl CodePrior {
    /// Registers `scope.lstm.*` and `scope.out.*`.
    pub fn new(
        store: &mut ParamStore,
        scope: &Scope,
        (codes, dim, positions): (usize, usize, usize),
        hidden: usize,
        rng: &mut impl Rng,
    ) -> Result<Self, NnError> {
        if positions == 0 {
            return Err(scope.error("a code prior needs at least one position"));
        }
        let lstm = Lstm::new(store, &scope.child("lstm"), dim, hidden, rng)?;
        let out = Linear::new(
            store,
            &scope.child("out"),
            (hidden, codes),
            Activation::Linear,
            Init::Auto,
            rng,
        )?;
        Ok(CodePrior {
            lstm,
            out,
            codes,
            dim,
            positions,
        })
    }

    pub fn parameters(&self) -> Vec<EntryId> {
        let mut p = self.lstm.parameters();
        p.extend(self.out.parameters());
        p
    }

    /// The widest row of its graphs: every step's hidden state side by side.
    pub fn widest_row(&self) -> usize {
        let h = self.lstm.hidden;
        (self.positions * h.max(self.dim))
            .max(4 * h)
            .max(self.codes)
    }

    /// The mean of −ln p(k_t | k_<t) over every position of every image (nats per
    /// code), for the images' code vectors `nearest` `[B·P, D]` and their one-hot
    /// indices `one_hot` `[B·P, K]`, both in pixel-row order (image by image, raster
    /// order within an image).
    pub fn nll(
        &self,
        cx: &mut Forward,
        nearest: ValueId,
        one_hot: ValueId,
    ) -> Result<ValueId, GraphError> {
        let (p, d, h) = (self.positions, self.dim, self.lstm.hidden);
        let rows = cx.g.shape(nearest).rows / p;
        let sequences = cx.g.push(Op::Reshape { cols: p * d }, &[nearest])?;
        // Step t reads the code of position t − 1; the first step reads zeros.
        let previous = if p == 1 {
            cx.g.push(
                Op::Fill {
                    value: 0.0,
                    shape: Shape::new(rows, d),
                },
                &[],
            )?
        } else {
            let head = cx.g.push(
                Op::SliceCols {
                    start: 0,
                    len: (p - 1) * d,
                },
                &[sequences],
            )?;
            cx.g.push(
                Op::PadCols {
                    start: d,
                    total: p * d,
                },
                &[head],
            )?
        };
        let states = self.lstm.read(cx, previous, p)?;
        let hidden = states
            .iter()
            .map(|&s| self.lstm.hidden_of(cx, s))
            .collect::<Result<Vec<_>, _>>()?;
        let all = concat_all(cx, &hidden)?;
        let per_position = cx.g.push(Op::Reshape { cols: h }, &[all])?;
        let logits = self.out.forward(cx, per_position)?;
        cx.g.push(Op::SoftmaxCrossEntropy, &[logits, one_hot])
    }

    /// `n` grids of code indices `[n, P]` drawn from the prior, one position at a time
    /// (`P` runs of a one-step plan), with logits divided by `temperature` (1: the
    /// prior itself; below 1: likelier, less varied grids). `codebook` holds the K × D
    /// code vectors the drawn indices are read back as.
    pub fn sample(
        &self,
        backend: &mut dyn Backend,
        store: &ParamStore,
        codebook: &[f32],
        n: usize,
        temperature: f32,
        seed: u64,
    ) -> Result<Vec<u32>, TrainError> {
        let config = |m: String| TrainError::Config(m);
        if n == 0 {
            return Err(config("asked for 0 samples".into()));
        }
        if !(temperature > 0.0 && temperature.is_finite()) {
            return Err(config(format!(
                "the temperature must be > 0, got {temperature}"
            )));
        }
        let (k, d, h) = (self.codes, self.dim, self.lstm.hidden);
        if codebook.len() != k * d {
            return Err(config(format!(
                "the codebook has {} values, not {k} × {d}",
                codebook.len()
            )));
        }
        if n.checked_mul(k).is_none_or(|c| c > u32::MAX as usize) {
            return Err(config(format!("{n} samples are too many")));
        }
        let mut g = Graph::new();
        let x = g.input("previous code", Shape::new(n, d), DType::F32);
        let state = g.input("state", Shape::new(n, 2 * h), DType::F32);
        let mut cx = Forward::new(&mut g, store, crate::nn::Mode::Eval);
        let next = self.lstm.step(&mut cx, x, state)?;
        let hidden = self.lstm.hidden_of(&mut cx, next)?;
        let logits = self.out.forward(&mut cx, hidden)?;
        g.mark_output(next);
        g.mark_output(logits);
        backend.upload_store(store)?;
        let id = backend.prepare(&Plan::new(&g, store)?)?;
        let mut previous = vec![0.0f32; n * d];
        let mut s = vec![0.0f32; n * 2 * h];
        let mut indices = vec![0u32; n * self.positions];
        let mut run = || -> Result<(), TrainError> {
            for t in 0..self.positions {
                backend.run(id, &[Feed::F32(&previous), Feed::F32(&s)])?;
                s = backend.read_output(id, next)?;
                let z = backend.read_output(id, logits)?;
                let key = rng_feed(seed, t as u64);
                for (r, row) in z.chunks(k).enumerate() {
                    let chosen =
                        gumbel_max(row, temperature, |j| draw(key, 0, (r * k + j) as u32)[0]);
                    indices[r * self.positions + t] = chosen as u32;
                    previous[r * d..(r + 1) * d]
                        .copy_from_slice(&codebook[chosen * d..(chosen + 1) * d]);
                }
            }
            Ok(())
        };
        let result = run();
        backend.release(id);
        result.map(|()| indices)
    }
}

/// argmax_j of logit_j / T + G_j with G_j = −ln(−ln U_j), U_j the uniform in (0, 1] of
/// `word(j)`: a draw from softmax(logits / T) (the Gumbel-max trick). The first index
/// wins a tie.
pub fn gumbel_max(logits: &[f32], temperature: f32, word: impl Fn(usize) -> u32) -> usize {
    let mut best = (0, f32::NEG_INFINITY);
    for (j, &z) in logits.iter().enumerate() {
        let gumbel = -(-to_positive_uniform(word(j)).ln()).ln();
        let score = z / temperature + gumbel;
        if score > best.1 {
            best = (j, score);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Gumbel-max draws follow softmax(logits): 40,000 draws from logits
    /// ln(0.1), ln(0.2), ln(0.7) land in each class at its probability within 0.01.
    #[test]
    fn gumbel_max_draws_from_the_softmax() {
        let logits = [0.1f32.ln(), 0.2f32.ln(), 0.7f32.ln()];
        let mut counts = [0usize; 3];
        let draws = 40_000;
        let key = rng_feed(7, 0);
        for i in 0..draws {
            let j = gumbel_max(&logits, 1.0, |j| draw(key, 0, (i * 3 + j) as u32)[0]);
            counts[j] += 1;
        }
        for (c, p) in counts.iter().zip([0.1, 0.2, 0.7]) {
            let share = *c as f64 / draws as f64;
            assert!((share - p).abs() < 0.01, "{counts:?}");
        }
        // A low temperature all but always picks the largest logit.
        let cold = (0..1000)
            .filter(|&i| gumbel_max(&logits, 0.05, |j| draw(key, 1, (i * 3 + j) as u32)[0]) == 2)
            .count();
        assert!(cold > 990, "{cold}");
    }
}
