// matmul.wgsl — out = act(op(A) · op(B) + bias) (src/ops/matmul.rs), op(X) = X or Xᵀ,
// and the convolutions of src/ops/conv.rs as implicit GEMMs of the same tiles.
// Plain matmul (LAYOUT 0): A is stored [m, k] (or [k, m] with TRANS_A), B is [k, n]
// (or [n, k] with TRANS_B), all row-major: a transpose only swaps the index
// arithmetic, nothing is copied.
// Convolutions (LAYOUT 1–3) gather the operands of a matmul on the fly from images
// stored as rows [N, C·H·W] (nothing is materialised), with the geometry in override
// constants CONV_* (C × H × W image side, OC × OH × OW feature side, KH × KW kernel, stride, padding;
// P = OH·OW, taps = KH·KW):
//   1 conv:            m = OC, n = N·P,   k = C·taps;  A = weight, B = im2col(image),
//                      stored to features[img, oc, p]; bias per row (channel).
//   2 conv transposed, one output phase per workgroup z = φh·s + φw (s² of them): the
//                      image pixels h ≡ φh − p, w ≡ φw − p (mod s) are reached only by
//                      the taps i = φh + s·ti, j = φw + s·tj, reading feature pixel
//                      (⌊(h+p)/s⌋ − ti, ⌊(w+p)/s⌋ − tj), so no multiply-add is spent on
//                      the taps a stride skips (3/4 of them for s = 2, k = 3):
//                      m = C, n = N·⌈H/s⌉·⌈W/s⌉ (img, ph, pw), k = OC·⌈KH/s⌉·⌈KW/s⌉
//                      (oc, ti, tj); A = weight[oc, c, i, j], B = that feature pixel,
//                      stored to image[img, c, h, w]; bias per row (channel).
//   3 weight grad:     m = OC, n = C·taps, k = N·P;    A[oc, (img,p)] = features,
//                      B = im2col(image)ᵀ; workgroup z sums terms z·split_k … of k
//                      into block z of out [splits·m, n] (partial sums).
// Bindings (group 0): 0 params (uniform), 1 out (read_write), 2 a, 3 b, 4 bias
//   (read; a placeholder buffer when HAS_BIAS is false).
// Workgroup: 8 × 8 invocations compute one (8·ROWS) × 64 tile of out, ROWS × 8
//   outputs per invocation held in registers. ROWS is 8 for large m (a 64 × 64 tile,
//   64 multiply-adds per eight workgroup reads); a thin output (a convolution to one
//   channel) takes ROWS = 1, 2 or 4 so the tile is not mostly empty rows. A and B pass
//   through workgroup memory in slices 16 deep along k. Every load and store is
//   bounds-checked, so any m, n, k works (edges read zeros); the loads clamp and select
//   rather than branch, which keeps compile time down on software adapters.
//   Grid: (⌈n/64⌉, ⌈m/(8·ROWS)⌉, splits of LAYOUT 3 or phases of LAYOUT 2).
// Override constants: LAYOUT, ROWS, TRANS_A, TRANS_B, HAS_BIAS, ACT, ALPHA, CONV_*.
// A second entry point, matmul_thin (end of file), takes convolutions to 1–4 channels.

override LAYOUT: u32 = 0u;
override ROWS: u32 = 8u;
override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;
// Convolution geometry (LAYOUT 1–3): override constants, so the index arithmetic of the
// gathers divides by constants (a multiply and shift; a division by a runtime value is
// scalar on software adapters and dominated the kernel there).
override CONV_C: u32 = 1u;
override CONV_H: u32 = 1u;
override CONV_W: u32 = 1u;
override CONV_OC: u32 = 1u;
override CONV_OH: u32 = 1u;
override CONV_OW: u32 = 1u;
override CONV_KH: u32 = 1u;
override CONV_KW: u32 = 1u;
override CONV_STRIDE: u32 = 1u;
override CONV_PAD: u32 = 0u;

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    // LAYOUT 3: reduction terms per split (workgroup z): its images' pixels.
    split_k: u32,
}

@group(0) @binding(0) var<uniform> params: MatmulParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

const TILE_N: u32 = 64u;
const TILE_K: u32 = 16u;
// vec4s across a tile's columns: 64 / 4.
const QUADS: u32 = 16u;
const MAX_TILE_M: u32 = 64u;

// a_tile[kk * MAX_TILE_M + r] holds op(A) row r of the tile at k offset kk;
// b_tile[kk * QUADS + q] holds op(B) columns 4q .. 4q+3, as vec4s.
var<workgroup> a_tile: array<f32, 1024>;
// The end of this workgroup's range of k (params.k but for a split weight gradient).
var<private> k_end: u32;
var<workgroup> b_tile: array<vec4<f32>, 256>;

// LAYOUT 2: this workgroup's output phase (φh, φw), set from workgroup z.
var<private> phase_h: u32;
var<private> phase_w: u32;

// LAYOUT 2: taps per phase along each axis, and pixels per phase along each axis.
fn phase_taps_h() -> u32 { return (CONV_KH + CONV_STRIDE - 1u) / CONV_STRIDE; }
fn phase_taps_w() -> u32 { return (CONV_KW + CONV_STRIDE - 1u) / CONV_STRIDE; }
fn phase_pixels_h() -> u32 { return (CONV_H + CONV_STRIDE - 1u) / CONV_STRIDE; }
fn phase_pixels_w() -> u32 { return (CONV_W + CONV_STRIDE - 1u) / CONV_STRIDE; }

// LAYOUT 2: the first image row (column) of phase φ: h0 ≡ φ − p (mod s).
fn phase_first(phase: u32) -> u32 {
    return (phase + CONV_STRIDE - CONV_PAD % CONV_STRIDE) % CONV_STRIDE;
}

// LAYOUT 2: the image pixel (img, h, w) of column j of this phase's matrix, and whether
// it lies inside the image (the last phase rows and columns may not).
struct PhasePixel {
    img: u32,
    ph: u32,
    pw: u32,
    h: u32,
    w: u32,
    inside: bool,
}

fn phase_pixel(j: u32) -> PhasePixel {
    let per_image = phase_pixels_h() * phase_pixels_w();
    let q = j % per_image;
    let ph = q / phase_pixels_w();
    let pw = q % phase_pixels_w();
    let h = phase_first(phase_h) + CONV_STRIDE * ph;
    let w = phase_first(phase_w) + CONV_STRIDE * pw;
    return PhasePixel(j / per_image, ph, pw, h, w, h < CONV_H && w < CONV_W);
}

// Image-side value (img, c, h, w) for signed h, w; zero outside the image.
fn image_b(img: u32, c: u32, h: i32, w: i32, inside: bool) -> f32 {
    let ok = inside && h >= 0 && w >= 0 && u32(h) < CONV_H && u32(w) < CONV_W;
    let at = ((img * CONV_C + c) * CONV_H + u32(max(h, 0))) * CONV_W + u32(max(w, 0));
    return select(0.0, b[select(0u, at, ok)], ok);
}

// im2col(image)[window, (img, pixel)]: the image value under tap `window` = (c, i, j)
// of feature pixel `pixel` = (oh, ow).
fn im2col_b(window: u32, img: u32, pixel: u32, inside: bool) -> f32 {
    let taps = CONV_KH * CONV_KW;
    let c = window / taps;
    let t = window % taps;
    let oh = pixel / CONV_OW;
    let ow = pixel % CONV_OW;
    let h = i32(oh * CONV_STRIDE + t / CONV_KW) - i32(CONV_PAD);
    let w = i32(ow * CONV_STRIDE + t % CONV_KW) - i32(CONV_PAD);
    return image_b(img, c, h, w, inside);
}

// Element (i, kk) of op(A), zero outside the matrix.
fn load_a(i: u32, kk: u32) -> f32 {
    let inside = i < params.m && kk < k_end;
    var at: u32;
    if (LAYOUT == 2u) {
        // weight[oc, c = i, φh + s·ti, φw + s·tj] with kk = (oc, ti, tj); zero for taps
        // past the kernel's edge (a phase may have fewer).
        let per_oc = phase_taps_h() * phase_taps_w();
        let t = kk % per_oc;
        let ki = phase_h + CONV_STRIDE * (t / phase_taps_w());
        let kj = phase_w + CONV_STRIDE * (t % phase_taps_w());
        let ok = inside && ki < CONV_KH && kj < CONV_KW;
        let tap_at = (((kk / per_oc) * params.m + i) * CONV_KH + min(ki, CONV_KH - 1u)) * CONV_KW
            + min(kj, CONV_KW - 1u);
        return select(0.0, a[select(0u, tap_at, ok)], ok);
    } else if (LAYOUT == 3u) {
        // features[img, oc = i, p] with kk = (img, p)
        let pixels = CONV_OH * CONV_OW;
        at = ((kk / pixels) * params.m + i) * pixels + kk % pixels;
    } else {
        at = select(i * params.k + kk, kk * params.m + i, TRANS_A);
    }
    return select(0.0, a[select(0u, at, inside)], inside);
}

// Element (kk, j) of op(B), zero outside the matrix.
fn load_b(kk: u32, j: u32) -> f32 {
    let inside = kk < k_end && j < params.n;
    if (LAYOUT == 1u) {
        let pixels = CONV_OH * CONV_OW;
        return im2col_b(kk, j / pixels, j % pixels, inside);
    }
    if (LAYOUT == 3u) {
        let pixels = CONV_OH * CONV_OW;
        return im2col_b(j, kk / pixels, kk % pixels, inside);
    }
    if (LAYOUT == 2u) {
        // The feature pixel (⌊(h+p)/s⌋ − ti, ⌊(w+p)/s⌋ − tj) that tap kk = (oc, ti, tj)
        // of this phase's pixel j reads (the weight is zero for taps past the kernel).
        let px = phase_pixel(j);
        let per_oc = phase_taps_h() * phase_taps_w();
        let t = kk % per_oc;
        let oh = i32((phase_first(phase_h) + CONV_PAD) / CONV_STRIDE + px.ph) - i32(t / phase_taps_w());
        let ow = i32((phase_first(phase_w) + CONV_PAD) / CONV_STRIDE + px.pw) - i32(t % phase_taps_w());
        let ok = inside && px.inside && oh >= 0 && ow >= 0
            && u32(oh) < CONV_OH && u32(ow) < CONV_OW;
        let at = ((px.img * CONV_OC + kk / per_oc) * CONV_OH + u32(max(oh, 0))) * CONV_OW
            + u32(max(ow, 0));
        return select(0.0, b[select(0u, at, ok)], ok);
    }
    let at = select(kk * params.n + j, j * params.k + kk, TRANS_B);
    return select(0.0, b[select(0u, at, inside)], inside);
}

// Where output (i, j) of workgroup z is stored; NOWHERE for a phase column past the
// image's edge.
const NOWHERE: u32 = 0xffffffffu;

fn out_index(i: u32, j: u32, z: u32) -> u32 {
    if (LAYOUT == 1u) {
        let pixels = CONV_OH * CONV_OW;
        return ((j / pixels) * params.m + i) * pixels + j % pixels;
    }
    if (LAYOUT == 2u) {
        let px = phase_pixel(j);
        let at = ((px.img * params.m + i) * CONV_H + px.h) * CONV_W + px.w;
        return select(NOWHERE, at, px.inside);
    }
    if (LAYOUT == 3u) {
        // Block z of the partial sums.
        return (z * params.m + i) * params.n + j;
    }
    return i * params.n + j;
}

@compute @workgroup_size(8, 8)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
          @builtin(local_invocation_index) lane: u32) {
    let tile_m = 8u * ROWS;
    let row0 = wg.y * tile_m;
    let col0 = wg.x * TILE_N;
    // acc[r] = outputs (row0 + ROWS·lid.y + r, col0 + 8·lid.x + 0..3),
    // acc[8 + r] the next four columns.
    var acc = array<vec4<f32>, 16>();
    var k_begin = 0u;
    k_end = params.k;
    if (LAYOUT == 3u) {
        k_begin = wg.z * params.split_k;
        k_end = min(k_begin + params.split_k, params.k);
    }
    if (LAYOUT == 2u) {
        phase_h = wg.z / CONV_STRIDE;
        phase_w = wg.z % CONV_STRIDE;
    }

    for (var k0 = k_begin; k0 < k_end; k0 += TILE_K) {
        // A's slice is TILE_K × tile_m scalars (2·ROWS per invocation), B's 256 vec4s
        // (four per invocation).
        for (var t = 0u; t < 2u * ROWS; t++) {
            let slot = lane + 64u * t;
            let kk = slot / tile_m;
            let r = slot % tile_m;
            a_tile[kk * MAX_TILE_M + r] = load_a(row0 + r, k0 + kk);
        }
        for (var t = 0u; t < 4u; t++) {
            let slot = lane + 64u * t;
            let q = slot % QUADS;
            let kk = k0 + slot / QUADS;
            let j = col0 + 4u * q;
            b_tile[slot] = vec4(load_b(kk, j), load_b(kk, j + 1u), load_b(kk, j + 2u), load_b(kk, j + 3u));
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TILE_K; kk++) {
            let cols_lo = b_tile[kk * QUADS + 2u * lid.x];
            let cols_hi = b_tile[kk * QUADS + 2u * lid.x + 1u];
            for (var r = 0u; r < ROWS; r++) {
                let v = a_tile[kk * MAX_TILE_M + ROWS * lid.y + r];
                acc[r] += v * cols_lo;
                acc[8u + r] += v * cols_hi;
            }
        }
        workgroupBarrier();
    }

    // Epilogue: bias and activation, then the bounds-checked store.
    for (var r = 0u; r < ROWS; r++) {
        let i = row0 + ROWS * lid.y + r;
        if (i >= params.m) {
            break;
        }
        for (var c = 0u; c < 8u; c++) {
            let j = col0 + 8u * lid.x + c;
            let at = out_index(i, j, wg.z);
            if (j < params.n && at != NOWHERE) {
                var v = acc[8u * (c / 4u) + r][c % 4u];
                if (HAS_BIAS) {
                    v += bias[select(j, i, LAYOUT == 1u || LAYOUT == 2u)];
                }
                out[at] = apply_activation(v);
            }
        }
    }
}

// Thin outputs (m ≤ THIN_ROWS: a convolution to one to four channels), LAYOUT 1 or 2:
// one invocation per column j, all m rows (ROWS = m) in registers, no workgroup memory
// and no barriers. The tiled kernel above computes at least 8 rows a tile (7 of them
// empty for m = 1) and pays two barriers every 16 steps of k for one row of work; here
// each B value is gathered once and used m times, and A (the weight, the same for every
// invocation) comes from cache. Grid: (⌈n/64⌉, 1, phases for LAYOUT 2).
@compute @workgroup_size(64)
fn matmul_thin(@builtin(workgroup_id) wg: vec3<u32>,
               @builtin(local_invocation_index) lane: u32) {
    k_end = params.k;
    if (LAYOUT == 2u) {
        phase_h = wg.z / CONV_STRIDE;
        phase_w = wg.z % CONV_STRIDE;
    }
    let j = wg.x * 64u + lane;
    var acc = vec4<f32>();
    for (var kk = 0u; kk < k_end; kk++) {
        let v = load_b(kk, j);
        for (var r = 0u; r < ROWS; r++) {
            acc[r] += load_a(r, kk) * v;
        }
    }
    for (var r = 0u; r < ROWS; r++) {
        let at = out_index(r, j, wg.z);
        if (r < params.m && j < params.n && at != NOWHERE) {
            var v = acc[r];
            if (HAS_BIAS) {
                v += bias[r];
            }
            out[at] = apply_activation(v);
        }
    }
}

// Weight gradients with few columns (n = C·KH·KW < 32: a layer reading one channel, whose
// 64-column tiles would be mostly empty), LAYOUT 3: one invocation per output (i, j) of
// block z, summing its split's k range. Grid: (⌈m·n/64⌉, 1, splits).
@compute @workgroup_size(64)
fn weight_grad_thin(@builtin(workgroup_id) wg: vec3<u32>,
                    @builtin(local_invocation_index) lane: u32) {
    let e = wg.x * 64u + lane;
    let i = e / params.n;
    let j = e % params.n;
    let k_begin = wg.z * params.split_k;
    k_end = min(k_begin + params.split_k, params.k);
    var acc = 0.0;
    for (var kk = k_begin; kk < k_end; kk++) {
        acc += load_a(i, kk) * load_b(kk, j);
    }
    if (i < params.m) {
        out[out_index(i, j, wg.z)] = acc;
    }
}
