//! Random numbers and the noise op (`src/ops/random.rs`, `shaders/random.wgsl`).
//!
//! 1. The generator is Philox4x32-10, word for word: Random123's known answers.
//! 2. Words become numbers exactly as documented, keyed by (seed, step, stream,
//!    element), and the CPU reference applies that formula at every element's global
//!    index however the launch is split over threads.
//! 3. The noise has the statistics it promises (on the CPU, ~10⁵ draws, bounds of 5
//!    standard deviations: a false alarm is a one-in-a-million event, and the seeds are
//!    fixed anyway).
//! 4. The GPU draws the same numbers: Mask, Dropout and SaltPepper bit-identical,
//!    Gaussian within a stated tolerance.
//! 5. Gradients through every kind of noise match finite differences (f64).
//! 6. Parameters are checked and spelled as on the command line.

#[path = "common/gpu.rs"]
mod gpu;

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::{Backend, Feed};
use aegpu::graph::{grad, DType, EntryKind, Graph, ParamStore, Plan, Shape, ValueId};
use aegpu::ops::random::{
    draw, gaussian, philox4x32_10, rng_feed, to_positive_uniform, to_uniform, StreamError, Streams,
    INPUT_NOISE, RNG_SHAPE,
};
use aegpu::ops::{Axis, BinaryOp, Noise, Op, Real, Reduce, ReduceKind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Runs one noise op over the host value `x` of `shape` with the feed `rng` and returns
/// its output in the backend's precision.
fn run_noise<T: Real>(
    backend: &mut CpuBackend<T>,
    noise: Noise,
    stream: u32,
    shape: Shape,
    x: &[f32],
    rng: [u32; 4],
) -> Vec<T> {
    let (graph, y) = noise_graph(noise, stream, shape);
    let plan = Plan::new(&graph, &ParamStore::new()).expect("plan");
    let id = backend.prepare(&plan).expect("prepare");
    backend
        .run(id, &[Feed::F32(x), Feed::U32(&rng)])
        .expect("run");
    backend.output_values(id, y).expect("read")
}

/// x [shape] and rng [1, 4] host inputs, in that order, and the op's output.
fn noise_graph(noise: Noise, stream: u32, shape: Shape) -> (Graph, ValueId) {
    let mut g = Graph::new();
    let x = g.input("x", shape, DType::F32);
    let rng = g.input("rng", RNG_SHAPE, DType::U32);
    let y = g
        .push(Op::Noise { noise, stream }, &[x, rng])
        .expect("shape rule");
    g.mark_output(y);
    (g, y)
}

fn cpu_noise(noise: Noise, stream: u32, x: &[f32], rng: [u32; 4]) -> Vec<f32> {
    let shape = Shape::new(1, x.len());
    run_noise(&mut CpuBackend::<f32>::new(), noise, stream, shape, x, rng)
}

fn gpu_noise(
    gpu: &mut dyn Backend,
    noise: Noise,
    stream: u32,
    shape: Shape,
    x: &[f32],
    rng: [u32; 4],
) -> Vec<f32> {
    let (graph, y) = noise_graph(noise, stream, shape);
    let plan = Plan::new(&graph, &ParamStore::new()).expect("plan");
    let id = gpu.prepare(&plan).expect("prepare");
    gpu.run(id, &[Feed::F32(x), Feed::U32(&rng)])
        .unwrap_or_else(|e| panic!("{noise} on {shape}: the GPU failed: {e}"));
    let out = gpu.read_output(id, y).expect("read");
    gpu.release(id);
    out
}

fn random_values(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-3.0..3.0)).collect()
}

/// Passes when `count` successes of `n` trials with probability `p` are within five
/// standard deviations of n·p.
fn assert_binomial(what: &str, count: usize, n: usize, p: f64) {
    let (mean, sd) = (n as f64 * p, (n as f64 * p * (1.0 - p)).sqrt());
    assert!(
        (count as f64 - mean).abs() <= 5.0 * sd,
        "{what}: {count} of {n}, expected {mean:.0} ± {:.0} (5σ)",
        5.0 * sd
    );
}

// ---------------------------------------------------------------------------------
// 1. The generator.

/// (counter, key, output) of `philox4x32 10` lines in Random123's known-answer files
/// (hex words, in the files' order). The first three are `tests/kat_vectors` of the
/// Random123 distribution (Salmon et al., SC'11): zeros, all ones, and digits of π;
/// the others are from its `examples/kat_vectors` (written by its gentests.py), chosen
/// for keys and counters with single bits set, high and low.
const KNOWN_ANSWERS: [([u32; 4], [u32; 2], [u32; 4]); 7] = [
    (
        [0x00000000, 0x00000000, 0x00000000, 0x00000000],
        [0x00000000, 0x00000000],
        [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
    ),
    (
        [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
        [0xffffffff, 0xffffffff],
        [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
    ),
    (
        [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
        [0xa4093822, 0x299f31d0],
        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
    ),
    (
        [0x00000001, 0x00000000, 0x00000000, 0x00000000],
        [0x00000001, 0x00000000],
        [0xac08141b, 0xdfc5ccbe, 0x79c07a47, 0xa7f66093],
    ),
    (
        [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
        [0x00000000, 0x00000001],
        [0x126514c3, 0xd1898b69, 0xda2707b3, 0x6e6fb436],
    ),
    (
        [0x00000000, 0x00000000, 0x00000000, 0x80000000],
        [0x00000000, 0x80000000],
        [0xf7a0b371, 0xe51dc93d, 0x56ce135d, 0x1d4b5580],
    ),
    (
        [0xa4093822, 0x299f31d0, 0x082efa98, 0xec4e6c89],
        [0x00000000, 0xffffffff],
        [0x9fcce05d, 0x837d3f3c, 0x5cdf3e61, 0xdb2544c0],
    ),
];

#[test]
fn philox_matches_random123_known_answers() {
    for (counter, key, expected) in KNOWN_ANSWERS {
        assert_eq!(
            philox4x32_10(counter, key),
            expected,
            "counter {counter:08x?}, key {key:08x?}"
        );
    }
}

// ---------------------------------------------------------------------------------
// 2. Words to numbers, keys, and the CPU reference's indexing.

#[test]
fn uniforms_are_exact_24_bit_grids() {
    let step = 1.0 / 16_777_216.0; // 2⁻²⁴
    assert_eq!(to_uniform(0), 0.0);
    assert_eq!(to_uniform(0xff), 0.0, "the low 8 bits are dropped");
    assert_eq!(to_uniform(0x100), step);
    assert_eq!(to_uniform(u32::MAX), 1.0 - step, "never 1");
    assert_eq!(to_positive_uniform(0), step, "never 0: log is finite");
    assert_eq!(to_positive_uniform(u32::MAX), 1.0);
    assert_eq!(to_uniform(0x8000_0000), 0.5);
    // 2π as f32: random.wgsl writes it as these bits.
    assert_eq!(std::f32::consts::TAU.to_bits(), 0x40c9_0fdb);
    // Box–Muller's extremes: the largest radius √(2·24 ln 2) ≈ 5.77, and zero.
    let largest = gaussian(0, 0x8000_0000); // angle 0: cos = 1
    assert!((largest - (48.0f32 * std::f32::consts::LN_2).sqrt()).abs() < 1e-5);
    assert_eq!(gaussian(u32::MAX, 0x1234_5678), 0.0);
}

/// The feed is [seed_lo, seed_hi, step_lo, step_hi]; Philox's key is the seed and its
/// counter [element, stream, step_lo, step_hi].
#[test]
fn draws_are_keyed_by_seed_step_stream_and_element() {
    let seed = 0x0123_4567_89ab_cdef_u64;
    let step = 0xfedc_ba98_7654_3210_u64;
    let rng = rng_feed(seed, step);
    assert_eq!(rng, [0x89ab_cdef, 0x0123_4567, 0x7654_3210, 0xfedc_ba98]);
    assert_eq!(
        draw(rng, 5, 42),
        philox4x32_10(
            [42, 5, 0x7654_3210, 0xfedc_ba98],
            [0x89ab_cdef, 0x0123_4567]
        )
    );
}

/// On ranges long enough to be split over threads, every element is
/// `Noise::apply(x, draw(rng, stream, i))` at its global index i, in f32 and in f64.
#[test]
fn cpu_reference_is_the_formula_at_every_global_index() {
    let n = 100_003;
    let x = random_values(n, 1);
    let rng = rng_feed(9, 4);
    for noise in [
        Noise::Gaussian { sigma: 0.7 },
        Noise::Mask { p: 0.3 },
        Noise::SaltPepper {
            p: 0.3,
            low: -1.0,
            high: 2.0,
        },
        Noise::Dropout { p: 0.3 },
    ] {
        let shape = Shape::new(7, n / 7 + 1);
        let mut padded = x.clone();
        padded.resize(shape.len(), 0.5);
        let single = run_noise(
            &mut CpuBackend::<f32>::new(),
            noise,
            11,
            shape,
            &padded,
            rng,
        );
        let double = run_noise(
            &mut CpuBackend::<f64>::new(),
            noise,
            11,
            shape,
            &padded,
            rng,
        );
        for (i, &xi) in padded.iter().enumerate() {
            let w = draw(rng, 11, i as u32);
            assert_eq!(
                single[i].to_bits(),
                noise.apply(xi, w).to_bits(),
                "{noise} f32, element {i}"
            );
            assert_eq!(
                double[i],
                noise.apply(xi as f64, w),
                "{noise} f64, element {i}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------
// 3. Statistics (CPU).

const DRAWS: usize = 100_000;

#[test]
fn masking_zeroes_a_fraction_p() {
    let ones = vec![1.0; DRAWS];
    for p in [0.05, 0.3, 0.5, 0.9] {
        let y = cpu_noise(Noise::Mask { p }, 0, &ones, rng_feed(1, 1));
        assert!(y.iter().all(|&v| v == 0.0 || v == 1.0));
        let zeros = y.iter().filter(|&&v| v == 0.0).count();
        assert_binomial(&format!("mask:{p}"), zeros, DRAWS, p as f64);
    }
}

#[test]
fn gaussian_noise_is_standard_normal() {
    let zeros = vec![0.0; DRAWS];
    let z = cpu_noise(Noise::Gaussian { sigma: 1.0 }, 0, &zeros, rng_feed(2, 1));
    let n = DRAWS as f64;
    let mean = z.iter().map(|&v| v as f64).sum::<f64>() / n;
    let variance = z.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0);
    // The sample mean has sd 1/√n, the sample variance √(2/n).
    assert!(mean.abs() <= 5.0 / n.sqrt(), "mean {mean}");
    assert!(
        (variance - 1.0).abs() <= 5.0 * (2.0 / n).sqrt(),
        "variance {variance}"
    );
    // The shape, not just two moments: P(|z| < 1) = 0.682689, P(z > 2) = 0.0227501.
    let within_one = z.iter().filter(|v| v.abs() < 1.0).count();
    assert_binomial("|z| < 1", within_one, DRAWS, 0.682689);
    let above_two = z.iter().filter(|&&v| v > 2.0).count();
    assert_binomial("z > 2", above_two, DRAWS, 0.0227501);

    // σ scales it and x shifts it.
    let x = vec![3.0; DRAWS];
    let y = cpu_noise(Noise::Gaussian { sigma: 0.5 }, 0, &x, rng_feed(2, 1));
    for (&y, &z) in y.iter().zip(&z) {
        assert_eq!(y, 3.0 + 0.5 * z);
    }
}

#[test]
fn dropout_preserves_the_mean_and_drops_what_mask_drops() {
    let ones = vec![1.0; DRAWS];
    let p = 0.3;
    let rng = rng_feed(3, 1);
    let y = cpu_noise(Noise::Dropout { p }, 5, &ones, rng);
    let scale = 1.0 / (1.0 - p);
    assert!(y.iter().all(|&v| v == 0.0 || v == scale));
    // Each y is scale·Bernoulli(1 − p): mean 1, variance p / (1 − p).
    let mean = y.iter().map(|&v| v as f64).sum::<f64>() / DRAWS as f64;
    let sd = (p as f64 / (1.0 - p as f64) / DRAWS as f64).sqrt();
    assert!((mean - 1.0).abs() <= 5.0 * sd, "mean {mean}");
    let masked = cpu_noise(Noise::Mask { p }, 5, &ones, rng);
    for (&d, &m) in y.iter().zip(&masked) {
        assert_eq!(d == 0.0, m == 0.0);
    }
}

#[test]
fn salt_and_pepper_sets_low_and_high_equally_often() {
    let half = vec![0.5; DRAWS];
    let p = 0.2;
    let noise = Noise::SaltPepper {
        p,
        low: -1.0,
        high: 2.0,
    };
    let y = cpu_noise(noise, 0, &half, rng_feed(4, 1));
    assert!(y.iter().all(|&v| v == 0.5 || v == -1.0 || v == 2.0));
    let low = y.iter().filter(|&&v| v == -1.0).count();
    let high = y.iter().filter(|&&v| v == 2.0).count();
    assert_binomial("low", low, DRAWS, p as f64 / 2.0);
    assert_binomial("high", high, DRAWS, p as f64 / 2.0);
}

/// The same (seed, step, stream) gives the same mask; changing any one of them, in
/// the low or the high word, gives a mask independent of it: both masks drop an element
/// with probability p² = ¼.
#[test]
fn streams_steps_and_seeds_give_independent_masks() {
    let ones = vec![1.0; DRAWS];
    let mask = |seed: u64, step: u64, stream: u32| {
        cpu_noise(Noise::Mask { p: 0.5 }, stream, &ones, rng_feed(seed, step))
    };
    let base = mask(10, 20, 1);
    assert_eq!(base, mask(10, 20, 1), "same key, same mask");
    let others = [
        ("stream", mask(10, 20, 2)),
        ("step", mask(10, 21, 1)),
        ("step's high word", mask(10, 20 + (1 << 32), 1)),
        ("seed", mask(11, 20, 1)),
        ("seed's high word", mask(10 + (1 << 32), 20, 1)),
    ];
    for (what, other) in others {
        let both = base
            .iter()
            .zip(&other)
            .filter(|(&a, &b)| a == 0.0 && b == 0.0)
            .count();
        assert_binomial(&format!("another {what}"), both, DRAWS, 0.25);
    }
}

// ---------------------------------------------------------------------------------
// 4. GPU against CPU.

/// Element counts that are never a multiple of a 256-wide workgroup, and a large one.
const SHAPES: [(usize, usize); 4] = [(1, 1), (1, 7), (257, 1), (1, 100_003)];

/// Mask, Dropout and SaltPepper are comparisons of exact uniforms and exact products:
/// the GPU's output must equal the CPU's bit for bit. The masks at p = k/16 with x = 1
/// make the top four bits of every element's word 0 visible, and salt-and-pepper's
/// choice the top bit of word 1, so a wrong Philox word on the GPU cannot hide.
#[test]
fn noise_matches_cpu_bit_for_bit() {
    let Some(mut gpu) = gpu::gpu_backend() else {
        return;
    };
    let rng = rng_feed(0x0123_4567_89ab_cdef, 0xffff_fffe_0000_0003);
    let mut cases: Vec<(Noise, u32)> = vec![];
    for p in [0.0, 0.1, 0.5, 0.999] {
        cases.push((Noise::Mask { p }, 0));
    }
    for p in [0.2, 0.5] {
        cases.push((Noise::Dropout { p }, 7));
    }
    let salt_pepper = Noise::SaltPepper {
        p: 0.3,
        low: -1.0,
        high: 2.0,
    };
    cases.push((salt_pepper, 0xdead_beef));
    let mut compared = 0;
    for (seed, (rows, cols)) in SHAPES.into_iter().enumerate() {
        let shape = Shape::new(rows, cols);
        let x = random_values(shape.len(), seed as u64);
        for &(noise, stream) in &cases {
            let expected = cpu_noise(noise, stream, &x, rng);
            let got = gpu_noise(&mut gpu, noise, stream, shape, &x, rng);
            assert_bits_equal(&format!("{noise} on {shape}"), &got, &expected);
            compared += got.len();
        }
    }
    // The uniform check: bins of width 1/16 in u₀, over the large shape.
    let n = 100_003;
    let ones = vec![1.0; n];
    for k in 1..16 {
        let noise = Noise::Mask { p: k as f32 / 16.0 };
        let expected = cpu_noise(noise, 3, &ones, rng);
        let got = gpu_noise(&mut gpu, noise, 3, Shape::new(1, n), &ones, rng);
        assert_bits_equal(&format!("{noise} on ones"), &got, &expected);
        compared += n;
    }
    println!("{compared} elements bit-identical");
}

/// More than 65 535 workgroups of 256: the grid spills into its second dimension, and
/// the element index (the counter) must still be the flat index.
#[test]
fn noise_on_a_two_dimensional_grid_matches_cpu() {
    let Some(mut gpu) = gpu::gpu_backend() else {
        return;
    };
    let shape = Shape::new(4097, 4097);
    let x = vec![1.0; shape.len()];
    let rng = rng_feed(77, 5);
    let noise = Noise::Dropout { p: 0.5 };
    let expected = cpu_noise(noise, 1, &x, rng);
    let got = gpu_noise(&mut gpu, noise, 1, shape, &x, rng);
    assert_bits_equal(&format!("{noise} on {shape}"), &got, &expected);
}

fn assert_bits_equal(what: &str, got: &[f32], expected: &[f32]) {
    assert_eq!(got.len(), expected.len(), "{what}: length");
    for (i, (g, c)) in got.iter().zip(expected).enumerate() {
        assert_eq!(
            g.to_bits(),
            c.to_bits(),
            "{what}: element {i}: gpu {g} vs cpu {c}"
        );
    }
}

/// Gaussian noise runs through WGSL's `log`, `sqrt` and `cos`, which are not correctly
/// rounded where Rust's are (nearly): the same words give the same (u₁, u₂), but z = r·c,
/// r = √(−2 ln u₁) ≤ 5.8, c = cos θ, may differ by a few ulp of r and c. The allowance
///
///   |Δy| ≤ 2ε·|y| + 16ε·σ·r
///
/// takes 2ε|y| for y = x + σz rounded once or twice (a GPU may fuse an fma) and 16ε·r
/// for errors in r and in c (the kernel's own log keeps r accurate relative to itself
/// even as r → 0, and cos's error is absolute, so both scale with r). On llvmpipe the
/// worst element uses under half of this; with WGSL's own `log` instead of the kernel's,
/// errors of 3·10⁻⁶·σ appeared near r = 0 (its log is specified to an absolute 2⁻²¹ near 1).
#[test]
fn gaussian_noise_matches_cpu_within_tolerance() {
    let Some(mut gpu) = gpu::gpu_backend() else {
        return;
    };
    let eps = f32::EPSILON as f64;
    let rng = rng_feed(5, 6);
    let (mut worst, mut worst_at) = (0.0f64, String::new());
    for (seed, (rows, cols)) in SHAPES.into_iter().enumerate() {
        let shape = Shape::new(rows, cols);
        let x = random_values(shape.len(), seed as u64);
        for sigma in [1.0, 0.1] {
            let noise = Noise::Gaussian { sigma };
            let expected = cpu_noise(noise, 2, &x, rng);
            let got = gpu_noise(&mut gpu, noise, 2, shape, &x, rng);
            for (i, (&g, &c)) in got.iter().zip(&expected).enumerate() {
                let w = draw(rng, 2, i as u32);
                let r = (-2.0 * (to_positive_uniform(w[0]) as f64).ln()).sqrt();
                let allowed = 2.0 * eps * (c as f64).abs() + 16.0 * eps * sigma as f64 * r;
                let error = (g as f64 - c as f64).abs();
                assert!(
                    error <= allowed,
                    "{noise} on {shape}: element {i}: gpu {g} vs cpu {c}: \
                     error {error:e} > allowed {allowed:e} (r = {r})"
                );
                if error / allowed > worst {
                    (worst, worst_at) = (error / allowed, format!("{noise}, element {i}"));
                }
            }
        }
    }
    println!(
        "worst error {:.0}% of its allowance ({worst_at})",
        100.0 * worst
    );
}

// ---------------------------------------------------------------------------------
// 5. Gradients.

/// The gradient check of `tests/gradcheck.rs` for one noise op: with the key fixed the
/// op is a deterministic, piecewise linear function of x, so central differences of
/// L = Σ noise(x) ⊙ R in f64 must match autodiff's dL/dx (which recomputes the mask
/// from the same key). Also checks the mask is not trivial: some elements corrupted,
/// some kept.
fn gradcheck_noise(noise: Noise) {
    const H: f64 = 1e-6;
    let shape = Shape::new(3, 5);
    let mut values = StdRng::seed_from_u64(7);
    let mut random = |n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| values.random_range(-1.0f32..1.0))
            .map(|v| if v.abs() < 0.05 { 0.5 } else { v }) // away from salt/pepper levels
            .collect()
    };
    let mut store = ParamStore::new();
    let x_id = store.add("x", shape, EntryKind::Parameter, random(shape.len()));
    let r_id = store.add("r", shape, EntryKind::Data, random(shape.len()));
    let mut g = Graph::new();
    let x = g.entry(&store, x_id);
    let rng = g.input("rng", RNG_SHAPE, DType::U32);
    let y = g
        .push(Op::Noise { noise, stream: 3 }, &[x, rng])
        .expect("noise");
    let r = g.entry(&store, r_id);
    let weighted = g.push(Op::Binary(BinaryOp::Mul), &[y, r]).expect("mul");
    let sum = Op::Reduce(Reduce {
        kind: ReduceKind::Sum,
        axis: Axis::All,
    });
    let loss = g.push(sum, &[weighted]).expect("sum");
    let dx = grad(&mut g, loss, &[x]).expect("autodiff")[0];
    for v in [y, loss, dx] {
        g.mark_output(v);
    }

    let feed = rng_feed(2024, 17);
    let mut cpu = CpuBackend::<f64>::new();
    cpu.upload_store(&store).expect("upload");
    let plan = cpu
        .prepare(&Plan::new(&g, &store).expect("plan"))
        .expect("prepare");
    let loss_at = |cpu: &mut CpuBackend<f64>, xs: Vec<f64>| {
        cpu.set_entry_values(x_id, xs).expect("set x");
        cpu.run(plan, &[Feed::U32(&feed)]).expect("run");
        cpu.output_values(plan, loss).expect("loss")[0]
    };
    let x0 = cpu.entry_values(x_id).expect("x");
    loss_at(&mut cpu, x0.clone());
    let analytic = cpu.output_values(plan, dx).expect("dx");
    let forward = cpu.output_values(plan, y).expect("y");
    if !matches!(noise, Noise::Gaussian { .. }) {
        let kept = |y: f64, x: f64| y == x * noise.keep_scale() as f64;
        let corrupted = forward
            .iter()
            .zip(&x0)
            .filter(|(&y, &x)| !kept(y, x))
            .count();
        assert!(
            corrupted > 0 && corrupted < x0.len(),
            "{noise}: {corrupted} of {} corrupted, the check would be vacuous",
            x0.len()
        );
    }
    for j in 0..x0.len() {
        let (mut plus, mut minus) = (x0.clone(), x0.clone());
        plus[j] += H;
        minus[j] -= H;
        let numeric = (loss_at(&mut cpu, plus) - loss_at(&mut cpu, minus)) / (2.0 * H);
        let a = analytic[j];
        let error = (a - numeric).abs() / 1f64.max(a.abs()).max(numeric.abs());
        assert!(
            error < 1e-6,
            "{noise}: element {j}: autodiff {a}, finite differences {numeric}"
        );
    }
}

#[test]
fn gradients_through_noise_match_finite_differences() {
    gradcheck_noise(Noise::Gaussian { sigma: 0.5 });
    gradcheck_noise(Noise::Mask { p: 0.4 });
    gradcheck_noise(Noise::Dropout { p: 0.4 });
    gradcheck_noise(Noise::SaltPepper {
        p: 0.4,
        low: -1.0,
        high: 1.0,
    });
}

// ---------------------------------------------------------------------------------
// 6. Parameters, shapes and spellings.

#[test]
fn shape_rule_wants_f32_x_and_a_u32_rng_of_four_words() {
    let mut g = Graph::new();
    let x = g.input("x", Shape::new(2, 3), DType::F32);
    let rng = g.input("rng", RNG_SHAPE, DType::U32);
    let f32_rng = g.input("f32 rng", RNG_SHAPE, DType::F32);
    let short_rng = g.input("short rng", Shape::new(1, 2), DType::U32);
    let indices = g.input("indices", Shape::new(2, 3), DType::U32);
    let mask = |p| Op::Noise {
        noise: Noise::Mask { p },
        stream: 0,
    };
    let y = g.push(mask(0.5), &[x, rng]).expect("x and rng");
    assert_eq!(g.shape(y), Shape::new(2, 3));
    let refused = |g: &mut Graph, op: Op, operands: &[ValueId], says: &str| {
        let e = g.push(op, operands).expect_err("refused").to_string();
        assert!(e.contains(says), "`{e}` should say `{says}`");
    };
    refused(&mut g, mask(0.5), &[x, f32_rng], "must be u32 [1, 4]");
    refused(&mut g, mask(0.5), &[x, short_rng], "must be u32 [1, 4]");
    refused(&mut g, mask(0.5), &[indices, rng], "must be f32");
    refused(&mut g, mask(0.5), &[x], "expects 2 operands");
    refused(&mut g, mask(1.0), &[x, rng], "in [0, 1)");
    refused(&mut g, Op::Scale(2.0), &[rng], "must be f32");
}

#[test]
fn noise_parses_displays_and_validates() {
    let spelled = [
        ("gaussian:0.1", Noise::Gaussian { sigma: 0.1 }),
        ("mask:0.25", Noise::Mask { p: 0.25 }),
        ("dropout:0.5", Noise::Dropout { p: 0.5 }),
        (
            "salt-pepper:0.2",
            Noise::SaltPepper {
                p: 0.2,
                low: 0.0,
                high: 1.0,
            },
        ),
        (
            "salt-pepper:0.2:-1:1",
            Noise::SaltPepper {
                p: 0.2,
                low: -1.0,
                high: 1.0,
            },
        ),
    ];
    for (text, noise) in spelled {
        assert_eq!(text.parse::<Noise>(), Ok(noise));
        assert_eq!(noise.to_string(), text, "Display is the CLI spelling");
        let json = serde_json::to_string(&noise).expect("serialize");
        assert_eq!(serde_json::from_str::<Noise>(&json).expect("parse"), noise);
    }
    assert_eq!(" Mask:0.25 ".parse::<Noise>(), Ok(Noise::Mask { p: 0.25 }));
    assert_eq!(
        serde_json::to_string(&Noise::Mask { p: 0.25 }).expect("serialize"),
        r#"{"kind":"mask","p":0.25}"#
    );

    let errors = [
        ("mask", "expected mask:p"),
        ("mask:0.1:0.2", "expected mask:p"),
        ("mask:lots", "probability `lots` is not a number"),
        ("mask:1", "masking probability must be in [0, 1), got 1"),
        ("dropout:-0.1", "dropout probability must be in [0, 1)"),
        ("gaussian:-1", "σ must be finite and ≥ 0"),
        ("gaussian:inf", "σ must be finite"),
        ("salt-pepper:0.1:0", "salt-pepper:p:low:high"),
        ("salt-pepper:0.1:0:nan", "levels must be finite"),
        ("blur:2", "unknown noise `blur:2`"),
    ];
    for (text, says) in errors {
        let e = text.parse::<Noise>().expect_err(text);
        assert!(e.contains(says), "{text}: `{e}` should say `{says}`");
    }
}

/// Streams by name: in order from the lowest free number, a floor keeps a family's
/// numbers apart, a name is refused twice, and no number is handed out twice.
#[test]
fn streams_are_allocated_by_name_once_each() {
    let mut s = Streams::new();
    assert_eq!(s.allocate(INPUT_NOISE), Ok(0));
    assert_eq!(s.allocate("dropout/encoder.0"), Ok(1));
    assert_eq!(
        s.allocate_from("contractive/direction.0", 1 << 16),
        Ok(65536)
    );
    assert_eq!(
        s.allocate_from("contractive/direction.1", 1 << 16),
        Ok(65537)
    );
    assert_eq!(s.allocate("dropout/encoder.1"), Ok(2));
    // A floor on a taken number moves past it (never one number twice).
    assert_eq!(s.allocate_from("late", 1), Ok(3));
    assert_eq!(
        s.allocate("dropout/encoder.0"),
        Err(StreamError::NameTaken {
            name: "dropout/encoder.0".into(),
            stream: 1
        })
    );
    assert_eq!(s.get("contractive/direction.1"), Some(65537));
    assert_eq!(s.get("nobody"), None);
    let mut numbers: Vec<u32> = s.iter().map(|(_, n)| n).collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), 6, "every number once");
    // The last number: then nothing is left at or above it.
    assert_eq!(s.allocate_from("top", u32::MAX), Ok(u32::MAX));
    assert_eq!(
        s.allocate_from("past the top", u32::MAX),
        Err(StreamError::Exhausted {
            name: "past the top".into(),
            floor: u32::MAX
        })
    );
    let message = s.allocate(INPUT_NOISE).unwrap_err().to_string();
    assert_eq!(
        message,
        "random stream `input_noise` is already allocated (stream 0)"
    );
}

/// The training objective's noise ops keep the numbers they had when hand-numbered
/// (input noise 0, dropout after layer l 1 + l, contractive direction k 65536 + k), so
/// noise draws, and every figure trained with them, are unchanged.
#[test]
fn training_streams_keep_their_numbers() {
    use aegpu::models::{DenseAutoencoder, DenseConfig};
    use aegpu::ops::Loss;
    use aegpu::train::objective::{build, Regularization};
    // Depth 3: encoder layers 0–2 (dropout 1, 2, 3), decoder layers 0–1 (4, 5).
    let model = DenseAutoencoder::new(DenseConfig::new(&[6, 5, 4, 3]), 1).unwrap();
    let reg = Regularization {
        noise: Some(Noise::Mask { p: 0.2 }),
        dropout: 0.1,
        contractive: 0.5,
        contractive_directions: 3,
        ..Regularization::default()
    };
    assert!(!Regularization::contractive_is_exact(&model.config));
    let mut g = Graph::new();
    let x = g.input("x", Shape::new(2, 6), DType::F32);
    let rng = g.input("rng", RNG_SHAPE, DType::U32);
    build(&model, &mut g, x, Loss::Mse, &reg, Some(rng)).unwrap();
    let streams: Vec<u32> = g
        .nodes
        .iter()
        .filter_map(|n| match n.op {
            Op::Noise { stream, .. } => Some(stream),
            _ => None,
        })
        .collect();
    assert_eq!(streams, [0, 1, 2, 3, 4, 5, 65536, 65537, 65538]);
}
