//! Drawing a chart into memory with plotters and turning the pixels into an
//! [`Image`]: the bundled font, the picture size, and the colours every plot shares.

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::PlotError;
use crate::imaging::Image;

/// DejaVu Sans 2.37 (Bitstream Vera licence, see `assets/fonts/LICENSE-DejaVu.txt`).
static DEJAVU_SANS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/fonts/DejaVuSans.ttf"
));

/// The family name plotters asks for by default, so every text style finds the font.
pub(super) const FONT: &str = "sans-serif";

/// The drawing area every plot paints on: an RGB buffer in memory.
pub(super) type Canvas<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Width and height of a picture in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlotSize {
    pub width: u32,
    pub height: u32,
}

impl PlotSize {
    /// Below this there is no room for the axes, their labels and a title.
    const MIN: (u32, u32) = (240, 180);
    /// A sanity limit: 64 megapixels is already a 192 MB buffer.
    const MAX_PIXELS: u64 = 64 << 20;

    pub fn new(width: u32, height: u32) -> Self {
        PlotSize { width, height }
    }

    fn check(self) -> Result<(), PlotError> {
        let (w, h) = (self.width, self.height);
        if w < Self::MIN.0 || h < Self::MIN.1 || w as u64 * h as u64 > Self::MAX_PIXELS {
            return Err(PlotError::data(format!(
                "a plot of {w}×{h} pixels: use at least {}×{} and at most 64 megapixels",
                Self::MIN.0,
                Self::MIN.1
            )));
        }
        Ok(())
    }
}

/// The ten colours of matplotlib's `tab10` (Tableau 10), told apart by most readers,
/// colour-blind ones included, far better than evenly spaced hues.
pub(super) const TAB10: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Colour `i` of [`TAB10`], repeating after ten.
pub(super) fn category_colour(i: usize) -> RGBColor {
    TAB10[i % TAB10.len()]
}

/// Registers the bundled font with plotters, once per process.
fn register_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Draw {
            detail: "the bundled font assets/fonts/DejaVuSans.ttf is unreadable".into(),
        })
    }
}

/// Runs `draw` on a white canvas of `size` and returns what it painted.
pub(super) fn render(
    size: PlotSize,
    draw: impl FnOnce(&Canvas) -> Result<(), PlotError>,
) -> Result<Image, PlotError> {
    size.check()?;
    register_font()?;
    let (w, h) = (size.width as usize, size.height as usize);
    let mut rgb = vec![255u8; w * h * 3];
    {
        let root =
            BitMapBackend::with_buffer(&mut rgb, (size.width, size.height)).into_drawing_area();
        draw(&root)?;
        root.present()?;
    }
    Ok(Image::from_rgb8(w, h, &rgb)?)
}

/// A tick label with at most three significant digits and no trailing zeros, in
/// scientific notation outside 0.001–100000: `0.02`, `0.125`, `1500`, `2e-5`.
pub(super) fn tick_label(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let magnitude = v.abs().log10().floor();
    if !(-3.0..5.0).contains(&magnitude) {
        let s = format!("{v:.2e}");
        // 2.00e-5 -> 2e-5, 2.50e-5 -> 2.5e-5
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
        return format!("{mantissa}e{exponent}");
    }
    let decimals = (2.0 - magnitude).max(0.0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// [`tick_label`] of a tick on an axis spanning `span`: a value a millionth of the span
/// from zero is zero (a tick at -2.22e-16 is a rounding error of the tick positions).
pub(super) fn tick_label_on_span(v: f64, span: f64) -> String {
    if v.abs() < span.abs() * 1e-6 {
        "0".to_string()
    } else {
        tick_label(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_short() {
        let cases = [
            (0.02, "0.02"),
            (0.125, "0.125"),
            (0.1234567, "0.123"),
            (1500.0, "1500"),
            (1.0, "1"),
            (2e-5, "2e-5"),
            (2.5e-5, "2.5e-5"),
            (0.0, "0"),
            (-0.5, "-0.5"),
        ];
        for (v, expected) in cases {
            assert_eq!(tick_label(v), expected, "{v}");
        }
        assert_eq!(tick_label_on_span(-2.22e-16, 2.0), "0");
        assert_eq!(tick_label_on_span(2e-5, 1e-4), "2e-5");
    }

    #[test]
    fn sizes_without_room_for_axes_are_refused() {
        assert!(render(PlotSize::new(100, 100), |_| Ok(())).is_err());
        let image = render(PlotSize::new(300, 200), |_| Ok(())).unwrap();
        assert_eq!(
            (image.width(), image.height(), image.channels()),
            (300, 200, 3)
        );
    }
}
