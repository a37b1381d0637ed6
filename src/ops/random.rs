//! Counter-based random numbers with exact parity between backends, and the fused noise
//! op built on them (input corruption for denoising autoencoders, dropout).
//!
//! **Generator.** Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers:
//! as easy as 1, 2, 3", SC'11; the Random123 library): a keyed bijection of a 128-bit
//! counter, ten rounds of two 32×32→64-bit products, with the key bumped by Weyl
//! constants between rounds. A draw is a pure function of (key, counter), so every
//! element computes its own numbers with no state to carry between launches or steps,
//! and the same integer arithmetic here and in `shaders/random.wgsl` gives the same
//! words bit for bit. `tests/random.rs` checks Random123's known-answer vectors.
//!
//! **Layout.** A graph that draws numbers takes a host input of `DType::U32` and shape
//! [`RNG_SHAPE`] = [1, 4] holding `[seed_lo, seed_hi, step_lo, step_hi]` ([`rng_feed`]):
//! the run's 64-bit seed and a 64-bit step that the caller advances every step. Element
//! `i` of a noise op with stream `s` draws the four words
//!
//! ```text
//! philox4x32_10(counter = [i, s, step_lo, step_hi], key = [seed_lo, seed_hi])
//! ```
//!
//! so each (seed, step, stream, element) owns one block: two noise ops in a graph
//! differ by stream, two steps by the counter's high half, and a step is reproducible
//! from its number alone.
//!
//! **Numbers from words**, exact in f32 on both backends (a 24-bit integer times 2⁻²⁴):
//!
//! ```text
//! to_uniform(w)          = (w >> 8) · 2⁻²⁴        ∈ [0, 1)
//! to_positive_uniform(w) = ((w >> 8) + 1) · 2⁻²⁴  ∈ (0, 1]
//! ```
//!
//! and a Gaussian by Box–Muller from words 0 and 1, `z = √(−2 ln u₁) · cos(2π (u₂ − ½))`
//! with u₁ = to_positive_uniform(w₀), u₂ = to_uniform(w₁): the angle is shifted into
//! [−π, π), where WGSL specifies `cos` (the shift is exact and keeps the law).
//!
//! **The noise op.** `Op::Noise { noise, stream }`, operands `[x, rng]`, output shaped
//! like x. With u₀ = to_uniform(w₀), u₁ = to_uniform(w₁):
//!
//! ```text
//! Gaussian { σ }               y = x + σ z                      dx = dy
//! Mask { p }                   y = u₀ < p ? 0 : x               dx = Mask { p }(dy)
//! SaltPepper { p, low, high }  y = u₀ < p ? (u₁ < ½ ? low : high) : x
//!                                                               dx = Mask { p }(dy)
//! Dropout { p }                y = u₀ < p ? 0 : x · s           dx = Dropout { p }(dy)
//!                              (s = 1/(1 − p), rounded to f32 once, on the host)
//! Binarize                     y = u₀ < x ? 1 : 0               not differentiable
//! ```
//!
//! Binarize draws a Bernoulli(x) pixel for x ∈ [0, 1]: a fresh binarisation of grey
//! data every time a row is drawn (dynamic binarisation of MNIST, Salakhutdinov &
//! Murray 2008, used to train VAEs); its operand is data, so it has no gradient.
//!
//! ```text
//! ```
//!
//! Every selection uses u₀ < p, so the backward op, run on the same stream and feed,
//! recomputes the forward mask instead of storing it. Dropout is inverted (kept values
//! scaled up, so the expectation is unchanged), so it is simply left out of evaluation
//! graphs. The comparisons and the masked products are exact, so Mask,
//! SaltPepper and Dropout are bit-identical between backends; Gaussian goes through
//! WGSL's `log` and `cos`, which are not correctly rounded.
//!
//! WGSL: `shaders/random.wgsl`, entry `noise`, override constant `NOISE`
//! ([`Noise::code`]).

use std::f32::consts::TAU;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::graph::{DType, Graph, GraphError, Shape, ValueId};
use crate::ops::{Op, Real};

/// The shape of the `rng` operand: `[seed_lo, seed_hi, step_lo, step_hi]`.
pub const RNG_SHAPE: Shape = Shape { rows: 1, cols: 4 };

/// Philox4x32's round multipliers and Weyl key increments (Salmon et al. 2011, Random123).
const PHILOX_M: [u32; 2] = [0xD251_1F53, 0xCD9E_8D57];
const PHILOX_W: [u32; 2] = [0x9E37_79B9, 0xBB67_AE85];

/// 2⁻²⁴: the spacing of the 24-bit uniforms.
const TWO_TO_MINUS_24: f32 = 1.0 / 16_777_216.0;

/// The high and low words of the 64-bit product a·b.
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let product = u64::from(a) * u64::from(b);
    ((product >> 32) as u32, product as u32)
}

/// Philox4x32 with 10 rounds, as Random123's `philox4x32_R(10, ctr, key)`.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let (mut c, mut k) = (counter, key);
    for _ in 0..10 {
        let (hi0, lo0) = mulhilo(PHILOX_M[0], c[0]);
        let (hi1, lo1) = mulhilo(PHILOX_M[1], c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
        k = [
            k[0].wrapping_add(PHILOX_W[0]),
            k[1].wrapping_add(PHILOX_W[1]),
        ];
    }
    c
}

/// The host feed of a graph's `rng` input for this seed and step.
pub fn rng_feed(seed: u64, step: u64) -> [u32; 4] {
    [
        seed as u32,
        (seed >> 32) as u32,
        step as u32,
        (step >> 32) as u32,
    ]
}

/// The four words element `element` of stream `stream` draws from the feed `rng`.
pub fn draw(rng: [u32; 4], stream: u32, element: u32) -> [u32; 4] {
    philox4x32_10([element, stream, rng[2], rng[3]], [rng[0], rng[1]])
}

/// The name under which every training graph allocates its input corruption's stream,
/// first, so that it is stream 0 in all of them (`train::batched::corrupt` reproduces
/// the training corruption by that number).
pub const INPUT_NOISE: &str = "input_noise";

/// The random streams of one graph, handed out by name so two noise ops cannot draw the
/// same numbers by accident: a name is allocated once, and a number is never handed
/// out twice. Names are paths in the model's words (`dropout/encoder.0`,
/// `contractive/direction.3`).
///
/// Numbers come in allocation order from the lowest free one, or from the lowest free
/// one at or above a floor ([`Streams::allocate_from`]) for a family that should keep
/// its numbers however many streams come before it (the contractive estimator's
/// directions start at 2¹⁶, so adding layers, and so dropout streams, never shifts
/// them). A graph built the same way therefore always gets the same numbers, which is
/// what makes a step reproducible from its seed and number.
#[derive(Clone, Debug, Default)]
pub struct Streams {
    /// (name, stream) in allocation order.
    allocated: Vec<(String, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("random stream `{name}` is already allocated (stream {stream})")]
    NameTaken { name: String, stream: u32 },
    #[error("no random stream at or above {floor} is left for `{name}`")]
    Exhausted { name: String, floor: u32 },
}

impl From<StreamError> for GraphError {
    fn from(e: StreamError) -> Self {
        GraphError::Invalid(e.to_string())
    }
}

impl Streams {
    pub fn new() -> Self {
        Streams::default()
    }

    /// The lowest stream no other name holds, now `name`'s.
    pub fn allocate(&mut self, name: &str) -> Result<u32, StreamError> {
        self.allocate_from(name, 0)
    }

    /// The lowest stream at or above `floor` that no other name holds, now `name`'s.
    pub fn allocate_from(&mut self, name: &str, floor: u32) -> Result<u32, StreamError> {
        if let Some(stream) = self.get(name) {
            return Err(StreamError::NameTaken {
                name: name.to_string(),
                stream,
            });
        }
        let mut taken: Vec<u32> = self
            .allocated
            .iter()
            .map(|&(_, s)| s)
            .filter(|&s| s >= floor)
            .collect();
        taken.sort_unstable();
        let mut stream = floor;
        for s in taken {
            if s != stream {
                break;
            }
            stream = stream
                .checked_add(1)
                .ok_or_else(|| StreamError::Exhausted {
                    name: name.to_string(),
                    floor,
                })?;
        }
        self.allocated.push((name.to_string(), stream));
        Ok(stream)
    }

    /// The stream `name` holds, if it was allocated.
    pub fn get(&self, name: &str) -> Option<u32> {
        self.allocated
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, s)| s)
    }

    /// Every (name, stream), in allocation order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u32)> {
        self.allocated.iter().map(|(n, s)| (n.as_str(), *s))
    }
}

/// A uniform in [0, 1) from the top 24 bits of `w` (exact in f32).
pub fn to_uniform(w: u32) -> f32 {
    (w >> 8) as f32 * TWO_TO_MINUS_24
}

/// A uniform in (0, 1] from the top 24 bits of `w`: safe to take the log of.
pub fn to_positive_uniform(w: u32) -> f32 {
    ((w >> 8) + 1) as f32 * TWO_TO_MINUS_24
}

/// A standard normal by Box–Muller from two words (see the module doc).
pub fn gaussian(w0: u32, w1: u32) -> f32 {
    let radius = (-2.0 * to_positive_uniform(w0).ln()).max(0.0).sqrt();
    let angle = TAU * (to_uniform(w1) - 0.5);
    radius * angle.cos()
}

/// A kind of noise, with its parameters. The CLI spells them `gaussian:σ`, `mask:p`,
/// `salt-pepper:p` (low 0, high 1) or `salt-pepper:p:low:high`, `dropout:p` and
/// `binarize`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Noise {
    /// Additive Gaussian noise of standard deviation `sigma`.
    Gaussian { sigma: f32 },
    /// Masking noise: each element zeroed with probability `p`.
    Mask { p: f32 },
    /// Salt-and-pepper: each element set, with probability `p`, to `low` or `high`
    /// with equal chance.
    SaltPepper { p: f32, low: f32, high: f32 },
    /// Inverted dropout: each element zeroed with probability `p`, the others scaled
    /// by 1/(1 − p) so the expectation is unchanged.
    Dropout { p: f32 },
    /// Each element becomes 1 with probability x (clamped to [0, 1]), else 0.
    Binarize,
}

impl Noise {
    /// The integer the WGSL kernel switches on (override constant `NOISE`).
    pub fn code(self) -> u32 {
        match self {
            Noise::Gaussian { .. } => 0,
            Noise::Mask { .. } => 1,
            Noise::SaltPepper { .. } => 2,
            Noise::Dropout { .. } => 3,
            Noise::Binarize => 4,
        }
    }

    /// Checks the parameters: 0 ≤ p < 1, σ ≥ 0, all finite.
    pub fn validate(self) -> Result<(), String> {
        let probability = |what: &str, p: f32| {
            if (0.0..1.0).contains(&p) {
                Ok(())
            } else {
                Err(format!("{what} probability must be in [0, 1), got {p}"))
            }
        };
        match self {
            Noise::Gaussian { sigma } => {
                if sigma.is_finite() && sigma >= 0.0 {
                    Ok(())
                } else {
                    Err(format!(
                        "gaussian noise σ must be finite and ≥ 0, got {sigma}"
                    ))
                }
            }
            Noise::Mask { p } => probability("masking", p),
            Noise::Dropout { p } => probability("dropout", p),
            Noise::Binarize => Ok(()),
            Noise::SaltPepper { p, low, high } => {
                probability("salt-and-pepper", p)?;
                if low.is_finite() && high.is_finite() {
                    Ok(())
                } else {
                    Err(format!(
                        "salt-and-pepper levels must be finite, got low {low}, high {high}"
                    ))
                }
            }
        }
    }

    /// The factor on kept elements: 1/(1 − p) for dropout, 1 otherwise. Computed once
    /// in f32 on the host, for both backends.
    pub fn keep_scale(self) -> f32 {
        match self {
            Noise::Dropout { p } => 1.0 / (1.0 - p),
            _ => 1.0,
        }
    }

    /// The shape rule: `[x (f32), rng (u32 [1, 4])]` → x's shape.
    pub fn shape(self, s: &[Shape], d: &[DType]) -> Result<Shape, String> {
        self.validate()?;
        if d[0] != DType::F32 {
            return Err(format!("the noised value must be f32, got {:?}", d[0]));
        }
        if d[1] != DType::U32 || s[1] != RNG_SHAPE {
            return Err(format!(
                "the rng operand must be u32 {RNG_SHAPE} [seed_lo, seed_hi, step_lo, step_hi], \
                 got {} of {:?}",
                s[1], d[1]
            ));
        }
        if s[0].len() > u32::MAX as usize {
            return Err(format!(
                "draws are keyed by a 32-bit element index; {} has too many elements",
                s[0]
            ));
        }
        Ok(s[0])
    }

    /// One element: `x` corrupted with the words it drew.
    pub fn apply<T: Real>(self, x: T, w: [u32; 4]) -> T {
        let hit = |p: f32| to_uniform(w[0]) < p;
        match self {
            Noise::Gaussian { sigma } => x + T::from_f32(sigma * gaussian(w[0], w[1])),
            Noise::Mask { p } => {
                if hit(p) {
                    T::zero()
                } else {
                    x
                }
            }
            Noise::SaltPepper { p, low, high } => {
                if !hit(p) {
                    x
                } else if to_uniform(w[1]) < 0.5 {
                    T::from_f32(low)
                } else {
                    T::from_f32(high)
                }
            }
            Noise::Dropout { p } => {
                if hit(p) {
                    T::zero()
                } else {
                    x * T::from_f32(self.keep_scale())
                }
            }
            Noise::Binarize => {
                if T::from_f32(to_uniform(w[0])) < x {
                    T::one()
                } else {
                    T::zero()
                }
            }
        }
    }

    /// The CPU reference over a range of elements whose first global index is
    /// `first`; `rng` holds the feed's four words as `Real::from_index` made them.
    pub fn cpu<T: Real>(self, stream: u32, rng: &[T], first: usize, x: &[T], out: &mut [T]) {
        let rng = [0, 1, 2, 3].map(|k| rng[k].to_index() as u32);
        for (i, (o, &x)) in out.iter_mut().zip(x).enumerate() {
            // The shape rule keeps every index below 2³².
            *o = self.apply(x, draw(rng, stream, (first + i) as u32));
        }
    }

    /// The vector-Jacobian rule (see the module doc). The rng operand has no gradient.
    pub fn vjp(
        self,
        stream: u32,
        g: &mut Graph,
        inputs: &[ValueId],
        dout: ValueId,
        needs: &[bool],
    ) -> Result<Vec<Option<ValueId>>, GraphError> {
        if !needs[0] {
            return Ok(vec![None, None]);
        }
        let rng = inputs[1];
        let dx = match self {
            Noise::Gaussian { .. } => dout,
            Noise::Mask { p } | Noise::SaltPepper { p, .. } => g.push(
                Op::Noise {
                    noise: Noise::Mask { p },
                    stream,
                },
                &[dout, rng],
            )?,
            Noise::Dropout { .. } => g.push(
                Op::Noise {
                    noise: self,
                    stream,
                },
                &[dout, rng],
            )?,
            Noise::Binarize => {
                return Err(GraphError::NotDifferentiable {
                    op: "binarize noise".into(),
                    detail: "a Bernoulli draw of data has no gradient".into(),
                })
            }
        };
        Ok(vec![Some(dx), None])
    }
}

impl fmt::Display for Noise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Noise::Gaussian { sigma } => write!(f, "gaussian:{sigma}"),
            Noise::Mask { p } => write!(f, "mask:{p}"),
            Noise::SaltPepper { p, low, high } if low == 0.0 && high == 1.0 => {
                write!(f, "salt-pepper:{p}")
            }
            Noise::SaltPepper { p, low, high } => write!(f, "salt-pepper:{p}:{low}:{high}"),
            Noise::Dropout { p } => write!(f, "dropout:{p}"),
            Noise::Binarize => write!(f, "binarize"),
        }
    }
}

impl FromStr for Noise {
    type Err = String;
    /// `gaussian:σ`, `mask:p`, `salt-pepper:p` or `salt-pepper:p:low:high`, `dropout:p`.
    fn from_str(s: &str) -> Result<Self, String> {
        const EXPECTED: &str =
            "gaussian:σ, mask:p, salt-pepper:p[:low:high], dropout:p or binarize";
        let s = s.trim().to_ascii_lowercase();
        let mut parts = s.split(':');
        let name = parts.next().unwrap_or_default();
        let args: Vec<&str> = parts.collect();
        let number = |what: &str, text: &str| {
            text.trim()
                .parse::<f32>()
                .map_err(|_| format!("{name} {what} `{text}` is not a number"))
        };
        let noise = match (name, args.as_slice()) {
            ("gaussian", [sigma]) => Noise::Gaussian {
                sigma: number("σ", sigma)?,
            },
            ("mask", [p]) => Noise::Mask {
                p: number("probability", p)?,
            },
            ("dropout", [p]) => Noise::Dropout {
                p: number("probability", p)?,
            },
            ("binarize", []) => Noise::Binarize,
            ("salt-pepper" | "salt_pepper", [p]) => Noise::SaltPepper {
                p: number("probability", p)?,
                low: 0.0,
                high: 1.0,
            },
            ("salt-pepper" | "salt_pepper", [p, low, high]) => Noise::SaltPepper {
                p: number("probability", p)?,
                low: number("low level", low)?,
                high: number("high level", high)?,
            },
            ("gaussian", _) => return Err(format!("expected gaussian:σ, got `{s}`")),
            ("mask" | "dropout", _) => return Err(format!("expected {name}:p, got `{s}`")),
            ("salt-pepper" | "salt_pepper", _) => {
                return Err(format!(
                    "expected salt-pepper:p or salt-pepper:p:low:high, got `{s}`"
                ))
            }
            _ => return Err(format!("unknown noise `{s}` (expected {EXPECTED})")),
        };
        noise.validate()?;
        Ok(noise)
    }
}
