//! The CPU backend: the reference every WGSL kernel is checked against, and a fast
//! backend in its own right. Every launch runs the plain reference of `src/ops/`,
//! split over one rayon pool: element-wise ops by ranges, matmuls by blocks of output
//! rows, each a single-threaded `matrixmultiply` sgemm. Generic over the
//! scalar: `CpuBackend<f32>` trains, `CpuBackend<f64>` serves the gradient check.

use crate::backend::{check_feeds, Backend, BackendError, BackendStats, Feed, PlanId};
use crate::graph::{DType, EntryData, EntryId, Location, ParamStore, Plan, ValueId};
use crate::ops::{self, Op, Real};

mod parallel;
use parallel::{for_ranges, for_rows};
use rayon::prelude::*;

/// Matmuls are cut into tasks of whole row blocks at least this tall (sgemm's
/// register blocks are up to 16 rows; thinner tasks waste its packing).
const ROWS_PER_MATMUL_TASK: usize = 16;

enum Storage<T> {
    Real(Vec<T>),
    Bytes(Vec<u8>),
}

struct Prepared<T> {
    plan: Plan,
    slots: Vec<Vec<T>>,
    inputs: Vec<Vec<T>>,
}

impl<T> Prepared<T> {
    /// A plan with nothing to run (a released one, or one taken out while it runs).
    fn empty() -> Self {
        Prepared {
            plan: Plan {
                launches: vec![],
                slot_bytes: vec![],
                inputs: vec![],
                outputs: vec![],
                entries: vec![],
                peak_bytes: 0,
                unpooled_bytes: 0,
            },
            slots: vec![],
            inputs: vec![],
        }
    }
}

pub struct CpuBackend<T: Real = f32> {
    entries: Vec<Option<Storage<T>>>,
    entry_names: Vec<String>,
    plans: Vec<Prepared<T>>,
    stats: BackendStats,
    threads: usize,
    /// Seconds and launches per op name, when `AEGPU_PROFILE` is set.
    profile: Option<std::collections::BTreeMap<String, (f64, u64)>>,
}

impl<T: Real> Default for CpuBackend<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Real> CpuBackend<T> {
    /// Uses every core through one rayon pool (`RAYON_NUM_THREADS` to change):
    /// matmuls are split by output rows into single-threaded `matrixmultiply` calls.
    /// (Measured against matrixmultiply's own threading, which fought the
    /// element-wise threads for the cores, and against the `gemm` crate on the same
    /// pool, which trained at the same speed: `benches/throughput.rs`.)
    pub fn new() -> Self {
        let threads = rayon::current_num_threads();
        CpuBackend {
            entries: vec![],
            entry_names: vec![],
            plans: vec![],
            stats: BackendStats::default(),
            threads,
            profile: std::env::var_os("AEGPU_PROFILE").map(|_| Default::default()),
        }
    }

    /// Sets an entry's values in the backend's own precision (the f64 gradient check
    /// perturbs inputs by amounts an f32 store could not hold).
    pub fn set_entry_values(&mut self, id: EntryId, values: Vec<T>) -> Result<(), BackendError> {
        match self.entries.get_mut(id.0 as usize) {
            Some(slot @ Some(_)) => {
                *slot = Some(Storage::Real(values));
                Ok(())
            }
            _ => Err(BackendError::MissingEntry(format!("#{}", id.0))),
        }
    }

    /// Reads an entry in the backend's own precision.
    pub fn entry_values(&self, id: EntryId) -> Result<Vec<T>, BackendError> {
        match self.entry(id)? {
            Storage::Real(v) => Ok(v.clone()),
            Storage::Bytes(_) => Err(BackendError::Execution("byte data is not read back".into())),
        }
    }

    /// Reads a graph output of the last run in the backend's own precision.
    pub fn output_values(&self, id: PlanId, value: ValueId) -> Result<Vec<T>, BackendError> {
        let p = self.plans.get(id.0).ok_or_else(|| {
            BackendError::Execution(format!("plan {} is not prepared here", id.0))
        })?;
        let (loc, shape) = p
            .plan
            .output_location(value)
            .ok_or(BackendError::NotAnOutput(value))?;
        Ok(real_slice(loc, &p.slots, &p.inputs, &self.entries)?[..shape.len()].to_vec())
    }

    fn entry(&self, id: EntryId) -> Result<&Storage<T>, BackendError> {
        self.entries
            .get(id.0 as usize)
            .and_then(|e| e.as_ref())
            .ok_or_else(|| BackendError::MissingEntry(format!("#{}", id.0)))
    }

    fn entry_real_mut(&mut self, id: EntryId) -> Result<Vec<T>, BackendError> {
        match self.entries.get_mut(id.0 as usize).and_then(|e| e.take()) {
            Some(Storage::Real(v)) => Ok(v),
            Some(other) => {
                self.entries[id.0 as usize] = Some(other);
                Err(BackendError::Execution(
                    "cannot update byte data in place".into(),
                ))
            }
            None => Err(BackendError::MissingEntry(format!("#{}", id.0))),
        }
    }
}

fn real_slice<'a, T: Real>(
    loc: Location,
    slots: &'a [Vec<T>],
    inputs: &'a [Vec<T>],
    entries: &'a [Option<Storage<T>>],
) -> Result<&'a [T], BackendError> {
    match loc {
        Location::Slot(s) => Ok(&slots[s]),
        Location::Input(i) => Ok(&inputs[i]),
        Location::Entry(e) => match entries.get(e.0 as usize).and_then(|x| x.as_ref()) {
            Some(Storage::Real(v)) => Ok(v),
            Some(Storage::Bytes(_)) => Err(BackendError::Execution(
                "byte data can only be gathered".into(),
            )),
            None => Err(BackendError::MissingEntry(format!("#{}", e.0))),
        },
    }
}

impl<T: Real> Backend for CpuBackend<T> {
    fn op_profile(&self) -> Option<&super::OpProfile> {
        self.profile.as_ref()
    }

    fn describe(&self) -> String {
        format!(
            "cpu ({} threads, {})",
            self.threads,
            std::any::type_name::<T>()
        )
    }

    fn upload_store(&mut self, store: &ParamStore) -> Result<(), BackendError> {
        for id in store.ids() {
            self.upload_entry(store, id)?;
        }
        Ok(())
    }

    fn upload_entry(&mut self, store: &ParamStore, id: EntryId) -> Result<(), BackendError> {
        let i = id.0 as usize;
        if self.entries.len() <= i {
            self.entries.resize_with(i + 1, || None);
            self.entry_names.resize(i + 1, String::new());
        }
        let e = store.get(id);
        self.entry_names[i] = e.name.clone();
        self.entries[i] = Some(match &e.data {
            EntryData::F32(v) => Storage::Real(v.iter().map(|&x| T::from_f32(x)).collect()),
            EntryData::U8(b) => Storage::Bytes(b.clone()),
        });
        Ok(())
    }

    fn read_entry(&mut self, id: EntryId) -> Result<Vec<f32>, BackendError> {
        self.stats.readbacks += 1;
        match self.entry(id)? {
            Storage::Real(v) => Ok(v.iter().map(|x| x.to_f64() as f32).collect()),
            Storage::Bytes(_) => Err(BackendError::Execution("byte data is not read back".into())),
        }
    }

    fn prepare(&mut self, plan: &Plan) -> Result<PlanId, BackendError> {
        for &e in &plan.entries {
            self.entry(e)?;
        }
        let slots = plan
            .slot_bytes
            .iter()
            .map(|&b| vec![T::zero(); (b / 4) as usize])
            .collect();
        let inputs = plan
            .inputs
            .iter()
            .map(|(_, s, _)| vec![T::zero(); s.len()])
            .collect();
        self.plans.push(Prepared {
            plan: plan.clone(),
            slots,
            inputs,
        });
        Ok(PlanId(self.plans.len() - 1))
    }

    fn run(&mut self, id: PlanId, feeds: &[Feed]) -> Result<(), BackendError> {
        let slot = self.plans.get_mut(id.0).ok_or_else(|| {
            BackendError::Execution(format!("plan {} is not prepared here", id.0))
        })?;
        let mut prepared = std::mem::replace(slot, Prepared::empty());
        let result = self.run_prepared(&mut prepared, feeds);
        self.plans[id.0] = prepared;
        self.stats.runs += 1;
        result
    }

    fn release(&mut self, id: PlanId) {
        if let Some(p) = self.plans.get_mut(id.0) {
            *p = Prepared::empty();
        }
    }

    fn read_output(&mut self, id: PlanId, value: ValueId) -> Result<Vec<f32>, BackendError> {
        // Counted like the GPU's, so per-step figures compare across backends.
        self.stats.readbacks += 1;
        Ok(self
            .output_values(id, value)?
            .iter()
            .map(|x| x.to_f64() as f32)
            .collect())
    }

    fn stats(&self) -> BackendStats {
        self.stats
    }
}

impl<T: Real> CpuBackend<T> {
    fn run_prepared(&mut self, p: &mut Prepared<T>, feeds: &[Feed]) -> Result<(), BackendError> {
        check_feeds(&p.plan, feeds)?;
        // Each input is stored as its declared type; a feed of the other type is
        // converted by value (an f32 index 3.0 is row 3), as the GPU backend does.
        for ((dst, f), (_, _, dtype)) in p.inputs.iter_mut().zip(feeds).zip(&p.plan.inputs) {
            let pairs = dst.iter_mut();
            match (f, dtype) {
                (Feed::F32(x), DType::F32) => pairs.zip(*x).for_each(|(d, &s)| *d = T::from_f32(s)),
                (Feed::F32(x), DType::U32) => pairs
                    .zip(*x)
                    .for_each(|(d, &s)| *d = T::from_index(s as u32)),
                // Indices keep all 32 bits (see `Real::from_index`).
                (Feed::U32(x), DType::U32) => {
                    pairs.zip(*x).for_each(|(d, &s)| *d = T::from_index(s))
                }
                (Feed::U32(x), DType::F32) => {
                    pairs.zip(*x).for_each(|(d, &s)| *d = T::from_f64(s as f64))
                }
            }
        }
        for launch in &p.plan.launches {
            let started = self.profile.as_ref().map(|_| std::time::Instant::now());
            let result = match launch.output {
                Some(Location::Slot(out_slot)) => {
                    let mut out = std::mem::take(&mut p.slots[out_slot]);
                    let r = self.launch_pure(
                        launch,
                        &p.slots,
                        &p.inputs,
                        &mut out[..launch.shape.len()],
                    );
                    p.slots[out_slot] = out;
                    r
                }
                Some(other) => Err(BackendError::Execution(format!(
                    "output placed in {other:?}"
                ))),
                None => self.launch_effect(launch, &p.slots, &p.inputs),
            };
            result.map_err(|e| match e {
                BackendError::Execution(msg) => BackendError::Execution(format!(
                    "{} ({}): {msg}",
                    launch.op.name(),
                    launch.label
                )),
                other => other,
            })?;
            if let (Some(t), Some(profile)) = (started, self.profile.as_mut()) {
                let e = profile.entry(launch.op.name()).or_default();
                e.0 += t.elapsed().as_secs_f64();
                e.1 += 1;
            }
        }
        Ok(())
    }

    fn launch_pure(
        &self,
        l: &crate::graph::Launch,
        slots: &[Vec<T>],
        inputs: &[Vec<T>],
        out: &mut [T],
    ) -> Result<(), BackendError> {
        // Pooled slots may be longer than the value they hold: cut to the shape.
        // An entry shorter than the plan's shape was uploaded from another store (two
        // models' stores on one backend): an error, not an out-of-bounds slice.
        let get = |k: usize| {
            let v = real_slice(l.inputs[k], slots, inputs, &self.entries)?;
            let need = l.input_shapes[k].len();
            v.get(..need).ok_or_else(|| {
                BackendError::Execution(format!(
                    "{} reads {need} values of an operand that holds {}: was the store \
                     of this plan uploaded to this backend?",
                    l.op.name(),
                    v.len()
                ))
            })
        };
        let s = &l.input_shapes;
        match &l.op {
            Op::Fill { value, .. } => out.iter_mut().for_each(|o| *o = T::from_f32(*value)),
            Op::MatMul(m) => {
                let ins: Vec<&[T]> = (0..l.inputs.len()).map(get).collect::<Result<_, _>>()?;
                // Each thread computes whole output rows (product and epilogue), with a
                // single-threaded sgemm: one thread pool for everything, so sgemm's
                // threads and the element-wise ones never compete for the cores.
                let bias = if m.bias { Some(ins[2]) } else { None };
                let n = l.shape.cols;
                for_ranges(
                    self.threads,
                    out.len(),
                    n * ROWS_PER_MATMUL_TASK,
                    vec![out],
                    vec![],
                    |o, _, start| {
                        let rows = start / n..(start + o[0].len()) / n;
                        m.cpu_product_rows(&ins, s, rows, o[0]);
                        if m.has_epilogue() {
                            m.cpu_epilogue(bias, o[0]);
                        }
                    },
                )
            }
            Op::Activate(a) => for_ranges(
                self.threads,
                out.len(),
                1,
                vec![out],
                vec![get(0)?],
                |o, i, _| ops::activation::cpu_activate(*a, i[0], o[0]),
            ),
            Op::ActivationGrad(a) => for_ranges(
                self.threads,
                out.len(),
                1,
                vec![out],
                vec![get(0)?, get(1)?],
                |o, i, _| ops::activation::cpu_activation_grad(*a, i[0], i[1], o[0]),
            ),
            Op::Binary(b) => for_ranges(
                self.threads,
                out.len(),
                1,
                vec![out],
                vec![get(0)?, get(1)?],
                |o, i, _| b.cpu(i[0], i[1], o[0]),
            ),
            Op::Scale(c) => for_ranges(
                self.threads,
                out.len(),
                1,
                vec![out],
                vec![get(0)?],
                |o, i, _| ops::elementwise::cpu_scale(*c, i[0], o[0]),
            ),
            Op::Unary(u) => for_ranges(
                self.threads,
                out.len(),
                1,
                vec![out],
                vec![get(0)?],
                |o, i, _| u.cpu(i[0], o[0]),
            ),
            Op::StopGradient => ops::unary::cpu_identity(get(0)?, out),
            Op::SoftThreshold => {
                let lambda = get(1)?[0];
                for_ranges(
                    self.threads,
                    out.len(),
                    1,
                    vec![out],
                    vec![get(0)?],
                    |o, i, _| ops::threshold::cpu(i[0], lambda, o[0]),
                )
            }
            Op::SoftThresholdGrad { wrt } => {
                let lambda = get(1)?[0];
                for_ranges(
                    self.threads,
                    out.len(),
                    1,
                    vec![out],
                    vec![get(0)?, get(2)?],
                    |o, i, _| ops::threshold::cpu_grad(*wrt, i[0], lambda, i[1], o[0]),
                )
            }
            Op::ArgMinRows => ops::index::cpu_argmin(get(0)?, s[0].cols, out),
            Op::OneHot { classes } => {
                ops::index::cpu_one_hot(get(0)?, *classes, out).map_err(BackendError::Execution)?
            }
            Op::Transpose | Op::ToPixelRows(_) | Op::FromPixelRows(_) | Op::Reshape { .. } => {
                let (blocks, rows, cols) = ops::layout::blocks(&l.op, s[0]);
                ops::layout::cpu_transpose(blocks, rows, cols, get(0)?, out)
            }
            Op::Reduce(r) => r.cpu(get(0)?, s[0], out),
            Op::Broadcast(to) => ops::reduce::cpu_broadcast(get(0)?, s[0], *to, out),
            Op::Loss(loss) => loss.cpu(get(0)?, get(1)?, out),
            Op::LossGrad(loss) => {
                // The mean's 1/N is over the whole operand, not a thread's range.
                let (dloss, count) = (get(2)?, T::from_f64(out.len() as f64));
                for_ranges(
                    self.threads,
                    out.len(),
                    1,
                    vec![out],
                    vec![get(0)?, get(1)?],
                    |o, i, _| loss.cpu_grad_scaled(i[0], i[1], dloss[0] / count, o[0]),
                )
            }
            Op::SoftmaxCrossEntropy => {
                ops::loss::softmax_xent::cpu(get(0)?, get(1)?, s[0].cols, out)
            }
            Op::SoftmaxCrossEntropyGrad => {
                // Threads take whole rows (each needs its row's log-sum-exp); the mean's
                // 1/B is over the whole batch.
                let (cols, batch) = (s[0].cols, T::from_f64(s[0].rows as f64));
                let scale = get(2)?[0] / batch;
                let z_t = [(get(0)?, cols), (get(1)?, cols)];
                for_rows(self.threads, out, cols, &z_t, |i, o| {
                    ops::loss::softmax_xent::cpu_grad_scaled(i[0], i[1], cols, scale, o)
                })
            }
            Op::GatherRows => {
                let idx = get(1)?;
                let cols = s[0].cols;
                match l.inputs[0] {
                    Location::Entry(e) => match self.entry(e)? {
                        Storage::Bytes(b) => ops::gather::cpu_u8(b, cols, idx, out),
                        Storage::Real(v) => ops::gather::cpu_f32(v, cols, idx, out),
                    },
                    other => ops::gather::cpu_f32(
                        real_slice(other, slots, inputs, &self.entries)?,
                        cols,
                        idx,
                        out,
                    ),
                }
                .map_err(BackendError::Execution)?
            }
            Op::Noise { noise, stream } => {
                // Each range starts at its global element index: the draws' counter.
                let rng = get(1)?;
                for_ranges(
                    self.threads,
                    out.len(),
                    1,
                    vec![out],
                    vec![get(0)?],
                    |o, i, first| noise.cpu(*stream, rng, first, i[0], o[0]),
                )
            }
            Op::Input { .. } | Op::Entry { .. } | Op::Update(_) | Op::Accumulate => {
                return Err(BackendError::Execution("not a pure launch".into()))
            }
            Op::Penalty(p) => {
                let ins: Vec<&[T]> = (0..l.inputs.len()).map(get).collect::<Result<_, _>>()?;
                p.cpu(&ins, s[0], out)
            }
            Op::PenaltyGrad { penalty, wrt } => {
                let arity = penalty.arity();
                let ins: Vec<&[T]> = (0..arity).map(get).collect::<Result<_, _>>()?;
                let dout = get(arity)?[0];
                if *wrt == 0 {
                    // Element-wise over x; colnorm (if any) is indexed by column.
                    let cols = s[0].cols;
                    for_ranges(
                        self.threads,
                        out.len(),
                        1,
                        vec![out],
                        vec![ins[0]],
                        |o, i, start| penalty.cpu_grad(&ins, cols, i[0], start, dout, o[0]),
                    )
                } else {
                    penalty.cpu_colnorm_grad(ins[0], s[0], dout, out)
                }
            }
            Op::Axpy { .. } => return Err(BackendError::Execution("not a pure launch".into())),
            // Spatial ops and column copies: threads take whole output rows (images);
            // each reads the same rows of its operands.
            Op::Pool(p) => {
                let x = [(get(0)?, s[0].cols)];
                for_rows(self.threads, out, l.shape.cols, &x, |i, o| p.cpu(i[0], o))
            }
            Op::PoolGrad(p) => {
                let x_dy = [(get(0)?, s[0].cols), (get(1)?, s[1].cols)];
                for_rows(self.threads, out, l.shape.cols, &x_dy, |i, o| {
                    p.cpu_grad(i[0], i[1], o)
                })
            }
            Op::Upsample(u) => {
                let x = [(get(0)?, s[0].cols)];
                for_rows(self.threads, out, l.shape.cols, &x, |i, o| u.cpu(i[0], o))
            }
            Op::UpsampleGrad(u) => {
                let dy = [(get(0)?, s[0].cols)];
                for_rows(self.threads, out, l.shape.cols, &dy, |i, o| {
                    u.cpu_grad(i[0], o)
                })
            }
            Op::ConcatCols => {
                let (ca, cb) = (s[0].cols, s[1].cols);
                let a_b = [(get(0)?, ca), (get(1)?, cb)];
                for_rows(self.threads, out, l.shape.cols, &a_b, |i, o| {
                    ops::columns::cpu_concat(i[0], ca, i[1], cb, o)
                })
            }
            Op::SliceCols { start, len } => {
                let (x, cols) = ([(get(0)?, s[0].cols)], s[0].cols);
                for_rows(self.threads, out, l.shape.cols, &x, |i, o| {
                    ops::columns::cpu_slice(i[0], cols, *start, *len, o)
                })
            }
            Op::PadCols { start, total } => {
                let (x, len) = ([(get(0)?, s[0].cols)], s[0].cols);
                for_rows(self.threads, out, l.shape.cols, &x, |i, o| {
                    ops::columns::cpu_pad(i[0], len, *start, *total, o)
                })
            }
            Op::BatchNormTrain(bn) | Op::BatchNormEval(bn) => {
                // Per-channel statistics first (one pass per channel), then y by ranges.
                let (x, gamma, beta) = (get(0)?, get(1)?, get(2)?);
                let stats = match l.op {
                    Op::BatchNormTrain(_) => bn.cpu_train_stats(x, s[0].rows),
                    _ => bn.cpu_eval_stats(get(3)?, get(4)?),
                };
                for_ranges(
                    self.threads,
                    out.len(),
                    1,
                    vec![out],
                    vec![x],
                    |o, i, start| bn.cpu_normalise_range(&stats, gamma, beta, start, i[0], o[0]),
                )
            }
            Op::BatchNormTrainGrad { bn, wrt } => {
                bn.cpu_train_grad(*wrt, get(0)?, get(1)?, get(2)?, s[0].rows, out)
            }
            Op::BatchNormEvalGrad { bn, wrt } => {
                let (x, gamma, mean, var, dy) = (get(0)?, get(1)?, get(2)?, get(3)?, get(4)?);
                if *wrt == 0 {
                    let stats = bn.cpu_eval_stats(mean, var);
                    for_ranges(
                        self.threads,
                        out.len(),
                        1,
                        vec![out],
                        vec![dy],
                        |o, i, start| bn.cpu_eval_grad_x_range(&stats, gamma, start, i[0], o[0]),
                    )
                } else {
                    bn.cpu_eval_grad_affine(*wrt, x, mean, var, dy, s[0].rows, out)
                }
            }
            Op::BatchNormRunning { .. } => {
                return Err(BackendError::Execution("not a pure launch".into()))
            }
            Op::Conv(conv) => {
                // Whole images per thread, each with its own column scratch.
                let (x, weight) = (get(0)?, get(1)?);
                let bias = if conv.bias { Some(get(2)?) } else { None };
                let row = l.shape.cols;
                for_ranges(
                    self.threads,
                    out.len(),
                    row,
                    vec![out],
                    vec![],
                    |o, _, start| conv.cpu_images(x, weight, bias, start / row, o[0]),
                )
            }
            Op::ConvWeightGrad {
                geometry,
                images_per_split,
            } => {
                // One block of partial sums per group of images, blocks spread over
                // the threads (however small the output, the work is not). With fewer
                // blocks than threads each block is itself cut into pieces, summed
                // in piece order after.
                let (image, features) = (get(0)?, get(1)?);
                let (images, per) = (s[0].rows, *images_per_split);
                let block = geometry.weight_shape().len();
                let blocks = out.len() / block;
                let pieces = (self.threads / blocks).clamp(1, per);
                let piece_images = per.div_ceil(pieces);
                let partial_of = |q: usize, partial: &mut [T]| {
                    let (b, piece) = (q / pieces, q % pieces);
                    let start = (b * per + piece * piece_images).min(images);
                    let end = (b * per + ((piece + 1) * piece_images).min(per)).min(images);
                    ops::conv::cpu_weight_grad(geometry, image, features, start..end, partial);
                };
                if pieces == 1 {
                    out.par_chunks_mut(block)
                        .enumerate()
                        .for_each(|(q, partial)| partial_of(q, partial));
                } else {
                    let mut scratch = vec![T::zero(); out.len() * pieces];
                    scratch
                        .par_chunks_mut(block)
                        .enumerate()
                        .for_each(|(q, partial)| partial_of(q, partial));
                    for (o, parts) in out.chunks_mut(block).zip(scratch.chunks(block * pieces)) {
                        ops::conv::cpu_sum_blocks(pieces, parts, o);
                    }
                }
            }
            Op::SumBlocks { blocks } => ops::conv::cpu_sum_blocks(*blocks, get(0)?, out),
            Op::ChannelSum(image) => ops::conv::cpu_channel_sum(*image, get(0)?, out),
            Op::LstmCell => {
                let h = s[1].cols / 2;
                let a_s = [(get(0)?, 4 * h), (get(1)?, 2 * h)];
                for_rows(self.threads, out, 2 * h, &a_s, |i, o| {
                    ops::lstm::cpu(i[0], i[1], h, o)
                })
            }
            Op::LstmCellGrad => {
                let h = s[1].cols / 2;
                let a_s_ds = [(get(0)?, 4 * h), (get(1)?, 2 * h), (get(2)?, 2 * h)];
                for_rows(self.threads, out, 6 * h, &a_s_ds, |i, o| {
                    ops::lstm::cpu_grad(i[0], i[1], i[2], h, o)
                })
            }
        }
        Ok(())
    }

    fn launch_effect(
        &mut self,
        l: &crate::graph::Launch,
        slots: &[Vec<T>],
        inputs: &[Vec<T>],
    ) -> Result<(), BackendError> {
        let target = |k: usize| match l.inputs[k] {
            Location::Entry(e) => Ok(e),
            other => Err(BackendError::Execution(format!(
                "operand {k} must be a store entry, is {other:?}"
            ))),
        };
        match &l.op {
            Op::Update(opt) => {
                let param_id = target(0)?;
                let states_end = 3 + opt.state_count();
                let state_ids: Vec<EntryId> =
                    (3..states_end).map(target).collect::<Result<_, _>>()?;
                let mut param = self.entry_real_mut(param_id)?;
                let mut states: Vec<Vec<T>> = vec![];
                for &sid in &state_ids {
                    states.push(self.entry_real_mut(sid)?);
                }
                let result = (|| {
                    let grad = real_slice(l.inputs[1], slots, inputs, &self.entries)?;
                    let hyper = real_slice(l.inputs[2], slots, inputs, &self.entries)?;
                    let norm_sq = match l.inputs.get(states_end) {
                        Some(&at) => Some(real_slice(at, slots, inputs, &self.entries)?[0]),
                        None => None,
                    };
                    let n = param.len();
                    let mut muts: Vec<&mut [T]> = vec![param.as_mut_slice()];
                    muts.extend(states.iter_mut().map(|v| v.as_mut_slice()));
                    for_ranges(self.threads, n, 1, muts, vec![&grad[..n]], |m, i, _| {
                        let (p, st) = m.split_at_mut(1);
                        opt.cpu(p[0], i[0], hyper, norm_sq, st)
                    });
                    Ok(())
                })();
                self.entries[param_id.0 as usize] = Some(Storage::Real(param));
                for (sid, v) in state_ids.into_iter().zip(states) {
                    self.entries[sid.0 as usize] = Some(Storage::Real(v));
                }
                result
            }
            // acc += x is axpy with a = 1.
            Op::Accumulate => self.axpy(l, slots, inputs, true, None),
            Op::Axpy { accumulate } => self.axpy(l, slots, inputs, *accumulate, Some(2)),
            Op::BatchNormRunning { bn, momentum } => {
                let (mean_id, var_id) = (target(0)?, target(1)?);
                let mut mean = self.entry_real_mut(mean_id)?;
                let mut var = match self.entry_real_mut(var_id) {
                    Ok(v) => v,
                    Err(e) => {
                        self.entries[mean_id.0 as usize] = Some(Storage::Real(mean));
                        return Err(e);
                    }
                };
                let result = real_slice(l.inputs[2], slots, inputs, &self.entries).map(|x| {
                    let rows = l.input_shapes[2].rows;
                    bn.cpu_running(*momentum, &mut mean, &mut var, x, rows)
                });
                self.entries[mean_id.0 as usize] = Some(Storage::Real(mean));
                self.entries[var_id.0 as usize] = Some(Storage::Real(var));
                result
            }
            _ => Err(BackendError::Execution("not a side effect".into())),
        }
    }

    /// y ← a·x (+ y) for operands [y, x, (a)]: a is operand `factor`, or 1.
    fn axpy(
        &mut self,
        l: &crate::graph::Launch,
        slots: &[Vec<T>],
        inputs: &[Vec<T>],
        accumulate: bool,
        factor: Option<usize>,
    ) -> Result<(), BackendError> {
        let y_id = match l.inputs[0] {
            Location::Entry(e) => e,
            other => {
                return Err(BackendError::Execution(format!(
                    "operand 0 must be a store entry, is {other:?}"
                )))
            }
        };
        let mut y = self.entry_real_mut(y_id)?;
        let result = (|| {
            let x = real_slice(l.inputs[1], slots, inputs, &self.entries)?;
            let a = match factor {
                Some(k) => real_slice(l.inputs[k], slots, inputs, &self.entries)?[0],
                None => T::one(),
            };
            let n = y.len();
            for_ranges(
                self.threads,
                n,
                1,
                vec![&mut y[..]],
                vec![&x[..n]],
                |m, i, _| ops::reduce::cpu_axpy(accumulate, m[0], i[0], a),
            );
            Ok(())
        })();
        self.entries[y_id.0 as usize] = Some(Storage::Real(y));
        result
    }
}
