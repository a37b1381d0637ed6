#!/usr/bin/env python3
"""The convolution figures of `cargo run --release --example conv_bench` in PyTorch,
and the MNIST conv autoencoder of `examples/conv_mnist.rs` trained in PyTorch, for
side-by-side figures on the same machine. PyTorch is a comparison, never a dependency.

    pip install torch numpy
    python3 benches/conv_pytorch.py --threads 2
"""
import argparse
import gzip
import os
import time

import numpy as np
import torch
import torch.nn as nn

CASES = [
    ("denoiser 32→32 40×40", 32, (32, 40, 40), 32, 1),
    ("mnist 1→16 28×28 s2", 64, (1, 28, 28), 16, 2),
    ("mnist 16→32 14×14 s2", 64, (16, 14, 14), 32, 2),
]


def timed(f, seconds=1.0):
    f()
    start, runs = time.perf_counter(), 0
    while runs < 3 or time.perf_counter() - start < seconds:
        f()
        runs += 1
    return (time.perf_counter() - start) / runs


def conv_figures():
    for name, batch, (c, h, w), oc, stride in CASES:
        conv = nn.Conv2d(c, oc, 3, stride=stride, padding=1)
        x = torch.rand(batch, c, h, w, requires_grad=True)
        with torch.no_grad():
            y = conv(x)
        dy = torch.rand_like(y)
        oh, ow = y.shape[2], y.shape[3]
        flops = 2.0 * batch * oc * oh * ow * c * 9

        def forward():
            with torch.no_grad():
                torch.relu(conv(x))

        def backward():
            x.grad = None
            conv.weight.grad = None
            conv(x).backward(dy)

        f, b = timed(forward), timed(backward) - timed(forward)
        print(f"pytorch {torch.__version__:<20} {name:<24} batch {batch:>3}: forward {flops / f / 1e9:6.1f} GFLOP/s, "
              f"backward (dx + dW) {2 * flops / b / 1e9:6.1f} GFLOP/s")


def mnist_training(root):
    with gzip.open(os.path.join(root, "data/mnist/train-images-idx3-ubyte.gz"), "rb") as f:
        raw = f.read()
    x = torch.from_numpy(np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 1, 28, 28).astype(np.float32) / 255.0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
        nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1), nn.Sigmoid())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.randperm(len(x))
    start = time.perf_counter()
    for i in range(0, len(x), 64):
        batch = x[order[i:i + 64]]
        loss = nn.functional.mse_loss(model(batch), batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    print(f"pytorch MNIST conv AE (1 epoch, batch 64, Adam): {len(x) / seconds:.0f} samples/s, last loss {loss.item():.5f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    conv_figures()
    mnist_training(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


if __name__ == "__main__":
    main()
