// pool.wgsl — spatial ops on images stored as rows [N, C·H·W] (NCHW flattened per
// sample, src/ops/spatial.rs), and the column copies that join and cut such rows.
// Every entry is element-wise on the 2-D grid: one invocation per element of `out`.
// Since the N·C planes of a value lie one after another, an element's plane index
// is simply its flat index over the plane size, whatever N and C are.
//
// Pooling (src/ops/pool.rs), size × size windows every `stride` pixels, no padding:
//   max_pool               out = the window's first maximum (row-major, ties to the first)
//   avg_pool               out = (Σ window) · scale, scale = 1/size² rounded once
//   max_pool_grad          dx_i = Σ over windows containing i whose argmax is i of dy
//   avg_pool_grad          dx_i = Σ over windows containing i of dy · scale
// The gradients gather: each input element loops over the windows that contain it,
// in row-major window order (the CPU reference's scatter order), so overlapping
// windows need no atomics. The max gradient recomputes each window's argmax from x
// with the forward pass's reads (`window_argmax`) instead of storing it.
//
// Upsampling (src/ops/resample.rs) by the factor f (in `size`):
//   upsample_nearest       out(oy, ox) = x(oy/f, ox/f)
//   upsample_bilinear      PyTorch's align_corners=False: per axis i0, i1, λ from `taps`
//   upsample_nearest_grad  dx(iy, ix) = Σ over the f × f block it was copied to of dy
//   upsample_bilinear_grad dx(iy, ix) = Σ wy·wx·dy over the output pixels whose taps
//                          reach it: along each axis only output indices
//                          f·(i − 1) … f·(i + 2) − 1 can (src < i − 1 below, > i + 1
//                          above), so that is the loop, skipping zero weights.
//
// Columns (src/ops/columns.rs), on rows `cols` wide:
//   concat_cols            out[r, c] = a[r, c] for c < cols_a, else b[r, c − cols_a]
//   slice_cols             out[r, c] = a[r, start + c]            (a is cols_a wide)
//   pad_cols               out[r, c] = a[r, c − start] inside the range, else 0
//
// Bindings (group 0): 0 params (uniform, below), 1 out (read_write), 2 a (read): x,
//   or dy for the upsampling gradients; 3 b (read): dy for the pooling gradients,
//   b for concat_cols (not bound by the other entries).
// Workgroup: 256 × 1 × 1. No override constants: one entry per variant.

struct PoolParams {
    // Elements of `out` (one invocation each).
    count: u32,
    // Pooling and upsampling: the input plane H × W, the output plane OH × OW, the
    // window size (upsampling: the factor f) and stride, and a scale (avg pool:
    // 1/size²; bilinear: 1/(2f)).
    height: u32,
    width: u32,
    out_height: u32,
    out_width: u32,
    size: u32,
    stride: u32,
    scale: f32,
    // Columns: the output's columns, operand a's columns, the slice's or pad's start.
    cols: u32,
    cols_a: u32,
    start: u32,
}

@group(0) @binding(0) var<uniform> params: PoolParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;

// A flat index split into (x, y, plane) for planes of h × w.
fn split(e: u32, h: u32, w: u32) -> vec3<u32> {
    let r = e / w;
    return vec3<u32>(e % w, r % h, r / h);
}

// ---- pooling ----

// The flat index into `a` of the first maximum of window (oy, ox) of the plane that
// starts at `base`, in row-major order (Pool::window_argmax).
fn window_argmax(base: u32, oy: u32, ox: u32) -> u32 {
    let top = base + oy * params.stride * params.width + ox * params.stride;
    var best_at = top;
    var best = a[top];
    for (var ky = 0u; ky < params.size; ky += 1u) {
        for (var kx = 0u; kx < params.size; kx += 1u) {
            let at = top + ky * params.width + kx;
            let v = a[at];
            if (v > best) {
                best = v;
                best_at = at;
            }
        }
    }
    return best_at;
}

// The windows along one axis that contain index i: [first, end).
fn windows_over(i: u32, out_len: u32) -> vec2<u32> {
    var first = 0u;
    if (i >= params.size) {
        // ⌈(i − size + 1)/stride⌉: the first window whose end passes i.
        first = (i - params.size + params.stride) / params.stride;
    }
    return vec2<u32>(first, min(i / params.stride + 1u, out_len));
}

@compute @workgroup_size(256)
fn max_pool(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lane: u32) {
    let e = element_index(wg, nwg, lane);
    if (e >= params.count) {
        return;
    }
    let p = split(e, params.out_height, params.out_width);
    out[e] = a[window_argmax(p.z * params.height * params.width, p.y, p.x)];
}

@compute @workgroup_size(256)
fn avg_pool(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lane: u32) {
    let e = element_index(wg, nwg, lane);
    if (e >= params.count) {
        return;
    }
    let p = split(e, params.out_height, params.out_width);
    let top = p.z * params.height * params.width + p.y * params.stride * params.width
        + p.x * params.stride;
    var sum = 0.0;
    for (var ky = 0u; ky < params.size; ky += 1u) {
        for (var kx = 0u; kx < params.size; kx += 1u) {
            sum += a[top + ky * params.width + kx];
        }
    }
    out[e] = sum * params.scale;
}

@compute @workgroup_size(256)
fn max_pool_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lane: u32) {
    let e = element_index(wg, nwg, lane);
    if (e >= params.count) {
        return;
    }
    let p = split(e, params.height, params.width);
    let base = p.z * params.height * params.width;
    let dy_base = p.z * params.out_height * params.out_width;
    let ys = windows_over(p.y, params.out_height);
    let xs = windows_over(p.x, params.out_width);
    var sum = 0.0;
    for (var oy = ys.x; oy < ys.y; oy += 1u) {
        for (var ox = xs.x; ox < xs.y; ox += 1u) {
            if (window_argmax(base, oy, ox) == e) {
                sum += b[dy_base + oy * params.out_width + ox];
            }
        }
    }
    out[e] = sum;
}

@compute @workgroup_size(256)
fn avg_pool_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lane: u32) {
    let e = element_index(wg, nwg, lane);
    if (e >= params.count) {
        return;
    }
    let p = split(e, params.height, params.width);
    let dy_base = p.z * params.out_height * params.out_width;
    let ys = windows_over(p.y, params.out_height);
    let xs = windows_over(p.x, params.out_width);
    var sum = 0.0;
    for (var oy = ys.x; oy < ys.y; oy += 1u) {
        for (var ox = xs.x; ox < xs.y; ox += 1u) {
            sum += b[dy_base + oy * params.out_width + ox] * params.scale;
        }
    }
    out[e] = sum;
}

// ---- upsampling ----

struct Taps {
    i0: u32,
    i1: u32,
    lambda: f32,
}

// Bilinear taps of output index d along an axis of `len` input pixels (Upsample::taps):
// src = (2d + 1 − f)/(2f) clamped at 0, split exactly into i0 and the remainder r,
// λ = r · 1/(2f).
fn taps(d: u32, len: u32) -> Taps {
    let f = params.size;
    let numerator = 2u * d + 1u;
    var i0 = 0u;
    var lambda = 0.0;
    if (numerator > f) {
        let q = numerator - f;
        i0 = q / (2u * f);
        lambda = f32(q % (2u * f)) * params.scale;
    }
    return Taps(i0, min(i0 + 1u, len - 1u), lambda);
}

// The weight of input index i in the output whose taps are t.
fn tap_weight(t: Taps, i: u32) -> f32 {
    return select(0.0, 1.0 - t.lambda, t.i0 == i) + select(0.0, t.lambda, t.i1 == i);
}

@compute @workgroup_size(256)
fn upsample_nearest(@builtin(workgroup_id) wg: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lane: u32) {
    let e = element_index(wg, nwg, lane);
    if (e >= params.count) {
        return;
    }
    let p = split(e, params.out_height, params.out_width);
    let f = params.size;
    out[e] = a[(p.z * params.height + p.y / f) * params.width + p.x / f];
}

@compute @workgroup_size(256)
fn upsample_bilinear(@builtin(workgroup_id) wg: vec3<u32>,
                     @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lane: u32) {
    let e = element_index(wg, nwg, lane);
    if (e >= params.count) {
        return;
    }
    let p = split(e, params.out_height, params.out_width);
    let ty = taps(p.y, params.height);
    let tx = taps(p.x, params.width);
    let w = params.width;
    let row0 = (p.z * params.height + ty.i0) * w;
    let row1 = (p.z * params.height + ty.i1) * w;
    let one_x = 1.0 - tx.lambda;
    out[e] = (1.0 - ty.lambda) * (one_x * a[row0 + tx.i0] + tx.lambda * a[row0 + tx.i1])
        + ty.lambda * (one_x * a[row1 + tx.i0] + tx.lambda * a[row1 + tx.i1]);
}

@compute @workgroup_size(256)
fn upsample_nearest_grad(@builtin(workgroup_id) wg: vec3<u32>,
                         @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_index) lane: u32) {
    let e = element_index(wg, nwg, lane);
    if (e >= params.count) {
        return;
    }
    let p = split(e, params.height, params.width);
    let f = params.size;
    let top = (p.z * params.out_height + p.y * f) * params.out_width + p.x * f;
    var sum = 0.0;
    for (var ky = 0u; ky < f; ky += 1u) {
        for (var kx = 0u; kx < f; kx += 1u) {
            sum += a[top + ky * params.out_width + kx];
        }
    }
    out[e] = sum;
}

@compute @workgroup_size(256)
fn upsample_bilinear_grad(@builtin(workgroup_id) wg: vec3<u32>,
                          @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) lane: u32) {
    let e = element_index(wg, nwg, lane);
    if (e >= params.count) {
        return;
    }
    let p = split(e, params.height, params.width);
    let f = params.size;
    let base = p.z * params.out_height * params.out_width;
    let y_end = min(f * (p.y + 2u), params.out_height);
    let x_end = min(f * (p.x + 2u), params.out_width);
    var sum = 0.0;
    for (var oy = f * max(p.y, 1u) - f; oy < y_end; oy += 1u) {
        let wy = tap_weight(taps(oy, params.height), p.y);
        if (wy == 0.0) {
            continue;
        }
        for (var ox = f * max(p.x, 1u) - f; ox < x_end; ox += 1u) {
            let wx = tap_weight(taps(ox, params.width), p.x);
            if (wx != 0.0) {
                sum += wy * wx * a[base + oy * params.out_width + ox];
            }
        }
    }
    out[e] = sum;
}

// ---- columns ----

@compute @workgroup_size(256)
fn concat_cols(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lane: u32) {
    let e = element_index(wg, nwg, lane);
    if (e >= params.count) {
        return;
    }
    let r = e / params.cols;
    let c = e % params.cols;
    if (c < params.cols_a) {
        out[e] = a[r * params.cols_a + c];
    } else {
        let cols_b = params.cols - params.cols_a;
        out[e] = b[r * cols_b + c - params.cols_a];
    }
}

@compute @workgroup_size(256)
fn slice_cols(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lane: u32) {
    let e = element_index(wg, nwg, lane);
    if (e >= params.count) {
        return;
    }
    out[e] = a[(e / params.cols) * params.cols_a + params.start + e % params.cols];
}

@compute @workgroup_size(256)
fn pad_cols(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lane: u32) {
    let e = element_index(wg, nwg, lane);
    if (e >= params.count) {
        return;
    }
    let c = e % params.cols;
    var v = 0.0;
    if (c >= params.start && c < params.start + params.cols_a) {
        v = a[(e / params.cols) * params.cols_a + c - params.start];
    }
    out[e] = v;
}
