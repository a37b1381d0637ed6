"""Dictionary learning side by side: aegpu's `sparse_coding` example against
scikit-learn's MiniBatchDictionaryLearning on the same 8x8 patches, λ (= alpha),
atom count, batch size, minibatch order and number of passes, in one run.

    python3 benches/dictionary_sklearn.py            # defaults of the example
    python3 benches/dictionary_sklearn.py --backend gpu --fit-algorithm cd

Both learn on `train.npy` (written by the example with --export) and are scored the
same way: the mean over the 2,048 held-out patches of ½‖x − hD‖² + λ‖h‖₁, the objective
both libraries minimise. aegpu codes the held-out patches with 200 FISTA iterations;
scikit-learn's curve codes them with `sparse_encode(..., algorithm="lasso_cd")`, and
aegpu's final dictionary is re-scored with that same encoder as a cross-check. The
clocks count learning only (scikit-learn: `partial_fit` calls; aegpu: its `learn`
calls), not the scoring. scikit-learn is a reference on this machine, never a
dependency of the crate.
"""

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.decomposition import MiniBatchDictionaryLearning, sparse_encode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def objective(x, d, lam):
    """Mean of ½‖x − hD‖² + λ‖h‖₁ with h from coordinate descent to convergence."""
    h = sparse_encode(x, d, algorithm="lasso_cd", alpha=lam, max_iter=2000)
    fit = 0.5 * ((x - h @ d) ** 2).sum(axis=1).mean()
    return fit + lam * np.abs(h).sum(axis=1).mean(), (h != 0).sum(axis=1).mean()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--atoms", type=int, default=256)
    p.add_argument("--lambda", dest="lam", type=float, default=0.1)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--patches", type=int, default=20000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--iterations", type=int, default=50)
    p.add_argument("--backend", default="cpu")
    p.add_argument("--fit-algorithm", default="lars", choices=["lars", "cd"])
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()

    out = tempfile.mkdtemp(prefix="aegpu-dictionary-")
    cmd = [
        "cargo", "run", "--release", "--quiet", "--example", "sparse_coding", "--",
        "--atoms", str(a.atoms), "--lambda", str(a.lam), "--batch", str(a.batch),
        "--patches", str(a.patches), "--epochs", str(a.epochs),
        "--iterations", str(a.iterations), "--backend", a.backend,
        "--seed", str(a.seed), "--skip-psd", "--skip-denoise",
        "--export", out, "--out", os.path.join(out, "pictures"),
    ]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True)
    with open(os.path.join(out, "curve.csv")) as f:
        ours = [(float(r["seconds"]), float(r["objective"])) for r in csv.DictReader(f)]
    train = np.load(os.path.join(out, "train.npy")).astype(np.float64)
    held_out = np.load(os.path.join(out, "eval.npy")).astype(np.float64)
    d_ours = np.load(os.path.join(out, "dictionary.npy")).astype(np.float64)

    steps = a.epochs * (len(train) // a.batch)
    every = max(steps // 12, 1)
    model = MiniBatchDictionaryLearning(
        n_components=a.atoms, alpha=a.lam, batch_size=a.batch,
        fit_algorithm=a.fit_algorithm, shuffle=False, random_state=a.seed,
    )
    theirs, clock, step = [], 0.0, 0
    for _ in range(a.epochs):
        for start in range(0, len(train) - a.batch + 1, a.batch):
            t = time.perf_counter()
            model.partial_fit(train[start:start + a.batch])
            clock += time.perf_counter() - t
            step += 1
            if step % every == 0 or step == steps:
                j, nz = objective(held_out, model.components_, a.lam)
                theirs.append((clock, j))
                print(f"scikit-learn ({a.fit_algorithm}): {clock:7.2f} s {step:5} minibatches "
                      f"objective {j:.6f} ({nz:.2f} nonzeros/patch)", flush=True)

    print()
    print(f"held-out objective against learning time: K = {a.atoms}, λ = {a.lam}, batch "
          f"{a.batch}, {steps} minibatches of {len(train)} patches")
    print(f"{'aegpu (' + a.backend + ', FISTA ' + str(a.iterations) + ')':>28}   "
          f"{'scikit-learn (' + a.fit_algorithm + ')':>28}")
    # aegpu's first row is its starting dictionary; scikit-learn's start after one step.
    theirs = [None] + theirs
    for i in range(max(len(ours), len(theirs))):
        left = f"{ours[i][0]:8.2f} s {ours[i][1]:.6f}" if i < len(ours) else ""
        right = f"{theirs[i][0]:8.2f} s {theirs[i][1]:.6f}" if i < len(theirs) and theirs[i] else ""
        print(f"{left:>28}   {right:>28}")
    j_ours, nz_ours = objective(held_out, d_ours, a.lam)
    print(f"aegpu's final dictionary scored by scikit-learn's lasso_cd: {j_ours:.6f} "
          f"({nz_ours:.2f} nonzeros/patch; aegpu's own FISTA-200 score {ours[-1][1]:.6f})")
    print(f"learning time: aegpu {ours[-1][0]:.2f} s, scikit-learn {theirs[-1][0]:.2f} s; "
          f"final objective: aegpu {j_ours:.6f}, scikit-learn {theirs[-1][1]:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
