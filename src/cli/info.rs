//! `aegpu info`: the adapters wgpu sees, their limits, and the CPU backend; or, with
//! `--model FILE`, what a saved model is.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::backend::cpu::CpuBackend;
use crate::backend::gpu::list_adapters;
use crate::backend::select::{select, BackendChoice};
use crate::backend::Backend;
use crate::cli::CliError;
use crate::io::load_safetensors;
use crate::models::{registry, Classifier};

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Describe this saved model (any kind, or a classifier) instead of the adapters.
    #[arg(long)]
    model: Option<PathBuf>,
}

pub fn run(args: InfoArgs) -> Result<(), CliError> {
    if let Some(path) = &args.model {
        return model_info(path, args.json);
    }
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

/// The kind, architecture, size and recorded training settings of a saved model.
fn model_info(path: &Path, json: bool) -> Result<(), CliError> {
    let (_, meta) = load_safetensors(path)?;
    match meta.get("aegpu.kind").map(String::as_str) {
        Some("classifier") => return classifier_info(path, json),
        Some(crate::dictionary::KIND) => return dictionary_info(path, json),
        _ => {}
    }
    let (model, meta) = registry::load(path)?;
    // Recorded by kinds trained as denoisers.
    let config = model.config_json();
    let noise_sigma = config.get("noise_sigma").and_then(|s| s.as_f64());
    if json {
        let mut out = serde_json::json!({
            "model": path.display().to_string(),
            "kind": model.kind(),
            "architecture": model.describe(),
            "config": config,
            "parameters": model.parameter_count(),
            "input_width": model.input_width(),
            "code_width": model.code_width(),
            "noise_sigma": noise_sigma,
        });
        if let Some(d) = meta.get("aegpu.data") {
            out["data"] = d.clone().into();
        }
        if let Some(t) = meta.get("aegpu.training") {
            out["training"] = serde_json::from_str(t).unwrap_or_else(|_| t.clone().into());
        }
        println!("{out}");
        return Ok(());
    }
    println!("model: {}", path.display());
    println!("kind: {}", model.kind());
    println!("architecture: {}", model.describe());
    println!(
        "parameters: {}; {} values in, {} in the code",
        model.parameter_count(),
        model.input_width(),
        model.code_width()
    );
    if let Some(sigma) = noise_sigma {
        println!(
            "trained for Gaussian noise σ = {sigma} ({:.1} on the 0–255 scale)",
            sigma * 255.0
        );
    }
    if let Some(d) = meta.get("aegpu.data") {
        println!("trained on: {d}");
    }
    if let Some(t) = meta.get("aegpu.training") {
        println!("training: {t}");
    }
    Ok(())
}

/// The architecture, size and recorded training of a saved classifier.
fn classifier_info(path: &Path, json: bool) -> Result<(), CliError> {
    let (model, meta) = Classifier::load(path)?;
    let text = |key: &str| meta.get(key).cloned();
    if json {
        let out = serde_json::json!({
            "model": path.display().to_string(),
            "kind": "classifier",
            "architecture": model.describe(),
            "config": serde_json::to_value(&model.config)?,
            "parameters": model.parameter_count(),
            "input_width": model.input_width(),
            "classes": model.config.classes,
            "pretrained": text("aegpu.pretrained"),
            "data": text("aegpu.data"),
            "training": text("aegpu.training")
                .map(|t| serde_json::from_str(&t).unwrap_or(serde_json::Value::String(t))),
        });
        println!("{out}");
        return Ok(());
    }
    println!("model: {}", path.display());
    println!("kind: classifier");
    println!("architecture: {}", model.describe());
    println!(
        "parameters: {}; {} values in, {} classes out",
        model.parameter_count(),
        model.input_width(),
        model.config.classes
    );
    if let Some(p) = text("aegpu.pretrained") {
        println!("encoder pretrained as: {p}");
    }
    if let Some(d) = text("aegpu.data") {
        println!("trained on: {d}");
    }
    if let Some(t) = text("aegpu.training") {
        println!("training: {t}");
    }
    Ok(())
}

/// The atoms, width and coding settings of a sparse-coding dictionary.
fn dictionary_info(path: &Path, json: bool) -> Result<(), CliError> {
    let coder = crate::dictionary::load(path, Box::new(CpuBackend::<f32>::new()))?;
    let d = coder.dictionary();
    let s = coder.settings();
    if json {
        let out = serde_json::json!({
            "model": path.display().to_string(),
            "kind": crate::dictionary::KIND,
            "atoms": d.atoms(),
            "width": d.width(),
            "lambda": s.lambda,
            "fista_iterations": s.iterations,
            "psd_gamma": s.psd.map(|p| p.gamma),
        });
        println!("{out}");
        return Ok(());
    }
    let encoder = match s.psd {
        Some(p) => format!(", a PSD encoder (γ = {})", p.gamma),
        None => String::new(),
    };
    println!(
        "{}: sparse-coding dictionary of {} atoms of {} values, λ = {}, {} FISTA iterations{encoder}",
        path.display(),
        d.atoms(),
        d.width(),
        s.lambda,
        s.iterations
    );
    Ok(())
}
