// random.wgsl — Philox4x32-10 and the fused noise kernel (src/ops/random.rs, where the
// layout and the formulas are documented). Element i draws four words
//   w = philox4x32_10(counter = [i, stream, rng[2], rng[3]], key = [rng[0], rng[1]])
// and with u0 = to_uniform(w.x), u1 = to_uniform(w.y):
//   NOISE = 0  gaussian     out = x + σ z, z = √(−2 ln u) · cos(2π (u1 − ½)),
//                           u = to_positive_uniform(w.x) ∈ (0, 1]
//   NOISE = 1  mask         out = u0 < p ? 0 : x
//   NOISE = 2  salt-pepper  out = u0 < p ? (u1 < ½ ? low : high) : x
//   NOISE = 3  dropout      out = u0 < p ? 0 : x · scale   (scale = 1/(1 − p), from the host)
//   NOISE = 4  binarize     out = u0 < x ? 1 : 0           (a Bernoulli(x) draw)
// The words are integer arithmetic identical to the Rust, bit for bit: WGSL has no u64,
// so Philox's 32×32→64-bit products are assembled from 16-bit halves. The uniforms
// are exact (a 24-bit integer times 2⁻²⁴), so every comparison matches the CPU's.
// Bindings (group 0): 0 params {n, stream, p, sigma, scale, low, high} (uniform),
//   1 out (read_write), 2 values = x (read), 3 rng [4] u32 (read).
// Workgroup: 256 × 1 × 1, one invocation per element on the 2-D grid.
// Override constants: NOISE (Noise::code).

override NOISE: u32 = 0u;

struct NoiseParams {
    n: u32,
    stream: u32,
    p: f32,
    sigma: f32,
    scale: f32,
    low: f32,
    high: f32,
}

@group(0) @binding(0) var<uniform> params: NoiseParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> values: array<f32>;
@group(0) @binding(3) var<storage, read> rng: array<u32>;

// Round multipliers and Weyl key increments (Salmon et al. 2011).
const PHILOX_M0: u32 = 0xD2511F53u;
const PHILOX_M1: u32 = 0xCD9E8D57u;
const PHILOX_W0: u32 = 0x9E3779B9u;
const PHILOX_W1: u32 = 0xBB67AE85u;

// (high, low) words of the 64-bit product a·b. With a = a1·2¹⁶ + a0 and b likewise,
// a·b = a1b1·2³² + (a1b0 + a0b1)·2¹⁶ + a0b0; `middle` collects bits 16.. of the low
// word's partial sums (at most 3·(2¹⁶ − 1), no overflow) to carry into the high word.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let middle = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
    let high = a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (middle >> 16u);
    return vec2<u32>(high, a * b);
}

fn philox4x32_10(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key;
    for (var round = 0u; round < 10u; round++) {
        let p0 = mulhilo(PHILOX_M0, c.x);
        let p1 = mulhilo(PHILOX_M1, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
        k += vec2<u32>(PHILOX_W0, PHILOX_W1);
    }
    return c;
}

// [0, 1) and (0, 1] from the top 24 bits of a word; exact in f32.
fn to_uniform(w: u32) -> f32 {
    return f32(w >> 8u) * 0x1p-24f;
}

fn to_positive_uniform(w: u32) -> f32 {
    return f32((w >> 8u) + 1u) * 0x1p-24f;
}

// ln u for u ∈ (0, 1], to a few ulp. WGSL specifies log only to an absolute 2⁻²¹ on
// [0.5, 2]: no relative accuracy as ln u → 0, which Box–Muller's radius √(−2 ln u)
// then magnifies. So on [0.5, 1], ln u = −2 atanh(s), s = (1 − u)/(1 + u) ∈ [0, ⅓]
// (1 − u exact), by the odd series of atanh through s¹⁵ (next term < 10⁻⁹ relative).
fn log_unit_interval(u: f32) -> f32 {
    let s = (1.0 - u) / (1.0 + u);
    let s2 = s * s;
    let odd = 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0
        + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0 + s2 * (1.0 / 15.0)))))));
    return select(log(u), -2.0 * s * odd, u >= 0.5);
}

// Box–Muller; the angle lies in [−π, π), where WGSL's cos accuracy is specified.
fn gaussian(w0: u32, w1: u32) -> f32 {
    let tau = bitcast<f32>(0x40c90fdbu); // 2π rounded to f32, as Rust's f32::consts::TAU
    let radius = sqrt(max(-2.0 * log_unit_interval(to_positive_uniform(w0)), 0.0));
    return radius * cos(tau * (to_uniform(w1) - 0.5));
}

@compute @workgroup_size(256)
fn noise(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lane: u32) {
    let i = element_index(wg, nwg, lane);
    if (i >= params.n) {
        return;
    }
    let w = philox4x32_10(vec4<u32>(i, params.stream, rng[2], rng[3]), vec2<u32>(rng[0], rng[1]));
    let x = values[i];
    let hit = to_uniform(w.x) < params.p;
    if (NOISE == 0u) {
        out[i] = x + params.sigma * gaussian(w.x, w.y);
    } else if (NOISE == 4u) {
        out[i] = select(0.0, 1.0, to_uniform(w.x) < x);
    } else if (NOISE == 2u) {
        let level = select(params.high, params.low, to_uniform(w.y) < 0.5);
        out[i] = select(x, level, hit);
    } else {
        // Mask (scale 1) and dropout.
        out[i] = select(x * params.scale, 0.0, hit);
    }
}
