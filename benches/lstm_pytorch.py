#!/usr/bin/env python3
"""The LSTM sequence autoencoder of `aegpu train --model lstm` (and of
`examples/lstm_ecg.rs`) in PyTorch, for side-by-side training speed and quality on the
same machine. PyTorch is a comparison, never a dependency.

Same architecture: nn.LSTM(F → H) encoder, its last hidden state through
nn.Linear(H → K) to the code, nn.LSTM(K → H) decoder given the code at every step,
nn.Linear(H → F) read-out per step, output reversed in time (Srivastava et al. 2015);
forget-gate bias 1; Adam; MSE. Trained on the ECG5000 normal beats (class 1 of the
training file), scored on the whole test file by reconstruction error.

    pip install torch numpy scikit-learn
    python3 benches/lstm_pytorch.py --threads 2 --epochs 30
    python3 benches/lstm_pytorch.py --threads 2 --epochs 10 --aegpu target/release/aegpu

With `--aegpu BINARY` the same run first trains `aegpu train --model lstm` (CPU backend)
on the same beats with the same sizes, batch, learning rate and epochs, and prints both
training speeds, so the two are measured on one machine in one run.
"""
import argparse
import gzip
import json
import os
import subprocess
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn


def load(path):
    with gzip.open(path, "rt") as f:
        rows = np.array([[float(v) for v in line.split(",")] for line in f if line.strip()])
    return rows[:, 1:].astype(np.float32), rows[:, 0].astype(int)


class LstmAe(nn.Module):
    def __init__(self, features, units, code, reverse=True):
        super().__init__()
        self.encoder = nn.LSTM(features, units, batch_first=True)
        self.to_code = nn.Linear(units, code)
        self.decoder = nn.LSTM(code, units, batch_first=True)
        self.output = nn.Linear(units, features)
        self.reverse = reverse
        for lstm in (self.encoder, self.decoder):
            lstm.bias_hh_l0.data.zero_()
            lstm.bias_ih_l0.data[units:2 * units] = 1.0

    def forward(self, x):  # x [N, T, F]
        _, (h, _) = self.encoder(x)
        code = self.to_code(h[-1])
        steps = x.shape[1]
        out, _ = self.decoder(code.unsqueeze(1).expand(-1, steps, -1).contiguous())
        y = self.output(out)
        return torch.flip(y, dims=[1]) if self.reverse else y


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--units", type=int, default=64)
    p.add_argument("--code", type=int, default=16)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data", default="data/ucr")
    p.add_argument("--aegpu", help="the aegpu binary, to train the same model with it first")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x_train, y_train = load(f"{a.data}/ECG5000_TRAIN.csv.gz")
    x_test, y_test = load(f"{a.data}/ECG5000_TEST.csv.gz")
    normal = torch.from_numpy(x_train[y_train == 1]).unsqueeze(-1)
    aegpu_rate = None
    if a.aegpu:
        with tempfile.TemporaryDirectory() as tmp:
            csv = os.path.join(tmp, "normal.csv")
            np.savetxt(csv, x_train[y_train == 1], delimiter=",", fmt="%.8g")
            env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
            run = subprocess.run(
                [a.aegpu, "train", "--model", "lstm", "--data", csv, "--units", str(a.units),
                 "--code-size", str(a.code), "--epochs", str(a.epochs), "--batch", str(a.batch),
                 "--lr", str(a.lr), "--seed", str(a.seed), "--backend", "cpu", "--json",
                 "--out", os.path.join(tmp, "lstm.safetensors")],
                capture_output=True, text=True, env=env, check=True)
            report = json.loads(run.stdout)
            aegpu_rate = report["samples_per_s"]
            print(f"aegpu {report['architecture']}: train MSE {report['train_loss']:.5f} "
                  f"after {a.epochs} epochs, {aegpu_rate:.0f} samples/s")
    model = LstmAe(1, a.units, a.code)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    rng = np.random.default_rng(a.seed)
    seen, seconds = 0, 0.0
    for epoch in range(a.epochs):
        order = torch.from_numpy(rng.permutation(len(normal)))
        start, total = time.perf_counter(), 0.0
        for i in range(0, len(normal), a.batch):
            xb = normal[order[i:i + a.batch]]
            opt.zero_grad()
            loss = ((model(xb) - xb) ** 2).mean()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        seconds += time.perf_counter() - start
        seen += len(normal)
        print(f"epoch {epoch + 1}: train MSE {total / len(normal):.5f}")
    rate = seen / seconds
    print(f"pytorch {torch.__version__}, {a.threads} threads: {rate:.0f} samples/s "
          f"training (batch {a.batch}, H {a.units}, K {a.code}, T {normal.shape[1]})")
    if aegpu_rate is not None:
        print(f"aegpu (CPU backend) / pytorch training speed: {aegpu_rate / rate:.2f}x")
    with torch.no_grad():
        xt = torch.from_numpy(x_test).unsqueeze(-1)
        scores = ((model(xt) - xt) ** 2).mean(dim=(1, 2)).numpy()
    try:
        from sklearn.metrics import average_precision_score, roc_auc_score
        anomalous = (y_test != 1).astype(int)
        print(f"test: ROC AUC {roc_auc_score(anomalous, scores):.4f}, "
              f"AP {average_precision_score(anomalous, scores):.4f}")
    except ImportError:
        pass


if __name__ == "__main__":
    main()
