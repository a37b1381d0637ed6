// reduce.wgsl — sums, means, broadcasts and accumulation (src/ops/reduce.rs):
//   reduce_rows  out[j] = scale · Σ_i x[i, j]      [rows, cols] → [1, cols]
//   reduce_cols  out[i] = scale · Σ_j x[i, j]      [rows, cols] → [rows, 1]
//   reduce_all   out[0] = scale · Σ x              [rows, cols] → [1, 1]
//   broadcast    out[i, j] = x[i or 0, j or 0]     [from_rows, from_cols] → [rows, cols]
//   channel_sum  out[c] = Σ_{n,q} x[n, c·P + q]    [rows, cols·P] → [1, cols], images of
//                                                  cols channels of P = from_rows pixels
//                                                  (a convolution's bias gradient)
//   sum_blocks   out[i] = Σ_b x[b·cols + i]        [rows·cols] → [cols], rows blocks added
//                                                  in order (the weight gradient's partials)
//   axpy         out = a · x + [ACCUMULATE] out    (out is a store entry; Op::Axpy with
//                                                  a = factor[0], Op::Accumulate with
//                                                  a = 1 and ACCUMULATE)
// scale is 1 for a sum and 1/count for a mean; it is a parameter, not an override
// constant, so one pipeline serves every shape.
// Bindings (group 0): 0 params (uniform), 1 out (read_write), 2 x (read), 3 factor
//   [1, 1] (read; axpy only, a placeholder without SCALED).
// Workgroups: 256 × 1 × 1. reduce_rows / reduce_cols give one invocation to each output
// and add in the CPU reference's order; reduce_all is a single workgroup: each
// invocation sums a strided share, then a tree in workgroup memory (any length, one
// dispatch). broadcast and axpy are element-wise on the 2-D grid. channel_sum is one
// workgroup per channel, each reduced like reduce_all.
// Override constants: ACCUMULATE (axpy: add to out rather than overwrite it), SCALED
// (axpy: a from factor, else a = 1).

override ACCUMULATE: bool = true;
override SCALED: bool = true;

struct ReduceParams {
    // Shape of the reduced value, or of broadcast's output, or of the accumulator.
    rows: u32,
    cols: u32,
    scale: f32,
    // Shape of broadcast's operand.
    from_rows: u32,
    from_cols: u32,
}

@group(0) @binding(0) var<uniform> params: ReduceParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> factor: array<f32>;

@compute @workgroup_size(256)
fn reduce_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lane: u32) {
    let j = element_index(wg, nwg, lane);
    if (j >= params.cols) {
        return;
    }
    var acc = 0.0;
    for (var i = 0u; i < params.rows; i++) {
        acc += x[i * params.cols + j];
    }
    out[j] = acc * params.scale;
}

@compute @workgroup_size(256)
fn reduce_cols(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lane: u32) {
    let i = element_index(wg, nwg, lane);
    if (i >= params.rows) {
        return;
    }
    var acc = 0.0;
    let start = i * params.cols;
    for (var j = 0u; j < params.cols; j++) {
        acc += x[start + j];
    }
    out[i] = acc * params.scale;
}

@compute @workgroup_size(256)
fn reduce_all(@builtin(local_invocation_index) lane: u32) {
    let n = params.rows * params.cols;
    var acc = 0.0;
    for (var i = lane; i < n; i += 256u) {
        acc += x[i];
    }
    let total = workgroup_sum(lane, acc);
    if (lane == 0u) {
        out[0] = total * params.scale;
    }
}

@compute @workgroup_size(256)
fn broadcast(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lane: u32) {
    let e = element_index(wg, nwg, lane);
    if (e >= params.rows * params.cols) {
        return;
    }
    let i = select(e / params.cols, 0u, params.from_rows == 1u);
    let j = select(e % params.cols, 0u, params.from_cols == 1u);
    out[e] = x[i * params.from_cols + j];
}

@compute @workgroup_size(256)
fn axpy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lane: u32) {
    let e = element_index(wg, nwg, lane);
    if (e >= params.rows * params.cols) {
        return;
    }
    var y = x[e];
    if (SCALED) {
        y = factor[0] * y;
    }
    if (ACCUMULATE) {
        y = y + out[e];
    }
    out[e] = y;
}

@compute @workgroup_size(256)
fn channel_sum(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let c = wg.x;
    let plane = params.from_rows;
    let count = params.rows * plane;
    var acc = 0.0;
    for (var e = lane; e < count; e += 256u) {
        acc += x[((e / plane) * params.cols + c) * plane + e % plane];
    }
    let total = workgroup_sum(lane, acc);
    if (lane == 0u) {
        out[c] = total * params.scale;
    }
}

@compute @workgroup_size(256)
fn sum_blocks(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lane: u32) {
    let i = element_index(wg, nwg, lane);
    if (i >= params.cols) {
        return;
    }
    var acc = x[i];
    for (var b = 1u; b < params.rows; b++) {
        acc += x[b * params.cols + i];
    }
    out[i] = acc;
}
