//! Throughput benchmark (figures, never assertions):
//! - training the dense AE 784-256-64-256-784 on MNIST, batch 256, Adam: samples/s,
//!   ms/step, queue submissions and read-backs per step, on each backend;
//! - matmul GFLOP/s on 256×784×256, 1024³ and the backward shapes, beside the
//!   machine's measured f32 FMA peak.
//!
//! ```text
//! cargo bench --bench throughput                  # CPU and, if any, the GPU adapter
//! cargo bench --bench throughput -- --json        # one JSON object per case
//! cargo bench --bench throughput -- --backend cpu # or gpu
//! ```
//!
//! The GPU cases run on whatever adapter wgpu finds, software (llvmpipe) included.

use std::time::Instant;

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::gpu::{GpuBackend, GpuOptions};
use aegpu::backend::{Backend, Feed};
use aegpu::data::{bundled_mnist_dir, load_mnist, Dataset, Split};
use aegpu::graph::{DType, Graph, ParamStore, Plan, Shape};
use aegpu::models::{DenseAutoencoder, DenseConfig};
use aegpu::ops::{Activation, MatMul, Op};
use aegpu::train::{fit, TrainConfig};

struct Options {
    json: bool,
    cpu: bool,
    gpu: bool,
}

fn emit(opts: &Options, case: serde_json::Value, text: String) {
    if opts.json {
        println!("{case}");
    } else {
        println!("{text}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend = args
        .iter()
        .position(|a| a == "--backend")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    let opts = Options {
        json: args.iter().any(|a| a == "--json"),
        cpu: matches!(backend, None | Some("cpu") | Some("all")),
        gpu: matches!(backend, None | Some("gpu") | Some("all")),
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let peak = fma_peak_gflops(threads);
    emit(
        &opts,
        serde_json::json!({"case": "f32_fma_peak", "threads": threads, "gflops": peak}),
        format!("f32 FMA peak ({threads} threads): {peak:.0} GFLOP/s"),
    );

    let train = load_mnist(&bundled_mnist_dir(), Split::Train).expect("bundled MNIST");
    let shapes = [
        (256, 784, 256, "forward 256x784x256"),
        (1024, 1024, 1024, "1024^3"),
        (784, 256, 256, "dW = x^T dz 784x256x256"),
        (256, 256, 784, "dX = dz W^T 256x256x784"),
    ];

    if opts.cpu {
        let mut cpu = CpuBackend::<f32>::new();
        let name = cpu.describe();
        for &(m, k, n, label) in &shapes {
            let g = matmul_gflops(
                &mut cpu,
                m,
                k,
                n,
                label.starts_with("dW"),
                label.starts_with("dX"),
                0.5,
            );
            emit(
                &opts,
                serde_json::json!({"case": "matmul", "backend": name, "shape": label, "m": m, "k": k, "n": n, "gflops": g, "fraction_of_peak": g / peak}),
                format!(
                    "matmul {label:<26} {name}: {g:7.1} GFLOP/s ({:.0}% of peak)",
                    100.0 * g / peak
                ),
            );
        }
        // The sgemm alternatives the issue asked to compare, on the same shapes:
        // matrixmultiply on one thread, and the `gemm` crate on every thread (the
        // backend row above is matrixmultiply split by rows over the rayon pool).
        for &(m, k, n, label) in &shapes {
            let single = timed_gflops(m, k, n, 0.5, |a, b, c| {
                aegpu::ops::Real::gemm(m, k, n, a, (k as isize, 1), b, (n as isize, 1), c)
            });
            let gemm_crate = timed_gflops(m, k, n, 0.5, |a, b, c| {
                gemm_crate_product(m, k, n, a, b, c, threads)
            });
            emit(
                &opts,
                serde_json::json!({"case": "sgemm_alternatives", "shape": label, "matrixmultiply_1_thread_gflops": single, "gemm_crate_gflops": gemm_crate, "gemm_crate_threads": threads}),
                format!("sgemm {label:<26} matrixmultiply 1 thread: {single:7.1} GFLOP/s; gemm crate {threads} threads: {gemm_crate:7.1} GFLOP/s"),
            );
        }
        train_case(&opts, &mut cpu, &train, 3);
    }
    if opts.gpu {
        match GpuBackend::new(&GpuOptions {
            adapter: None,
            allow_software: true,
        }) {
            Ok(mut gpu) => {
                let name = gpu.describe();
                for &(m, k, n, label) in &shapes {
                    let g = matmul_gflops(
                        &mut gpu,
                        m,
                        k,
                        n,
                        label.starts_with("dW"),
                        label.starts_with("dX"),
                        2.0,
                    );
                    emit(
                        &opts,
                        serde_json::json!({"case": "matmul", "backend": name, "shape": label, "m": m, "k": k, "n": n, "gflops": g, "fraction_of_peak": g / peak}),
                        format!(
                            "matmul {label:<26} {name}: {g:7.1} GFLOP/s ({:.0}% of the CPU's peak)",
                            100.0 * g / peak
                        ),
                    );
                }
                let epochs_subset = if gpu.is_software() { 1 } else { 3 };
                let data = if gpu.is_software() {
                    train.head(15_360)
                } else {
                    train.clone()
                };
                train_case(&opts, &mut gpu, &data, epochs_subset);
            }
            Err(e) => emit(
                &opts,
                serde_json::json!({"case": "gpu", "error": e.to_string()}),
                format!("GPU: none ({e})"),
            ),
        }
    }
}

/// Samples/s of the whole training loop (gather, forward, backward, Adam, loss
/// accumulation), after one warm-up epoch that compiles pipelines.
fn train_case(opts: &Options, backend: &mut dyn Backend, data: &Dataset, epochs: usize) {
    let name = backend.describe();
    let mut model = DenseAutoencoder::new(DenseConfig::new(&[784, 256, 64]), 0).expect("model");
    let warm = TrainConfig {
        epochs: 1,
        ..TrainConfig::default()
    };
    fit(
        &mut model,
        backend,
        &data.head(2_560),
        None,
        &warm,
        &mut |_| {},
    )
    .expect("warm-up");
    let cfg = TrainConfig {
        epochs,
        ..TrainConfig::default()
    };
    let start = Instant::now();
    let r = fit(&mut model, backend, data, None, &cfg, &mut |_| {}).expect("training");
    let seconds = start.elapsed().as_secs_f64();
    let ms_per_step = 1e3 * seconds / r.steps as f64;
    emit(
        opts,
        serde_json::json!({
            "case": "train_dense_784_256_64", "backend": name, "batch": 256, "optimizer": "adam",
            "rows": data.rows, "epochs": epochs, "samples_per_s": r.samples_per_s, "ms_per_step": ms_per_step,
            "submissions_per_step": r.submissions_per_step, "readbacks_per_step": r.readbacks_per_step,
            "launches_per_step": r.plan_launches, "plan_peak_bytes": r.plan_peak_bytes,
        }),
        format!(
            "train 784-256-64-256-784 batch 256 Adam, {name}: {:.0} samples/s, {ms_per_step:.2} ms/step, {:.2} submissions and {:.3} read-backs per step, {} launches per step, plan peak {:.1} MB",
            r.samples_per_s, r.submissions_per_step, r.readbacks_per_step, r.plan_launches, r.plan_peak_bytes as f64 / 1e6
        ),
    );
}

/// GFLOP/s of one matmul launch repeated for about `seconds`, read back once at the end.
fn matmul_gflops(
    backend: &mut dyn Backend,
    m: usize,
    k: usize,
    n: usize,
    trans_a: bool,
    trans_b: bool,
    seconds: f64,
) -> f64 {
    let store = ParamStore::new();
    let mut g = Graph::new();
    let a_shape = if trans_a {
        Shape::new(k, m)
    } else {
        Shape::new(m, k)
    };
    let b_shape = if trans_b {
        Shape::new(n, k)
    } else {
        Shape::new(k, n)
    };
    let a = g.input("a", a_shape, DType::F32);
    let b = g.input("b", b_shape, DType::F32);
    let c = g
        .push(
            Op::MatMul(MatMul {
                trans_a,
                trans_b,
                bias: false,
                act: Activation::Linear,
            }),
            &[a, b],
        )
        .expect("shapes agree");
    g.mark_output(c);
    let plan = backend
        .prepare(&Plan::new(&g, &store).expect("plan"))
        .expect("prepare");
    let av: Vec<f32> = (0..m * k).map(|i| ((i % 17) as f32 - 8.0) / 8.0).collect();
    let bv: Vec<f32> = (0..k * n).map(|i| ((i % 13) as f32 - 6.0) / 6.0).collect();
    let feeds = [Feed::F32(&av), Feed::F32(&bv)];
    backend.run(plan, &feeds).expect("warm-up run");
    backend.read_output(plan, c).expect("read");
    let start = Instant::now();
    let mut runs = 0u64;
    while start.elapsed().as_secs_f64() < seconds || runs < 3 {
        backend.run(plan, &feeds).expect("run");
        runs += 1;
    }
    backend.read_output(plan, c).expect("read");
    let elapsed = start.elapsed().as_secs_f64();
    2.0 * (m * k * n) as f64 * runs as f64 / elapsed / 1e9
}

/// GFLOP/s of `product(a, b, c)` on row-major m×k and k×n operands, repeated for
/// about `seconds`.
fn timed_gflops(
    m: usize,
    k: usize,
    n: usize,
    seconds: f64,
    product: impl Fn(&[f32], &[f32], &mut [f32]),
) -> f64 {
    let a: Vec<f32> = (0..m * k).map(|i| ((i % 17) as f32 - 8.0) / 8.0).collect();
    let b: Vec<f32> = (0..k * n).map(|i| ((i % 13) as f32 - 6.0) / 6.0).collect();
    let mut c = vec![0.0f32; m * n];
    product(&a, &b, &mut c);
    let start = Instant::now();
    let mut runs = 0u64;
    while start.elapsed().as_secs_f64() < seconds || runs < 3 {
        product(&a, &b, &mut c);
        runs += 1;
    }
    std::hint::black_box(&c);
    2.0 * (m * k * n) as f64 * runs as f64 / start.elapsed().as_secs_f64() / 1e9
}

/// C = A·B with the `gemm` crate (row-major: column stride 1, row stride = width).
fn gemm_crate_product(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    threads: usize,
) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: the three buffers hold m×k, k×n and m×n elements with the strides given.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// The machine's f32 FMA throughput: independent 8-wide FMA chains on every thread,
/// best of three (clock speed and neighbours vary from run to run).
fn fma_peak_gflops(threads: usize) -> f64 {
    (0..3).map(|_| fma_gflops_once(threads)).fold(0.0, f64::max)
}

fn fma_gflops_once(threads: usize) -> f64 {
    let iterations = 20_000_000u64;
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            s.spawn(move || fma_chains(iterations, t as f32));
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    // 10 chains × 8 lanes × 2 flops per FMA.
    (threads as u64 * iterations * 10 * 8 * 2) as f64 / elapsed / 1e9
}

#[cfg(target_arch = "x86_64")]
fn fma_chains(iterations: u64, seed: f32) -> f32 {
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the features the function is compiled for were detected above.
        unsafe { fma_chains_avx2(iterations, seed) }
    } else {
        fma_chains_portable(iterations, seed)
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn fma_chains(iterations: u64, seed: f32) -> f32 {
    fma_chains_portable(iterations, seed)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_chains_avx2(iterations: u64, seed: f32) -> f32 {
    use std::arch::x86_64::*;
    let mul = _mm256_set1_ps(0.999_999);
    let add = _mm256_set1_ps(1e-7);
    let mut acc = [_mm256_set1_ps(seed); 10];
    for _ in 0..iterations {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_ps(*a, mul, add);
        }
    }
    let mut out = [0.0f32; 8];
    let mut sum = _mm256_setzero_ps();
    for a in acc {
        sum = _mm256_add_ps(sum, a);
    }
    _mm256_storeu_ps(out.as_mut_ptr(), sum);
    std::hint::black_box(out.iter().sum())
}

fn fma_chains_portable(iterations: u64, seed: f32) -> f32 {
    let mut acc = [[seed; 8]; 10];
    for _ in 0..iterations {
        for chain in acc.iter_mut() {
            for x in chain.iter_mut() {
                *x = x.mul_add(0.999_999, 1e-7);
            }
        }
    }
    std::hint::black_box(acc.iter().flatten().sum())
}
