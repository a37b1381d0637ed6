//! The primitive ops. Each family file holds, side by side, the shape rule, the CPU
//! reference (generic over [`Real`], so the gradient check can run it in f64), the name
//! of its WGSL entry point and its vector-Jacobian rule written with other ops.
//!
//! | op | file | WGSL |
//! | --- | --- | --- |
//! | `MatMul` (transpose flags, bias + activation epilogue) | `matmul.rs` | `matmul.wgsl` |
//! | `Activate`, `ActivationGrad` | `activation.rs` | `elementwise.wgsl` |
//! | `Binary` (add, sub, mul, div), `Scale` | `elementwise.rs` | `elementwise.wgsl` |
//! | `Unary` (exp, log, sqrt, reciprocal), `StopGradient` | `unary.rs` | `elementwise.wgsl` |
//! | `SoftThreshold` (λ a [1, 1] operand), `SoftThresholdGrad` | `threshold.rs` | `elementwise.wgsl` |
//! | `ArgMinRows` (f32 → u32, ties to the lowest index), `OneHot` (u32 → f32) | `index.rs` | `index.wgsl` |
//! | `Transpose`, `ToPixelRows` / `FromPixelRows` (`[N, C·H·W]` ↔ `[N·H·W, C]`), `Reshape` | `layout.rs` | `layout.wgsl` |
//! | `Reduce` (sum/mean over rows, cols, all), `Broadcast`, `Accumulate` | `reduce.rs` | `reduce.wgsl` |
//! | `Loss` (MSE, BCE on logits), `LossGrad` | `loss.rs` | `loss.wgsl` |
//! | `SoftmaxCrossEntropy` (mean over rows, log-sum-exp), `SoftmaxCrossEntropyGrad` | `loss.rs` | `loss.wgsl` |
//! | `GatherRows` (f32 or u8 data) | `gather.rs` | `gather.wgsl` |
//! | `Noise` (Gaussian, mask, salt-and-pepper, dropout; Philox4x32-10 keyed by seed, step, stream, element) | `random.rs` | `random.wgsl` |
//! | `Update` (SGD/momentum/Nesterov, Adam/AdamW, AdaGrad, RMSProp; optional clipping by global norm) | `optim.rs` | `optim.wgsl` |
//! | `Penalty` (L1, KL sparsity, contractive, squared L2), `PenaltyGrad` | `penalty.rs` | `penalty.wgsl` |
//! | `Axpy` (`y ← a·x` or `y ← a·x + y` into a store entry) | `reduce.rs` | `reduce.wgsl` |
//! | `Pool` (max, avg; size, stride, no padding), `PoolGrad`; `Upsample` (nearest, bilinear), `UpsampleGrad`; `ConcatCols`, `SliceCols`, `PadCols` | `pool.rs`, `resample.rs`, `columns.rs` | `pool.wgsl` |
//! | `BatchNormTrain`, `BatchNormTrainGrad`, `BatchNormRunning` (running statistics, in place), `BatchNormEval`, `BatchNormEvalGrad` | `batchnorm.rs` | `batchnorm.wgsl` |
//! | `LstmCell` (the fused LSTM cell update: gates → state `[h | c]`), `LstmCellGrad` | `lstm.rs` | `lstm.wgsl` |
//! | `Conv` (2-D convolution and its transpose, bias + activation epilogue), `ConvWeightGrad` (partial sums), `SumBlocks`, `ChannelSum` | `conv.rs` | `matmul.wgsl` (implicit GEMM), `reduce.wgsl` |

pub mod activation;
pub mod batchnorm;
pub mod columns;
pub mod conv;
pub mod elementwise;
pub mod gather;
pub mod index;
pub mod layout;
pub mod loss;
pub mod lstm;
pub mod matmul;
pub mod optim;
pub mod penalty;
pub mod pool;
pub mod random;
pub mod real;
pub mod reduce;
pub mod resample;
pub mod spatial;
pub mod threshold;
pub mod unary;

pub use activation::Activation;
pub use batchnorm::BatchNorm;
pub use conv::{Conv, ConvGeometry, Direction};
pub use elementwise::BinaryOp;
pub use loss::Loss;
pub use matmul::MatMul;
pub use optim::Optimizer;
pub use penalty::Penalty;
pub use pool::{Pool, PoolKind};
pub use random::Noise;
pub use real::Real;
pub use reduce::{Axis, Reduce, ReduceKind};
pub use resample::{Upsample, UpsampleMode};
pub use spatial::ImageShape;
pub use unary::UnaryOp;

use crate::graph::{DType, EntryId, Graph, GraphError, Shape, ValueId};

#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Fed from the host at every run.
    Input {
        name: String,
        shape: Shape,
        dtype: DType,
    },
    /// A parameter-store entry (weights, optimiser state, resident data).
    Entry {
        id: EntryId,
        shape: Shape,
        packed_u8: bool,
    },
    /// A constant-filled value (the seed gradient of a loss, 1.0).
    Fill {
        value: f32,
        shape: Shape,
    },
    MatMul(MatMul),
    Activate(Activation),
    /// [y, dy] → dy ⊙ f'(x), from the forward output y.
    ActivationGrad(Activation),
    Binary(BinaryOp),
    Scale(f32),
    /// [x] → exp, log, sqrt or 1/x element-wise (IEEE domains, `unary.rs`).
    Unary(UnaryOp),
    /// [x] → x; autodiff passes no gradient back through it.
    StopGradient,
    /// [x, λ [1, 1]] → sign(x)·max(|x| − λ, 0) (`threshold.rs`).
    SoftThreshold,
    /// [x, λ, dy] → dy·[|x| > λ] (`wrt` 0) or −dy·sign(x)·[|x| > λ] per element (1).
    SoftThresholdGrad {
        wrt: usize,
    },
    /// [x [N, K]] → [N, 1] u32, each row's first minimum (`index.rs`).
    ArgMinRows,
    /// [i [N, 1] u32] → [N, classes] f32, one-hot rows.
    OneHot {
        classes: usize,
    },
    /// [x [r, c]] → [c, r] (`layout.rs`).
    Transpose,
    /// [x [N, C·H·W]] → [N·H·W, C], one row per pixel, channels last.
    ToPixelRows(ImageShape),
    /// [x [N·H·W, C]] → [N, C·H·W], the inverse of `ToPixelRows`.
    FromPixelRows(ImageShape),
    /// [x [r, c]] → [r·c / cols, cols], the values in the same order.
    Reshape {
        cols: usize,
    },
    Reduce(Reduce),
    Broadcast(Shape),
    Loss(Loss),
    /// [pred, target, dloss] → ∂loss/∂pred · dloss.
    LossGrad(Loss),
    /// [logits [B, K], targets [B, K] (one-hot rows)] → [1, 1], the mean over rows of
    /// −Σ_j t_j log softmax(z)_j (`loss.rs`, `softmax_xent`).
    SoftmaxCrossEntropy,
    /// [logits, targets, dloss] → (softmax(z)·Σt − t) · dloss / B.
    SoftmaxCrossEntropyGrad,
    /// [data, indices] → the indexed rows.
    GatherRows,
    /// [x, rng] → x corrupted by `noise`, drawing from Philox stream `stream` keyed by
    /// the rng feed (`random.rs`).
    Noise {
        noise: Noise,
        stream: u32,
    },
    /// Side effect: [param, grad, hyper, state…, (norm_sq)] updated in place; the
    /// optional [1, 1] norm_sq (Σ of every gradient²) enables clipping by global norm.
    Update(Optimizer),
    /// Side effect: [acc, x], acc += x.
    Accumulate,
    /// [operands…] → the penalty's raw [1, 1] sum.
    Penalty(Penalty),
    /// [operands…, dpenalty] → ∂penalty/∂operand `wrt` · dpenalty.
    PenaltyGrad {
        penalty: Penalty,
        wrt: usize,
    },
    /// Side effect: [y, x, a [1, 1]], y ← a·x (+ y when `accumulate`); y a store entry.
    Axpy {
        accumulate: bool,
    },
    /// [x [N, C·H·W]] → [N, C·OH·OW], max or mean over each window (`pool.rs`).
    Pool(Pool),
    /// [x, dy [N, C·OH·OW]] → dx [N, C·H·W].
    PoolGrad(Pool),
    /// [x [N, C·H·W]] → [N, C·(H·f)·(W·f)], nearest or bilinear (`resample.rs`).
    Upsample(Upsample),
    /// [dy [N, C·(H·f)·(W·f)]] → dx [N, C·H·W], the adjoint of `Upsample`.
    UpsampleGrad(Upsample),
    /// [a [N, ca], b [N, cb]] → [N, ca + cb] (channel concatenation of images).
    ConcatCols,
    /// [x [N, c]] → [N, len], columns start … start + len − 1.
    SliceCols {
        start: usize,
        len: usize,
    },
    /// [x [N, len]] → [N, total], x at column `start`, zeros elsewhere.
    PadCols {
        start: usize,
        total: usize,
    },
    /// [x [N, C·H·W], γ [1, C], β [1, C]] → batch-normalised x with the batch's
    /// per-channel statistics (`batchnorm.rs`).
    BatchNormTrain(BatchNorm),
    /// [x, γ, dy] → dx (`wrt` 0), dγ [1, C] (1) or dβ [1, C] (2); μ and σ² recomputed.
    BatchNormTrainGrad {
        bn: BatchNorm,
        wrt: usize,
    },
    /// Side effect: [running_mean, running_var, x], both [1, C] store entries moved by
    /// `momentum` towards the batch's mean and unbiased variance.
    BatchNormRunning {
        bn: BatchNorm,
        momentum: f32,
    },
    /// [x, γ, β, running_mean, running_var] → x normalised with the running statistics.
    BatchNormEval(BatchNorm),
    /// [x, γ, running_mean, running_var, dy] → dx (`wrt` 0), dγ (1) or dβ (2).
    BatchNormEvalGrad {
        bn: BatchNorm,
        wrt: usize,
    },
    /// [x, weight, (bias)] → act(conv(x, W) + bias) or its transposed form.
    Conv(Conv),
    /// [image-side value, feature-side value] → partial weight gradients
    /// [splits·OC, C·KH·KW], one block per `images_per_split` images.
    ConvWeightGrad {
        geometry: ConvGeometry,
        images_per_split: usize,
    },
    /// [x [b·r, c]] → [r, c], the sum of `blocks` stacked blocks.
    SumBlocks {
        blocks: usize,
    },
    /// [x [N, C·H·W]] → [1, C], the sum over the batch and pixels of each channel.
    ChannelSum(ImageShape),
    /// [gates [N, 4H], state [N, 2H]] → the next state [h | c] of an LSTM time step
    /// (`lstm.rs`).
    LstmCell,
    /// [gates, state, dstate'] → [dgates [N, 4H] | dstate [N, 2H]].
    LstmCellGrad,
}

impl Op {
    pub fn name(&self) -> String {
        match self {
            Op::Input { name, .. } => format!("input `{name}`"),
            Op::Entry { id, .. } => format!("entry #{}", id.0),
            Op::Fill { .. } => "fill".into(),
            Op::MatMul(m) => format!(
                "matmul{}{}{}{}",
                if m.trans_a { " Aᵀ" } else { "" },
                if m.trans_b { " Bᵀ" } else { "" },
                if m.bias { " +bias" } else { "" },
                if m.act != Activation::Linear {
                    format!(" {}", m.act)
                } else {
                    String::new()
                }
            ),
            Op::Activate(a) => format!("{a}"),
            Op::ActivationGrad(a) => format!("{a} grad"),
            Op::Binary(b) => format!("{b:?}").to_lowercase(),
            Op::Scale(s) => format!("scale {s}"),
            Op::Unary(u) => format!("{u}"),
            Op::StopGradient => "stop gradient".into(),
            Op::SoftThreshold => "soft threshold".into(),
            Op::SoftThresholdGrad { wrt } => format!("soft threshold grad wrt {wrt}"),
            Op::ArgMinRows => "arg-min over rows".into(),
            Op::OneHot { classes } => format!("one-hot of {classes}"),
            Op::Transpose => "transpose".into(),
            Op::ToPixelRows(image) => format!("pixel rows of {image}"),
            Op::FromPixelRows(image) => format!("images {image} from pixel rows"),
            Op::Reshape { cols } => format!("reshape to rows of {cols}"),
            Op::Reduce(r) => format!("{:?} over {:?}", r.kind, r.axis).to_lowercase(),
            Op::Broadcast(s) => format!("broadcast to {s}"),
            Op::Loss(l) => format!("{l:?} loss"),
            Op::LossGrad(l) => format!("{l:?} loss grad"),
            Op::SoftmaxCrossEntropy => "softmax cross-entropy".into(),
            Op::SoftmaxCrossEntropyGrad => "softmax cross-entropy grad".into(),
            Op::GatherRows => "gather rows".into(),
            Op::Noise { noise, stream } => format!("{noise} noise (stream {stream})"),
            Op::Update(o) => format!("{o:?} update"),
            Op::Accumulate => "accumulate".into(),
            Op::Penalty(p) => format!("{p} penalty"),
            Op::PenaltyGrad { penalty, wrt } => format!("{penalty} penalty grad wrt {wrt}"),
            Op::Axpy { accumulate: false } => "axpy".into(),
            Op::Axpy { accumulate: true } => "axpy accumulate".into(),
            Op::Pool(p) => format!("{p}"),
            Op::PoolGrad(p) => format!("{p} grad"),
            Op::Upsample(u) => format!("{u}"),
            Op::UpsampleGrad(u) => format!("{u} grad"),
            Op::ConcatCols => "concat cols".into(),
            Op::SliceCols { start, len } => format!("slice cols {start}..{}", start + len),
            Op::PadCols { start, total } => format!("pad cols at {start} to {total}"),
            Op::BatchNormTrain(bn) => format!("{bn} train"),
            Op::BatchNormTrainGrad { bn, wrt } => format!("{bn} train grad wrt {wrt}"),
            Op::BatchNormRunning { bn, momentum } => {
                format!("{bn} running statistics (momentum {momentum})")
            }
            Op::BatchNormEval(bn) => format!("{bn} eval"),
            Op::BatchNormEvalGrad { bn, wrt } => format!("{bn} eval grad wrt {wrt}"),
            Op::Conv(c) => {
                let (input, output) = c.sides();
                format!(
                    "{} {}×{}/{} {input} → {output}{}{}",
                    match c.direction {
                        Direction::Forward => "conv",
                        Direction::Transposed => "conv transposed",
                    },
                    c.geometry.kernel[0],
                    c.geometry.kernel[1],
                    c.geometry.stride,
                    if c.bias { " +bias" } else { "" },
                    if c.act != Activation::Linear {
                        format!(" {}", c.act)
                    } else {
                        String::new()
                    }
                )
            }
            Op::ConvWeightGrad {
                geometry: g,
                images_per_split,
            } => format!(
                "conv weight grad {} → {} by {images_per_split} images",
                g.image, g.features
            ),
            Op::SumBlocks { blocks } => format!("sum of {blocks} blocks"),
            Op::ChannelSum(image) => format!("channel sum {image}"),
            Op::LstmCell => "lstm cell".into(),
            Op::LstmCellGrad => "lstm cell grad".into(),
        }
    }

    /// The shape rule: the output shape for these operand shapes, or why they don't fit.
    pub fn shape(&self, s: &[Shape], d: &[DType]) -> Result<Shape, String> {
        let arity = |n: usize| -> Result<(), String> {
            if s.len() == n {
                Ok(())
            } else {
                Err(format!("expects {n} operands, got {}", s.len()))
            }
        };
        if !matches!(self, Op::GatherRows | Op::Noise { .. } | Op::OneHot { .. })
            && d.iter().any(|&t| t != DType::F32)
        {
            return Err(
                "operands must be f32 (only gather, noise and one-hot take u32 operands)".into(),
            );
        }
        match self {
            Op::Input { shape, .. } | Op::Entry { shape, .. } | Op::Fill { shape, .. } => {
                arity(0)?;
                Ok(*shape)
            }
            Op::MatMul(m) => m.shape(s),
            Op::Activate(_) | Op::Scale(_) | Op::Unary(_) | Op::StopGradient => {
                arity(1)?;
                Ok(s[0])
            }
            Op::SoftThreshold => {
                arity(2)?;
                threshold::shape(s)
            }
            Op::SoftThresholdGrad { wrt } => {
                arity(3)?;
                if *wrt > 1 {
                    return Err(format!("operand {wrt} has no gradient (0: x, 1: λ)"));
                }
                threshold::shape(s)
            }
            Op::ArgMinRows => {
                arity(1)?;
                index::argmin_shape(s, d)
            }
            Op::OneHot { classes } => {
                arity(1)?;
                index::one_hot_shape(*classes, s, d)
            }
            Op::Transpose => {
                arity(1)?;
                layout::transpose_shape(s)
            }
            Op::ToPixelRows(image) => {
                arity(1)?;
                layout::to_pixel_rows_shape(*image, s)
            }
            Op::FromPixelRows(image) => {
                arity(1)?;
                layout::from_pixel_rows_shape(*image, s)
            }
            Op::Reshape { cols } => {
                arity(1)?;
                layout::reshape_shape(*cols, s)
            }
            Op::ActivationGrad(_) | Op::Binary(_) => {
                arity(2)?;
                activation::shape_same(s)
            }
            Op::Reduce(r) => {
                arity(1)?;
                r.shape(s)
            }
            Op::Broadcast(to) => {
                arity(1)?;
                reduce::broadcast_shape(*to, s)
            }
            Op::Loss(_) => {
                arity(2)?;
                Loss::shape(s)
            }
            Op::LossGrad(_) => {
                arity(3)?;
                Loss::grad_shape(s)
            }
            Op::SoftmaxCrossEntropy => {
                arity(2)?;
                loss::softmax_xent::shape(s)
            }
            Op::SoftmaxCrossEntropyGrad => {
                arity(3)?;
                loss::softmax_xent::grad_shape(s)
            }
            Op::GatherRows => {
                arity(2)?;
                gather::shape(s, d)
            }
            Op::Noise { noise, .. } => {
                arity(2)?;
                noise.shape(s, d)
            }
            Op::Update(o) => o.shape(s),
            Op::Accumulate => {
                arity(2)?;
                reduce::accumulate_shape(s)
            }
            Op::Penalty(p) => p.shape(s),
            Op::PenaltyGrad { penalty, wrt } => penalty.grad_shape(*wrt, s),
            Op::Axpy { .. } => {
                arity(3)?;
                reduce::axpy_shape(s)
            }
            Op::Pool(p) => {
                arity(1)?;
                p.shape(s)
            }
            Op::PoolGrad(p) => {
                arity(2)?;
                p.grad_shape(s)
            }
            Op::Upsample(u) => {
                arity(1)?;
                u.shape(s)
            }
            Op::UpsampleGrad(u) => {
                arity(1)?;
                u.grad_shape(s)
            }
            Op::ConcatCols => {
                arity(2)?;
                columns::concat_shape(s)
            }
            Op::SliceCols { start, len } => {
                arity(1)?;
                columns::slice_shape(*start, *len, s)
            }
            Op::PadCols { start, total } => {
                arity(1)?;
                columns::pad_shape(*start, *total, s)
            }
            Op::BatchNormTrain(bn) => bn.train_shape(s),
            Op::BatchNormTrainGrad { bn, wrt } => bn.train_grad_shape(*wrt, s),
            Op::BatchNormRunning { bn, momentum } => bn.running_shape(*momentum, s),
            Op::BatchNormEval(bn) => bn.eval_shape(s),
            Op::BatchNormEvalGrad { bn, wrt } => bn.eval_grad_shape(*wrt, s),
            Op::Conv(c) => c.shape(s),
            Op::ConvWeightGrad {
                geometry,
                images_per_split,
            } => conv::weight_grad_shape(geometry, *images_per_split, s),
            Op::SumBlocks { blocks } => conv::sum_blocks_shape(*blocks, s),
            Op::ChannelSum(image) => conv::channel_sum_shape(*image, s),
            Op::LstmCell => {
                arity(2)?;
                lstm::shape(s)
            }
            Op::LstmCellGrad => {
                arity(3)?;
                lstm::grad_shape(s)
            }
        }
    }

    pub fn dtype(&self) -> DType {
        match self {
            Op::Input { dtype, .. } => *dtype,
            Op::Entry {
                packed_u8: true, ..
            }
            | Op::ArgMinRows => DType::U32,
            _ => DType::F32,
        }
    }

    /// Ops that write into their operands instead of producing a value.
    pub fn is_effect(&self) -> bool {
        matches!(
            self,
            Op::Update(_) | Op::Accumulate | Op::Axpy { .. } | Op::BatchNormRunning { .. }
        )
    }

    /// Ops with no operands whose value comes from outside the plan.
    pub fn is_source(&self) -> bool {
        matches!(self, Op::Input { .. } | Op::Entry { .. } | Op::Fill { .. })
    }

    /// The vector-Jacobian rule: given `dout` (the gradient of the output `out`),
    /// appends nodes computing the gradient of each operand with `needs[i]` set.
    pub fn vjp(
        &self,
        g: &mut Graph,
        inputs: &[ValueId],
        out: ValueId,
        dout: ValueId,
        needs: &[bool],
    ) -> Result<Vec<Option<ValueId>>, GraphError> {
        let one = |v: Result<ValueId, GraphError>| v.map(|v| vec![Some(v)]);
        match self {
            Op::MatMul(m) => m.vjp(g, inputs, out, dout, needs),
            Op::Activate(a) => one(g.push(Op::ActivationGrad(*a), &[out, dout])),
            Op::Binary(b) => b.vjp(g, inputs, out, dout, needs),
            Op::Scale(s) => one(g.push(Op::Scale(*s), &[dout])),
            Op::Unary(u) => one(u.vjp(g, inputs[0], out, dout)),
            // No gradient through: the operand gets none from this use.
            Op::StopGradient => Ok(vec![None]),
            Op::SoftThreshold => threshold::vjp(g, inputs, dout, needs),
            Op::SoftThresholdGrad { .. } => Err(GraphError::NotDifferentiable {
                op: self.name(),
                detail: "second derivatives are not supported".into(),
            }),
            // `graph::grad` treats u32 values as constants and never asks for these.
            Op::ArgMinRows | Op::OneHot { .. } => Err(GraphError::NotDifferentiable {
                op: self.name(),
                detail: "indices have no gradient (autodiff treats u32 values as constants)".into(),
            }),
            Op::Transpose | Op::ToPixelRows(_) | Op::FromPixelRows(_) | Op::Reshape { .. } => {
                one(layout::vjp(self, g, inputs[0], dout))
            }
            Op::Reduce(r) => one(r.vjp(g, inputs[0], dout)),
            Op::Broadcast(to) => one(reduce::broadcast_vjp(g, inputs[0], *to, dout)),
            Op::Loss(l) => l.vjp(g, inputs, dout, needs),
            Op::SoftmaxCrossEntropy => loss::softmax_xent::vjp(g, inputs, dout, needs),
            Op::Input { .. } | Op::Entry { .. } | Op::Fill { .. } => Ok(vec![]),
            Op::ActivationGrad(_) | Op::LossGrad(_) | Op::SoftmaxCrossEntropyGrad => {
                Err(GraphError::NotDifferentiable {
                    op: self.name(),
                    detail: "second derivatives are not supported".into(),
                })
            }
            Op::GatherRows => Err(GraphError::NotDifferentiable {
                op: self.name(),
                detail: "gathered data is not trainable".into(),
            }),
            Op::Noise { noise, stream } => noise.vjp(*stream, g, inputs, dout, needs),
            Op::Update(_) | Op::Accumulate => Err(GraphError::NotDifferentiable {
                op: self.name(),
                detail: "side effects have no gradient".into(),
            }),
            Op::Penalty(p) => p.vjp(g, inputs, dout, needs),
            Op::PenaltyGrad { .. } => Err(GraphError::NotDifferentiable {
                op: self.name(),
                detail: "second derivatives are not supported".into(),
            }),
            Op::Axpy { .. } => Err(GraphError::NotDifferentiable {
                op: self.name(),
                detail: "side effects have no gradient".into(),
            }),
            Op::Pool(p) => p.vjp(g, inputs, dout),
            Op::PoolGrad(_) => Err(GraphError::NotDifferentiable {
                op: self.name(),
                detail: "second derivatives are not supported".into(),
            }),
            Op::Upsample(u) => u.vjp(g, dout),
            Op::UpsampleGrad(u) => u.grad_vjp(g, dout),
            Op::ConcatCols => columns::concat_vjp(g, inputs, dout, needs),
            Op::SliceCols { start, .. } => columns::slice_vjp(g, inputs[0], *start, dout),
            Op::PadCols { start, .. } => columns::pad_vjp(g, inputs[0], *start, dout),
            Op::BatchNormTrain(bn) => bn.train_vjp(g, inputs, dout, needs),
            Op::BatchNormEval(bn) => bn.eval_vjp(g, inputs, dout, needs),
            Op::BatchNormTrainGrad { .. } | Op::BatchNormEvalGrad { .. } => {
                Err(GraphError::NotDifferentiable {
                    op: self.name(),
                    detail: "second derivatives are not supported".into(),
                })
            }
            Op::BatchNormRunning { .. } => Err(GraphError::NotDifferentiable {
                op: self.name(),
                detail: "side effects have no gradient".into(),
            }),
            Op::Conv(c) => c.vjp(g, inputs, out, dout, needs),
            Op::LstmCell => lstm::vjp(g, inputs, dout, needs),
            Op::LstmCellGrad => Err(GraphError::NotDifferentiable {
                op: self.name(),
                detail: "second derivatives are not supported".into(),
            }),
            Op::ConvWeightGrad { .. } | Op::SumBlocks { .. } | Op::ChannelSum(_) => {
                Err(GraphError::NotDifferentiable {
                    op: self.name(),
                    detail: "gradient ops are not differentiated again".into(),
                })
            }
        }
    }
}
