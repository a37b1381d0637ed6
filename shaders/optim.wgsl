// optim.wgsl — fused optimiser steps, one invocation per parameter element, updating
// the parameter and its state entries in place (src/ops/optim.rs, PyTorch's forms).
// hyper is the [1, 4] host input [lr, 1/(1−β1ᵗ), 1/(1−β2ᵗ), max_norm], so schedules
// need no new pipeline. With CLIP, every step first scales the gradient:
//   g = g · min(1, max_norm / (sqrt(norm_sq) + 1e-6))   when max_norm > 0
// and then, with w the weight decay,
//   sgd_update      g' = g + w p;  v = μ v + g';  p -= lr · (NESTEROV ? g' + μ v : v)
//   adam_update     g' = DECOUPLED ? g : g + w p
//                   m = β1 m + (1−β1) g';  v = β2 v + (1−β2) g'²
//                   p -= lr · ( (m / (1−β1ᵗ)) / (sqrt(v / (1−β2ᵗ)) + ε) + [DECOUPLED] w p )
//   adagrad_update  g' = g + w p;  s = s + g'²;  p -= lr · g' / (sqrt(s) + ε)
//   rmsprop_update  g' = g + w p;  v = α v + (1−α) g'²;  d = g' / (sqrt(v) + ε)
//                   μ > 0: b = μ b + d, p -= lr · b;  else p -= lr · d
// Expressions are evaluated in the CPU reference's order.
// Bindings (group 0): 0 params (uniform), 1 param (read_write), 2 grad (read),
//   3 hyper (read), 4 norm_sq [1, 1] (read; a placeholder without CLIP), 5 the first
//   state (velocity, m, s or v; read_write), 6 the second state (Adam's v or RMSProp's
//   b; read_write, two-state optimisers only). norm_sq comes before the states, out of
//   operand order, so that every variant keeps one layout whether or not it clips.
// Workgroup: 256 × 1 × 1 on the 2-D grid of common.wgsl.
// Override constants: CLIP (all), NESTEROV (sgd_update), DECOUPLED (adam_update).

override CLIP: bool = false;
override NESTEROV: bool = false;
override DECOUPLED: bool = false;

// src/ops/optim.rs CLIP_EPSILON.
const CLIP_EPSILON: f32 = 1e-6;

struct OptimParams {
    n: u32,
    // SGD, RMSProp: momentum μ; Adam: β1.
    beta1: f32,
    // Adam: β2; RMSProp: α.
    beta2: f32,
    eps: f32,
    weight_decay: f32,
}

@group(0) @binding(0) var<uniform> params: OptimParams;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read> hyper: array<f32>;
@group(0) @binding(4) var<storage, read> norm_sq: array<f32>;
@group(0) @binding(5) var<storage, read_write> moment1: array<f32>;
@group(0) @binding(6) var<storage, read_write> moment2: array<f32>;

// Element i of the gradient, clipped by the global norm when CLIP and max_norm > 0.
fn clipped_grad(i: u32) -> f32 {
    let g = grad[i];
    let max_norm = hyper[3];
    if (CLIP && max_norm > 0.0) {
        let factor = min(1.0, max_norm / (sqrt(norm_sq[0]) + CLIP_EPSILON));
        return g * factor;
    }
    return g;
}

@compute @workgroup_size(256)
fn sgd_update(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lane: u32) {
    let i = element_index(wg, nwg, lane);
    if (i >= params.n) {
        return;
    }
    let lr = hyper[0];
    let momentum = params.beta1;
    let p = param[i];
    let g = clipped_grad(i) + params.weight_decay * p;
    let v = momentum * moment1[i] + g;
    moment1[i] = v;
    var step = v;
    if (NESTEROV) {
        step = g + momentum * v;
    }
    param[i] = p - lr * step;
}

@compute @workgroup_size(256)
fn adam_update(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lane: u32) {
    let i = element_index(wg, nwg, lane);
    if (i >= params.n) {
        return;
    }
    let lr = hyper[0];
    let p = param[i];
    var g = clipped_grad(i);
    if (!DECOUPLED) {
        g = g + params.weight_decay * p;
    }
    let m = params.beta1 * moment1[i] + (1.0 - params.beta1) * g;
    let v = params.beta2 * moment2[i] + (1.0 - params.beta2) * g * g;
    moment1[i] = m;
    moment2[i] = v;
    var step = (m * hyper[1]) / (sqrt(v * hyper[2]) + params.eps);
    if (DECOUPLED) {
        step += params.weight_decay * p;
    }
    param[i] = p - lr * step;
}

@compute @workgroup_size(256)
fn adagrad_update(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lane: u32) {
    let i = element_index(wg, nwg, lane);
    if (i >= params.n) {
        return;
    }
    let lr = hyper[0];
    let p = param[i];
    let g = clipped_grad(i) + params.weight_decay * p;
    let s = moment1[i] + g * g;
    moment1[i] = s;
    param[i] = p - lr * (g / (sqrt(s) + params.eps));
}

@compute @workgroup_size(256)
fn rmsprop_update(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lane: u32) {
    let i = element_index(wg, nwg, lane);
    if (i >= params.n) {
        return;
    }
    let lr = hyper[0];
    let momentum = params.beta1;
    let alpha = params.beta2;
    let p = param[i];
    let g = clipped_grad(i) + params.weight_decay * p;
    let v = alpha * moment1[i] + (1.0 - alpha) * g * g;
    moment1[i] = v;
    var step = g / (sqrt(v) + params.eps);
    if (momentum > 0.0) {
        let b = momentum * moment2[i] + step;
        moment2[i] = b;
        step = b;
    }
    param[i] = p - lr * step;
}
