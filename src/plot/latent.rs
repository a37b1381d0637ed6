//! Latent scatter plots: each row's code as a point in 2-D, coloured by its label. A
//! 2-unit code is drawn as it is; a wider one is projected on its first two principal
//! components, and the title says how much of the codes' variance that shows.

use std::collections::BTreeSet;
use std::path::Path;

use plotters::prelude::*;

use super::canvas::{category_colour, render, tick_label_on_span, Canvas, FONT};
use super::{PlotError, PlotSize};
use crate::imaging::Image;
use crate::linalg::Pca;

/// How the points were obtained from the codes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Projection {
    /// The code has two units; they are the axes.
    Direct,
    /// The first two principal components of codes of `code_width` units, which
    /// carry `explained` (0–1) of their total variance.
    Pca { code_width: usize, explained: f64 },
}

/// Points to draw, one per row, with the row's label when the data has labels.
#[derive(Clone, Debug, PartialEq)]
pub struct LatentMap {
    pub points: Vec<[f32; 2]>,
    pub labels: Option<Vec<u32>>,
    pub projection: Projection,
}

/// `rows` codes of `width` units (row-major) as 2-D points: the codes themselves when
/// `width` is 2, else their projection on the top two principal components.
pub fn project_codes(
    codes: &[f32],
    rows: usize,
    width: usize,
) -> Result<(Vec<[f32; 2]>, Projection), PlotError> {
    if rows == 0 || codes.len() != rows * width {
        return Err(PlotError::data(format!(
            "{} code values are not {rows} codes of {width} units",
            codes.len()
        )));
    }
    if width < 2 {
        return Err(PlotError::data(format!(
            "a code of {width} unit cannot be drawn in 2-D: the model needs at least 2 code units"
        )));
    }
    if let Some(i) = codes.iter().position(|v| !v.is_finite()) {
        return Err(PlotError::data(format!(
            "code {} holds {} (the model's outputs are not finite)",
            i / width,
            codes[i]
        )));
    }
    if width == 2 {
        let points = codes.chunks_exact(2).map(|c| [c[0], c[1]]).collect();
        return Ok((points, Projection::Direct));
    }
    let pca = Pca::fit(codes, rows, width, 2, 100);
    let projected = pca.encode(codes, rows);
    let points = projected.chunks_exact(2).map(|c| [c[0], c[1]]).collect();
    let total = total_variance(codes, rows, width);
    let shown: f64 = pca.variances.iter().map(|&v| v as f64).sum();
    let explained = if total > 0.0 {
        (shown / total).min(1.0)
    } else {
        0.0
    };
    Ok((
        points,
        Projection::Pca {
            code_width: width,
            explained,
        },
    ))
}

/// The trace of the sample covariance, Σ_j var(x_j) with n − 1, as [`Pca`] uses.
fn total_variance(codes: &[f32], rows: usize, width: usize) -> f64 {
    if rows < 2 {
        return 0.0;
    }
    let mut sum = vec![0.0f64; width];
    let mut sum_sq = vec![0.0f64; width];
    for code in codes.chunks_exact(width) {
        for (j, &v) in code.iter().enumerate() {
            sum[j] += v as f64;
            sum_sq[j] += v as f64 * v as f64;
        }
    }
    let n = rows as f64;
    sum.iter()
        .zip(&sum_sq)
        .map(|(s, q)| (q - s * s / n) / (n - 1.0))
        .sum()
}

/// The scatter plot of `map`: one small dot per point, coloured by label (matplotlib's
/// tab10, repeating after ten labels) with a legend beside the plot, or all one
/// colour without labels.
pub fn render_latent_scatter(map: &LatentMap, size: PlotSize) -> Result<Image, PlotError> {
    if map.points.is_empty() {
        return Err(PlotError::data("a scatter plot needs at least one point"));
    }
    if let Some(labels) = &map.labels {
        if labels.len() != map.points.len() {
            return Err(PlotError::data(format!(
                "{} points but {} labels",
                map.points.len(),
                labels.len()
            )));
        }
    }
    let classes: Vec<u32> = match &map.labels {
        Some(labels) => labels
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        None => vec![],
    };
    let (title, x_name, y_name) = match map.projection {
        Projection::Direct => ("2-unit code".to_string(), "code unit 1", "code unit 2"),
        Projection::Pca {
            code_width,
            explained,
        } => (
            format!(
                "PCA of the {code_width}-unit code ({:.0}% of its variance)",
                explained * 100.0
            ),
            "principal component 1",
            "principal component 2",
        ),
    };
    let title = format!("{title}, {} points", map.points.len());
    let x_range = padded_range(map.points.iter().map(|p| p[0]));
    let y_range = padded_range(map.points.iter().map(|p| p[1]));
    let (x_span, y_span) = (x_range.end - x_range.start, y_range.end - y_range.start);
    // Few points get bigger dots; thousands get small translucent ones.
    let (radius, opacity) = if map.points.len() > 2000 {
        (2, 0.55)
    } else {
        (3, 0.8)
    };
    render(size, |root| {
        root.fill(&WHITE)?;
        let legend_width = if classes.is_empty() { 0 } else { 90 };
        let (plot_area, legend_area) = root.split_horizontally(size.width - legend_width);
        let mut chart = ChartBuilder::on(&plot_area)
            .caption(title, (FONT, 20))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .build_cartesian_2d(x_range, y_range)?;
        chart
            .configure_mesh()
            .x_desc(x_name)
            .y_desc(y_name)
            .x_label_formatter(&|v| tick_label_on_span(*v, x_span))
            .y_label_formatter(&|v| tick_label_on_span(*v, y_span))
            .label_style((FONT, 14))
            .axis_desc_style((FONT, 16))
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.08))
            .draw()?;
        let colour_of = |i: usize| match &map.labels {
            Some(labels) => {
                let class = classes.binary_search(&labels[i]).unwrap_or(0);
                category_colour(class)
            }
            None => category_colour(0),
        };
        // In row order, not class by class, so no class is always drawn on top.
        chart.draw_series(map.points.iter().enumerate().map(|(i, p)| {
            Circle::new(
                (p[0] as f64, p[1] as f64),
                radius,
                colour_of(i).mix(opacity).filled(),
            )
        }))?;
        if !classes.is_empty() {
            draw_legend(&legend_area, &classes)?;
        }
        Ok(())
    })
}

/// Writes [`render_latent_scatter`] as a PNG, atomically.
pub fn save_latent_scatter(
    path: impl AsRef<Path>,
    map: &LatentMap,
    size: PlotSize,
) -> Result<(), PlotError> {
    Ok(render_latent_scatter(map, size)?.save_png(path)?)
}

/// One dot and label per class, top down, under the heading "label".
fn draw_legend(area: &Canvas, classes: &[u32]) -> Result<(), PlotError> {
    let (top, step) = (60, 22);
    area.draw(&Text::new("label", (8, top - 28), (FONT, 16)))?;
    // Beyond what fits, the last line says how many more there are.
    let fits = ((area.dim_in_pixel().1 as i32 - top) / step).max(1) as usize;
    for (k, class) in classes.iter().enumerate() {
        let y = top + k as i32 * step;
        if k + 1 == fits && classes.len() > fits {
            area.draw(&Text::new(
                format!("+{} more", classes.len() - k),
                (8, y - 8),
                (FONT, 14),
            ))?;
            break;
        }
        area.draw(&Circle::new((14, y), 5, category_colour(k).filled()))?;
        area.draw(&Text::new(class.to_string(), (28, y - 8), (FONT, 15)))?;
    }
    Ok(())
}

/// min..max of `values` with 5% to spare each side (and a unit span for one value).
fn padded_range(values: impl Iterator<Item = f32>) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v as f64), hi.max(v as f64))
    });
    let pad = if hi > lo { (hi - lo) * 0.05 } else { 0.5 };
    lo - pad..hi + pad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_two_unit_code_is_drawn_as_it_is() {
        let (points, projection) = project_codes(&[1.0, 2.0, 3.0, 4.0], 2, 2).unwrap();
        assert_eq!(points, vec![[1.0, 2.0], [3.0, 4.0]]);
        assert_eq!(projection, Projection::Direct);
    }

    #[test]
    fn a_wider_code_is_projected_on_its_principal_components() {
        // Points on a plane in 3-D: two components carry all the variance.
        let codes: Vec<f32> = (0..20)
            .flat_map(|i| {
                let (a, b) = ((i % 5) as f32, (i / 5) as f32);
                [a + b, a - b, 2.0 * a]
            })
            .collect();
        let (points, projection) = project_codes(&codes, 20, 3).unwrap();
        assert_eq!(points.len(), 20);
        let Projection::Pca {
            code_width,
            explained,
        } = projection
        else {
            panic!("expected PCA, got {projection:?}");
        };
        assert_eq!(code_width, 3);
        assert!((explained - 1.0).abs() < 1e-4, "{explained}");
    }

    #[test]
    fn codes_that_cannot_be_drawn_are_refused() {
        assert!(project_codes(&[1.0, 2.0], 2, 1).is_err());
        assert!(project_codes(&[1.0, 2.0, 3.0], 2, 2).is_err());
        assert!(project_codes(&[1.0, f32::NAN], 1, 2).is_err());
    }

    #[test]
    fn plots_with_and_without_labels() {
        let points: Vec<[f32; 2]> = (0..30).map(|i| [i as f32, (i * i) as f32]).collect();
        let labels: Vec<u32> = (0..30).map(|i| i % 3).collect();
        let size = PlotSize::new(500, 400);
        for labels in [None, Some(labels)] {
            let map = LatentMap {
                points: points.clone(),
                labels,
                projection: Projection::Direct,
            };
            let image = render_latent_scatter(&map, size).unwrap();
            assert_eq!((image.width(), image.height()), (500, 400));
        }
        let mismatched = LatentMap {
            points,
            labels: Some(vec![1]),
            projection: Projection::Direct,
        };
        assert!(render_latent_scatter(&mismatched, size).is_err());
    }
}
