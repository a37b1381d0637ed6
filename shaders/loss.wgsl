// loss.wgsl — reconstruction losses averaged over all N elements (src/ops/loss.rs):
//   loss_value  out[0] = (1/N) Σ ℓ(p, t)                      (Op::Loss)
//   loss_grad   out = ∂ℓ/∂p(p, t) · dloss[0] / N              (Op::LossGrad)
// with, on the same stable forms as the CPU reference,
//   MSE (LOSS = 0):            ℓ = (p − t)²,                          ∂ℓ/∂p = 2 (p − t)
//   BCE on logits (LOSS = 1):  ℓ = max(p, 0) − p t + ln(1 + e^{−|p|}), ∂ℓ/∂p = σ(p) − t
// and the classifier's softmax cross-entropy over rows of K = cols logits, averaged
// over the B = n / cols rows (src/ops/loss.rs, softmax_xent):
//   softmax_xent_value  out[0] = (1/B) Σ_r Σ_j t_rj (lse_r − z_rj)          (Op::SoftmaxCrossEntropy)
//   softmax_xent_grad   out_rj = (e^{z_rj − lse_r} Σ_k t_rk − t_rj) · dloss[0] / B
//                                                                 (Op::SoftmaxCrossEntropyGrad)
// with lse_r = m_r + ln Σ_j e^{z_rj − m_r}, m_r = max_j z_rj (no positive exponent).
// Bindings (group 0): 0 params {n, cols} (uniform; cols for the softmax entries only), 1 out (read_write), 2 predictions p, 3 targets t,
//   4 dloss [1, 1] (read; loss_grad only).
// Workgroups: 256 × 1 × 1. loss_value is a single workgroup (a strided share per
// invocation, then a tree in workgroup memory: any N in one dispatch); loss_grad is
// element-wise on the 2-D grid. softmax_xent_value is a single workgroup taking a row
// per invocation and stride; softmax_xent_grad runs one invocation per row (each
// needs its row's log-sum-exp) on the 2-D grid.
// Override constants: LOSS (Loss::code).

override LOSS: u32 = 0u;

struct LossParams {
    n: u32,
    cols: u32,
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

// ln Σ_j e^{z_j} over row r, shifted by the row's maximum.
fn row_log_sum_exp(r: u32) -> f32 {
    let first = r * params.cols;
    var m = predictions[first];
    for (var j = 1u; j < params.cols; j++) {
        m = max(m, predictions[first + j]);
    }
    var sum = 0.0;
    for (var j = 0u; j < params.cols; j++) {
        sum += exp(predictions[first + j] - m);
    }
    return m + log(sum);
}

@compute @workgroup_size(256)
fn softmax_xent_value(@builtin(local_invocation_index) lane: u32) {
    let rows = params.n / params.cols;
    var acc = 0.0;
    for (var r = lane; r < rows; r += 256u) {
        let lse = row_log_sum_exp(r);
        let first = r * params.cols;
        for (var j = 0u; j < params.cols; j++) {
            acc += targets[first + j] * (lse - predictions[first + j]);
        }
    }
    let total = workgroup_sum(lane, acc);
    if (lane == 0u) {
        out[0] = total / f32(rows);
    }
}

@compute @workgroup_size(256)
fn softmax_xent_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_index) lane: u32) {
    let r = element_index(wg, nwg, lane);
    let rows = params.n / params.cols;
    if (r < rows) {
        let lse = row_log_sum_exp(r);
        let first = r * params.cols;
        var mass = 0.0;
        for (var j = 0u; j < params.cols; j++) {
            mass += targets[first + j];
        }
        let scale = dloss[0] / f32(rows);
        for (var j = 0u; j < params.cols; j++) {
            let i = first + j;
            out[i] = (exp(predictions[i] - lse) * mass - targets[i]) * scale;
        }
    }
}
