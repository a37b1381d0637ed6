#!/usr/bin/env python3
"""The VAE of `examples/vae_mnist.rs` in PyTorch, trained and measured the same way, to
read beside that example's table: 784-400-40 (relu hidden layer, Gaussian encoder with
mean and log-variance heads, Bernoulli decoder on logits), β = 1, Adam 1e-3, batch 100,
dynamic binarisation of the 60,000 training digits (a fresh Bernoulli draw of every
pixel each time a digit is drawn), PyTorch's default initialisation.

The 10,000 test digits are binarised once (NumPy seed 0: another draw than the
example's Philox one, from the same distribution). At each epoch of the example's
schedule it prints the test NLL by importance sampling (the IWAE bound with k = 50
draws a digit, log-mean-exp in float64), the test ELBO and its KL term, the active
units (Var over the test digits of μ_u above 0.01) and the last epoch's training
−ELBO; after the last epoch the bound with k = FINAL_K. PyTorch is a comparison, never
a dependency.

    pip install torch numpy
    python3 benches/vae_pytorch.py --epochs 40 --final-k 500 --threads 2
    cargo run --release --example vae_mnist -- 40 500           # the same, in aegpu
"""
import argparse
import gzip
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def mnist(split):
    name = {"train": "train-images-idx3-ubyte.gz", "test": "t10k-images-idx3-ubyte.gz"}[split]
    with gzip.open(f"data/mnist/{name}", "rb") as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    return raw.reshape(-1, 784).astype(np.float32) / 255.0


class Vae(nn.Module):
    def __init__(self, hidden=400, latent=40):
        super().__init__()
        self.enc = nn.Linear(784, hidden)
        self.mean = nn.Linear(hidden, latent)
        self.log_var = nn.Linear(hidden, latent)
        self.dec = nn.Linear(latent, hidden)
        self.out = nn.Linear(hidden, 784)

    def encode(self, x):
        h = F.relu(self.enc(x))
        return self.mean(h), self.log_var(h)

    def logits(self, z):
        return self.out(F.relu(self.dec(z)))

    def elbo_terms(self, x):
        """Per-row reconstruction −log p(x|z) (one draw) and closed-form KL to N(0, I)."""
        mu, lv = self.encode(x)
        z = mu + torch.exp(0.5 * lv) * torch.randn_like(mu)
        rec = F.binary_cross_entropy_with_logits(self.logits(z), x, reduction="none").sum(1)
        kl = 0.5 * (mu.pow(2) + lv.exp() - 1.0 - lv).sum(1)
        return rec, kl


@torch.no_grad()
def evaluate(model, test, k, batch=100):
    """IWAE bound on −log p(x) with k draws, ELBO, KL and active units on `test`."""
    nll, elbo, kl_sum, means = 0.0, 0.0, 0.0, []
    half_log_2pi = 0.5 * math.log(2 * math.pi)
    for i in range(0, len(test), batch):
        x = test[i:i + batch]
        mu, lv = model.encode(x)
        means.append(mu)
        rec, kl = model.elbo_terms(x)
        elbo -= (rec + kl).sum().item()
        kl_sum += kl.sum().item()
        log_w = []
        for _ in range(k):
            eps = torch.randn_like(mu)
            z = mu + torch.exp(0.5 * lv) * eps
            log_px = -F.binary_cross_entropy_with_logits(
                model.logits(z), x, reduction="none").sum(1)
            log_pz = (-0.5 * z.pow(2) - half_log_2pi).sum(1)
            log_qz = (-0.5 * eps.pow(2) - 0.5 * lv - half_log_2pi).sum(1)
            log_w.append((log_px + log_pz - log_qz).double())
        log_w = torch.stack(log_w, 1)
        nll -= (torch.logsumexp(log_w, 1) - math.log(k)).sum().item()
    n = len(test)
    active = (torch.cat(means).var(0) > 0.01).sum().item()
    return nll / n, elbo / n, kl_sum / n, active


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--final-k", type=int, default=500)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    train = torch.from_numpy(mnist("train"))
    rng = np.random.default_rng(0)
    test_grey = mnist("test")
    test = torch.from_numpy((rng.random(test_grey.shape) < test_grey).astype(np.float32))
    model = Vae()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    at = sorted({e for e in [1, 2, 5, 10, 20, 30, 40, 60, 80, 100, 150, 200] if e < a.epochs}
                | {a.epochs})
    print(f"PyTorch {torch.__version__}, {a.threads} threads: VAE 784-400-40, batch 100, Adam 1e-3")
    print("epoch | test NLL (k=50) | test ELBO | KL    | active units | train −ELBO | s")
    started, training_seconds = time.time(), 0.0
    for epoch in range(1, a.epochs + 1):
        t = time.time()
        order = torch.randperm(len(train))
        total = 0.0
        for i in range(0, len(train), 100):
            x = torch.bernoulli(train[order[i:i + 100]])
            rec, kl = model.elbo_terms(x)
            loss = (rec + kl).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(x)
        training_seconds += time.time() - t
        if epoch in at:
            model.eval()
            nll, elbo, kl, active = evaluate(model, test, 50)
            model.train()
            print(f"{epoch:>5} | {nll:>15.2f} | {elbo:>9.2f} | {kl:>5.2f} | {active:>12} | "
                  f"{total / len(train):>11.2f} | {time.time() - started:.0f}")
    nll, elbo, kl, active = evaluate(model, test, a.final_k)
    print(f"after {a.epochs} epochs: test NLL ≤ {nll:.2f} nats (IWAE, k = {a.final_k}), "
          f"ELBO {elbo:.2f} (KL {kl:.2f}), {active} of 40 units active; training "
          f"{a.epochs * len(train) / training_seconds:.0f} digits/s, {time.time() - started:.0f} s in all")


if __name__ == "__main__":
    main()
