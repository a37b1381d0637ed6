// elementwise.wgsl — one invocation per element (src/ops/activation.rs, elementwise.rs):
//   fill             out = value                               (Op::Fill)
//   activate         out = f(a)                                (Op::Activate)
//   activation_grad  out = b · f'(x), f' written from y = a    (Op::ActivationGrad, [y, dy])
//   binary           out = a + b | a − b | a ⊙ b               (Op::Binary)
//   scale            out = factor · a                          (Op::Scale)
// Bindings (group 0): 0 params (uniform), 1 out (read_write), 2 a, 3 b (read).
// Workgroup: 256 × 1 × 1 on a 2-D grid (see `element_index` in common.wgsl).
// Override constants: ACT, ALPHA (activate, activation_grad), BINOP (binary:
// BinaryOp::code, 0 add, 1 sub, 2 mul).

override BINOP: u32 = 0u;

struct ElementwiseParams {
    n: u32,
    // Fill's value or Scale's factor.
    constant: f32,
}

@group(0) @binding(0) var<uniform> params: ElementwiseParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;

@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lane: u32) {
    let i = element_index(wg, nwg, lane);
    if (i < params.n) {
        out[i] = params.constant;
    }
}

@compute @workgroup_size(256)
fn activate(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lane: u32) {
    let i = element_index(wg, nwg, lane);
    if (i < params.n) {
        out[i] = apply_activation(a[i]);
    }
}

@compute @workgroup_size(256)
fn activation_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lane: u32) {
    let i = element_index(wg, nwg, lane);
    if (i < params.n) {
        out[i] = b[i] * activation_derivative(a[i]);
    }
}

@compute @workgroup_size(256)
fn binary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lane: u32) {
    let i = element_index(wg, nwg, lane);
    if (i < params.n) {
        let x = a[i];
        let y = b[i];
        if (BINOP == 0u) {
            out[i] = x + y;
        } else if (BINOP == 1u) {
            out[i] = x - y;
        } else {
            out[i] = x * y;
        }
    }
}

@compute @workgroup_size(256)
fn scale(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lane: u32) {
    let i = element_index(wg, nwg, lane);
    if (i < params.n) {
        out[i] = params.constant * a[i];
    }
}
