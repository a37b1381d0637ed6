// index.wgsl — between f32 values and u32 indices (src/ops/index.rs). Both buffers are
// bound as raw 32-bit words: f32 values are bitcast, so one layout serves both ops.
//   argmin_rows  out[r] = the first column of row r's minimum        [rows, cols] → [rows, 1] u32
//                (one invocation per row, columns scanned in order with a strict <, as
//                the CPU reference: ties go to the lowest index, bit-identical results)
//   one_hot      out[r, j] = 1.0 if a[r] == j else 0.0               [rows, 1] u32 → [rows, cols]
//                (an index ≥ cols gives a row of zeros; the CPU reference reports it)
// Bindings (group 0): 0 params {rows, cols} (uniform), 1 out (read_write, words),
//   2 a (read, words).
// Workgroup: 256 × 1 × 1 on the 2-D grid of `element_index` (common.wgsl).
// No override constants.

struct IndexParams {
    rows: u32,
    cols: u32,
}

@group(0) @binding(0) var<uniform> params: IndexParams;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<storage, read> a: array<u32>;

@compute @workgroup_size(256)
fn argmin_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lane: u32) {
    let r = element_index(wg, nwg, lane);
    if (r >= params.rows) {
        return;
    }
    let start = r * params.cols;
    var best = 0u;
    var best_value = bitcast<f32>(a[start]);
    for (var j = 1u; j < params.cols; j++) {
        let v = bitcast<f32>(a[start + j]);
        // NaN skipped as on the CPU, where the adapter compares NaN as IEEE says.
        if (v < best_value || (best_value != best_value && v == v)) {
            best = j;
            best_value = v;
        }
    }
    out[r] = best;
}

@compute @workgroup_size(256)
fn one_hot(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lane: u32) {
    let e = element_index(wg, nwg, lane);
    if (e >= params.rows * params.cols) {
        return;
    }
    let hot = a[e / params.cols] == e % params.cols;
    out[e] = bitcast<u32>(select(0.0, 1.0, hot));
}
