//! Axes for loss curves that plotters' own do not draw well: a logarithmic axis
//! whose ticks are labelled however narrow its range (decades, then 1-2-5 or 1…9
//! within them, then evenly spaced round values below a factor of about 2, where
//! plotters' log axis labels nothing), and an epoch axis with whole-number ticks and
//! room at both ends, so the first and last epochs' markers are not cut in half.

use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};

use super::canvas::tick_label;

/// The positive values `lo..hi` (lo > 0) on a log scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct LogAxis {
    lo: f64,
    hi: f64,
}

impl LogAxis {
    /// An axis from a little below `lowest` to a little above `highest` (both > 0).
    pub(super) fn around(lowest: f64, highest: f64) -> Self {
        let (a, b) = (lowest.log10(), highest.log10());
        // 5% of the span to spare either side, and at least a twentieth of a decade.
        let pad = ((b - a) * 0.05).max(0.05);
        LogAxis {
            lo: 10f64.powf(a - pad),
            hi: 10f64.powf(b + pad),
        }
    }

    /// The values `m·10^e` in range for each mantissa `m`, ascending.
    fn per_decade(&self, mantissas: &[f64]) -> Vec<f64> {
        let (first, last) = (
            self.lo.log10().floor() as i32,
            self.hi.log10().ceil() as i32,
        );
        (first..=last)
            .flat_map(|e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
            .filter(|v| (self.lo..=self.hi).contains(v))
            .collect()
    }

    /// Round values a 1, 2 or 5 times a power of ten apart, at most `max` of them.
    fn evenly_spaced(&self, max: usize) -> Vec<f64> {
        let max = max.max(2);
        let span = self.hi - self.lo;
        let mut step = 10f64.powf((span / max as f64).log10().floor());
        for factor in [1.0, 2.0, 5.0, 10.0, 20.0, 50.0] {
            if span / (step * factor) <= max as f64 {
                step *= factor;
                break;
            }
        }
        let first = (self.lo / step).ceil() as i64;
        let last = (self.hi / step).floor() as i64;
        (first..=last).map(|k| k as f64 * step).collect()
    }
}

impl Ranged for LogAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let (lo, hi) = (self.lo.ln(), self.hi.ln());
        let fraction = (value.max(f64::MIN_POSITIVE).ln() - lo) / (hi - lo);
        limit.0 + ((limit.1 - limit.0) as f64 * fraction).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let max = hint.max_num_points();
        if max == 0 {
            return vec![];
        }
        let sets: [&[f64]; 3] = [
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
            &[1.0, 2.0, 5.0],
            &[1.0],
        ];
        let densest = sets
            .iter()
            .map(|m| self.per_decade(m))
            .find(|points| points.len() <= max)
            .unwrap_or_default();
        if densest.len() >= 4 {
            densest
        } else {
            self.evenly_spaced(max)
        }
    }

    fn range(&self) -> Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for LogAxis {
    fn format(value: &f64) -> String {
        tick_label(*value)
    }
}

/// Epochs `first..=last` on a linear axis with a little room either side.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct EpochAxis {
    first: i64,
    last: i64,
    pad: f64,
}

impl EpochAxis {
    pub(super) fn new(first: i64, last: i64) -> Self {
        let pad = ((last - first) as f64 * 0.02).max(if first == last { 0.5 } else { 0.25 });
        EpochAxis { first, last, pad }
    }
}

impl Ranged for EpochAxis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let range = self.range();
        let fraction = (value - range.start) / (range.end - range.start);
        limit.0 + ((limit.1 - limit.0) as f64 * fraction).round() as i32
    }

    /// Whole epochs 1, 2, 5, 10, 20… apart, at most `max` of them.
    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let max = hint.max_num_points().max(1) as i64;
        let span = self.last - self.first + 1;
        let step = (0..)
            .flat_map(|e| [1, 2, 5].map(|m| m * 10i64.pow(e)))
            .find(|step| (span + step - 1) / step <= max)
            .unwrap_or(1);
        let start = self.first.div_euclid(step) * step;
        (0..)
            .map(|k| start + k * step)
            .skip_while(|&e| e < self.first)
            .take_while(|&e| e <= self.last)
            .map(|e| e as f64)
            .collect()
    }

    fn range(&self) -> Range<f64> {
        self.first as f64 - self.pad..self.last as f64 + self.pad
    }
}

impl ValueFormatter<f64> for EpochAxis {
    fn format(value: &f64) -> String {
        format!("{value:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_ranges_get_decades_and_narrow_ones_round_steps() {
        let labels = |lo, hi| -> Vec<String> {
            let axis = LogAxis { lo, hi };
            axis.key_points(8).iter().map(|&v| tick_label(v)).collect()
        };
        assert_eq!(labels(0.9e-4, 1.1), ["1e-4", "0.001", "0.01", "0.1", "1"]);
        assert_eq!(
            labels(0.009, 1.1),
            ["0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1"]
        );
        assert_eq!(labels(0.19, 0.61), ["0.2", "0.3", "0.4", "0.5", "0.6"]);
        assert_eq!(
            labels(0.036, 0.069),
            ["0.04", "0.045", "0.05", "0.055", "0.06", "0.065"]
        );
    }

    #[test]
    fn epoch_ticks_are_whole_and_round() {
        assert_eq!(
            EpochAxis::new(1, 8).key_points(12),
            [1., 2., 3., 4., 5., 6., 7., 8.]
        );
        assert_eq!(
            EpochAxis::new(1, 60).key_points(8),
            [10., 20., 30., 40., 50., 60.]
        );
        assert_eq!(EpochAxis::new(3, 3).key_points(12), [3.]);
        let one = EpochAxis::new(3, 3).range();
        assert!(one.start < 3.0 && one.end > 3.0);
    }

    #[test]
    fn maps_equal_ratios_to_equal_distances() {
        let axis = LogAxis { lo: 1.0, hi: 100.0 };
        assert_eq!(axis.map(&1.0, (0, 200)), 0);
        assert_eq!(axis.map(&10.0, (0, 200)), 100);
        assert_eq!(axis.map(&100.0, (0, 200)), 200);
        assert_eq!(axis.map(&10.0, (400, 0)), 200);
    }
}
