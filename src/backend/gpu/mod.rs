//! The wgpu backend: the same [`Plan`]s as the CPU reference, run by WGSL kernels
//! (`shaders/`) on any Vulkan, Metal, DX12 or GL adapter.
//!
//! - Store entries live in resident buffers; u8 data stays packed four to a word.
//! - `prepare` does all the allocation and compilation: scratch slots and input buffers,
//!   one uniform block of parameters per launch, pipelines from a cache shared by every
//!   plan (one per kernel variant, never per shape), and every bind group.
//! - `run` writes the feeds, records one compute pass with a dispatch per launch (wgpu
//!   orders dependent dispatches), submits it once and returns without reading back.
//!   Reads (`read_entry`, `read_output`) queue behind every earlier run.
//!
//! Files: `context.rs` (adapter and device), `kernels.rs` (op → kernel), `pipelines.rs`
//! (the cache), `buffers.rs` (limits, packing, read-back).

mod buffers;
mod context;
mod kernels;
mod pipelines;

use std::collections::VecDeque;

pub use context::{list_adapters, AdapterSummary, GpuOptions};

use crate::backend::gpu::context::Context;
use crate::backend::gpu::kernels::{kernel_for, Kernel, Source, PARAM_WORDS};
use crate::backend::gpu::pipelines::{Pipeline, Pipelines};
use crate::backend::{check_feeds, Backend, BackendError, BackendStats, Feed, PlanId};
use crate::graph::{EntryData, EntryId, Location, ParamStore, Plan, ValueId};

/// How many runs may be queued on the device before `run` waits for the oldest: enough
/// to keep the device busy while the host records the next step, few enough that the
/// host cannot race ahead with unbounded staging memory for feeds.
const MAX_RUNS_IN_FLIGHT: usize = 2;

pub struct GpuBackend {
    ctx: Context,
    pipelines: Pipelines,
    entries: Vec<Option<ResidentEntry>>,
    /// Prepared plans by `PlanId`; `None` once released.
    plans: Vec<Option<PreparedPlan>>,
    /// Bound where a kernel declares an operand its variant does not read.
    placeholder: wgpu::Buffer,
    in_flight: VecDeque<wgpu::SubmissionIndex>,
    next_generation: u64,
    stats: BackendStats,
}

/// A store entry's device copy.
struct ResidentEntry {
    buffer: wgpu::Buffer,
    bytes: u64,
    packed_u8: bool,
    /// Changes when the entry gets a new buffer (re-uploaded with another size), so
    /// plans know to rebuild their bind groups.
    generation: u64,
}

struct PreparedPlan {
    plan: Plan,
    slots: Vec<wgpu::Buffer>,
    inputs: Vec<wgpu::Buffer>,
    /// Every launch's uniform parameter block, `param_stride` bytes apart.
    params: wgpu::Buffer,
    param_stride: u64,
    launches: Vec<PreparedLaunch>,
    /// The entry generations the bind groups were built against.
    entry_generations: Vec<(EntryId, u64)>,
}

struct PreparedLaunch {
    kernel: Kernel,
    pipeline: Pipeline,
    bind_group: wgpu::BindGroup,
    workgroups: [u32; 3],
}

impl GpuBackend {
    /// Opens the adapter `options` choose (see [`GpuOptions`]). Fails, never panics,
    /// when there is none or the device cannot be created.
    pub fn new(options: &GpuOptions) -> Result<GpuBackend, BackendError> {
        let ctx = Context::new(options)?;
        let placeholder = buffers::storage_buffer(&ctx, "unused operand", 4)?;
        Ok(GpuBackend {
            ctx,
            pipelines: Pipelines::default(),
            entries: vec![],
            plans: vec![],
            placeholder,
            in_flight: VecDeque::new(),
            next_generation: 0,
            stats: BackendStats::default(),
        })
    }

    pub fn adapter_summary(&self) -> AdapterSummary {
        self.ctx.summary.clone()
    }

    /// Whether this runs on a software adapter (Mesa's llvmpipe): correct, but slower
    /// than the CPU backend.
    pub fn is_software(&self) -> bool {
        self.ctx.summary.software
    }

    /// How many distinct pipelines (kernel variants) this backend has compiled.
    pub fn compiled_pipelines(&self) -> usize {
        self.pipelines.len()
    }

    fn resident(&self, id: EntryId) -> Result<&ResidentEntry, BackendError> {
        self.entries
            .get(id.0 as usize)
            .and_then(|e| e.as_ref())
            .ok_or_else(|| BackendError::MissingEntry(format!("#{}", id.0)))
    }

    fn prepared(&self, id: PlanId) -> Result<&PreparedPlan, BackendError> {
        self.plans
            .get(id.0)
            .and_then(|p| p.as_ref())
            .ok_or_else(|| BackendError::Execution(format!("plan {} is not prepared here", id.0)))
    }

    fn prepared_mut(&mut self, id: PlanId) -> Result<&mut PreparedPlan, BackendError> {
        self.plans
            .get_mut(id.0)
            .and_then(|p| p.as_mut())
            .ok_or_else(|| BackendError::Execution(format!("plan {} is not prepared here", id.0)))
    }

    /// The buffer behind a location of `plan`.
    fn buffer<'a>(
        &'a self,
        plan: &'a PreparedPlan,
        location: Location,
    ) -> Result<&'a wgpu::Buffer, BackendError> {
        match location {
            Location::Slot(s) => Ok(&plan.slots[s]),
            Location::Input(i) => Ok(&plan.inputs[i]),
            Location::Entry(e) => Ok(&self.resident(e)?.buffer),
        }
    }

    fn bind_group(
        &self,
        plan: &PreparedPlan,
        index: usize,
        kernel: &Kernel,
        pipeline: &Pipeline,
    ) -> Result<wgpu::BindGroup, BackendError> {
        let params = wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &plan.params,
            offset: index as u64 * plan.param_stride,
            size: wgpu::BufferSize::new(4 * PARAM_WORDS as u64),
        });
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: params,
        }];
        for (i, binding) in kernel.bindings.iter().enumerate() {
            let buffer = match binding.source {
                Source::At(location) => self.buffer(plan, location)?,
                Source::Placeholder => &self.placeholder,
            };
            entries.push(wgpu::BindGroupEntry {
                binding: i as u32 + 1,
                resource: buffer.as_entire_binding(),
            });
        }
        Ok(self
            .ctx
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some(kernel.entry),
                layout: &pipeline.layout,
                entries: &entries,
            }))
    }

    /// Rebuilds a plan's bind groups when an entry it uses got a new buffer.
    fn refresh_bind_groups(&mut self, id: PlanId) -> Result<(), BackendError> {
        let plan = self.prepared(id)?;
        let mut stale = false;
        for &(entry, generation) in &plan.entry_generations {
            stale |= self.resident(entry)?.generation != generation;
        }
        if !stale {
            return Ok(());
        }
        let rebuilt = self.ctx.scoped(|| {
            plan.launches
                .iter()
                .enumerate()
                .map(|(i, l)| self.bind_group(plan, i, &l.kernel, &l.pipeline))
                .collect::<Result<Vec<_>, _>>()
        })?;
        let generations = plan
            .entry_generations
            .iter()
            .map(|&(e, _)| Ok((e, self.resident(e)?.generation)))
            .collect::<Result<Vec<_>, BackendError>>()?;
        let plan = self.prepared_mut(id)?;
        for (launch, bind_group) in plan.launches.iter_mut().zip(rebuilt) {
            launch.bind_group = bind_group;
        }
        plan.entry_generations = generations;
        Ok(())
    }

    /// Runs until at most `keep` submissions are still executing.
    fn wait_until_in_flight(&mut self, keep: usize) -> Result<(), BackendError> {
        while self.in_flight.len() > keep {
            let Some(oldest) = self.in_flight.pop_front() else {
                break;
            };
            self.ctx
                .device
                .poll(wgpu::PollType::Wait {
                    submission_index: Some(oldest),
                    timeout: None,
                })
                .map_err(|e| BackendError::Device(format!("waiting for a run: {e}")))?;
        }
        Ok(())
    }
}

impl Backend for GpuBackend {
    fn describe(&self) -> String {
        let s = &self.ctx.summary;
        format!("{} ({}, {})", s.name, s.backend, s.device_type)
    }

    fn upload_store(&mut self, store: &ParamStore) -> Result<(), BackendError> {
        for id in store.ids() {
            self.upload_entry(store, id)?;
        }
        Ok(())
    }

    fn upload_entry(&mut self, store: &ParamStore, id: EntryId) -> Result<(), BackendError> {
        let entry = store.get(id);
        let bytes = entry.device_bytes();
        let contents: Vec<u8> = match &entry.data {
            EntryData::F32(values) => bytemuck::cast_slice(values).to_vec(),
            EntryData::U8(values) => buffers::packed_bytes(values),
        };
        let i = id.0 as usize;
        if self.entries.len() <= i {
            self.entries.resize_with(i + 1, || None);
        }
        let reusable = matches!(&self.entries[i],
            Some(e) if e.bytes == bytes && e.packed_u8 == entry.packed_u8);
        if !reusable {
            let buffer = self
                .ctx
                .scoped(|| buffers::storage_buffer(&self.ctx, &entry.name, bytes))?;
            self.next_generation += 1;
            self.entries[i] = Some(ResidentEntry {
                buffer,
                bytes,
                packed_u8: entry.packed_u8,
                generation: self.next_generation,
            });
        }
        if let Some(resident) = &self.entries[i] {
            if !contents.is_empty() {
                self.ctx.queue.write_buffer(&resident.buffer, 0, &contents);
            }
        }
        self.ctx.take_error()
    }

    fn read_entry(&mut self, id: EntryId) -> Result<Vec<f32>, BackendError> {
        self.stats.readbacks += 1;
        let entry = self.resident(id)?;
        if entry.packed_u8 {
            return Err(BackendError::Execution("byte data is not read back".into()));
        }
        buffers::read_f32(&self.ctx, &entry.buffer, (entry.bytes / 4) as usize)
    }

    fn prepare(&mut self, plan: &Plan) -> Result<PlanId, BackendError> {
        let mut entry_generations = vec![];
        for &e in &plan.entries {
            entry_generations.push((e, self.resident(e)?.generation));
        }
        let kernels = plan
            .launches
            .iter()
            .map(kernel_for)
            .collect::<Result<Vec<_>, _>>()?;
        let max_per_dimension = self.ctx.limits.max_compute_workgroups_per_dimension;
        let workgroups = plan
            .launches
            .iter()
            .zip(&kernels)
            .map(|(l, k)| {
                let what = format!("{} ({})", l.op.name(), l.label);
                k.grid.workgroups(max_per_dimension, &what)
            })
            .collect::<Result<Vec<_>, _>>()?;

        let ctx = &self.ctx;
        let (slots, inputs, params, param_stride) = ctx.scoped(|| {
            let slots = plan
                .slot_bytes
                .iter()
                .enumerate()
                .map(|(i, &bytes)| {
                    buffers::storage_buffer(ctx, &format!("scratch slot {i}"), bytes)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let inputs = plan
                .inputs
                .iter()
                .map(|(name, shape, _)| {
                    buffers::storage_buffer(ctx, &format!("input `{name}`"), 4 * shape.len() as u64)
                })
                .collect::<Result<Vec<_>, _>>()?;
            // Each launch binds its own block; bindings start at aligned offsets.
            let block = 4 * PARAM_WORDS as u64;
            let stride =
                block.next_multiple_of(ctx.limits.min_uniform_buffer_offset_alignment as u64);
            let params_bytes = stride * kernels.len().max(1) as u64;
            buffers::check_size(&ctx.limits, "launch parameters", params_bytes, false)?;
            let params = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("launch parameters"),
                size: params_bytes,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut contents = vec![0u8; params_bytes as usize];
            for (i, k) in kernels.iter().enumerate() {
                let at = i * stride as usize;
                contents[at..at + block as usize].copy_from_slice(bytemuck::cast_slice(&k.params));
            }
            ctx.queue.write_buffer(&params, 0, &contents);
            Ok((slots, inputs, params, stride))
        })?;

        let mut prepared = PreparedPlan {
            plan: plan.clone(),
            slots,
            inputs,
            params,
            param_stride,
            launches: Vec::with_capacity(kernels.len()),
            entry_generations,
        };
        for (i, (kernel, workgroups)) in kernels.into_iter().zip(workgroups).enumerate() {
            let pipeline = self.pipelines.get(&self.ctx, &kernel)?;
            let bind_group = self
                .ctx
                .scoped(|| self.bind_group(&prepared, i, &kernel, &pipeline))?;
            prepared.launches.push(PreparedLaunch {
                kernel,
                pipeline,
                bind_group,
                workgroups,
            });
        }
        self.plans.push(Some(prepared));
        Ok(PlanId(self.plans.len() - 1))
    }

    fn run(&mut self, id: PlanId, feeds: &[Feed]) -> Result<(), BackendError> {
        self.run_many(&[(id, feeds)])
    }

    /// Writes every plan's feeds, then encodes all their launches, plan after plan, in
    /// one compute pass and submits it once (wgpu orders dependent dispatches within a
    /// pass, so a later plan reads what an earlier one wrote). A plan may appear once:
    /// its feeds have one buffer.
    fn run_many(&mut self, runs: &[(PlanId, &[Feed])]) -> Result<(), BackendError> {
        for (i, &(id, feeds)) in runs.iter().enumerate() {
            if runs[..i].iter().any(|&(other, _)| other == id) {
                return Err(BackendError::Execution(format!(
                    "plan {} appears twice in one submission",
                    id.0
                )));
            }
            check_feeds(&self.prepared(id)?.plan, feeds)?;
            self.refresh_bind_groups(id)?;
        }
        for &(id, feeds) in runs {
            let plan = self.prepared(id)?;
            for ((buffer, (_, _, dtype)), feed) in
                plan.inputs.iter().zip(&plan.plan.inputs).zip(feeds)
            {
                if !feed.is_empty() {
                    self.ctx
                        .queue
                        .write_buffer(buffer, 0, &buffers::feed_bytes(feed, *dtype));
                }
            }
        }
        let mut encoder = self
            .ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("run") });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("plan"),
                timestamp_writes: None,
            });
            for &(id, _) in runs {
                for launch in &self.prepared(id)?.launches {
                    let [x, y, z] = launch.workgroups;
                    pass.set_pipeline(&launch.pipeline.pipeline);
                    pass.set_bind_group(0, &launch.bind_group, &[]);
                    pass.dispatch_workgroups(x, y, z);
                }
            }
        }
        let submission = self.ctx.queue.submit([encoder.finish()]);
        self.stats.runs += runs.len() as u64;
        self.stats.submissions += 1;
        // Lets finished work retire without waiting for anything.
        self.ctx
            .device
            .poll(wgpu::PollType::Poll)
            .map_err(|e| BackendError::Device(e.to_string()))?;
        self.in_flight.push_back(submission);
        self.wait_until_in_flight(MAX_RUNS_IN_FLIGHT)?;
        self.ctx.take_error()
    }

    fn release(&mut self, id: PlanId) {
        if let Some(slot) = self.plans.get_mut(id.0) {
            *slot = None;
        }
    }

    fn read_output(&mut self, id: PlanId, value: ValueId) -> Result<Vec<f32>, BackendError> {
        self.stats.readbacks += 1;
        let plan = self.prepared(id)?;
        let (location, shape) = plan
            .plan
            .output_location(value)
            .ok_or(BackendError::NotAnOutput(value))?;
        let buffer = self.buffer(plan, location)?;
        let values = buffers::read_f32(&self.ctx, buffer, shape.len())?;
        Ok(values)
    }

    fn stats(&self) -> BackendStats {
        self.stats
    }
}
