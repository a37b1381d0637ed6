//! The pipeline cache. Compiling a pipeline is slow (hundreds of milliseconds on a
//! software adapter), so each (shader, entry point, override constants) is compiled
//! once per backend and shared by every plan; shapes travel in parameter buffers and
//! never make a new pipeline.

use std::collections::HashMap;

use crate::backend::gpu::context::Context;
use crate::backend::gpu::kernels::{Access, Kernel, Shader};
use crate::backend::BackendError;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct PipelineKey {
    shader: Shader,
    entry: &'static str,
    /// Override constants by name, values as f64 bits (f64 is not `Eq`).
    constants: Vec<(&'static str, u64)>,
}

/// A compiled kernel and the layout its bind groups must follow.
#[derive(Clone, Debug)]
pub struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

#[derive(Default)]
pub struct Pipelines {
    modules: HashMap<Shader, wgpu::ShaderModule>,
    /// Bind group layouts by the access of bindings 1, 2, … (binding 0 is always the
    /// uniform parameter block).
    layouts: HashMap<Vec<Access>, (wgpu::BindGroupLayout, wgpu::PipelineLayout)>,
    pipelines: HashMap<PipelineKey, Pipeline>,
}

impl Pipelines {
    /// How many distinct pipelines have been compiled.
    pub fn len(&self) -> usize {
        self.pipelines.len()
    }

    /// The pipeline for `kernel`, compiled on first use. A shader that fails to
    /// compile is reported as a device error and nothing is cached.
    pub fn get(&mut self, ctx: &Context, kernel: &Kernel) -> Result<Pipeline, BackendError> {
        let key = PipelineKey {
            shader: kernel.shader,
            entry: kernel.entry,
            constants: kernel
                .constants
                .iter()
                .map(|&(name, value)| (name, value.to_bits()))
                .collect(),
        };
        if let Some(found) = self.pipelines.get(&key) {
            return Ok(found.clone());
        }
        let module = match self.modules.get(&kernel.shader) {
            Some(module) => module.clone(),
            None => {
                let source = kernel.shader.source();
                let module = ctx.scoped(|| {
                    Ok(ctx
                        .device
                        .create_shader_module(wgpu::ShaderModuleDescriptor {
                            label: Some(kernel.shader.file()),
                            source: wgpu::ShaderSource::Wgsl(source.into()),
                        }))
                })?;
                self.modules.insert(kernel.shader, module.clone());
                module
            }
        };
        let accesses: Vec<Access> = kernel.bindings.iter().map(|b| b.access).collect();
        let (layout, pipeline_layout) = self
            .layouts
            .entry(accesses)
            .or_insert_with_key(|accesses| layouts(&ctx.device, accesses))
            .clone();
        let label = format!("{}:{}", kernel.shader.file(), kernel.entry);
        let pipeline = ctx.scoped(|| {
            Ok(ctx
                .device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&label),
                    layout: Some(&pipeline_layout),
                    module: &module,
                    entry_point: Some(kernel.entry),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants: &kernel.constants,
                        // Every kernel writes its workgroup memory before reading it, so
                        // the zeroing pass (and its barrier) would be wasted.
                        zero_initialize_workgroup_memory: false,
                    },
                    cache: None,
                }))
        })?;
        let compiled = Pipeline { pipeline, layout };
        self.pipelines.insert(key, compiled.clone());
        Ok(compiled)
    }
}

fn layouts(
    device: &wgpu::Device,
    accesses: &[Access],
) -> (wgpu::BindGroupLayout, wgpu::PipelineLayout) {
    let buffer = |binding: u32, ty: wgpu::BufferBindingType| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    };
    let mut entries = vec![buffer(0, wgpu::BufferBindingType::Uniform)];
    for (i, access) in accesses.iter().enumerate() {
        entries.push(buffer(
            i as u32 + 1,
            wgpu::BufferBindingType::Storage {
                read_only: *access == Access::Read,
            },
        ));
    }
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("kernel bindings"),
        entries: &entries,
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("kernel layout"),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    (layout, pipeline_layout)
}
