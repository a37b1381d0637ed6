#!/usr/bin/env python3
"""Training speed of the generative kinds (`aegpu train --model vae|vq|aae`) beside the
same models in PyTorch, measured in one run on the same machine and threads. PyTorch is
a comparison, never a dependency.

Same architectures and batch sizes as the CLI's defaults used here:
- VAE 784-400-40, relu, Bernoulli decoder on logits, closed-form KL, batch 100, Adam 1e-3;
- VQ-VAE: conv 1→32→64 (3×3, stride 2, relu), 1×1 conv to 16, 128 codes × 16 with EMA
  0.99 and β = 0.25 commitment (no dead-code restarts, which the PyTorch model lacks),
  transposed convs back (relu, sigmoid), batch 64, Adam 2e-3;
- AAE 784-512-512-8 (relu; linear code), decoder mirrored with a sigmoid output, a
  512-512 discriminator on codes against N(0, I), three Adam optimisers (reconstruction,
  discriminator, generator) stepped in that order each batch, batch 100, Adam 1e-3.

Each side trains on the first ROWS bundled MNIST training digits for EPOCHS epochs and
reports samples/s over the training loop only (aegpu: its `samples_per_s`; PyTorch: the
epochs' wall time).

    pip install torch numpy
    python3 benches/generative_pytorch.py --aegpu target/release/aegpu --threads 2
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
import torch.nn.functional as F


def mnist(rows):
    with gzip.open("data/mnist/train-images-idx3-ubyte.gz", "rb") as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    return (raw.reshape(-1, 784)[:rows].astype(np.float32) / 255.0)


def mlp(widths, last=None):
    layers = []
    for i in range(len(widths) - 1):
        layers.append(nn.Linear(widths[i], widths[i + 1]))
        if i + 2 < len(widths):
            layers.append(nn.ReLU())
    if last is not None:
        layers.append(last)
    return nn.Sequential(*layers)


class Vae(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = mlp([784, 400])
        self.mu = nn.Linear(400, 40)
        self.logvar = nn.Linear(400, 40)
        self.decoder = mlp([40, 400, 784])

    def step_loss(self, x):
        h = F.relu(self.encoder(x))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        logits = self.decoder(z)
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
        kl = -0.5 * torch.sum(1 + logvar - mu ** 2 - logvar.exp()) / len(x)
        return rec + kl


class VqVae(nn.Module):
    def __init__(self, codes=128, dim=16, decay=0.99, beta=0.25):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(64, dim, 1))
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(dim, 32, 3, 2, 1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 3, 2, 1, output_padding=1), nn.Sigmoid())
        self.register_buffer("embedding", torch.randn(codes, dim))
        self.register_buffer("count", torch.zeros(codes))
        self.register_buffer("sum", self.embedding.clone())
        self.decay, self.beta = decay, beta

    def step_loss(self, x):
        x = x.view(-1, 1, 28, 28)
        z = self.encoder(x).permute(0, 2, 3, 1).reshape(-1, self.embedding.shape[1])
        d = (z ** 2).sum(1, keepdim=True) - 2 * z @ self.embedding.t() + (self.embedding ** 2).sum(1)
        nearest = d.argmin(1)
        onehot = F.one_hot(nearest, self.embedding.shape[0]).float()
        q = onehot @ self.embedding
        with torch.no_grad():  # EMA codebook update (van den Oord et al., appendix)
            self.count.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
            self.sum.mul_(self.decay).add_(onehot.t() @ z, alpha=1 - self.decay)
            n = self.count.sum()
            count = (self.count + 1e-5) / (n + len(self.count) * 1e-5) * n
            self.embedding.copy_(self.sum / count.unsqueeze(1))
        st = z + (q - z).detach()
        y = self.decoder(st.view(x.shape[0], 7, 7, -1).permute(0, 3, 1, 2))
        return F.mse_loss(y, x) + self.beta * F.mse_loss(z, q.detach())


class Aae:
    def __init__(self):
        self.encoder = mlp([784, 512, 512, 8])
        self.decoder = mlp([8, 512, 512, 784], nn.Sigmoid())
        self.disc = mlp([8, 512, 512, 1])
        self.opt_rec = torch.optim.Adam(
            list(self.encoder.parameters()) + list(self.decoder.parameters()), lr=1e-3)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=1e-3)
        self.opt_g = torch.optim.Adam(self.encoder.parameters(), lr=1e-3)

    def step(self, x):
        self.opt_rec.zero_grad()
        F.mse_loss(self.decoder(self.encoder(x)), x).backward()
        self.opt_rec.step()
        self.opt_d.zero_grad()
        real = self.disc(torch.randn(len(x), 8))
        fake = self.disc(self.encoder(x).detach())
        (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
         + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))).backward()
        self.opt_d.step()
        self.opt_g.zero_grad()
        fake = self.disc(self.encoder(x))
        F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake)).backward()
        self.opt_g.step()


def torch_rate(kind, data, epochs, batch):
    x_all = torch.from_numpy(data)
    if kind == "aae":
        model = Aae()
        step = model.step
    else:
        model = Vae() if kind == "vae" else VqVae()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3 if kind == "vae" else 2e-3)

        def step(x):
            opt.zero_grad()
            model.step_loss(x).backward()
            opt.step()
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(x_all))
        for i in range(0, len(x_all), batch):
            step(x_all[order[i:i + batch]])
    return epochs * len(x_all) / (time.perf_counter() - start)


RUNS = {
    "vae": (["--model", "vae", "--hidden", "400", "--latent", "40", "--lr", "1e-3"], 100),
    "vq": (["--model", "vq", "--channels", "32,64", "--codes", "128", "--code-dim", "16",
            "--lr", "2e-3", "--image", "1x28x28", "--restart-dead-codes", "off"], 64),
    "aae": (["--model", "aae", "--lr", "1e-3"], 100),
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--aegpu", required=True, help="the aegpu binary")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rows", type=int, default=10000)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--kinds", default="vae,vq,aae")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    data = mnist(a.rows)
    print(f"{a.rows} MNIST digits, {a.epochs} epoch(s), {a.threads} threads, "
          f"pytorch {torch.__version__}")
    print(f"{'kind':<5} {'aegpu samples/s':>16} {'pytorch samples/s':>18} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        csv = os.path.join(tmp, "digits.csv")
        np.savetxt(csv, data, delimiter=",", fmt="%.6g")
        env = dict(os.environ, RAYON_NUM_THREADS=str(a.threads))
        for kind in a.kinds.split(","):
            flags, batch = RUNS[kind]
            run = subprocess.run(
                [a.aegpu, "train", *flags, "--data", csv, "--epochs", str(a.epochs),
                 "--batch", str(batch), "--backend", "cpu", "--json",
                 "--out", os.path.join(tmp, f"{kind}.safetensors")],
                capture_output=True, text=True, env=env)
            if run.returncode != 0:
                raise SystemExit(f"aegpu {kind}: {run.stderr.strip()}")
            ours = json.loads(run.stdout)["samples_per_s"]
            theirs = torch_rate(kind, data, a.epochs, batch)
            print(f"{kind:<5} {ours:>16.0f} {theirs:>18.0f} {ours / theirs:>6.2f}x")


if __name__ == "__main__":
    main()
