//! Choosing a backend the way the CLI's `--backend auto|gpu|cpu` does.
//!
//! `auto` takes a hardware GPU when there is one and otherwise the CPU backend, and
//! says why. A software adapter (Mesa's llvmpipe) is only used when asked for: on a
//! 2-core machine its best WGSL matmul reaches 7–12 GFLOP/s against 120–145 GFLOP/s
//! for the CPU backend's sgemm, so `auto` never picks it.

use std::fmt;
use std::str::FromStr;

use crate::backend::cpu::CpuBackend;
use crate::backend::gpu::{GpuBackend, GpuOptions};
use crate::backend::{Backend, BackendError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackendChoice {
    #[default]
    Auto,
    Gpu,
    Cpu,
}

impl FromStr for BackendChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(BackendChoice::Auto),
            "gpu" => Ok(BackendChoice::Gpu),
            "cpu" => Ok(BackendChoice::Cpu),
            other => Err(format!(
                "unknown backend `{other}` (expected auto, gpu or cpu)"
            )),
        }
    }
}

impl fmt::Display for BackendChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendChoice::Auto => "auto",
            BackendChoice::Gpu => "gpu",
            BackendChoice::Cpu => "cpu",
        })
    }
}

/// A backend and one line saying which device it is and why it was chosen.
pub struct Selected {
    pub backend: Box<dyn Backend>,
    pub reason: String,
}

/// `adapter` picks a GPU adapter by name substring or index (see `aegpu info`).
pub fn select(choice: BackendChoice, adapter: Option<String>) -> Result<Selected, BackendError> {
    match choice {
        BackendChoice::Cpu => {
            let cpu = CpuBackend::<f32>::new();
            let reason = format!("backend: {} (asked for)", cpu.describe());
            Ok(Selected {
                backend: Box::new(cpu),
                reason,
            })
        }
        BackendChoice::Gpu => {
            let gpu = GpuBackend::new(&GpuOptions {
                adapter,
                allow_software: true,
            })?;
            let reason = format!(
                "backend: gpu, {}{}",
                gpu.describe(),
                if gpu.is_software() {
                    " (a software adapter: correct but slower than --backend cpu)"
                } else {
                    ""
                }
            );
            Ok(Selected {
                backend: Box::new(gpu),
                reason,
            })
        }
        BackendChoice::Auto => match GpuBackend::new(&GpuOptions {
            adapter,
            allow_software: false,
        }) {
            Ok(gpu) => {
                let reason = format!("backend: gpu, {} (hardware adapter found)", gpu.describe());
                Ok(Selected {
                    backend: Box::new(gpu),
                    reason,
                })
            }
            Err(e) => {
                let cpu = CpuBackend::<f32>::new();
                let reason = format!(
                    "backend: {} — {e}; --backend gpu forces a software adapter",
                    cpu.describe()
                );
                Ok(Selected {
                    backend: Box::new(cpu),
                    reason,
                })
            }
        },
    }
}
