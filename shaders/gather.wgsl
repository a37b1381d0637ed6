// gather.wgsl — row gather out[i, :] = data[idx[i], :] (src/ops/gather.rs):
//   PACKED_U8 = false  data holds f32 values (read as raw words, then bitcast)
//   PACKED_U8 = true   data holds bytes packed four to a little-endian word (byte k is
//                      bits 8·(k%4) .. of word k/4); value = f32(byte) / 255.0, a
//                      division as in the CPU reference and the loaders
// An index past the last row writes a row of zeros (the CPU reference reports an
// error instead; the GPU cannot, and must not read out of bounds).
// Bindings (group 0): 0 params {rows_out, cols, rows_data} (uniform), 1 out (read_write),
//   2 data (read, as u32 words), 3 idx [rows_out] u32 (read).
// Workgroup: 256 × 1 × 1, one invocation per output element on the 2-D grid.
// Override constants: PACKED_U8 (the data entry is byte data).

override PACKED_U8: bool = false;

struct GatherParams {
    rows_out: u32,
    cols: u32,
    rows_data: u32,
}

@group(0) @binding(0) var<uniform> params: GatherParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> data: array<u32>;
@group(0) @binding(3) var<storage, read> idx: array<u32>;

const PAST_THE_END: u32 = 0xffffffffu;

// The flat index into data of output element e, or PAST_THE_END for a bad row index.
fn source_element(e: u32) -> u32 {
    let row = idx[e / params.cols];
    if (row >= params.rows_data) {
        return PAST_THE_END;
    }
    return row * params.cols + e % params.cols;
}

@compute @workgroup_size(256)
fn gather(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lane: u32) {
    let e = element_index(wg, nwg, lane);
    if (e >= params.rows_out * params.cols) {
        return;
    }
    let s = source_element(e);
    if (s == PAST_THE_END) {
        out[e] = 0.0;
    } else if (PACKED_U8) {
        let byte = (data[s / 4u] >> (8u * (s % 4u))) & 0xffu;
        out[e] = f32(byte) / 255.0;
    } else {
        out[e] = bitcast<f32>(data[s]);
    }
}
