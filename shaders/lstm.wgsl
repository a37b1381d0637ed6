// lstm.wgsl — the fused LSTM cell update (src/ops/lstm.rs), gate order i, f, g, o:
//   lstm_cell       [a [rows, 4H], s [rows, 2H]] → s' [rows, 2H], s = [h | c]
//                   c' = σ(a_f)·c + σ(a_i)·tanh(a_g);  h' = σ(a_o)·tanh(c')
//   lstm_cell_grad  [a, s, ds'] → [da [rows, 4H] | ds [rows, 2H]], ds = [0 | dc'·f]
//                   dc' = ds'_c + ds'_h·o·(1 − tanh²(c')), the gates recomputed from a
// One invocation per (row, hidden unit): each writes its unit's h and c (or its four gate
// gradients), so no two invocations write the same element.
// Bindings (group 0): 0 params {rows, hidden} (uniform), 1 out (read_write), 2 a, 3 s,
//   4 ds' (read; lstm_cell_grad only).
// Workgroup: 256 × 1 × 1 on the 2-D grid of `element_index` (common.wgsl).
// No override constants.
// tanh is `tanh_stable` and σ `sigmoid` (common.wgsl), as for the activations: no
// overflow for large |x| and no cancellation near 0.

struct LstmParams {
    rows: u32,
    hidden: u32,
}

@group(0) @binding(0) var<uniform> params: LstmParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> s: array<f32>;
@group(0) @binding(4) var<storage, read> ds: array<f32>;

struct Gates {
    i: f32,
    f: f32,
    g: f32,
    o: f32,
}

fn gates_of(r: u32, j: u32) -> Gates {
    let h = params.hidden;
    let base = r * 4u * h + j;
    return Gates(sigmoid(a[base]), sigmoid(a[base + h]), tanh_stable(a[base + 2u * h]),
                 sigmoid(a[base + 3u * h]));
}

@compute @workgroup_size(256)
fn lstm_cell(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lane: u32) {
    let k = element_index(wg, nwg, lane);
    let h = params.hidden;
    if (k >= params.rows * h) {
        return;
    }
    let r = k / h;
    let j = k % h;
    let q = gates_of(r, j);
    let state = r * 2u * h;
    let c = q.f * s[state + h + j] + q.i * q.g;
    out[state + j] = q.o * tanh_stable(c);
    out[state + h + j] = c;
}

@compute @workgroup_size(256)
fn lstm_cell_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lane: u32) {
    let k = element_index(wg, nwg, lane);
    let h = params.hidden;
    if (k >= params.rows * h) {
        return;
    }
    let r = k / h;
    let j = k % h;
    let q = gates_of(r, j);
    let state = r * 2u * h;
    let c_prev = s[state + h + j];
    let tc = tanh_stable(q.f * c_prev + q.i * q.g);
    let dh = ds[state + j];
    let dc = ds[state + h + j] + dh * q.o * (1.0 - tc * tc);
    let base = r * 6u * h + j;
    out[base] = dc * q.g * q.i * (1.0 - q.i);
    out[base + h] = dc * c_prev * q.f * (1.0 - q.f);
    out[base + 2u * h] = dc * q.i * (1.0 - q.g * q.g);
    out[base + 3u * h] = dh * tc * q.o * (1.0 - q.o);
    out[base + 4u * h] = 0.0;
    out[base + 5u * h] = dc * q.f;
}
