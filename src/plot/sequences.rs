//! Sequences over their reconstructions: one small panel per series (a row of data, T
//! steps of F values), the input as a solid line and the reconstruction dashed, one
//! colour per channel, each panel titled (e.g. with its class and its score). What
//! `examples/lstm_ecg.rs` draws for normal and anomalous heartbeats.

use std::path::Path;

use plotters::element::DashedPathElement;
use plotters::prelude::*;

use super::canvas::{category_colour, render, FONT};
use super::{PlotError, PlotSize};
use crate::imaging::Image;

/// One panel: a series, its reconstruction (both `steps × features`, time-major) and a
/// title.
#[derive(Clone, Debug)]
pub struct SequencePanel<'a> {
    pub title: String,
    pub input: &'a [f32],
    pub reconstruction: &'a [f32],
}

/// Panels of series over their reconstructions, `columns` to a row.
pub fn render_sequence_panels(
    panels: &[SequencePanel],
    features: usize,
    columns: usize,
    size: PlotSize,
) -> Result<Image, PlotError> {
    let Some(first) = panels.first() else {
        return Err(PlotError::data("a sequence plot needs at least one series"));
    };
    let len = first.input.len();
    if features == 0 || columns == 0 || len == 0 || len % features != 0 {
        return Err(PlotError::data(format!(
            "series of {len} values are not whole steps of {features} features"
        )));
    }
    if let Some(bad) = panels
        .iter()
        .find(|p| p.input.len() != len || p.reconstruction.len() != len)
    {
        return Err(PlotError::data(format!(
            "series `{}` has {} values and a reconstruction of {}, the first has {len}",
            bad.title,
            bad.input.len(),
            bad.reconstruction.len()
        )));
    }
    let steps = len / features;
    let values = || {
        panels
            .iter()
            .flat_map(|p| p.input.iter().chain(p.reconstruction))
            .map(|&v| v as f64)
            .filter(|v| v.is_finite())
    };
    let lo = values().fold(f64::INFINITY, f64::min);
    let hi = values().fold(f64::NEG_INFINITY, f64::max);
    if !(lo.is_finite() && hi.is_finite()) {
        return Err(PlotError::data("the series hold no finite values"));
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    let rows = panels.len().div_ceil(columns);
    render(size, |root| {
        root.fill(&WHITE)?;
        let areas = root.split_evenly((rows, columns));
        for (panel, area) in panels.iter().zip(&areas) {
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.title, (FONT, 15))
                .margin(8)
                .x_label_area_size(22)
                .y_label_area_size(36)
                .build_cartesian_2d(0.0..(steps - 1).max(1) as f64, lo - pad..hi + pad)?;
            chart
                .configure_mesh()
                .x_labels(5)
                .y_labels(5)
                .label_style((FONT, 11))
                .light_line_style(WHITE.mix(0.0))
                .bold_line_style(BLACK.mix(0.08))
                .draw()?;
            for channel in 0..features {
                let colour = category_colour(channel);
                let line = |series: &[f32]| -> Vec<(f64, f64)> {
                    (0..steps)
                        .map(|t| (t as f64, series[t * features + channel] as f64))
                        .collect()
                };
                chart.draw_series(LineSeries::new(line(panel.input), colour.stroke_width(2)))?;
                chart.draw_series(std::iter::once(DashedPathElement::new(
                    line(panel.reconstruction),
                    5,
                    3,
                    BLACK.mix(0.8).stroke_width(2),
                )))?;
            }
        }
        Ok(())
    })
}

/// Writes [`render_sequence_panels`] as a PNG, atomically.
pub fn save_sequence_panels(
    path: impl AsRef<Path>,
    panels: &[SequencePanel],
    features: usize,
    columns: usize,
    size: PlotSize,
) -> Result<(), PlotError> {
    Ok(render_sequence_panels(panels, features, columns, size)?.save_png(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatched_series_are_refused() {
        let a = [0.0f32; 6];
        let b = [0.0f32; 4];
        let panels = [
            SequencePanel {
                title: "one".into(),
                input: &a,
                reconstruction: &a,
            },
            SequencePanel {
                title: "two".into(),
                input: &a,
                reconstruction: &b,
            },
        ];
        let e = render_sequence_panels(&panels, 2, 2, PlotSize::new(400, 200)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "series `two` has 6 values and a reconstruction of 4, the first has 6"
        );
        let e = render_sequence_panels(&panels[..1], 4, 2, PlotSize::new(400, 200)).unwrap_err();
        assert!(e.to_string().contains("not whole steps of 4"));
    }

    #[test]
    fn draws_panels_of_the_asked_size() {
        let a: Vec<f32> = (0..20).map(|t| (t as f32 * 0.3).sin()).collect();
        let r: Vec<f32> = a.iter().map(|v| v * 0.9).collect();
        let panels = [SequencePanel {
            title: "sine".into(),
            input: &a,
            reconstruction: &r,
        }];
        let image = render_sequence_panels(&panels, 1, 1, PlotSize::new(320, 200)).unwrap();
        assert_eq!((image.width(), image.height()), (320, 200));
    }
}
