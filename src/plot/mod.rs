//! Pictures of a model and its training, as PNG files: reconstruction grids (inputs
//! over their reconstructions, and series over theirs), loss curves from the metrics log, and 2-D scatter
//! plots of the codes coloured by label.
//!
//! Every function takes plain data (image rows and their [`ImageShape`](crate::imaging::ImageShape), a parsed
//! [`MetricsLog`], 2-D points and labels), renders into memory and writes the PNG
//! atomically, so a failed write leaves the previous picture in place. Text is drawn
//! with the DejaVu Sans font bundled in `assets/fonts/`, so no system font library
//! is needed.

mod axes;
mod canvas;
mod latent;
mod loss_curve;
mod metrics_log;
mod recon_grid;
mod sequences;

use std::path::PathBuf;

pub use canvas::PlotSize;
pub use latent::{
    project_codes, render_latent_scatter, save_latent_scatter, LatentMap, Projection,
};
pub use loss_curve::{render_loss_curves, save_loss_curves, LossRun};
pub use metrics_log::{EpochMetrics, MetricsLog};
pub use recon_grid::{
    guess_image_shape, reconstruction_grid, save_reconstruction_grid, GridLayout,
};
pub use sequences::{render_sequence_panels, save_sequence_panels, SequencePanel};

use crate::imaging::ImagingError;

/// What can go wrong reading a log, arranging data for a plot, or drawing and
/// writing it.
#[derive(thiserror::Error, Debug)]
pub enum PlotError {
    /// A file could not be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A line of a metrics log that is not one epoch's JSON object.
    #[error("{}: line {line}: {detail}", path.display())]
    LogLine {
        path: PathBuf,
        line: usize,
        detail: String,
    },
    /// A metrics log with no epochs in it.
    #[error("{} holds no epochs (an empty metrics log)", path.display())]
    EmptyLog { path: PathBuf },
    /// Data that cannot be drawn as asked (shapes that disagree, too few values).
    #[error("{detail}")]
    Data { detail: String },
    /// The drawing library failed.
    #[error("drawing the plot failed: {detail}")]
    Draw { detail: String },
    /// Building or writing the PNG failed (the previous file, if any, is intact).
    #[error(transparent)]
    Image(#[from] ImagingError),
}

impl PlotError {
    fn data(detail: impl Into<String>) -> Self {
        PlotError::Data {
            detail: detail.into(),
        }
    }
}

impl<E: std::error::Error + Send + Sync> From<plotters::drawing::DrawingAreaErrorKind<E>>
    for PlotError
{
    fn from(e: plotters::drawing::DrawingAreaErrorKind<E>) -> Self {
        PlotError::Draw {
            detail: e.to_string(),
        }
    }
}
