// matmul.wgsl — out = act(op(A) · op(B) + bias) (src/ops/matmul.rs), op(X) = X or Xᵀ.
// A is stored [m, k] (or [k, m] with TRANS_A), B is [k, n] (or [n, k] with TRANS_B),
// all row-major: a transpose only swaps the index arithmetic, nothing is copied.
// Bindings (group 0): 0 params {m, n, k} (uniform), 1 out [m, n] (read_write),
//   2 a, 3 b, 4 bias [1, n] (read; a placeholder buffer when HAS_BIAS is false).
// Workgroup: 8 × 8 invocations compute one 64 × 64 tile of out, 8 × 8 outputs per
//   invocation held in registers (64 multiply-adds for every four vec4 reads of
//   workgroup memory). A and B pass through workgroup memory in 64 × 16 and 16 × 64
//   slices along k, so each element loaded from a buffer is used 64 times. Every load
//   and store is bounds-checked, so any m, n, k works (edges read zeros); the loads
//   clamp and select rather than branch, which keeps compile time down on software
//   adapters (Mesa's llvmpipe compiles this kernel in under a second).
//   Grid: (⌈n/64⌉, ⌈m/64⌉).
// Override constants: TRANS_A, TRANS_B, HAS_BIAS, ACT, ALPHA (the epilogue).

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override HAS_BIAS: bool = false;

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
}

@group(0) @binding(0) var<uniform> params: MatmulParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

const TILE: u32 = 64u;
const TILE_K: u32 = 16u;
// vec4s across a tile: 64 / 4.
const QUADS: u32 = 16u;

// a_tile[kk * QUADS + q] holds op(A) rows 4q .. 4q+3 of the tile at k offset kk;
// b_tile[kk * QUADS + q] holds op(B) columns 4q .. 4q+3. Stored whole, as vec4s.
var<workgroup> a_tile: array<vec4<f32>, 256>;
var<workgroup> b_tile: array<vec4<f32>, 256>;

// Element (i, kk) of op(A), zero outside the matrix (the clamped read stays in bounds).
fn load_a(i: u32, kk: u32) -> f32 {
    let at = select(i * params.k + kk, kk * params.m + i, TRANS_A);
    let v = a[min(at, params.m * params.k - 1u)];
    return select(0.0, v, i < params.m && kk < params.k);
}

// Element (kk, j) of op(B), zero outside the matrix (the clamped read stays in bounds).
fn load_b(kk: u32, j: u32) -> f32 {
    let at = select(kk * params.n + j, j * params.k + kk, TRANS_B);
    let v = b[min(at, params.k * params.n - 1u)];
    return select(0.0, v, kk < params.k && j < params.n);
}

@compute @workgroup_size(8, 8)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
          @builtin(local_invocation_index) lane: u32) {
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    // acc[8h + r] = outputs (row0 + 8·lid.y + r, col0 + 8·lid.x + 4h + 0..3), h = 0, 1.
    var acc = array<vec4<f32>, 16>();

    for (var k0 = 0u; k0 < params.k; k0 += TILE_K) {
        // Each slice is 256 vec4s: four per invocation.
        for (var t = 0u; t < 4u; t++) {
            let slot = lane + 64u * t;
            let q = slot % QUADS;
            let kk = k0 + slot / QUADS;
            let i = row0 + 4u * q;
            a_tile[slot] = vec4(load_a(i, kk), load_a(i + 1u, kk), load_a(i + 2u, kk), load_a(i + 3u, kk));
            let j = col0 + 4u * q;
            b_tile[slot] = vec4(load_b(kk, j), load_b(kk, j + 1u), load_b(kk, j + 2u), load_b(kk, j + 3u));
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TILE_K; kk++) {
            let rows_lo = a_tile[kk * QUADS + 2u * lid.y];
            let rows_hi = a_tile[kk * QUADS + 2u * lid.y + 1u];
            let cols_lo = b_tile[kk * QUADS + 2u * lid.x];
            let cols_hi = b_tile[kk * QUADS + 2u * lid.x + 1u];
            acc[0] += rows_lo.x * cols_lo;
            acc[1] += rows_lo.y * cols_lo;
            acc[2] += rows_lo.z * cols_lo;
            acc[3] += rows_lo.w * cols_lo;
            acc[4] += rows_hi.x * cols_lo;
            acc[5] += rows_hi.y * cols_lo;
            acc[6] += rows_hi.z * cols_lo;
            acc[7] += rows_hi.w * cols_lo;
            acc[8] += rows_lo.x * cols_hi;
            acc[9] += rows_lo.y * cols_hi;
            acc[10] += rows_lo.z * cols_hi;
            acc[11] += rows_lo.w * cols_hi;
            acc[12] += rows_hi.x * cols_hi;
            acc[13] += rows_hi.y * cols_hi;
            acc[14] += rows_hi.z * cols_hi;
            acc[15] += rows_hi.w * cols_hi;
        }
        workgroupBarrier();
    }

    // Epilogue: bias and activation, then the bounds-checked store.
    for (var r = 0u; r < 8u; r++) {
        let i = row0 + 8u * lid.y + r;
        if (i >= params.m) {
            break;
        }
        for (var c = 0u; c < 8u; c++) {
            let j = col0 + 8u * lid.x + c;
            if (j < params.n) {
                var v = acc[8u * (c / 4u) + r][c % 4u];
                if (HAS_BIAS) {
                    v += bias[j];
                }
                out[i * params.n + j] = apply_activation(v);
            }
        }
    }
}
