//! Adapter choice and the device: which GPU, with what limits, and how wgpu's errors
//! reach us as [`BackendError`]s instead of panics.

use std::fmt;
use std::sync::{Arc, Mutex};

use crate::backend::BackendError;

/// What `aegpu info` shows about one adapter, and what a backend runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    /// Position in [`list_adapters`], usable as `GpuOptions::adapter`.
    pub index: usize,
    pub name: String,
    /// Graphics API: `Vulkan`, `Metal`, `Dx12`, `Gl`.
    pub backend: String,
    /// `DiscreteGpu`, `IntegratedGpu`, `VirtualGpu`, `Cpu` or `Other`.
    pub device_type: String,
    /// A software rasteriser (adapter type `Cpu`, e.g. Mesa's llvmpipe).
    pub software: bool,
    pub driver: String,
    pub max_buffer_size: u64,
    pub max_storage_buffer_binding_size: u64,
    pub max_compute_workgroup_size_x: u32,
    pub max_compute_invocations_per_workgroup: u32,
}

impl fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MIB: f64 = (1u64 << 20) as f64;
        write!(
            f,
            "#{} {} ({}, {}{}), driver {}; max buffer {:.0} MiB, max storage binding {:.0} MiB, \
             workgroup x ≤ {}, ≤ {} invocations per workgroup",
            self.index,
            self.name,
            self.backend,
            self.device_type,
            if self.software { ", software" } else { "" },
            if self.driver.is_empty() {
                "unknown"
            } else {
                &self.driver
            },
            self.max_buffer_size as f64 / MIB,
            self.max_storage_buffer_binding_size as f64 / MIB,
            self.max_compute_workgroup_size_x,
            self.max_compute_invocations_per_workgroup,
        )
    }
}

/// Which adapter to run on.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// A case-insensitive substring of the adapter's name, or its index in
    /// [`list_adapters`]. When `None`, the environment variable `AEGPU_ADAPTER` may
    /// give it; otherwise the best hardware adapter is taken (discrete, integrated,
    /// virtual, in that order).
    pub adapter: Option<String>,
    /// Accept a software adapter (Mesa's llvmpipe): correct but far slower than the CPU
    /// backend, so only used when asked for, even when named explicitly.
    pub allow_software: bool,
}

/// Every adapter wgpu finds, in the order [`GpuOptions::adapter`] indexes them.
pub fn list_adapters() -> Vec<AdapterSummary> {
    enumerate()
        .iter()
        .enumerate()
        .map(|(i, a)| summarize(i, a))
        .collect()
}

fn enumerate() -> Vec<wgpu::Adapter> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
}

fn summarize(index: usize, adapter: &wgpu::Adapter) -> AdapterSummary {
    let info = adapter.get_info();
    let limits = adapter.limits();
    let driver = [info.driver.as_str(), info.driver_info.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    AdapterSummary {
        index,
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        software: info.device_type == wgpu::DeviceType::Cpu,
        driver,
        max_buffer_size: limits.max_buffer_size,
        max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
        max_compute_workgroup_size_x: limits.max_compute_workgroup_size_x,
        max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
    }
}

/// Lower is better: hardware first, then the native APIs before GL.
fn preference(adapter: &wgpu::Adapter) -> (u8, u8) {
    let info = adapter.get_info();
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    };
    let api = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    };
    (kind, api)
}

const INSTALL_HINT: &str = "; on Linux, install a Vulkan driver (e.g. `mesa-vulkan-drivers`)";

fn choose(
    adapters: Vec<wgpu::Adapter>,
    options: &GpuOptions,
) -> Result<(usize, wgpu::Adapter), BackendError> {
    if adapters.is_empty() {
        return Err(BackendError::NoAdapter(format!(
            " (no Vulkan, Metal, DX12 or GL adapter answered{INSTALL_HINT})"
        )));
    }
    let wanted = options
        .adapter
        .clone()
        .or_else(|| std::env::var("AEGPU_ADAPTER").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let names: Vec<String> = adapters
        .iter()
        .enumerate()
        .map(|(i, a)| format!("#{i} {}", a.get_info().name))
        .collect();
    let mut candidates: Vec<(usize, wgpu::Adapter)> = adapters.into_iter().enumerate().collect();
    let pick = match &wanted {
        // An index if it is a number, else a piece of the name.
        Some(wanted) => match wanted.parse::<usize>() {
            Ok(index) => candidates.into_iter().find(|(i, _)| *i == index),
            Err(_) => {
                let lowered = wanted.to_lowercase();
                candidates
                    .into_iter()
                    .find(|(_, a)| a.get_info().name.to_lowercase().contains(&lowered))
            }
        },
        None => {
            candidates.sort_by_key(|(_, a)| preference(a));
            candidates.into_iter().next()
        }
    };
    let Some((index, adapter)) = pick else {
        return Err(BackendError::NoAdapter(format!(
            " matching `{}` (available: {})",
            wanted.unwrap_or_default(),
            names.join(", ")
        )));
    };
    let info = adapter.get_info();
    if info.device_type == wgpu::DeviceType::Cpu && !options.allow_software {
        let why = "slower than the CPU backend, so it is used only when software adapters \
                   are allowed";
        return Err(BackendError::NoAdapter(match wanted {
            Some(_) => format!(" (`{}` is a software adapter, {why})", info.name),
            None => format!(" (only a software adapter: `{}`, {why})", info.name),
        }));
    }
    Ok((index, adapter))
}

/// The device and queue of the chosen adapter, its limits, and the errors wgpu reported
/// outside an error scope (validation errors in a submission, device loss).
pub(super) struct Context {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub limits: wgpu::Limits,
    pub summary: AdapterSummary,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Context {
    pub fn new(options: &GpuOptions) -> Result<Context, BackendError> {
        let (index, adapter) = choose(enumerate(), options)?;
        let summary = summarize(index, &adapter);
        // The adapter's own limits, not wgpu's portable defaults: a dataset may take
        // most of the device's memory.
        let limits = adapter.limits();
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("aegpu"),
            required_limits: limits.clone(),
            ..Default::default()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&descriptor))
            .map_err(|e| BackendError::Device(format!("{}: {e}", summary.name)))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut list) = sink.lock() {
                list.push(e.to_string());
            }
        }));
        let sink = errors.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut list) = sink.lock() {
                list.push(format!("device lost ({reason:?}): {message}"));
            }
        });
        Ok(Context {
            device,
            queue,
            limits,
            summary,
            errors,
        })
    }

    /// The first error wgpu reported since the last check, if any.
    pub fn take_error(&self) -> Result<(), BackendError> {
        let mut list = match self.errors.lock() {
            Ok(list) => list,
            Err(poisoned) => poisoned.into_inner(),
        };
        let first = list.drain(..).next();
        match first {
            Some(message) => Err(BackendError::Device(message)),
            None => Ok(()),
        }
    }

    /// Runs `work` inside validation and out-of-memory error scopes, so a bad shader or
    /// a failed allocation comes back as an error rather than at some later submit.
    pub fn scoped<T>(
        &self,
        work: impl FnOnce() -> Result<T, BackendError>,
    ) -> Result<T, BackendError> {
        let out_of_memory = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let result = work();
        let invalid = pollster::block_on(validation.pop());
        let no_memory = pollster::block_on(out_of_memory.pop());
        self.take_error()?;
        match (invalid, no_memory) {
            (Some(e), _) | (None, Some(e)) => Err(BackendError::Device(e.to_string())),
            (None, None) => result,
        }
    }
}
