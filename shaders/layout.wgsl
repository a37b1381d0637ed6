// layout.wgsl — transposes (src/ops/layout.rs): `blocks` consecutive [rows, cols]
// matrices, each written transposed as [cols, rows]:
//   transpose  out[b, j, i] = x[b, i, j]
// One entry serves Op::Transpose (one block), Op::ToPixelRows (N blocks of [C, H·W])
// and Op::FromPixelRows (N blocks of [H·W, C]). A copy: exact.
// Bindings (group 0): 0 params {count, rows, cols} (uniform), 1 out (read_write),
//   2 x (read).
// Workgroup: 256 × 1 × 1, one invocation per output element on the 2-D grid.
// No override constants.

struct LayoutParams {
    // Elements of out.
    count: u32,
    // One block of x.
    rows: u32,
    cols: u32,
}

@group(0) @binding(0) var<uniform> params: LayoutParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;

@compute @workgroup_size(256)
fn transpose(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lane: u32) {
    let e = element_index(wg, nwg, lane);
    if (e >= params.count) {
        return;
    }
    let size = params.rows * params.cols;
    let within = e % size;
    // Output element (j, i) of a [cols, rows] block reads x's (i, j).
    let j = within / params.rows;
    let i = within % params.rows;
    out[e] = x[e - within + i * params.cols + j];
}
