// batchnorm.wgsl — batch normalisation (src/ops/batchnorm.rs), PyTorch's BatchNorm1d/2d.
// x is [rows, C·P] (P = H·W pixels per channel): value k of channel c (0 ≤ k < n,
// n = rows·P) is x[(k / P)·C·P + c·P + k % P]. Per channel, in two passes,
//   μ = Σ x / n,   σ² = Σ (x − μ)² / n,   r = 1 / sqrt(σ² + eps),   x̂ = (x − μ) · r
// and, on the CPU reference's forms:
//   batch_norm_train             out = γ_c · x̂ + β_c                     (Op::BatchNormTrain)
//   batch_norm_train_grad        WRT 0: out = (γ_c r) · ((dy − Σdy/n) − x̂ · Σ(dy x̂)/n)
//                                WRT 1: out_c = Σ dy x̂,   WRT 2: out_c = Σ dy
//                                (Op::BatchNormTrainGrad: μ and σ² recomputed from x)
//   batch_norm_running           running_mean_c = (1 − m) running_mean_c + m μ
//                                running_var_c  = (1 − m) running_var_c + m Σ (x − μ)² / (n − 1)
//                                (Op::BatchNormRunning, in place)
//   batch_norm_eval              out = γ_c · ((x − mean_c) r_c) + β_c, r_c = 1 / sqrt(var_c + eps)
//                                from the running statistics (Op::BatchNormEval)
//   batch_norm_eval_grad_x       out = dy · (γ_c r_c)                    (BatchNormEvalGrad, WRT 0)
//   batch_norm_eval_grad_affine  WRT 1: out_c = Σ dy (x − mean_c) r_c,  WRT 2: out_c = Σ dy
// Bindings (group 0): 0 params (uniform). The pure entries share one layout: 1 out
//   (read_write), 2 x, 3 gamma, 4 beta, 5 mean, 6 variance (the running statistics of
//   the eval entries), 7 dy (read; placeholders where an op has no such operand, and a
//   prefix where an entry uses no later binding). batch_norm_running has its own:
//   1 running_mean (read_write, the same variable as out), 2 x (read), 3 running_var
//   (read_write). WGSL checks binding numbers per entry point, so running_var and gamma
//   may share binding 3: no entry uses both.
// Workgroups: 256 × 1 × 1. batch_norm_train, batch_norm_train_grad, batch_norm_running
//   and batch_norm_eval_grad_affine run one workgroup per channel (grid C × 1): each
//   invocation sums a strided share of the channel's n values, then workgroup_sum
//   (common.wgsl) adds the shares. batch_norm_eval and batch_norm_eval_grad_x are
//   element-wise on the 2-D grid.
// Override constants: WRT (the gradient's operand: 0 x, 1 γ, 2 β).

override WRT: u32 = 0u;

struct BatchNormParams {
    rows: u32,
    channels: u32,
    // P = H·W.
    plane: u32,
    eps: f32,
    // batch_norm_running only.
    momentum: f32,
}

@group(0) @binding(0) var<uniform> params: BatchNormParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> beta: array<f32>;
@group(0) @binding(5) var<storage, read> mean: array<f32>;
@group(0) @binding(6) var<storage, read> variance: array<f32>;
@group(0) @binding(7) var<storage, read> dy: array<f32>;
// batch_norm_running only (binding 3 is gamma elsewhere).
@group(0) @binding(3) var<storage, read_write> running_var: array<f32>;

// Values per channel, n = rows·P.
fn channel_count() -> u32 {
    return params.rows * params.plane;
}

// The flat index of value k of channel c.
fn channel_element(c: u32, k: u32) -> u32 {
    let sample = k / params.plane;
    let pixel = k - sample * params.plane;
    return (sample * params.channels + c) * params.plane + pixel;
}

// The channel of flat index e.
fn element_channel(e: u32) -> u32 {
    return (e / params.plane) % params.channels;
}

// workgroup_sum's total, handed to every invocation. The barriers make it safe to call
// again at once: every invocation has read `partial` and `total` before anyone writes
// them anew.
var<workgroup> total: f32;

fn workgroup_total(lane: u32, value: f32) -> f32 {
    let sum = workgroup_sum(lane, value);
    if (lane == 0u) {
        total = sum;
    }
    workgroupBarrier();
    let result = total;
    workgroupBarrier();
    return result;
}

// (μ, Σ (x − μ)²) of channel c: the mean, then the centred squares.
fn channel_moments(lane: u32, c: u32) -> vec2<f32> {
    let n = channel_count();
    var acc = 0.0;
    for (var k = lane; k < n; k += 256u) {
        acc += x[channel_element(c, k)];
    }
    let mu = workgroup_total(lane, acc) / f32(n);
    var squares = 0.0;
    for (var k = lane; k < n; k += 256u) {
        let d = x[channel_element(c, k)] - mu;
        squares += d * d;
    }
    return vec2<f32>(mu, workgroup_total(lane, squares));
}

// (μ, r) of channel c.
fn channel_normaliser(lane: u32, c: u32) -> vec2<f32> {
    let moments = channel_moments(lane, c);
    let biased = moments.y / f32(channel_count());
    return vec2<f32>(moments.x, 1.0 / sqrt(biased + params.eps));
}

@compute @workgroup_size(256)
fn batch_norm_train(@builtin(workgroup_id) wg: vec3<u32>,
                    @builtin(local_invocation_index) lane: u32) {
    let c = wg.x;
    let stats = channel_normaliser(lane, c);
    let g = gamma[c];
    let b = beta[c];
    let n = channel_count();
    for (var k = lane; k < n; k += 256u) {
        let e = channel_element(c, k);
        out[e] = g * ((x[e] - stats.x) * stats.y) + b;
    }
}

@compute @workgroup_size(256)
fn batch_norm_train_grad(@builtin(workgroup_id) wg: vec3<u32>,
                         @builtin(local_invocation_index) lane: u32) {
    let c = wg.x;
    let n = channel_count();
    if (WRT == 2u) {
        var acc = 0.0;
        for (var k = lane; k < n; k += 256u) {
            acc += dy[channel_element(c, k)];
        }
        let sum_dy = workgroup_total(lane, acc);
        if (lane == 0u) {
            out[c] = sum_dy;
        }
        return;
    }
    let stats = channel_normaliser(lane, c);
    var acc_dy = 0.0;
    var acc_dy_xhat = 0.0;
    for (var k = lane; k < n; k += 256u) {
        let e = channel_element(c, k);
        let xhat = (x[e] - stats.x) * stats.y;
        acc_dy += dy[e];
        acc_dy_xhat += dy[e] * xhat;
    }
    let sum_dy = workgroup_total(lane, acc_dy);
    let sum_dy_xhat = workgroup_total(lane, acc_dy_xhat);
    if (WRT == 1u) {
        if (lane == 0u) {
            out[c] = sum_dy_xhat;
        }
        return;
    }
    let mean_dy = sum_dy / f32(n);
    let mean_dy_xhat = sum_dy_xhat / f32(n);
    let scale = gamma[c] * stats.y;
    for (var k = lane; k < n; k += 256u) {
        let e = channel_element(c, k);
        let xhat = (x[e] - stats.x) * stats.y;
        out[e] = scale * ((dy[e] - mean_dy) - xhat * mean_dy_xhat);
    }
}

@compute @workgroup_size(256)
fn batch_norm_running(@builtin(workgroup_id) wg: vec3<u32>,
                      @builtin(local_invocation_index) lane: u32) {
    let c = wg.x;
    let moments = channel_moments(lane, c);
    if (lane == 0u) {
        let n = f32(channel_count());
        let m = params.momentum;
        let keep = 1.0 - m;
        // out is the running mean here.
        out[c] = keep * out[c] + m * moments.x;
        running_var[c] = keep * running_var[c] + m * (moments.y / (n - 1.0));
    }
}

@compute @workgroup_size(256)
fn batch_norm_eval(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_index) lane: u32) {
    let e = element_index(wg, nwg, lane);
    if (e >= params.rows * params.channels * params.plane) {
        return;
    }
    let c = element_channel(e);
    let r = 1.0 / sqrt(variance[c] + params.eps);
    out[e] = gamma[c] * ((x[e] - mean[c]) * r) + beta[c];
}

@compute @workgroup_size(256)
fn batch_norm_eval_grad_x(@builtin(workgroup_id) wg: vec3<u32>,
                          @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_index) lane: u32) {
    let e = element_index(wg, nwg, lane);
    if (e >= params.rows * params.channels * params.plane) {
        return;
    }
    let c = element_channel(e);
    let r = 1.0 / sqrt(variance[c] + params.eps);
    out[e] = dy[e] * (gamma[c] * r);
}

@compute @workgroup_size(256)
fn batch_norm_eval_grad_affine(@builtin(workgroup_id) wg: vec3<u32>,
                               @builtin(local_invocation_index) lane: u32) {
    let c = wg.x;
    let n = channel_count();
    var acc = 0.0;
    if (WRT == 2u) {
        for (var k = lane; k < n; k += 256u) {
            acc += dy[channel_element(c, k)];
        }
    } else {
        let mu = mean[c];
        let r = 1.0 / sqrt(variance[c] + params.eps);
        for (var k = lane; k < n; k += 256u) {
            let e = channel_element(c, k);
            acc += dy[e] * ((x[e] - mu) * r);
        }
    }
    let sum = workgroup_total(lane, acc);
    if (lane == 0u) {
        out[c] = sum;
    }
}
