//! `aegpu info`: the adapters wgpu sees, their limits, and the CPU backend.

use clap::Args;

use crate::backend::cpu::CpuBackend;
use crate::backend::gpu::list_adapters;
use crate::backend::select::{select, BackendChoice};
use crate::backend::Backend;
use crate::cli::CliError;

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: InfoArgs) -> Result<(), CliError> {
    let adapters = list_adapters();
    let cpu = CpuBackend::<f32>::new().describe();
    let auto = select(BackendChoice::Auto, None)?.reason;
    if args.json {
        let list: Vec<serde_json::Value> = adapters
            .iter()
            .map(|a| {
                serde_json::json!({
                    "index": a.index, "name": a.name, "backend": a.backend,
                    "device_type": a.device_type, "software": a.software, "driver": a.driver,
                    "max_buffer_size": a.max_buffer_size,
                    "max_storage_buffer_binding_size": a.max_storage_buffer_binding_size,
                    "max_compute_workgroup_size_x": a.max_compute_workgroup_size_x,
                    "max_compute_invocations_per_workgroup": a.max_compute_invocations_per_workgroup,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({ "adapters": list, "cpu": cpu, "auto": auto })
        );
        return Ok(());
    }
    if adapters.is_empty() {
        println!("GPU adapters: none (on Linux, install mesa-vulkan-drivers for a software one)");
    } else {
        println!("GPU adapters:");
        for a in &adapters {
            println!("  {a}");
        }
    }
    println!("CPU backend: {cpu}");
    println!("--backend auto: {auto}");
    Ok(())
}
