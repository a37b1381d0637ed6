// loss.wgsl — reconstruction losses averaged over all N elements (src/ops/loss.rs):
//   loss_value  out[0] = (1/N) Σ ℓ(p, t)                      (Op::Loss)
//   loss_grad   out = ∂ℓ/∂p(p, t) · dloss[0] / N              (Op::LossGrad)
// with, on the same stable forms as the CPU reference,
//   MSE (LOSS = 0):            ℓ = (p − t)²,                          ∂ℓ/∂p = 2 (p − t)
//   BCE on logits (LOSS = 1):  ℓ = max(p, 0) − p t + ln(1 + e^{−|p|}), ∂ℓ/∂p = σ(p) − t
// Bindings (group 0): 0 params {n} (uniform), 1 out (read_write), 2 predictions p, 3 targets t,
//   4 dloss [1, 1] (read; loss_grad only).
// Workgroups: 256 × 1 × 1. loss_value is a single workgroup (a strided share per
// invocation, then a tree in workgroup memory: any N in one dispatch); loss_grad is
// element-wise on the 2-D grid.
// Override constants: LOSS (Loss::code).

override LOSS: u32 = 0u;

struct LossParams {
    n: u32,
}

@group(0) @binding(0) var<uniform> params: LossParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> predictions: array<f32>;
@group(0) @binding(3) var<storage, read> targets: array<f32>;
@group(0) @binding(4) var<storage, read> dloss: array<f32>;

fn loss_element(p: f32, t: f32) -> f32 {
    if (LOSS == 0u) {
        return (p - t) * (p - t);
    }
    return max(p, 0.0) - p * t + log1p(exp(-abs(p)));
}

fn loss_element_grad(p: f32, t: f32) -> f32 {
    if (LOSS == 0u) {
        return 2.0 * (p - t);
    }
    return sigmoid(p) - t;
}

@compute @workgroup_size(256)
fn loss_value(@builtin(local_invocation_index) lane: u32) {
    var acc = 0.0;
    for (var i = lane; i < params.n; i += 256u) {
        acc += loss_element(predictions[i], targets[i]);
    }
    let total = workgroup_sum(lane, acc);
    if (lane == 0u) {
        out[0] = total / f32(params.n);
    }
}

@compute @workgroup_size(256)
fn loss_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lane: u32) {
    let i = element_index(wg, nwg, lane);
    if (i < params.n) {
        let scale = dloss[0] / f32(params.n);
        out[i] = loss_element_grad(predictions[i], targets[i]) * scale;
    }
}
