"""Data-parallel training on Ray: N actors each hold a shard of the rows and a copy of
the model; every step each computes the gradient of its next batch
(`aegpu::train::distributed`), the driver averages them and puts the average in Ray's
object store once, and every actor applies it with its own copy of the optimiser
state. All copies start from one model file and apply the same updates, so they stay
identical; with equal shards the run equals single-process training on the summed
batch, up to the order of f32 summation.

    from aegpu.distributed import train
    report = train(X, "start.safetensors", "trained.safetensors", workers=4, steps=1000,
                   batch_size=256, flags=["--optimizer", "adam", "--lr", "1e-3"])

On a cluster, `ray.init(address=...)` before the call; `resources` places the actors
(e.g. `{"num_gpus": 1}` with `backend="gpu"`).
"""

from __future__ import annotations

import time

import numpy as np

from . import _native


class _Shard:
    """One worker: its rows, its model copy and optimiser state."""

    def __init__(self, model_path, flags, total_steps, rows, batch_size, backend):
        self.worker = _native.GradientWorker(str(model_path), list(flags), int(total_steps), backend)
        self.rows = np.ascontiguousarray(rows, dtype=np.float32)
        self.batch_size = int(batch_size)
        self.next = 0

    def gradients(self):
        """The gradient of the next batch (rows in order, wrapping around)."""
        n = len(self.rows)
        idx = (self.next + np.arange(self.batch_size)) % n
        self.next = (self.next + self.batch_size) % n
        return self.worker.gradients(self.rows[idx])

    def apply(self, gradient):
        self.worker.apply(gradient)
        return self.worker.step

    def parameters(self):
        return dict(zip(self.worker.parameter_names, self.worker.parameters()))

    def save(self, path):
        self.worker.save(str(path))


def average(gradients):
    """The element-wise mean of the workers' gradients, in float32, summed in worker
    order (the same on every run)."""
    mean = []
    for tensors in zip(*gradients):
        total = np.zeros_like(tensors[0])
        for t in tensors:
            total += t
        mean.append(total / np.float32(len(tensors)))
    return mean


def start(X, model_path, *, workers=2, steps=100, batch_size=256, flags=(), backend="cpu",
          threads_per_worker=None, resources=None):
    """Starts `workers` actors, each with an even share of the rows of `X` and a copy
    of the model of `model_path` (see `train` for the arguments)."""
    import ray

    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (rows × features), got shape {X.shape}")
    if workers < 1 or len(X) < workers:
        raise ValueError(f"{workers} workers need at least {workers} rows, got {len(X)}")
    options = {"num_cpus": threads_per_worker or 1}
    if threads_per_worker:
        options["runtime_env"] = {"env_vars": {"RAYON_NUM_THREADS": str(int(threads_per_worker))}}
    options.update(resources or {})
    Actor = ray.remote(_Shard).options(**options)
    return [
        Actor.remote(model_path, list(flags), steps, shard, batch_size, backend)
        for shard in np.array_split(X, workers)
    ]


def run(actors, steps):
    """`steps` synchronous steps: gradients from every actor, their average put in the
    object store once, applied by every actor. Returns the last step's terms (mean
    over workers) and the seconds of the steps after the first (which also waits for
    the actors to start)."""
    import ray

    terms, started = {}, None
    for step in range(steps):
        if step == 1:
            started = time.perf_counter()
        results = ray.get([a.gradients.remote() for a in actors])
        gradient = ray.put(average([g for g, _ in results]))
        terms = {k: float(np.mean([t[k] for _, t in results])) for k in results[0][1]}
        ray.get([a.apply.remote(gradient) for a in actors])
    return terms, (time.perf_counter() - started) if started else float("nan")


def train(X, model_path, out, *, workers=2, steps=100, batch_size=256, flags=(), backend="cpu",
          threads_per_worker=None, resources=None):
    """Trains the model of `model_path` on the rows of `X` split evenly over `workers`
    Ray actors, `batch_size` rows per worker per step, and saves it to `out`.

    `flags` are `aegpu train` flags for the optimiser, learning rate (constant or
    cosine schedule), clipping, loss and regularisers. `threads_per_worker` sets each
    actor's CPUs and threads (`RAYON_NUM_THREADS`). Returns `{"steps", "workers",
    "samples_per_s", "terms"}`; a worker that dies fails the call with Ray's error and
    nothing is saved.
    """
    import ray

    actors = start(X, model_path, workers=workers, steps=steps, batch_size=batch_size, flags=flags,
                   backend=backend, threads_per_worker=threads_per_worker, resources=resources)
    try:
        terms, seconds = run(actors, steps)
        ray.get(actors[0].save.remote(str(out)))
    finally:
        for a in actors:
            ray.kill(a)
    return {
        "steps": steps,
        "workers": workers,
        "samples_per_s": (steps - 1) * workers * batch_size / seconds if steps > 1 else float("nan"),
        "terms": terms,
    }
