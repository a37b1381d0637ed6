//! For every launch of a plan: which WGSL entry point runs it, with which override
//! constants, parameters, buffers and grid. One match over [`Op`]; the WGSL files'
//! headers document the other side of each binding.
//!
//! Conventions shared by every kernel file: binding 0 is a small uniform block of
//! parameters (shapes and scalar constants: they vary per launch, so one compiled
//! pipeline serves every shape); bindings 1, 2, … are storage buffers — for a pure op
//! its output, then its operands in the op's order; for a side effect its operands in
//! order, the ones it updates in place bound read-write. An operand a variant does not
//! have (a matmul's bias, a penalty's column norms, an update's clipping norm) keeps
//! its binding, filled by a placeholder, so each entry point has one layout; for that
//! reason an update binds its optional norm before its states.

use crate::backend::BackendError;
use crate::graph::{DType, Launch, Location, Shape};
use crate::ops::{
    layout, unary, Activation, Axis, BatchNorm, ConvGeometry, Direction, ImageShape, Noise, Op,
    Optimizer, Penalty, PoolKind, UpsampleMode,
};

/// The kernel families, one WGSL file each (`shaders/`), compiled with
/// `shaders/common.wgsl` in front.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    Elementwise,
    Matmul,
    Reduce,
    Loss,
    Gather,
    Random,
    Optim,
    Penalty,
    Pool,
    BatchNorm,
    Index,
    Layout,
    Lstm,
}

const COMMON: &str = include_str!("../../../shaders/common.wgsl");

impl Shader {
    pub fn file(self) -> &'static str {
        match self {
            Shader::Elementwise => "elementwise.wgsl",
            Shader::Matmul => "matmul.wgsl",
            Shader::Reduce => "reduce.wgsl",
            Shader::Loss => "loss.wgsl",
            Shader::Gather => "gather.wgsl",
            Shader::Random => "random.wgsl",
            Shader::Optim => "optim.wgsl",
            Shader::Penalty => "penalty.wgsl",
            Shader::Pool => "pool.wgsl",
            Shader::BatchNorm => "batchnorm.wgsl",
            Shader::Index => "index.wgsl",
            Shader::Layout => "layout.wgsl",
            Shader::Lstm => "lstm.wgsl",
        }
    }

    pub fn source(self) -> String {
        let family = match self {
            Shader::Elementwise => include_str!("../../../shaders/elementwise.wgsl"),
            Shader::Matmul => include_str!("../../../shaders/matmul.wgsl"),
            Shader::Reduce => include_str!("../../../shaders/reduce.wgsl"),
            Shader::Loss => include_str!("../../../shaders/loss.wgsl"),
            Shader::Gather => include_str!("../../../shaders/gather.wgsl"),
            Shader::Random => include_str!("../../../shaders/random.wgsl"),
            Shader::Optim => include_str!("../../../shaders/optim.wgsl"),
            Shader::Penalty => include_str!("../../../shaders/penalty.wgsl"),
            Shader::Pool => include_str!("../../../shaders/pool.wgsl"),
            Shader::BatchNorm => include_str!("../../../shaders/batchnorm.wgsl"),
            Shader::Index => include_str!("../../../shaders/index.wgsl"),
            Shader::Layout => include_str!("../../../shaders/layout.wgsl"),
            Shader::Lstm => include_str!("../../../shaders/lstm.wgsl"),
        };
        format!("{COMMON}\n{family}")
    }
}

/// How a kernel uses one of its storage buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    ReadWrite,
}

/// What a storage binding holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    At(Location),
    /// A tiny buffer standing in for an operand the variant does not read (matmul's bias
    /// when it has none): the binding is still declared, so it must be filled.
    Placeholder,
}

#[derive(Clone, Copy, Debug)]
pub struct Binding {
    pub source: Source,
    pub access: Access,
}

/// How many workgroups a launch needs.
#[derive(Clone, Copy, Debug)]
pub enum Grid {
    /// One invocation per element, 256 to a workgroup, on a 2-D grid when one
    /// dimension would pass `max_compute_workgroups_per_dimension`.
    Elements(usize),
    /// Matmul and convolutions: one workgroup per `tile_rows` × 64 tile of a
    /// [rows, cols] output.
    Tiles {
        rows: usize,
        cols: usize,
        tile_rows: usize,
        /// Grid z: independent slices along k (the weight gradient's partial sums), or
        /// a transposed convolution's output phases.
        splits: usize,
    },
    /// One workgroup that loops over everything (whole-value reductions).
    Single,
    /// `n` workgroups in a row, each looping over its own part (one per channel for
    /// batch normalisation's statistics).
    Groups(usize),
}

const ELEMENTWISE_WORKGROUP: usize = 256;
const MATMUL_TILE: usize = 64;
/// Output rows up to which a convolution runs matmul.wgsl's `matmul_thin` (whose
/// accumulator is a vec4).
const THIN_ROWS: usize = 4;
/// Weight-gradient widths (C·KH·KW) below which matmul.wgsl's `weight_grad_thin` runs.
const THIN_WINDOW: usize = 32;

/// Words of the uniform parameter block each launch gets (u32 or f32 bits); the WGSL
/// parameter structs are no larger.
pub const PARAM_WORDS: usize = 16;

#[derive(Clone, Debug)]
pub struct Kernel {
    pub shader: Shader,
    pub entry: &'static str,
    pub constants: Vec<(&'static str, f64)>,
    pub params: [u32; PARAM_WORDS],
    pub bindings: Vec<Binding>,
    pub grid: Grid,
}

impl Grid {
    /// The dispatch size, checked against the adapter's per-dimension limit.
    pub fn workgroups(self, max_per_dimension: u32, what: &str) -> Result<[u32; 3], BackendError> {
        let z = match self {
            Grid::Tiles { splits, .. } => splits,
            _ => 1,
        };
        let (x, y) = match self {
            Grid::Elements(n) => {
                let groups = n.div_ceil(ELEMENTWISE_WORKGROUP);
                let x = groups.min(max_per_dimension as usize);
                (x, if x == 0 { 0 } else { groups.div_ceil(x) })
            }
            Grid::Tiles {
                rows,
                cols,
                tile_rows,
                ..
            } => (cols.div_ceil(MATMUL_TILE), rows.div_ceil(tile_rows)),
            Grid::Single => (1, 1),
            Grid::Groups(n) => (n, 1),
        };
        let limit = max_per_dimension as usize;
        if x > limit || y > limit || z > limit {
            return Err(BackendError::Execution(format!(
                "{what} needs a grid of {x} × {y} workgroups, more than the adapter's \
                 max_compute_workgroups_per_dimension ({limit})"
            )));
        }
        Ok([x as u32, y as u32, z as u32])
    }
}

/// The kernel that runs `launch`.
pub fn kernel_for(launch: &Launch) -> Result<Kernel, BackendError> {
    let shapes = &launch.input_shapes;
    let what = || format!("{} ({})", launch.op.name(), launch.label);
    let read = |k: usize| Binding {
        source: Source::At(launch.inputs[k]),
        access: Access::Read,
    };
    let unused = Binding {
        source: Source::Placeholder,
        access: Access::Read,
    };
    let update = |k: usize| match launch.inputs[k] {
        location @ Location::Entry(_) => Ok(Binding {
            source: Source::At(location),
            access: Access::ReadWrite,
        }),
        other => Err(BackendError::Execution(format!(
            "{}: operand {k} must be a store entry, is {other:?}",
            what()
        ))),
    };
    let output = || match launch.output {
        Some(location) => Ok(Binding {
            source: Source::At(location),
            access: Access::ReadWrite,
        }),
        None => Err(BackendError::Execution(format!(
            "{}: no output buffer",
            what()
        ))),
    };
    // Every index a kernel computes is below some operand's or the output's length.
    for shape in shapes.iter().chain([&launch.shape]) {
        dim(shape.len())?;
    }
    // Elements of the output (0 for a side effect).
    let n = launch.shape.len();
    let words = |values: &[u32]| {
        let mut params = [0u32; PARAM_WORDS];
        params[..values.len()].copy_from_slice(values);
        params
    };
    let activation = |act: Activation| [("ACT", act.code() as f64), ("ALPHA", act.alpha() as f64)];
    let flag = |on: bool| if on { 1.0 } else { 0.0 };
    let kernel =
        |shader, entry, constants: &[(&'static str, f64)], params, bindings, grid| Kernel {
            shader,
            entry,
            constants: constants.to_vec(),
            params,
            bindings,
            grid,
        };

    let k = match &launch.op {
        Op::Fill { value, .. } => kernel(
            Shader::Elementwise,
            "fill",
            &[],
            words(&[dim(n)?, value.to_bits()]),
            vec![output()?],
            Grid::Elements(n),
        ),
        Op::MatMul(mm) => {
            let ((m, k), (_, cols)) = mm.dims(shapes[0], shapes[1]);
            let bias = if mm.bias { read(2) } else { unused };
            let [act, alpha] = activation(mm.act);
            let rows = tile_rows(m);
            kernel(
                Shader::Matmul,
                "matmul",
                &[
                    ("LAYOUT", 0.0),
                    ("ROWS", (rows / 8) as f64),
                    ("TRANS_A", flag(mm.trans_a)),
                    ("TRANS_B", flag(mm.trans_b)),
                    ("HAS_BIAS", flag(mm.bias)),
                    act,
                    alpha,
                ],
                words(&[dim(m)?, dim(cols)?, dim(k)?]),
                vec![output()?, read(0), read(1), bias],
                Grid::Tiles {
                    rows: m,
                    cols,
                    tile_rows: rows,
                    splits: 1,
                },
            )
        }
        Op::Conv(conv) => {
            // An implicit GEMM (matmul.wgsl's LAYOUT 1 or 2): weight as A, the input
            // gathered as B. The transposed one runs per output phase (grid z), each
            // phase with only the taps that reach it.
            let g = &conv.geometry;
            let batch = shapes[0].rows;
            let s = g.stride;
            let (layout, m, cols, k, phases) = match conv.direction {
                Direction::Forward => (
                    1,
                    g.features.channels,
                    batch * g.features.plane(),
                    g.window(),
                    1,
                ),
                Direction::Transposed => (
                    2,
                    g.image.channels,
                    batch * g.image.height.div_ceil(s) * g.image.width.div_ceil(s),
                    g.features.channels * g.kernel[0].div_ceil(s) * g.kernel[1].div_ceil(s),
                    s * s,
                ),
            };
            let bias = if conv.bias { read(2) } else { unused };
            let [act, alpha] = activation(conv.act);
            // One to four output channels: matmul_thin, a column per invocation.
            let (entry, rows, per_invocation) = if m <= THIN_ROWS {
                ("matmul_thin", m, m)
            } else {
                ("matmul", tile_rows(m), tile_rows(m) / 8)
            };
            kernel(
                Shader::Matmul,
                entry,
                &[
                    &[
                        ("LAYOUT", layout as f64),
                        ("ROWS", per_invocation as f64),
                        ("HAS_BIAS", flag(conv.bias)),
                        act,
                        alpha,
                    ][..],
                    &conv_constants(g),
                ]
                .concat(),
                words(&[dim(m)?, dim(cols)?, dim(k)?]),
                vec![output()?, read(1), read(0), bias],
                Grid::Tiles {
                    rows: m,
                    cols,
                    tile_rows: rows,
                    splits: phases,
                },
            )
        }
        Op::ConvWeightGrad {
            geometry: g,
            images_per_split,
        } => {
            // matmul.wgsl's LAYOUT 3: features as A, im2col(image)ᵀ as B; workgroup z
            // sums the pixels of its group of images into its own block.
            // A window of fewer than 32 columns (one input channel) takes
            // weight_grad_thin, an output per invocation, laid out as one row of m·n.
            let batch = shapes[0].rows;
            let (m, cols, k) = (g.features.channels, g.window(), batch * g.features.plane());
            let rows = tile_rows(m);
            let split_k = dim(images_per_split * g.features.plane())?;
            let splits = batch.div_ceil(*images_per_split);
            let (entry, grid) = if cols < THIN_WINDOW {
                let outputs = m * cols;
                (
                    "weight_grad_thin",
                    Grid::Tiles {
                        rows: 1,
                        cols: outputs,
                        tile_rows: 1,
                        splits,
                    },
                )
            } else {
                (
                    "matmul",
                    Grid::Tiles {
                        rows: m,
                        cols,
                        tile_rows: rows,
                        splits,
                    },
                )
            };
            kernel(
                Shader::Matmul,
                entry,
                &[
                    &[("LAYOUT", 3.0), ("ROWS", (rows / 8) as f64)][..],
                    &conv_constants(g),
                ]
                .concat(),
                words(&[dim(m)?, dim(cols)?, dim(k)?, split_k]),
                vec![output()?, read(1), read(0), unused],
                grid,
            )
        }
        // One invocation per (row, hidden unit); the state's rows are [h | c].
        Op::LstmCell | Op::LstmCellGrad => {
            let (rows, hidden) = (shapes[1].rows, shapes[1].cols / 2);
            let grad = matches!(launch.op, Op::LstmCellGrad);
            let mut bindings = vec![output()?, read(0), read(1)];
            bindings.extend(grad.then(|| read(2)));
            kernel(
                Shader::Lstm,
                if grad { "lstm_cell_grad" } else { "lstm_cell" },
                &[],
                words(&[dim(rows)?, dim(hidden)?]),
                bindings,
                Grid::Elements(rows * hidden),
            )
        }
        Op::SumBlocks { blocks } => kernel(
            Shader::Reduce,
            "sum_blocks",
            &[],
            words(&[dim(*blocks)?, dim(n)?]),
            vec![output()?, read(0)],
            Grid::Elements(n),
        ),
        Op::ChannelSum(image) => {
            let x = shapes[0];
            kernel(
                Shader::Reduce,
                "channel_sum",
                &[],
                words(&[
                    dim(x.rows)?,
                    dim(image.channels)?,
                    1f32.to_bits(),
                    dim(image.plane())?,
                ]),
                vec![output()?, read(0)],
                Grid::Groups(image.channels),
            )
        }
        Op::Activate(act) => kernel(
            Shader::Elementwise,
            "activate",
            &activation(*act),
            words(&[dim(n)?]),
            vec![output()?, read(0)],
            Grid::Elements(n),
        ),
        Op::ActivationGrad(act) => kernel(
            Shader::Elementwise,
            "activation_grad",
            &activation(*act),
            words(&[dim(n)?]),
            vec![output()?, read(0), read(1)],
            Grid::Elements(n),
        ),
        Op::Binary(op) => kernel(
            Shader::Elementwise,
            "binary",
            &[("BINOP", op.code() as f64)],
            words(&[dim(n)?]),
            vec![output()?, read(0), read(1)],
            Grid::Elements(n),
        ),
        Op::Scale(factor) => kernel(
            Shader::Elementwise,
            "scale",
            &[],
            words(&[dim(n)?, factor.to_bits()]),
            vec![output()?, read(0)],
            Grid::Elements(n),
        ),
        Op::Unary(_) | Op::StopGradient => {
            let code = match launch.op {
                Op::Unary(u) => u.code(),
                _ => unary::IDENTITY_CODE,
            };
            kernel(
                Shader::Elementwise,
                "unary",
                &[("UNARY", code as f64)],
                words(&[dim(n)?]),
                vec![output()?, read(0)],
                Grid::Elements(n),
            )
        }
        Op::SoftThreshold => kernel(
            Shader::Elementwise,
            "soft_threshold",
            &[],
            words(&[dim(n)?]),
            vec![output()?, read(0), read(1)],
            Grid::Elements(n),
        ),
        Op::SoftThresholdGrad { wrt } => kernel(
            Shader::Elementwise,
            "soft_threshold_grad",
            &[("WRT", *wrt as f64)],
            words(&[dim(n)?]),
            vec![output()?, read(0), read(1), read(2)],
            Grid::Elements(n),
        ),
        Op::ArgMinRows => {
            let x = shapes[0];
            kernel(
                Shader::Index,
                "argmin_rows",
                &[],
                words(&[dim(x.rows)?, dim(x.cols)?]),
                vec![output()?, read(0)],
                Grid::Elements(x.rows),
            )
        }
        Op::OneHot { classes } => kernel(
            Shader::Index,
            "one_hot",
            &[],
            words(&[dim(launch.shape.rows)?, dim(*classes)?]),
            vec![output()?, read(0)],
            Grid::Elements(n),
        ),
        Op::Transpose | Op::ToPixelRows(_) | Op::FromPixelRows(_) | Op::Reshape { .. } => {
            let (_, rows, cols) = layout::blocks(&launch.op, shapes[0]);
            kernel(
                Shader::Layout,
                "transpose",
                &[],
                words(&[dim(n)?, dim(rows)?, dim(cols)?]),
                vec![output()?, read(0)],
                Grid::Elements(n),
            )
        }
        Op::Reduce(r) => {
            let x = shapes[0];
            let (entry, grid) = match r.axis {
                Axis::Rows => ("reduce_rows", Grid::Elements(x.cols)),
                Axis::Cols => ("reduce_cols", Grid::Elements(x.rows)),
                Axis::All => ("reduce_all", Grid::Single),
            };
            kernel(
                Shader::Reduce,
                entry,
                &[],
                words(&[dim(x.rows)?, dim(x.cols)?, r.scale(x).to_bits()]),
                vec![output()?, read(0)],
                grid,
            )
        }
        Op::Broadcast(to) => {
            let from = shapes[0];
            kernel(
                Shader::Reduce,
                "broadcast",
                &[],
                words(&[
                    dim(to.rows)?,
                    dim(to.cols)?,
                    1f32.to_bits(),
                    dim(from.rows)?,
                    dim(from.cols)?,
                ]),
                vec![output()?, read(0)],
                Grid::Elements(n),
            )
        }
        // acc += x is axpy with a = 1.
        Op::Accumulate => {
            let acc = shapes[0];
            kernel(
                Shader::Reduce,
                "axpy",
                &[("ACCUMULATE", 1.0), ("SCALED", 0.0)],
                words(&[dim(acc.rows)?, dim(acc.cols)?, 1f32.to_bits()]),
                vec![update(0)?, read(1), unused],
                Grid::Elements(acc.len()),
            )
        }
        Op::Loss(loss) => kernel(
            Shader::Loss,
            "loss_value",
            &[("LOSS", loss.code() as f64)],
            words(&[dim(shapes[0].len())?]),
            vec![output()?, read(0), read(1)],
            Grid::Single,
        ),
        Op::LossGrad(loss) => kernel(
            Shader::Loss,
            "loss_grad",
            &[("LOSS", loss.code() as f64)],
            words(&[dim(n)?]),
            vec![output()?, read(0), read(1), read(2)],
            Grid::Elements(n),
        ),
        // loss.wgsl's softmax section: {n, cols} with n = B·K; a row per invocation.
        Op::SoftmaxCrossEntropy => kernel(
            Shader::Loss,
            "softmax_xent_value",
            &[],
            words(&[dim(shapes[0].len())?, dim(shapes[0].cols)?]),
            vec![output()?, read(0), read(1)],
            Grid::Single,
        ),
        Op::SoftmaxCrossEntropyGrad => kernel(
            Shader::Loss,
            "softmax_xent_grad",
            &[],
            words(&[dim(n)?, dim(shapes[0].cols)?]),
            vec![output()?, read(0), read(1), read(2)],
            Grid::Elements(shapes[0].rows),
        ),
        Op::GatherRows => {
            let data = shapes[0];
            let packed = launch.input_dtypes[0] == DType::U32;
            kernel(
                Shader::Gather,
                "gather",
                &[("PACKED_U8", flag(packed))],
                words(&[dim(launch.shape.rows)?, dim(data.cols)?, dim(data.rows)?]),
                vec![output()?, read(0), read(1)],
                Grid::Elements(n),
            )
        }
        Op::Noise { noise, stream } => {
            // [p, σ, scale, low, high]; the kernel reads those its NOISE uses.
            let [p, sigma, scale, low, high] = match *noise {
                Noise::Gaussian { sigma } => [0.0, sigma, 1.0, 0.0, 0.0],
                Noise::Mask { p } => [p, 0.0, 1.0, 0.0, 0.0],
                Noise::SaltPepper { p, low, high } => [p, 0.0, 1.0, low, high],
                Noise::Dropout { p } => [p, 0.0, noise.keep_scale(), 0.0, 0.0],
                Noise::Binarize => [0.0, 0.0, 1.0, 0.0, 0.0],
            };
            kernel(
                Shader::Random,
                "noise",
                &[("NOISE", noise.code() as f64)],
                words(&[
                    dim(n)?,
                    *stream,
                    p.to_bits(),
                    sigma.to_bits(),
                    scale.to_bits(),
                    low.to_bits(),
                    high.to_bits(),
                ]),
                vec![output()?, read(0), read(1)],
                Grid::Elements(n),
            )
        }
        Op::Update(opt) => {
            let count = dim(shapes[0].len())?;
            let states = opt.state_count();
            let clip = opt.has_norm_operand(launch.inputs.len());
            // The norm comes before the states (see optim.wgsl's header).
            let norm = if clip { read(3 + states) } else { unused };
            let mut bindings = vec![update(0)?, read(1), read(2), norm];
            for state in 3..3 + states {
                bindings.push(update(state)?);
            }
            let (entry, variant, params) = match *opt {
                Optimizer::Sgd {
                    momentum,
                    nesterov,
                    weight_decay,
                } => (
                    "sgd_update",
                    Some(("NESTEROV", flag(nesterov))),
                    [count, momentum.to_bits(), 0, 0, weight_decay.to_bits()],
                ),
                Optimizer::Adam {
                    beta1,
                    beta2,
                    eps,
                    weight_decay,
                    decoupled,
                } => (
                    "adam_update",
                    Some(("DECOUPLED", flag(decoupled))),
                    [
                        count,
                        beta1.to_bits(),
                        beta2.to_bits(),
                        eps.to_bits(),
                        weight_decay.to_bits(),
                    ],
                ),
                Optimizer::AdaGrad { eps, weight_decay } => (
                    "adagrad_update",
                    None,
                    [count, 0, 0, eps.to_bits(), weight_decay.to_bits()],
                ),
                Optimizer::RmsProp {
                    alpha,
                    eps,
                    momentum,
                    weight_decay,
                } => (
                    "rmsprop_update",
                    None,
                    [
                        count,
                        momentum.to_bits(),
                        alpha.to_bits(),
                        eps.to_bits(),
                        weight_decay.to_bits(),
                    ],
                ),
            };
            let mut constants = vec![("CLIP", flag(clip))];
            constants.extend(variant);
            kernel(
                Shader::Optim,
                entry,
                &constants,
                words(&params),
                bindings,
                Grid::Elements(count as usize),
            )
        }
        Op::Penalty(penalty) => {
            let x = shapes[0];
            let colnorm = if penalty.arity() == 2 {
                read(1)
            } else {
                unused
            };
            kernel(
                Shader::Penalty,
                "penalty_value",
                &penalty_constants(*penalty),
                words(&penalty_params(*penalty, x)?),
                vec![output()?, read(0), colnorm],
                Grid::Single,
            )
        }
        Op::PenaltyGrad { penalty, wrt } => {
            let x = shapes[0];
            let arity = penalty.arity();
            let colnorm = if arity == 2 { read(1) } else { unused };
            // wrt 0 is element-wise over x; wrt 1 (contractive colnorm) sums columns.
            let (entry, grid) = match wrt {
                0 => ("penalty_grad", Grid::Elements(x.len())),
                _ => ("penalty_colnorm_grad", Grid::Elements(x.cols)),
            };
            kernel(
                Shader::Penalty,
                entry,
                &penalty_constants(*penalty),
                words(&penalty_params(*penalty, x)?),
                vec![output()?, read(0), colnorm, read(arity)],
                grid,
            )
        }
        Op::Axpy { accumulate } => {
            let y = shapes[0];
            kernel(
                Shader::Reduce,
                "axpy",
                &[("ACCUMULATE", flag(*accumulate)), ("SCALED", 1.0)],
                words(&[dim(y.rows)?, dim(y.cols)?, 1f32.to_bits()]),
                vec![update(0)?, read(1), read(2)],
                Grid::Elements(y.len()),
            )
        }
        // pool.wgsl: one invocation per output element; the gradients (outputs the
        // size of the input) gather, so each invocation writes only its own element.
        Op::Pool(p) | Op::PoolGrad(p) => {
            let grad = matches!(launch.op, Op::PoolGrad(_));
            let entry = match (p.kind, grad) {
                (PoolKind::Max, false) => "max_pool",
                (PoolKind::Avg, false) => "avg_pool",
                (PoolKind::Max, true) => "max_pool_grad",
                (PoolKind::Avg, true) => "avg_pool_grad",
            };
            let mut bindings = vec![output()?, read(0)];
            bindings.extend(grad.then(|| read(1)));
            let geometry = (p.input, p.output(), p.size, p.stride, p.scale());
            kernel(
                Shader::Pool,
                entry,
                &[],
                words(&image_params(n, geometry)?),
                bindings,
                Grid::Elements(n),
            )
        }
        Op::Upsample(u) | Op::UpsampleGrad(u) => {
            let grad = matches!(launch.op, Op::UpsampleGrad(_));
            let entry = match (u.mode, grad) {
                (UpsampleMode::Nearest, false) => "upsample_nearest",
                (UpsampleMode::Bilinear, false) => "upsample_bilinear",
                (UpsampleMode::Nearest, true) => "upsample_nearest_grad",
                (UpsampleMode::Bilinear, true) => "upsample_bilinear_grad",
            };
            let geometry = (u.input, u.output(), u.factor, u.factor, u.half_step());
            kernel(
                Shader::Pool,
                entry,
                &[],
                words(&image_params(n, geometry)?),
                vec![output()?, read(0)],
                Grid::Elements(n),
            )
        }
        // pool.wgsl's columns section: one invocation per output element.
        Op::ConcatCols | Op::SliceCols { .. } | Op::PadCols { .. } => {
            let (entry, start) = match launch.op {
                Op::SliceCols { start, .. } => ("slice_cols", start),
                Op::PadCols { start, .. } => ("pad_cols", start),
                _ => ("concat_cols", 0),
            };
            let mut bindings = vec![output()?, read(0)];
            bindings.extend(matches!(launch.op, Op::ConcatCols).then(|| read(1)));
            let (cols, cols_a) = (launch.shape.cols, shapes[0].cols);
            kernel(
                Shader::Pool,
                entry,
                &[],
                words(&column_params(n, cols, cols_a, start)?),
                bindings,
                Grid::Elements(n),
            )
        }
        // One layout for the pure entries: out, x, γ, β, running mean, running var, dy
        // (see batchnorm.wgsl's header), placeholders where an op has no such operand.
        Op::BatchNormTrain(bn) => kernel(
            Shader::BatchNorm,
            "batch_norm_train",
            &[],
            words(&batch_norm_params(*bn, shapes[0], 0.0)?),
            vec![output()?, read(0), read(1), read(2)],
            Grid::Groups(bn.channels()),
        ),
        Op::BatchNormTrainGrad { bn, wrt } => kernel(
            Shader::BatchNorm,
            "batch_norm_train_grad",
            &[("WRT", *wrt as f64)],
            words(&batch_norm_params(*bn, shapes[0], 0.0)?),
            vec![output()?, read(0), read(1), unused, unused, unused, read(2)],
            Grid::Groups(bn.channels()),
        ),
        Op::BatchNormEval(bn) => kernel(
            Shader::BatchNorm,
            "batch_norm_eval",
            &[],
            words(&batch_norm_params(*bn, shapes[0], 0.0)?),
            vec![output()?, read(0), read(1), read(2), read(3), read(4)],
            Grid::Elements(n),
        ),
        Op::BatchNormEvalGrad { bn, wrt } => {
            let (entry, grid) = match wrt {
                0 => ("batch_norm_eval_grad_x", Grid::Elements(n)),
                _ => ("batch_norm_eval_grad_affine", Grid::Groups(bn.channels())),
            };
            kernel(
                Shader::BatchNorm,
                entry,
                &[("WRT", *wrt as f64)],
                words(&batch_norm_params(*bn, shapes[0], 0.0)?),
                vec![
                    output()?,
                    read(0),
                    read(1),
                    unused,
                    read(2),
                    read(3),
                    read(4),
                ],
                grid,
            )
        }
        // Bound as [running mean, x, running var], out of operand order, so that x
        // keeps the binding it has in every other batch-norm entry.
        Op::BatchNormRunning { bn, momentum } => kernel(
            Shader::BatchNorm,
            "batch_norm_running",
            &[],
            words(&batch_norm_params(*bn, shapes[2], *momentum)?),
            vec![update(0)?, read(2), update(1)?],
            Grid::Groups(bn.channels()),
        ),
        Op::Input { .. } | Op::Entry { .. } => {
            return Err(BackendError::Execution(format!(
                "{} is not a launch",
                what()
            )))
        }
    };
    check_aliasing(&k)
        .map_err(|detail| BackendError::Execution(format!("{}: {detail}", what())))?;
    Ok(k)
}

/// wgpu rejects a dispatch that binds one buffer both read-write and in any other way;
/// reading one buffer twice (x ⊙ x, xᵀ·x) is fine. The planner never gives an output
/// the buffer of an operand, so this only trips on an in-place update of an entry
/// that the same op also reads.
fn check_aliasing(k: &Kernel) -> Result<(), String> {
    for (i, written) in k.bindings.iter().enumerate() {
        if written.access != Access::ReadWrite {
            continue;
        }
        for (j, other) in k.bindings.iter().enumerate() {
            if i != j && other.source == written.source {
                return Err(format!(
                    "buffer binding {} is updated in place and also bound as binding {}",
                    i + 1,
                    j + 1
                ));
            }
        }
    }
    Ok(())
}

/// penalty.wgsl's override constants: the penalty, and the contractive encoder's
/// activation (linear, the default, for the others).
fn penalty_constants(penalty: Penalty) -> [(&'static str, f64); 2] {
    [
        ("PENALTY", penalty.code() as f64),
        ("ACT", penalty.activation().code() as f64),
    ]
}

/// penalty.wgsl's parameters {n, cols, rho, rows} for an operand x.
fn penalty_params(penalty: Penalty, x: Shape) -> Result<[u32; 4], BackendError> {
    Ok([
        dim(x.len())?,
        dim(x.cols)?,
        penalty.rho().to_bits(),
        dim(x.rows)?,
    ])
}

/// batchnorm.wgsl's parameters {rows, channels, plane, eps, momentum} for an operand
/// x of shape `x`.
fn batch_norm_params(bn: BatchNorm, x: Shape, momentum: f32) -> Result<[u32; 5], BackendError> {
    Ok([
        dim(x.rows)?,
        dim(bn.channels())?,
        dim(bn.image.plane())?,
        bn.eps.to_bits(),
        momentum.to_bits(),
    ])
}

/// A dimension or element count as the u32 the kernels index with.
/// Rows of a matmul tile: 64, or 8, 16 or 32 for a thin output (matmul.wgsl's ROWS
/// is this / 8), so a convolution to a few channels does not compute empty rows.
fn tile_rows(m: usize) -> usize {
    m.next_power_of_two().clamp(8, MATMUL_TILE)
}

/// matmul.wgsl's geometry constants for a convolution.
fn conv_constants(g: &ConvGeometry) -> [(&'static str, f64); 10] {
    [
        ("CONV_C", g.image.channels as f64),
        ("CONV_H", g.image.height as f64),
        ("CONV_W", g.image.width as f64),
        ("CONV_OC", g.features.channels as f64),
        ("CONV_OH", g.features.height as f64),
        ("CONV_OW", g.features.width as f64),
        ("CONV_KH", g.kernel[0] as f64),
        ("CONV_KW", g.kernel[1] as f64),
        ("CONV_STRIDE", g.stride as f64),
        ("CONV_PAD", g.padding as f64),
    ]
}

fn dim(n: usize) -> Result<u32, BackendError> {
    u32::try_from(n).map_err(|_| {
        BackendError::Execution(format!(
            "{n} elements do not fit the kernels' 32-bit indices"
        ))
    })
}

/// pool.wgsl's parameters for pooling and upsampling: {count, height, width,
/// out_height, out_width, size, stride, scale} from (input, output, window size or
/// factor, stride, scale).
fn image_params(
    count: usize,
    (input, output, size, stride, scale): (ImageShape, ImageShape, usize, usize, f32),
) -> Result<[u32; 8], BackendError> {
    Ok([
        dim(count)?,
        dim(input.height)?,
        dim(input.width)?,
        dim(output.height)?,
        dim(output.width)?,
        dim(size)?,
        dim(stride)?,
        scale.to_bits(),
    ])
}

/// pool.wgsl's parameters for the column copies: count, then {cols, cols_a, start} in
/// words 8 to 10 (after the image geometry, which they leave at 0).
fn column_params(
    count: usize,
    cols: usize,
    cols_a: usize,
    start: usize,
) -> Result<[u32; 11], BackendError> {
    let mut params = [0; 11];
    params[0] = dim(count)?;
    params[8..].copy_from_slice(&[dim(cols)?, dim(cols_a)?, dim(start)?]);
    Ok(params)
}
