// elementwise.wgsl — one invocation per element (src/ops/activation.rs, elementwise.rs):
//   fill             out = value                               (Op::Fill)
//   activate         out = f(a)                                (Op::Activate)
//   activation_grad  out = b · f'(x), f' written from y = a    (Op::ActivationGrad, [y, dy])
//   binary           out = a + b | a − b | a ⊙ b | a ÷ b       (Op::Binary)
//   scale            out = factor · a                          (Op::Scale)
//   unary            out = a | eᵃ | ln a | √a | 1/a            (Op::StopGradient, Op::Unary)
//   soft_threshold   out = sign(a) · max(|a| − b[0], 0)        (Op::SoftThreshold, [x, λ])
//   soft_threshold_grad  out = c · [|a| > b[0]]                (WRT 0, [x, λ, dy])
//                        out = −c · sign(a) · [|a| > b[0]]     (WRT 1, summed after)
// ln and √ outside their domain are indeterminate in WGSL, so `unary` selects IEEE's
// results itself: ln 0 = −∞, ln x = NaN and √x = NaN for x < 0 (src/ops/unary.rs).
// Bindings (group 0): 0 params (uniform), 1 out (read_write), 2 a, 3 b, 4 c (read;
// c only for soft_threshold_grad).
// Workgroup: 256 × 1 × 1 on a 2-D grid (see `element_index` in common.wgsl).
// Override constants: ACT, ALPHA (activate, activation_grad), BINOP (binary:
// BinaryOp::code, 0 add, 1 sub, 2 mul, 3 div), UNARY (unary: 0 identity, 1 exp, 2 log,
// 3 sqrt, 4 reciprocal, UnaryOp::code), WRT (soft_threshold_grad: 0 x, 1 λ).

override BINOP: u32 = 0u;
override UNARY: u32 = 0u;
override WRT: u32 = 0u;

struct ElementwiseParams {
    n: u32,
    // Fill's value or Scale's factor.
    constant: f32,
}

@group(0) @binding(0) var<uniform> params: ElementwiseParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read> c: array<f32>;

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
        } else if (BINOP == 2u) {
            out[i] = x * y;
        } else {
            out[i] = x / y;
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

// IEEE's special values, built at run time (a constant expression may not be
// infinite or NaN).
fn negative_infinity(x: f32) -> f32 {
    return bitcast<f32>(0xff800000u | (bitcast<u32>(x) & 0u));
}

fn quiet_nan(x: f32) -> f32 {
    return bitcast<f32>(0x7fc00000u | (bitcast<u32>(x) & 0u));
}

fn apply_unary(x: f32) -> f32 {
    if (UNARY == 1u) {
        return exp(x);
    } else if (UNARY == 2u) {
        let special = select(quiet_nan(x), negative_infinity(x), x == 0.0);
        return select(special, log(x), x > 0.0);
    } else if (UNARY == 3u) {
        // √(±0) = ±0; x < 0 gives NaN.
        return select(quiet_nan(x), select(sqrt(x), x, x == 0.0), x >= 0.0);
    } else if (UNARY == 4u) {
        return 1.0 / x;
    }
    return x;
}

@compute @workgroup_size(256)
fn unary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lane: u32) {
    let i = element_index(wg, nwg, lane);
    if (i < params.n) {
        out[i] = apply_unary(a[i]);
    }
}

@compute @workgroup_size(256)
fn soft_threshold(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lane: u32) {
    let i = element_index(wg, nwg, lane);
    if (i < params.n) {
        let x = a[i];
        out[i] = sign(x) * max(abs(x) - b[0], 0.0);
    }
}

@compute @workgroup_size(256)
fn soft_threshold_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lane: u32) {
    let i = element_index(wg, nwg, lane);
    if (i < params.n) {
        let x = a[i];
        let kept = select(0.0, 1.0, abs(x) > b[0]);
        if (WRT == 0u) {
            out[i] = c[i] * kept;
        } else {
            out[i] = -(c[i] * sign(x) * kept);
        }
    }
}
