// penalty.wgsl — regularisation penalties and their gradients (src/ops/penalty.rs):
//   penalty_value         out[0] = Σ_i ψ(x_i, colnorm_{i mod cols})             (Op::Penalty)
//   penalty_grad          out_i = ∂ψ/∂x(x_i, colnorm_{i mod cols}) · dout[0]    (PenaltyGrad, wrt 0)
//   penalty_colnorm_grad  out_j = dout[0] · Σ_r φ(x[r, j])                    (PenaltyGrad, wrt 1)
// with, per element, on the same forms as the CPU reference,
//   L1 (PENALTY = 0):           ψ = |x|,                ∂ψ/∂x = sign(x)
//   KL (PENALTY = 1):           p = clamp(x, ε, 1 − ε),
//                               ψ = ρ log(ρ/p) + (1−ρ) log((1−ρ)/(1−p)),  ∂ψ/∂x = −ρ/p + (1−ρ)/(1−p)
//   contractive (PENALTY = 2):  ψ = φ(x) colnorm,       ∂ψ/∂x = φ'(x) colnorm,  φ = f'², f from ACT
//   squared L2 (PENALTY = 3):   ψ = ½ x²,               ∂ψ/∂x = x
// Bindings (group 0): 0 params {n, cols, rho, rows} (uniform), 1 out (read_write),
//   2 x (read), 3 colnorm (read; a placeholder unless contractive), 4 dout [1, 1] (read;
//   gradients only).
// Workgroups: 256 × 1 × 1. penalty_value is a single workgroup (a strided share per
// invocation, then a tree); penalty_grad is element-wise on the 2-D grid;
// penalty_colnorm_grad gives one invocation to each column and adds in the CPU
// reference's order.
// Override constants: PENALTY (Penalty::code), ACT (the contractive encoder's
// activation, common.wgsl).

override PENALTY: u32 = 0u;

// src/ops/penalty.rs KL_EPSILON.
const KL_EPSILON: f32 = 1e-6;

struct PenaltyParams {
    // Elements and columns of x.
    n: u32,
    cols: u32,
    // KL's target sparsity ρ.
    rho: f32,
    rows: u32,
}

@group(0) @binding(0) var<uniform> params: PenaltyParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> colnorm: array<f32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;

// φ(h) = f'(a)², from the output h (Penalty::Contractive).
fn contractive_phi(h: f32) -> f32 {
    let d = activation_derivative(h);
    return d * d;
}

fn contractive_phi_grad(h: f32) -> f32 {
    if (ACT == 1u) {
        return 2.0 * h * (1.0 - h) * (1.0 - 2.0 * h);
    } else if (ACT == 2u) {
        return -4.0 * h * (1.0 - h * h);
    }
    return 0.0;
}

fn column_norm(i: u32) -> f32 {
    if (PENALTY == 2u) {
        return colnorm[i % params.cols];
    }
    return 1.0;
}

fn penalty_element(v: f32, c: f32) -> f32 {
    if (PENALTY == 0u) {
        return abs(v);
    } else if (PENALTY == 1u) {
        let rho = params.rho;
        let p = clamp(v, KL_EPSILON, 1.0 - KL_EPSILON);
        return rho * log(rho / p) + (1.0 - rho) * log((1.0 - rho) / (1.0 - p));
    } else if (PENALTY == 2u) {
        return contractive_phi(v) * c;
    }
    return 0.5 * v * v;
}

fn penalty_element_grad(v: f32, c: f32) -> f32 {
    if (PENALTY == 0u) {
        return sign(v);
    } else if (PENALTY == 1u) {
        let rho = params.rho;
        let p = clamp(v, KL_EPSILON, 1.0 - KL_EPSILON);
        return -rho / p + (1.0 - rho) / (1.0 - p);
    } else if (PENALTY == 2u) {
        return contractive_phi_grad(v) * c;
    }
    return v;
}

@compute @workgroup_size(256)
fn penalty_value(@builtin(local_invocation_index) lane: u32) {
    var acc = 0.0;
    for (var i = lane; i < params.n; i += 256u) {
        acc += penalty_element(x[i], column_norm(i));
    }
    let total = workgroup_sum(lane, acc);
    if (lane == 0u) {
        out[0] = total;
    }
}

@compute @workgroup_size(256)
fn penalty_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lane: u32) {
    let i = element_index(wg, nwg, lane);
    if (i < params.n) {
        out[i] = penalty_element_grad(x[i], column_norm(i)) * dout[0];
    }
}

@compute @workgroup_size(256)
fn penalty_colnorm_grad(@builtin(workgroup_id) wg: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_index) lane: u32) {
    let j = element_index(wg, nwg, lane);
    if (j >= params.cols) {
        return;
    }
    var acc = 0.0;
    for (var r = 0u; r < params.rows; r++) {
        acc += contractive_phi(x[r * params.cols + j]);
    }
    out[j] = acc * dout[0];
}
