// optim.wgsl — fused optimiser steps, one invocation per parameter element, updating
// the parameter and its state entries in place (src/ops/optim.rs). hyper is the [1, 4]
// host input [lr, 1/(1−β1ᵗ), 1/(1−β2ᵗ), 0], so schedules need no new pipeline.
//   sgd_update   g' = g + w p;  v = μ v + g';  p -= lr · (NESTEROV ? g' + μ v : v)
//   adam_update  g' = DECOUPLED ? g : g + w p
//                m = β1 m + (1−β1) g';  v = β2 v + (1−β2) g'²
//                p -= lr · ( (m / (1−β1ᵗ)) / (sqrt(v / (1−β2ᵗ)) + ε) + [DECOUPLED] w p )
// Expressions are evaluated in the CPU reference's order.
// Bindings (group 0): 0 params (uniform), 1 param (read_write), 2 grad (read),
//   3 hyper (read), 4 velocity or m (read_write), 5 v (read_write, Adam only).
// Workgroup: 256 × 1 × 1 on the 2-D grid of common.wgsl.
// Override constants: NESTEROV (sgd_update), DECOUPLED (adam_update).

override NESTEROV: bool = false;
override DECOUPLED: bool = false;

struct OptimParams {
    n: u32,
    // SGD: momentum μ; Adam: β1.
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
}

@group(0) @binding(0) var<uniform> params: OptimParams;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read> hyper: array<f32>;
@group(0) @binding(4) var<storage, read_write> moment1: array<f32>;
@group(0) @binding(5) var<storage, read_write> moment2: array<f32>;

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
    let g = grad[i] + params.weight_decay * p;
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
    var g = grad[i];
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
