//! Backends execute [`Plan`]s. Both implement the one small [`Backend`] trait and never
//! know which autoencoder they run: [`cpu::CpuBackend`] (the reference, and fast: sgemm
//! and element-wise loops over every core) and [`gpu::GpuBackend`] (wgpu + WGSL). Nothing outside `gpu/`
//! touches wgpu.

pub mod cpu;
pub mod gpu;
pub mod select;

use crate::graph::{EntryId, ParamStore, Plan, ValueId};

/// A host value for one of a plan's inputs, in [`Plan::inputs`] order.
#[derive(Clone, Copy, Debug)]
pub enum Feed<'a> {
    F32(&'a [f32]),
    U32(&'a [u32]),
}

impl Feed<'_> {
    pub fn len(&self) -> usize {
        match self {
            Feed::F32(x) => x.len(),
            Feed::U32(x) => x.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A plan prepared on a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanId(pub usize);

/// Counters that show what a step costs in host–device traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BackendStats {
    pub runs: u64,
    pub submissions: u64,
    pub readbacks: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("no GPU adapter found{0}")]
    NoAdapter(String),
    #[error(
        "{what} needs {bytes} bytes, more than the adapter's limit of {limit} bytes ({limit_name})"
    )]
    TooLarge {
        what: String,
        bytes: u64,
        limit: u64,
        limit_name: &'static str,
    },
    #[error("input `{name}` expects {expected} values, got {got}")]
    FeedSize {
        name: String,
        expected: usize,
        got: usize,
    },
    #[error("plan expects {expected} inputs, got {got}")]
    FeedCount { expected: usize, got: usize },
    #[error("store entry `{0}` was not uploaded to the backend")]
    MissingEntry(String),
    #[error("value {0:?} is not an output of the plan")]
    NotAnOutput(ValueId),
    #[error("{0}")]
    Execution(String),
    #[error("GPU device error: {0}")]
    Device(String),
}

/// Seconds and launches per op name ([`Backend::op_profile`]).
pub type OpProfile = std::collections::BTreeMap<String, (f64, u64)>;

/// `Send`: a backend moves with its model to a training thread (see
/// [`crate::models::Autoencoder`]).
pub trait Backend: Send {
    /// Which device this is, e.g. `cpu (2 threads)` or `llvmpipe (Vulkan, Cpu)`.
    fn describe(&self) -> String;
    /// Seconds and launches per op name so far, where the backend keeps them (the CPU
    /// backend does when `AEGPU_PROFILE` is set).
    fn op_profile(&self) -> Option<&OpProfile> {
        None
    }
    /// [`Backend::op_profile`] as a table, the `top` most expensive ops first.
    fn op_profile_table(&self, top: usize) -> Option<String> {
        let mut rows: Vec<_> = self.op_profile()?.iter().collect();
        rows.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
        Some(
            rows.iter()
                .take(top)
                .map(|(op, (seconds, launches))| {
                    format!("    {op:<60} {seconds:8.3}s {launches:8} launches\n")
                })
                .collect(),
        )
    }
    /// Copies every entry of the store to the backend (allocating on first sight).
    fn upload_store(&mut self, store: &ParamStore) -> Result<(), BackendError>;
    /// Copies one entry of the store to the backend.
    fn upload_entry(&mut self, store: &ParamStore, id: EntryId) -> Result<(), BackendError>;
    /// Reads an f32 entry back (e.g. trained weights, a loss accumulator).
    fn read_entry(&mut self, id: EntryId) -> Result<Vec<f32>, BackendError>;
    /// Makes a plan runnable: buffers, pipelines, bind groups. Done once per plan.
    fn prepare(&mut self, plan: &Plan) -> Result<PlanId, BackendError>;
    /// Runs a prepared plan once with host inputs (one submission on the GPU).
    fn run(&mut self, plan: PlanId, feeds: &[Feed]) -> Result<(), BackendError>;
    /// Runs several prepared plans one after the other, each with its feeds, as one
    /// unit of work (one submission on the GPU): a training step of several phases,
    /// where each phase must see the updates of the one before.
    fn run_many(&mut self, runs: &[(PlanId, &[Feed])]) -> Result<(), BackendError> {
        for &(plan, feeds) in runs {
            self.run(plan, feeds)?;
        }
        Ok(())
    }
    /// Frees a plan's buffers; its id is not valid afterwards.
    fn release(&mut self, plan: PlanId);
    /// Reads a graph output of the last run of `plan`.
    fn read_output(&mut self, plan: PlanId, value: ValueId) -> Result<Vec<f32>, BackendError>;
    fn stats(&self) -> BackendStats;
}

/// Downloads every f32 entry of the given kinds from the backend into the store.
pub fn download_entries(
    backend: &mut dyn Backend,
    store: &mut ParamStore,
    which: impl Fn(&crate::graph::Entry) -> bool,
) -> Result<(), BackendError> {
    let ids: Vec<EntryId> = store.ids().filter(|&id| which(store.get(id))).collect();
    for id in ids {
        let v = backend.read_entry(id)?;
        store.set_values(id, v);
    }
    Ok(())
}

pub(crate) fn check_feeds(plan: &Plan, feeds: &[Feed]) -> Result<(), BackendError> {
    if feeds.len() != plan.inputs.len() {
        return Err(BackendError::FeedCount {
            expected: plan.inputs.len(),
            got: feeds.len(),
        });
    }
    for ((name, shape, _), f) in plan.inputs.iter().zip(feeds) {
        if f.len() != shape.len() {
            return Err(BackendError::FeedSize {
                name: name.clone(),
                expected: shape.len(),
                got: f.len(),
            });
        }
    }
    Ok(())
}
