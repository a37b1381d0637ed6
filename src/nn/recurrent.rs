//! The LSTM layer (PyTorch's `nn.LSTM`, one layer, gate order i, f, g, o), unrolled in
//! the graph one time step at a time. A sequence of T steps of F values is one row
//! `[x_1 | x_2 | … | x_T]` (`[N, T·F]`, time-major within the row); the state between
//! steps is one value `[N, 2H]` = `[h | c]`.
//!
//! A step is two launches (after a column slice and a concatenation, both copies):
//!
//! ```text
//! a  = [x_t | h_{t−1}] · W + b        W [(F + H), 4H], b [1, 4H]   (one matmul, bias fused)
//! s' = LstmCell(a, s)                  (ops::lstm: the gates and the cell update fused)
//! ```
//!
//! PyTorch keeps `weight_ih_l0` `[4H, F]`, `weight_hh_l0` `[4H, H]` and two biases: here
//! `weight`'s first F rows are `weight_ih_l0ᵀ`, its last H rows `weight_hh_l0ᵀ`, and
//! `bias` is `bias_ih_l0 + bias_hh_l0`. Initialisation as PyTorch's, U(±1/√H), except
//! the forget gate's bias, which starts at 1 (Jozefowicz et al. 2015) so the cell keeps
//! its memory early in training.
//!
//! Backpropagation through time is the graph's own autodiff over the unrolled steps:
//! the weight's gradient is the sum of every step's contribution.

use rand::Rng;

use crate::graph::{EntryId, GraphError, ParamStore, Shape, ValueId};
use crate::nn::{Forward, NnError, Scope};
use crate::ops::{Activation, MatMul, Op};

#[derive(Clone, Debug)]
pub struct Lstm {
    /// `[(inputs + hidden), 4·hidden]`: input rows, then hidden rows.
    pub weight: EntryId,
    /// `[1, 4·hidden]`.
    pub bias: EntryId,
    pub inputs: usize,
    pub hidden: usize,
}

impl Lstm {
    /// Registers `scope.weight` and `scope.bias`.
    pub fn new(
        store: &mut ParamStore,
        scope: &Scope,
        inputs: usize,
        hidden: usize,
        rng: &mut impl Rng,
    ) -> Result<Self, NnError> {
        if inputs == 0 || hidden == 0 {
            return Err(scope.error(format!(
                "an LSTM needs at least one input and one hidden unit, got {inputs} and {hidden}"
            )));
        }
        let shape = Shape::new(inputs + hidden, 4 * hidden);
        scope.check_room(store, shape)?;
        let bound = 1.0 / (hidden as f32).sqrt();
        let weight_values = (0..shape.len())
            .map(|_| rng.random_range(-bound..=bound))
            .collect();
        let mut bias_values: Vec<f32> = (0..4 * hidden)
            .map(|_| rng.random_range(-bound..=bound))
            .collect();
        bias_values[hidden..2 * hidden].fill(1.0);
        let weight = scope.register(store, "weight", shape, weight_values)?;
        let bias = scope.register(store, "bias", Shape::new(1, 4 * hidden), bias_values)?;
        Ok(Lstm {
            weight,
            bias,
            inputs,
            hidden,
        })
    }

    pub fn parameters(&self) -> Vec<EntryId> {
        vec![self.weight, self.bias]
    }

    /// The state before the first step: zeros `[rows, 2H]`.
    pub fn zero_state(&self, cx: &mut Forward, rows: usize) -> ValueId {
        cx.g.push(
            Op::Fill {
                value: 0.0,
                shape: Shape::new(rows, 2 * self.hidden),
            },
            &[],
        )
        .expect("a fill has no operands to mismatch")
    }

    /// `h`, the hidden half of a state.
    pub fn hidden_of(&self, cx: &mut Forward, state: ValueId) -> Result<ValueId, GraphError> {
        cx.g.push(
            Op::SliceCols {
                start: 0,
                len: self.hidden,
            },
            &[state],
        )
    }

    /// One time step: the state after reading `x` `[N, inputs]` in `state` `[N, 2H]`.
    pub fn step(
        &self,
        cx: &mut Forward,
        x: ValueId,
        state: ValueId,
    ) -> Result<ValueId, GraphError> {
        let h = self.hidden_of(cx, state)?;
        let xh = cx.g.push(Op::ConcatCols, &[x, h])?;
        let w = cx.entry(self.weight);
        let b = cx.entry(self.bias);
        let matmul = MatMul {
            trans_a: false,
            trans_b: false,
            bias: true,
            act: Activation::Linear,
        };
        let gates = cx.g.push(Op::MatMul(matmul), &[xh, w, b])?;
        cx.g.push(Op::LstmCell, &[gates, state])
    }

    /// Reads the sequence `x` `[N, steps·inputs]` from the zero state: the state after
    /// each step, in time order.
    pub fn read(
        &self,
        cx: &mut Forward,
        x: ValueId,
        steps: usize,
    ) -> Result<Vec<ValueId>, GraphError> {
        let shape = cx.g.shape(x);
        if shape.cols != steps * self.inputs {
            return Err(GraphError::Shape {
                op: "lstm".into(),
                at: "sequence".into(),
                detail: format!(
                    "{steps} steps of {} values need {} columns, got {shape}",
                    self.inputs,
                    steps * self.inputs
                ),
            });
        }
        let mut state = self.zero_state(cx, shape.rows);
        let mut states = Vec::with_capacity(steps);
        for t in 0..steps {
            let x_t = cx.g.push(
                Op::SliceCols {
                    start: t * self.inputs,
                    len: self.inputs,
                },
                &[x],
            )?;
            state = self.step(cx, x_t, state)?;
            states.push(state);
        }
        Ok(states)
    }
}

/// `[v_0 | v_1 | … ]` of values with the same rows, concatenated as a balanced tree so
/// that each value is copied ⌈log₂ n⌉ times rather than up to n times (and its gradient
/// sliced as often).
pub fn concat_all(cx: &mut Forward, values: &[ValueId]) -> Result<ValueId, GraphError> {
    match values {
        [] => Err(GraphError::Shape {
            op: "concat cols".into(),
            at: "sequence".into(),
            detail: "nothing to concatenate".into(),
        }),
        [one] => Ok(*one),
        _ => {
            let (left, right) = values.split_at(values.len() / 2);
            let a = concat_all(cx, left)?;
            let b = concat_all(cx, right)?;
            cx.g.push(Op::ConcatCols, &[a, b])
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::backend::cpu::CpuBackend;
    use crate::backend::{Backend, Feed};
    use crate::graph::{DType, Graph, Plan};
    use crate::nn::Mode;
    use crate::ops::activation::sigmoid;

    /// Two steps through the layer against the LSTM equations written out by hand in
    /// f64, with PyTorch's layout of the weight (input rows, then hidden rows).
    #[test]
    fn two_steps_follow_the_lstm_equations() {
        let (f, h, n, steps) = (2, 3, 2, 2);
        let mut store = ParamStore::new();
        let mut rng = StdRng::seed_from_u64(3);
        let lstm = Lstm::new(&mut store, &Scope::root().child("lstm"), f, h, &mut rng).unwrap();
        assert_eq!(store.get(lstm.weight).name, "lstm.weight");
        let x: Vec<f32> = (0..n * steps * f)
            .map(|i| (i as f32 * 0.37).sin())
            .collect();

        let mut g = Graph::new();
        let xv = g.input("x", Shape::new(n, steps * f), DType::F32);
        let mut cx = Forward::new(&mut g, &store, Mode::Eval);
        let states = lstm.read(&mut cx, xv, steps).unwrap();
        let last = *states.last().unwrap();
        g.mark_output(last);
        let mut cpu = CpuBackend::<f32>::new();
        cpu.upload_store(&store).unwrap();
        let plan = cpu.prepare(&Plan::new(&g, &store).unwrap()).unwrap();
        cpu.run(plan, &[Feed::F32(&x)]).unwrap();
        let got = cpu.read_output(plan, last).unwrap();

        let w: Vec<f64> = store
            .values(lstm.weight)
            .iter()
            .map(|&v| v as f64)
            .collect();
        let b: Vec<f64> = store.values(lstm.bias).iter().map(|&v| v as f64).collect();
        assert_eq!(&b[h..2 * h], &[1.0; 3], "the forget bias starts at 1");
        for r in 0..n {
            let (mut hs, mut cs) = (vec![0.0f64; h], vec![0.0f64; h]);
            for t in 0..steps {
                let input: Vec<f64> = (0..f)
                    .map(|k| x[r * steps * f + t * f + k] as f64)
                    .collect();
                let xh: Vec<f64> = input.iter().chain(&hs).copied().collect();
                let a: Vec<f64> = (0..4 * h)
                    .map(|q| b[q] + (0..f + h).map(|k| xh[k] * w[k * 4 * h + q]).sum::<f64>())
                    .collect();
                for j in 0..h {
                    let (i, fg, gg, o) = (
                        sigmoid(a[j]),
                        sigmoid(a[h + j]),
                        a[2 * h + j].tanh(),
                        sigmoid(a[3 * h + j]),
                    );
                    cs[j] = fg * cs[j] + i * gg;
                    hs[j] = o * cs[j].tanh();
                }
            }
            for j in 0..h {
                let (gh, gc) = (got[r * 2 * h + j] as f64, got[r * 2 * h + h + j] as f64);
                assert!((gh - hs[j]).abs() < 1e-6, "h {gh} vs {}", hs[j]);
                assert!((gc - cs[j]).abs() < 1e-6, "c {gc} vs {}", cs[j]);
            }
        }
    }

    #[test]
    fn concat_all_keeps_the_order() {
        let store = ParamStore::new();
        let mut g = Graph::new();
        let parts: Vec<ValueId> = (0..5)
            .map(|i| {
                g.push(
                    Op::Fill {
                        value: i as f32,
                        shape: Shape::new(1, 1),
                    },
                    &[],
                )
                .unwrap()
            })
            .collect();
        let mut cx = Forward::new(&mut g, &store, Mode::Eval);
        let all = concat_all(&mut cx, &parts).unwrap();
        g.mark_output(all);
        let mut cpu = CpuBackend::<f32>::new();
        cpu.upload_store(&store).unwrap();
        let plan = cpu.prepare(&Plan::new(&g, &store).unwrap()).unwrap();
        cpu.run(plan, &[]).unwrap();
        assert_eq!(cpu.read_output(plan, all).unwrap(), [0., 1., 2., 3., 4.]);
    }
}
