#!/usr/bin/env python3
"""The same dense autoencoder in PyTorch, for side-by-side figures with
`cargo bench --bench throughput`. PyTorch is a comparison, never a dependency.

    pip install torch numpy
    python3 benches/pytorch_reference.py --threads 2 --epochs 1      # throughput
    python3 benches/pytorch_reference.py --threads 2 --epochs 5 --lr 1e-3 --code relu   # quality

Model: 784-256-64-256-784, ReLU hidden, code activation --code (relu or linear),
sigmoid output, MSE, Adam, batch 256, on the bundled MNIST (data/mnist). Prints one JSON
object per line: training samples/s, test MSE, and matmul GFLOP/s on the bench shapes.
"""
import argparse
import gzip
import json
import os
import time

import numpy as np
import torch


def load_images(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    n, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols).astype(np.float32) / 255.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--code", default="relu", choices=["relu", "linear"])
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    root = os.path.join(os.path.dirname(__file__), "..", "data", "mnist")
    train = torch.from_numpy(load_images(os.path.join(root, "train-images-idx3-ubyte.gz")))
    test = torch.from_numpy(load_images(os.path.join(root, "t10k-images-idx3-ubyte.gz")))

    code_act = [torch.nn.ReLU()] if a.code == "relu" else []
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 64), *code_act,
        torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 784), torch.nn.Sigmoid())
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    loss_fn = torch.nn.MSELoss()
    batch = 256
    total, seconds = 0, 0.0
    for epoch in range(a.epochs):
        perm = torch.randperm(train.shape[0])
        start = time.perf_counter()
        for i in range(0, train.shape[0], batch):
            x = train[perm[i:i + batch]]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), x)
            loss.backward()
            opt.step()
        seconds += time.perf_counter() - start
        total += train.shape[0]
    with torch.no_grad():
        test_mse = float(loss_fn(model(test), test))
    print(json.dumps({"case": "train_dense_784_256_64", "backend": f"pytorch {torch.__version__} cpu",
                      "threads": a.threads, "batch": batch, "epochs": a.epochs, "lr": a.lr, "code": a.code,
                      "samples_per_s": total / seconds, "ms_per_step": 1e3 * seconds / (total / batch),
                      "test_mse": test_mse}))

    for m, k, n, label in [(256, 784, 256, "forward 256x784x256"), (1024, 1024, 1024, "1024^3"),
                           (784, 256, 256, "dW = x^T dz 784x256x256"), (256, 256, 784, "dX = dz W^T 256x256x784")]:
        x, y = torch.randn(m, k), torch.randn(k, n)
        torch.mm(x, y)
        runs, start = 0, time.perf_counter()
        while time.perf_counter() - start < 0.5 or runs < 3:
            torch.mm(x, y)
            runs += 1
        g = 2 * m * k * n * runs / (time.perf_counter() - start) / 1e9
        print(json.dumps({"case": "matmul", "backend": "pytorch cpu", "shape": label, "gflops": g}))


if __name__ == "__main__":
    main()
