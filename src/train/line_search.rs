//! The strong-Wolfe line search of L-BFGS (Nocedal & Wright, *Numerical Optimization*,
//! 2nd ed., Algorithms 3.5 and 3.6), in the form of PyTorch's `_strong_wolfe`: bracket
//! a step that satisfies
//!
//! ```text
//! sufficient decrease:  φ(t) ≤ φ(0) + c1 · t · φ'(0)
//! curvature:            |φ'(t)| ≤ −c2 · φ'(0)
//! ```
//!
//! then zoom in on it with safeguarded cubic interpolation. `φ(t) = f(x + t·d)` is a
//! closure returning `(φ(t), φ'(t))`, so the search itself never touches the
//! parameters: the caller moves them to `x + t·d` and evaluates.

/// Parameters of the search (PyTorch's defaults).
#[derive(Clone, Copy, Debug)]
pub struct WolfeParams {
    pub c1: f64,
    pub c2: f64,
    /// Stop zooming when the bracket is narrower than this (times ‖d‖).
    pub tolerance_change: f64,
    pub max_evaluations: usize,
}

impl Default for WolfeParams {
    fn default() -> Self {
        WolfeParams {
            c1: 1e-4,
            c2: 0.9,
            tolerance_change: 1e-9,
            max_evaluations: 25,
        }
    }
}

/// The step found: its value and how many evaluations the search made.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    pub t: f64,
    pub f: f64,
    pub evaluations: usize,
}

/// Minimiser of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped to `bounds`
/// (default: between x1 and x2); the midpoint when the cubic has no minimum.
fn cubic_interpolate(
    (x1, f1, g1): (f64, f64, f64),
    (x2, f2, g2): (f64, f64, f64),
    bounds: Option<(f64, f64)>,
) -> f64 {
    let (lo, hi) = bounds.unwrap_or(if x1 <= x2 { (x1, x2) } else { (x2, x1) });
    let d1 = g1 + g2 - 3.0 * (f1 - f2) / (x1 - x2);
    let d2_square = d1 * d1 - g1 * g2;
    if d2_square >= 0.0 {
        let d2 = d2_square.sqrt();
        let t = if x1 <= x2 {
            x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2.0 * d2))
        } else {
            x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2.0 * d2))
        };
        t.max(lo).min(hi)
    } else {
        (lo + hi) / 2.0
    }
}

/// A point of the search: step, value, directional derivative.
type Point = (f64, f64, f64);

/// Searches from `t` along a descent direction with φ(0) = `f0`, φ'(0) = `gtd0` < 0;
/// `d_norm` scales the bracket-width tolerance.
pub fn strong_wolfe<E>(
    phi: &mut dyn FnMut(f64) -> Result<(f64, f64), E>,
    f0: f64,
    gtd0: f64,
    mut t: f64,
    d_norm: f64,
    p: WolfeParams,
) -> Result<Step, E> {
    let sufficient = |t: f64, f: f64| f <= f0 + p.c1 * t * gtd0;
    let curvature = |gtd: f64| gtd.abs() <= -p.c2 * gtd0;
    let (mut f_new, mut gtd_new) = phi(t)?;
    let mut evaluations = 1;
    let mut prev: Point = (0.0, f0, gtd0);
    let mut iteration = 0;
    // Bracketing: grow the step until the interval [prev, t] holds a Wolfe point.
    let mut bracket: Vec<Point> = loop {
        if iteration >= p.max_evaluations {
            break vec![(0.0, f0, gtd0), (t, f_new, gtd_new)];
        }
        if !sufficient(t, f_new) || (iteration > 1 && f_new >= prev.1) {
            break vec![prev, (t, f_new, gtd_new)];
        }
        if curvature(gtd_new) {
            return Ok(Step {
                t,
                f: f_new,
                evaluations,
            });
        }
        if gtd_new >= 0.0 {
            break vec![prev, (t, f_new, gtd_new)];
        }
        let bounds = (t + 0.01 * (t - prev.0), t * 10.0);
        let next = cubic_interpolate(prev, (t, f_new, gtd_new), Some(bounds));
        prev = (t, f_new, gtd_new);
        t = next;
        (f_new, gtd_new) = phi(t)?;
        evaluations += 1;
        iteration += 1;
    };

    // Zoom: shrink the bracket, keeping `low` the end with the lower value.
    let order = |b: &[Point]| if b[0].1 <= b[1].1 { (0, 1) } else { (1, 0) };
    let (mut low, mut high) = order(&bracket);
    let mut insufficient_progress = false;
    while iteration < p.max_evaluations {
        let (b_min, b_max) = (
            bracket[0].0.min(bracket[1].0),
            bracket[0].0.max(bracket[1].0),
        );
        if (b_max - b_min) * d_norm < p.tolerance_change {
            break;
        }
        t = cubic_interpolate(bracket[0], bracket[1], None);
        // Too close to an end of the bracket: move away from it, unless the last step
        // already made progress there.
        let eps = 0.1 * (b_max - b_min);
        if (b_max - t).min(t - b_min) < eps {
            if insufficient_progress || t >= b_max || t <= b_min {
                t = if (t - b_max).abs() < (t - b_min).abs() {
                    b_max - eps
                } else {
                    b_min + eps
                };
                insufficient_progress = false;
            } else {
                insufficient_progress = true;
            }
        } else {
            insufficient_progress = false;
        }
        (f_new, gtd_new) = phi(t)?;
        evaluations += 1;
        iteration += 1;
        if !sufficient(t, f_new) || f_new >= bracket[low].1 {
            bracket[high] = (t, f_new, gtd_new);
            (low, high) = order(&bracket);
        } else {
            if curvature(gtd_new) {
                return Ok(Step {
                    t,
                    f: f_new,
                    evaluations,
                });
            }
            if gtd_new * (bracket[high].0 - bracket[low].0) >= 0.0 {
                bracket[high] = bracket[low];
            }
            bracket[low] = (t, f_new, gtd_new);
        }
    }
    Ok(Step {
        t: bracket[low].0,
        f: bracket[low].1,
        evaluations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// φ(t) = (t − 3)² from t = 1: the search must end where both Wolfe conditions
    /// hold.
    #[test]
    fn finds_a_wolfe_step_on_a_parabola() {
        let mut calls = vec![];
        let mut phi = |t: f64| -> Result<(f64, f64), ()> {
            calls.push(t);
            Ok(((t - 3.0).powi(2), 2.0 * (t - 3.0)))
        };
        let (f0, g0) = (9.0, -6.0);
        let step = strong_wolfe(&mut phi, f0, g0, 1.0, 1.0, WolfeParams::default()).unwrap();
        let p = WolfeParams::default();
        assert!(step.f <= f0 + p.c1 * step.t * g0);
        assert!((2.0 * (step.t - 3.0)).abs() <= -p.c2 * g0);
        assert_eq!(step.evaluations, calls.len());
    }

    /// A first step far too long overshoots; zooming brings it back into the bracket.
    #[test]
    fn zooms_back_from_an_overshoot() {
        let mut phi = |t: f64| -> Result<(f64, f64), ()> {
            Ok((
                (t - 0.5).powi(2) + 0.1 * (t - 0.5).powi(4),
                2.0 * (t - 0.5) + 0.4 * (t - 0.5).powi(3),
            ))
        };
        let f0 = 0.25 + 0.1 * 0.0625;
        let g0 = -1.0 - 0.4 * 0.125;
        let step = strong_wolfe(&mut phi, f0, g0, 20.0, 1.0, WolfeParams::default()).unwrap();
        assert!(step.t > 0.0 && step.t < 1.0, "{step:?}");
        assert!(step.f < f0);
    }

    #[test]
    fn cubic_interpolation_is_exact_for_a_cubic() {
        // f(x) = x³ − 3x has its local minimum at x = 1.
        let f = |x: f64| x * x * x - 3.0 * x;
        let g = |x: f64| 3.0 * x * x - 3.0;
        let t = cubic_interpolate((0.0, f(0.0), g(0.0)), (2.0, f(2.0), g(2.0)), None);
        assert!((t - 1.0).abs() < 1e-12, "{t}");
    }
}
