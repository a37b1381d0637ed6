//! Loss curves: train (solid) and validation (dashed) loss against epoch, one colour
//! per run, on a log scale when every loss is positive (reconstruction losses fall
//! by orders of magnitude, and a linear axis flattens everything after epoch 2).

use std::path::Path;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::axes::{EpochAxis, LogAxis};
use super::canvas::{category_colour, render, tick_label, Canvas, FONT};
use super::{MetricsLog, PlotError, PlotSize};
use crate::imaging::Image;

/// One run to draw, under the name its legend entries carry.
#[derive(Clone, Debug)]
pub struct LossRun<'a> {
    pub name: String,
    pub log: &'a MetricsLog,
}

impl<'a> LossRun<'a> {
    /// The logs named by file: their file stems (`metrics`), or, where two stems are
    /// the same, their folders' names (`run1`, `run2`), or else their whole paths.
    pub fn named_by_file(logs: &'a [MetricsLog]) -> Vec<LossRun<'a>> {
        let stem = |p: &Path| p.file_stem().map(|s| s.to_string_lossy().into_owned());
        let folder = |p: &Path| {
            p.parent()
                .and_then(|f| f.file_name())
                .map(|s| s.to_string_lossy().into_owned())
        };
        let whole = |p: &Path| Some(p.display().to_string());
        for naming in [stem, folder, whole] {
            let names: Vec<Option<String>> = logs.iter().map(|l| naming(&l.source)).collect();
            let mut unique = names.clone();
            unique.sort();
            unique.dedup();
            if unique.len() == names.len() && names.iter().all(Option::is_some) {
                return logs
                    .iter()
                    .zip(names)
                    .map(|(log, name)| LossRun {
                        name: name.unwrap_or_default(),
                        log,
                    })
                    .collect();
            }
        }
        logs.iter()
            .enumerate()
            .map(|(i, log)| LossRun {
                name: format!("run {}", i + 1),
                log,
            })
            .collect()
    }
}

/// The loss curves of `runs` in one picture, a legend naming each curve.
pub fn render_loss_curves(runs: &[LossRun], size: PlotSize) -> Result<Image, PlotError> {
    if runs.is_empty() {
        return Err(PlotError::data(
            "a loss plot needs at least one metrics log",
        ));
    }
    let losses = || {
        runs.iter().flat_map(|r| {
            r.log
                .epochs
                .iter()
                .flat_map(|e| std::iter::once(e.train_loss).chain(e.validation_loss))
        })
    };
    let lowest = losses().fold(f64::INFINITY, f64::min);
    let highest = losses().fold(f64::NEG_INFINITY, f64::max);
    let epochs = || {
        runs.iter()
            .flat_map(|r| r.log.epochs.iter().map(|e| e.epoch as i64))
    };
    let (first, last) = (epochs().min().unwrap_or(1), epochs().max().unwrap_or(1));
    let x = EpochAxis::new(first, last);
    render(size, |root| {
        root.fill(&WHITE)?;
        if lowest > 0.0 {
            let y = LogAxis::around(lowest, highest);
            draw_curves(root, runs, x, y, "loss (log scale)")
        } else {
            let pad = ((highest - lowest) * 0.05).max(1e-6);
            draw_curves(root, runs, x, lowest - pad..highest + pad, "loss")
        }
    })
}

/// Writes [`render_loss_curves`] as a PNG, atomically.
pub fn save_loss_curves(
    path: impl AsRef<Path>,
    runs: &[LossRun],
    size: PlotSize,
) -> Result<(), PlotError> {
    Ok(render_loss_curves(runs, size)?.save_png(path)?)
}

fn draw_curves<Y>(
    root: &Canvas,
    runs: &[LossRun],
    x: EpochAxis,
    y: Y,
    y_description: &str,
) -> Result<(), PlotError>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let validation = runs.iter().any(|r| r.log.has_validation());
    let title = match (runs.len(), validation) {
        (1, false) => "training loss per epoch".to_string(),
        (1, true) => "training and validation loss per epoch".to_string(),
        (n, _) => format!("loss per epoch, {n} runs"),
    };
    let epochs = runs.iter().map(|r| r.log.epochs.len()).max().unwrap_or(0);
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(72)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_description)
        .x_labels(12)
        .y_labels(8)
        .y_label_formatter(&|v| tick_label(*v))
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()?;
    // Markers show where the epochs are, until there are too many to tell apart.
    let marker = if epochs > 40 { 0 } else { 3 };
    for (i, run) in runs.iter().enumerate() {
        let colour = category_colour(i);
        let prefix = if runs.len() == 1 {
            String::new()
        } else {
            format!("{} ", run.name)
        };
        let train: Vec<(f64, f64)> = run
            .log
            .epochs
            .iter()
            .map(|e| (e.epoch as f64, e.train_loss))
            .collect();
        chart
            .draw_series(LineSeries::new(train, colour.stroke_width(2)).point_size(marker))?
            .label(format!("{prefix}train"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 24, y)], colour.stroke_width(2)));
        if !run.log.has_validation() {
            continue;
        }
        let checked: Vec<(f64, f64)> = run
            .log
            .epochs
            .iter()
            .filter_map(|e| e.validation_loss.map(|v| (e.epoch as f64, v)))
            .collect();
        chart.draw_series(
            checked
                .iter()
                .map(|&p| Circle::new(p, marker, colour.stroke_width(2))),
        )?;
        chart
            .draw_series(DashedLineSeries::new(checked, 7, 5, colour.stroke_width(2)))?
            .label(format!("{prefix}validation"))
            .legend(move |(x, y)| {
                DashedPathElement::new([(x, y), (x + 24, y)], 7, 5, colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(name: &str, text: &str) -> MetricsLog {
        MetricsLog::parse(text, name).unwrap()
    }

    #[test]
    fn runs_are_named_by_file_stem_or_else_by_folder() {
        let logs = [
            log("a/metrics.jsonl", "{\"epoch\":1,\"train_loss\":1}"),
            log("b/metrics.jsonl", "{\"epoch\":1,\"train_loss\":1}"),
        ];
        let names: Vec<String> = LossRun::named_by_file(&logs)
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["a", "b"]);
        let logs = [
            log("wide.jsonl", "{\"epoch\":1,\"train_loss\":1}"),
            log("deep.jsonl", "{\"epoch\":1,\"train_loss\":1}"),
        ];
        let names: Vec<String> = LossRun::named_by_file(&logs)
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["wide", "deep"]);
    }

    #[test]
    fn plots_one_run_several_runs_a_single_epoch_and_non_positive_losses() {
        let size = PlotSize::new(640, 400);
        let logs = [
            log(
                "a.jsonl",
                "{\"epoch\":1,\"train_loss\":0.1,\"validation_loss\":0.09}\n\
                 {\"epoch\":2,\"train_loss\":0.03,\"validation_loss\":0.035}",
            ),
            log("b.jsonl", "{\"epoch\":1,\"train_loss\":0.2}"),
            log(
                "c.jsonl",
                "{\"epoch\":1,\"train_loss\":-3}\n{\"epoch\":2,\"train_loss\":0}",
            ),
        ];
        let runs = LossRun::named_by_file(&logs);
        for some in [&runs[..1], &runs[..2], &runs[1..2], &runs[2..]] {
            let image = render_loss_curves(some, size).unwrap();
            assert_eq!((image.width(), image.height()), (640, 400));
            // Something besides the white background was drawn.
            assert!(image.data().iter().any(|&v| v < 0.5));
        }
        assert!(render_loss_curves(&[], size).is_err());
    }
}
