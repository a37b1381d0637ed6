"""Samples/s of data-parallel training (aegpu.distributed) with 1 and 2 Ray workers
against one process, 784-256-64 dense autoencoder, Adam, 256 rows per worker per step,
CPU backend.

    python benches/data_parallel.py [STEPS]

Run from outside python/ (or after installing the wheel). Prints one line per setting.
"""

import os
import sys
import tempfile
import time

import numpy as np
import ray

import aegpu
import aegpu.distributed

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 40
cores = os.cpu_count()
X = np.random.default_rng(0).random((8192, 784), dtype=np.float32)
flags = ["--optimizer", "adam", "--lr", "1e-3"]
with tempfile.TemporaryDirectory() as d:
    start = os.path.join(d, "start.safetensors")
    aegpu.Model.build("dense", ["--layers", "784,256,64"], 784, seed=0, backend="cpu").save(start)

    one = aegpu.Model.load(start, backend="cpu")
    t = time.perf_counter()
    one.fit(X[: 256 * steps], ["--epochs", "1", "--batch", "256"] + flags)
    print(f"one process, {cores} threads, batch 256: {256 * steps / (time.perf_counter() - t):,.0f} samples/s")

    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False)
    for workers, threads in sorted({(1, 1), (1, cores), (2, 1), (cores, 1)}):
        if workers * threads > cores:
            continue
        r = aegpu.distributed.train(X, start, os.path.join(d, "out.safetensors"), workers=workers,
                                    steps=steps, batch_size=256, flags=flags, threads_per_worker=threads)
        print(f"ray, {workers} worker(s) × {threads} thread(s), 256 rows each: "
              f"{r['samples_per_s']:,.0f} samples/s")
    ray.shutdown()
