//! `aegpu plot recon | loss | latent`: pictures of a saved model on some data, and of
//! training runs from their metrics logs, as PNG files.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::cli::infer::{load, ModelOnData};
use crate::cli::options::parse_image_shape;
use crate::cli::CliError;
use crate::imaging::ImageShape;
use crate::models::Autoencoder;
use crate::plot::{
    guess_image_shape, project_codes, save_latent_scatter, save_loss_curves,
    save_reconstruction_grid, GridLayout, LatentMap, LossRun, MetricsLog, PlotSize, Projection,
};
use crate::train::{run_rows, RowOutput};

#[derive(Args, Debug)]
pub struct PlotArgs {
    #[command(subcommand)]
    picture: Picture,
}

#[derive(Subcommand, Debug)]
enum Picture {
    /// The first rows of the data over their reconstructions.
    Recon(ReconArgs),
    /// Train and validation loss per epoch from one or more metrics logs.
    Loss(LossArgs),
    /// The codes of the data in 2-D (PCA beyond 2 units), coloured by label.
    Latent(LatentArgs),
}

#[derive(Args, Debug)]
struct ReconArgs {
    #[command(flatten)]
    input: ModelOnData,
    /// How many rows (from the first) to show.
    #[arg(long, default_value_t = 16, value_parser = crate::ranges::count)]
    count: usize,
    /// Images per row of the grid.
    #[arg(long, default_value_t = 8, value_parser = crate::ranges::count)]
    columns: usize,
    /// The image shape CxHxW of a dense model's rows (default: a conv model's own
    /// shape; a square grey or RGB image for a dense one).
    #[arg(long)]
    image: Option<String>,
    /// Output PNG file.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct LossArgs {
    /// A metrics log (JSON lines, one epoch each); repeat to overlay runs.
    #[arg(long = "log", required = true)]
    logs: Vec<PathBuf>,
    /// Picture size WxH in pixels.
    #[arg(long, default_value = "800x500")]
    size: String,
    /// Output PNG file.
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args, Debug)]
struct LatentArgs {
    #[command(flatten)]
    input: ModelOnData,
    /// How many rows (from the first) to plot.
    #[arg(long, default_value_t = 5000, value_parser = crate::ranges::count)]
    points: usize,
    /// Picture size WxH in pixels.
    #[arg(long, default_value = "800x680")]
    size: String,
    /// Output PNG file.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: PlotArgs) -> Result<(), CliError> {
    match a.picture {
        Picture::Recon(a) => recon(a),
        Picture::Loss(a) => loss(a),
        Picture::Latent(a) => latent(a),
    }
}

fn recon(a: ReconArgs) -> Result<(), CliError> {
    check_png(&a.out)?;
    crate::cli::check_outputs(&[("--out", a.out.as_path())], &a.input.inputs())?;
    if a.count == 0 || a.columns == 0 {
        return Err("--count and --columns must be at least 1".into());
    }
    let (model, scaler, data) = load(&a.input.model, &a.input.data)?;
    let shape = image_shape(model.as_ref(), a.image.as_deref(), data.cols)?;
    let data = data.head(a.count);
    let mut selected = a.input.backend.open()?;
    let backend = selected.backend.as_mut();
    backend.upload_store(model.store())?;
    let mut reconstructions = run_rows(model.as_ref(), backend, &data, RowOutput::Reconstruction)?;
    // Both back in the data's own units, as the inputs were read.
    let mut inputs = data.values;
    if let Some(s) = &scaler {
        for row in inputs.chunks_mut(data.cols) {
            s.invert_row(row);
        }
        for row in reconstructions.chunks_mut(data.cols) {
            s.invert_row(row);
        }
    }
    let layout = GridLayout::for_images(shape, a.columns);
    save_reconstruction_grid(&a.out, &inputs, &reconstructions, shape, layout)?;
    eprintln!(
        "wrote {} inputs ({shape}) over their reconstructions to {}",
        data.rows,
        a.out.display()
    );
    Ok(())
}

/// The shape of one row as an image: `--image`, else a conv model's input, else a
/// square grey or RGB image.
fn image_shape(
    model: &dyn Autoencoder,
    image: Option<&str>,
    cols: usize,
) -> Result<ImageShape, CliError> {
    let shape = match (image, model.image_shape()) {
        (Some(s), _) => parse_image_shape(s)?,
        (None, Some(shape)) => shape,
        (None, None) => guess_image_shape(cols).ok_or_else(|| {
            format!("rows of {cols} values are not a square grey or RGB image: give --image CxHxW")
        })?,
    };
    if shape.len() != cols {
        return Err(format!(
            "--image {shape} needs {} columns, the data has {cols}",
            shape.len()
        )
        .into());
    }
    Ok(shape)
}

fn loss(a: LossArgs) -> Result<(), CliError> {
    check_png(&a.out)?;
    let logs: Vec<(&str, &Path)> = a.logs.iter().map(|l| ("--log", l.as_path())).collect();
    crate::cli::check_outputs(&[("--out", a.out.as_path())], &logs)?;
    let size = parse_size(&a.size)?;
    let logs = a
        .logs
        .iter()
        .map(MetricsLog::load)
        .collect::<Result<Vec<_>, _>>()?;
    save_loss_curves(&a.out, &LossRun::named_by_file(&logs), size)?;
    let epochs: usize = logs.iter().map(|l| l.epochs.len()).sum();
    eprintln!(
        "wrote the loss curves of {} run(s), {epochs} epochs, to {}",
        logs.len(),
        a.out.display()
    );
    Ok(())
}

fn latent(a: LatentArgs) -> Result<(), CliError> {
    check_png(&a.out)?;
    crate::cli::check_outputs(&[("--out", a.out.as_path())], &a.input.inputs())?;
    let size = parse_size(&a.size)?;
    if a.points == 0 {
        return Err("--points must be at least 1".into());
    }
    let (model, _, data) = load(&a.input.model, &a.input.data)?;
    let data = data.head(a.points);
    let mut selected = a.input.backend.open()?;
    let backend = selected.backend.as_mut();
    backend.upload_store(model.store())?;
    let codes = run_rows(model.as_ref(), backend, &data, RowOutput::Code)?;
    let (points, projection) = project_codes(&codes, data.rows, model.code_width())?;
    let map = LatentMap {
        points,
        labels: data.labels,
        projection,
    };
    save_latent_scatter(&a.out, &map, size)?;
    let how = match projection {
        Projection::Direct => "the 2-unit codes".to_string(),
        Projection::Pca {
            code_width,
            explained,
        } => format!(
            "the {code_width}-unit codes projected by PCA ({:.0}% of their variance)",
            explained * 100.0
        ),
    };
    let coloured = if map.labels.is_some() {
        "coloured by label"
    } else {
        "no labels in the data"
    };
    eprintln!(
        "wrote {how} of {} rows, {coloured}, to {}",
        map.points.len(),
        a.out.display()
    );
    Ok(())
}

/// Every picture is a PNG, written into a folder that exists: said before any work.
fn check_png(out: &Path) -> Result<(), CliError> {
    let ext = out.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !ext.eq_ignore_ascii_case("png") {
        return Err(format!("--out {}: use a .png file name", out.display()).into());
    }
    if let Some(folder) = out.parent().filter(|f| !f.as_os_str().is_empty()) {
        if !folder.is_dir() {
            return Err(format!(
                "--out {}: the folder {} does not exist",
                out.display(),
                folder.display()
            )
            .into());
        }
    }
    Ok(())
}

/// Parses `WxH`, e.g. `800x600`.
fn parse_size(s: &str) -> Result<PlotSize, CliError> {
    let bad = || format!("--size {s}: expected WxH in pixels, e.g. 800x600");
    let (w, h) = s.split_once(['x', 'X', '×']).ok_or_else(bad)?;
    let w: u32 = w.trim().parse().map_err(|_| bad())?;
    let h: u32 = h.trim().parse().map_err(|_| bad())?;
    Ok(PlotSize::new(w, h))
}
