//! Convolution throughput: forward and backward (dx and dW) GFLOP/s of a 3×3 layer on
//! the CPU backend and, with `gpu`, on the GPU backend (llvmpipe allowed), for the
//! shapes the bundled models use. `benches/conv_pytorch.py` prints the same figures
//! for PyTorch on the same machine.
//!
//!     cargo run --release --example conv_bench            # CPU
//!     cargo run --release --example conv_bench -- gpu     # CPU, then the GPU backend

use std::time::Instant;

use aegpu::backend::cpu::CpuBackend;
use aegpu::backend::gpu::{GpuBackend, GpuOptions};
use aegpu::backend::{Backend, Feed};
use aegpu::graph::{DType, EntryKind, Graph, ParamStore, Plan, Shape};
use aegpu::ops::conv::WeightGradSplit;
use aegpu::ops::{Activation, Conv, ConvGeometry, Direction, ImageShape, Op};

/// (name, batch, input (C, H, W), out channels, stride)
type Case = (&'static str, usize, (usize, usize, usize), usize, usize);
const CASES: [Case; 3] = [
    ("denoiser 32→32 40×40", 32, (32, 40, 40), 32, 1),
    ("mnist 1→16 28×28 s2", 64, (1, 28, 28), 16, 2),
    ("mnist 16→32 14×14 s2", 64, (16, 14, 14), 32, 2),
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gpu = std::env::args().nth(1).is_some_and(|a| a == "gpu");
    let mut backends: Vec<Box<dyn Backend>> = vec![Box::new(CpuBackend::<f32>::new())];
    if gpu {
        backends.push(Box::new(GpuBackend::new(&GpuOptions {
            allow_software: true,
            ..GpuOptions::default()
        })?));
    }
    for backend in &mut backends {
        for (name, batch, (c, h, w), oc, stride) in CASES {
            let g = ConvGeometry::conv(ImageShape::new(c, h, w), oc, 3, stride, 1)?;
            let t = time_layer(backend.as_mut(), g, batch)?;
            // dx and dW each take the forward pass's multiply-adds.
            let gflops = |seconds: f64| 2.0 * (g.macs_per_image() * batch) as f64 / seconds / 1e9;
            println!(
                "{:<28} {name:<24} batch {batch:>3}: forward {:6.1} GFLOP/s, backward (dx + dW) {:6.1} GFLOP/s (dx {:.1}, dW {:.1})",
                backend.describe(),
                gflops(t.forward),
                2.0 * gflops(t.dx + t.dw),
                gflops(t.dx),
                gflops(t.dw),
            );
        }
    }
    Ok(())
}

/// Times a layer's three launch sets, over about a second each.
fn time_layer(
    backend: &mut dyn Backend,
    g: ConvGeometry,
    batch: usize,
) -> Result<LayerTimes, Box<dyn std::error::Error>> {
    let mut store = ParamStore::new();
    let wv: Vec<f32> = (0..g.weight_shape().len())
        .map(|i| ((i % 7) as f32 - 3.0) * 0.01)
        .collect();
    let w = store.add("w", g.weight_shape(), EntryKind::Parameter, wv);
    let b = store.zeros(
        "b",
        Shape::new(1, g.features.channels),
        EntryKind::Parameter,
    );
    backend.upload_store(&store)?;
    let x: Vec<f32> = (0..batch * g.image.len())
        .map(|i| (i % 13) as f32 / 13.0)
        .collect();
    let dy: Vec<f32> = (0..batch * g.features.len())
        .map(|i| (i % 5) as f32 / 5.0)
        .collect();

    let conv = |direction| Conv {
        geometry: g,
        direction,
        bias: direction == Direction::Forward,
        act: if direction == Direction::Forward {
            Activation::Relu
        } else {
            Activation::Linear
        },
    };
    let mut fg = Graph::new();
    let xi = fg.input("x", Shape::new(batch, g.image.len()), DType::F32);
    let (wv, bv) = (fg.entry(&store, w), fg.entry(&store, b));
    let y = fg.push(Op::Conv(conv(Direction::Forward)), &[xi, wv, bv])?;
    fg.mark_output(y);

    // dx and dW as two plans, so each is timed on its own.
    let mut xg = Graph::new();
    let dyi = xg.input("dy", Shape::new(batch, g.features.len()), DType::F32);
    let wv = xg.entry(&store, w);
    let dx = xg.push(Op::Conv(conv(Direction::Transposed)), &[dyi, wv])?;
    xg.mark_output(dx);

    let mut wg = Graph::new();
    let xi = wg.input("x", Shape::new(batch, g.image.len()), DType::F32);
    let dyi = wg.input("dy", Shape::new(batch, g.features.len()), DType::F32);
    let split = WeightGradSplit::for_batch(&g, batch);
    let partial = wg.push(
        Op::ConvWeightGrad {
            geometry: g,
            images_per_split: split.images_per_split,
        },
        &[xi, dyi],
    )?;
    let dw = wg.push(
        Op::SumBlocks {
            blocks: split.splits,
        },
        &[partial],
    )?;
    wg.mark_output(dw);

    let fp = backend.prepare(&Plan::new(&fg, &store)?)?;
    let xp = backend.prepare(&Plan::new(&xg, &store)?)?;
    let wp = backend.prepare(&Plan::new(&wg, &store)?)?;
    let mut time = |plan, feeds: &[Feed], out| -> Result<f64, Box<dyn std::error::Error>> {
        backend.run(plan, feeds)?; // warm-up: pipeline compilation
        backend.read_output(plan, out)?;
        let start = Instant::now();
        let mut runs = 0;
        while runs < 3 || start.elapsed().as_secs_f64() < 1.0 {
            backend.run(plan, feeds)?;
            runs += 1;
        }
        backend.read_output(plan, out)?;
        Ok(start.elapsed().as_secs_f64() / runs as f64)
    };
    let times = LayerTimes {
        forward: time(fp, &[Feed::F32(&x)], y)?,
        dx: time(xp, &[Feed::F32(&dy)], dx)?,
        dw: time(wp, &[Feed::F32(&x), Feed::F32(&dy)], dw)?,
    };
    for plan in [fp, xp, wp] {
        backend.release(plan);
    }
    Ok(times)
}

/// Seconds per launch set of a layer's forward pass, input gradient and weight
/// gradient (partials and their sum).
struct LayerTimes {
    forward: f64,
    dx: f64,
    dw: f64,
}
