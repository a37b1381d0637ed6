// common.wgsl — prepended by the backend to every other kernel file (WGSL has no
// includes). It holds what several families share:
//   - `element_index`: the flat element index of an invocation on the 2-D grid of
//     256-wide workgroups that element-wise launches use (one grid dimension may hold
//     at most 65535 workgroups, so large launches spill into y);
//   - the activations of src/ops/activation.rs, in the same numerically stable forms,
//     selected by the override constants ACT (Activation::code) and ALPHA (the leaky
//     relu slope). Kernels that do not activate leave them at their defaults.
// No bindings, no entry points.

override ACT: u32 = 0u;
override ALPHA: f32 = 0.0;

const ELEMENTWISE_WORKGROUP: u32 = 256u;

fn element_index(workgroup: vec3<u32>, workgroups: vec3<u32>, lane: u32) -> u32 {
    return (workgroup.y * workgroups.x + workgroup.x) * ELEMENTWISE_WORKGROUP + lane;
}

// Sum of `value` over the 256 invocations of a workgroup, by a tree in workgroup
// memory; the result is valid in invocation 0 only. Call from uniform control flow
// (it has barriers): the single-workgroup reductions of reduce.wgsl and loss.wgsl.
var<workgroup> partial: array<f32, 256>;

fn workgroup_sum(lane: u32, value: f32) -> f32 {
    partial[lane] = value;
    for (var width = 128u; width > 0u; width /= 2u) {
        workgroupBarrier();
        if (lane < width) {
            partial[lane] += partial[lane + width];
        }
    }
    return partial[0];
}

// The helpers below are branch-free (both sides computed, one selected): the matmul
// epilogue inlines them 64 times, and on software adapters every branch multiplies
// the pipeline's compile time.

// σ(x) without overflow for either sign: with e = e^{-|x|} ∈ (0, 1],
// σ(x) = 1 / (1 + e) for x ≥ 0 and e / (1 + e) for x < 0.
fn sigmoid(x: f32) -> f32 {
    let e = exp(-abs(x));
    return select(e, 1.0, x >= 0.0) / (1.0 + e);
}

// ln(1 + x), accurate for small x where 1 + x rounds (Goldberg 1991, thm. 4):
// the rounding of u = 1 + x cancels between log(u) and u − 1.
fn log1p(x: f32) -> f32 {
    let u = 1.0 + x;
    return select(log(u) * (x / (u - 1.0)), x, u == 1.0);
}

// e^x − 1 accurate for small |x| (Kahan's trick, as log1p above).
fn expm1(x: f32) -> f32 {
    let u = exp(x);
    let um1 = u - 1.0;
    let corrected = select(um1 * (x / log(u)), -1.0, um1 == -1.0);
    return select(corrected, x, u == 1.0);
}

// tanh through e^{-2|x|} ∈ (0, 1], which never overflows; below |x| = 1/4 the odd
// Taylor series (through x¹¹, first omitted term < 10⁻⁹ relative) avoids the
// cancellation in 1 − e^{-2|x|}.
fn tanh_stable(x: f32) -> f32 {
    let x2 = x * x;
    let s11 = -1382.0 / 155925.0;
    let s9 = 62.0 / 2835.0 + x2 * s11;
    let s7 = -17.0 / 315.0 + x2 * s9;
    let s5 = 2.0 / 15.0 + x2 * s7;
    let s3 = -1.0 / 3.0 + x2 * s5;
    let series = x + x * x2 * s3;
    let e = exp(-2.0 * abs(x));
    let closed = sign(x) * ((1.0 - e) / (1.0 + e));
    return select(closed, series, abs(x) < 0.25);
}

fn apply_activation(x: f32) -> f32 {
    if (ACT == 1u) {
        return sigmoid(x);
    } else if (ACT == 2u) {
        return tanh_stable(x);
    } else if (ACT == 3u) {
        return max(x, 0.0);
    } else if (ACT == 4u) {
        return select(ALPHA * x, x, x > 0.0);
    } else if (ACT == 5u) {
        // softplus(x) = max(x, 0) + ln(1 + e^{-|x|})
        return max(x, 0.0) + log1p(exp(-abs(x)));
    }
    return x;
}

// f'(x) written through y = f(x), as Activation::derivative_from_output.
fn activation_derivative(y: f32) -> f32 {
    if (ACT == 1u) {
        return y * (1.0 - y);
    } else if (ACT == 2u) {
        return 1.0 - y * y;
    } else if (ACT == 3u) {
        return select(0.0, 1.0, y > 0.0);
    } else if (ACT == 4u) {
        return select(ALPHA, 1.0, y > 0.0);
    } else if (ACT == 5u) {
        // σ(x) = 1 − e^{−y}, through expm1 so a tiny y (x ≪ 0) keeps its precision.
        return -expm1(-y);
    }
    return 1.0;
}
