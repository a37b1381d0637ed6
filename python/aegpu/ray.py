"""Batch work on a Ray cluster: encode, score or denoise a `ray.data.Dataset` with
`map_batches` over long-lived actors that each load the model once, and write the
results as Parquet.

    import ray, aegpu.ray
    ds = ray.data.read_parquet("s3://bucket/features/")          # a column "features"
    aegpu.ray.encode(ds, "model.safetensors", "s3://bucket/codes/", concurrency=8, num_gpus=1)

On a real cluster (a head node started with `ray start --head`, workers joined with
`ray start --address HEAD:6379`), from any machine that reaches the head:

    RAY_ADDRESS=ray://HEAD:10001 python -m aegpu.ray encode --model model.safetensors \
        --input s3://bucket/features/ --column features --out s3://bucket/codes/ \
        --concurrency 8 --num-gpus 1

(the model file must be readable at the same path by every worker: a shared file
system or object store). Every other column (an id, say) is carried through to the
output, so results can be joined back.

Output is all or nothing: a local `out` is written to a temporary folder beside it and
renamed into place when every batch has been written; any output gets a `_SUCCESS`
marker last. A job whose worker dies is retried by Ray (actors restart, their batches
run again); when it cannot finish, the call raises `RuntimeError` and leaves no `out`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import uuid

import numpy as np

from . import _native

SUCCESS = "_SUCCESS"


class _Worker:
    """One long-lived actor: the model, loaded once, applied to batch after batch."""

    def __init__(self, model_path, what, column, output, backend, tile, _crash_once=None):
        self.model = _native.Model.load(str(model_path), backend=backend)
        self.what, self.column, self.output, self.tile = what, column, output, tile
        self.crash_once = _crash_once

    def _rows(self, batch):
        if isinstance(self.column, (list, tuple)):
            x = np.stack([np.asarray(batch[c]) for c in self.column], axis=1)
        else:
            x = batch[self.column]
            if x.dtype == object:
                x = np.stack([np.asarray(r) for r in x])
        return np.ascontiguousarray(x, dtype=np.float32)

    def _denoise(self, image):
        """One image: float (H, W) or (C, H, W) on the 0–1 scale, or what
        `ray.data.read_images` gives (uint8, (H, W, C)), returned in its own layout and
        scale (uint8 rounded and clipped)."""
        im = np.asarray(image)
        channels_last = im.ndim == 3 and im.shape[-1] in (1, 3) and im.shape[0] not in (1, 3)
        x = np.moveaxis(im, -1, 0) if channels_last else im
        x = x.astype(np.float32) / 255.0 if im.dtype == np.uint8 else x
        y = self.model.denoise(np.ascontiguousarray(x, dtype=np.float32), tile=self.tile)
        y = np.moveaxis(y, 0, -1) if channels_last else y
        if im.dtype == np.uint8:
            y = np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)
        return y

    def __call__(self, batch):
        if self.crash_once and not os.path.exists(self.crash_once):
            # For tests: this actor dies once, mid-job, as a lost machine would.
            open(self.crash_once, "w").close()
            os._exit(1)
        names = self.column if isinstance(self.column, (list, tuple)) else [self.column]
        out = {k: v for k, v in batch.items() if k not in names}
        if self.what == "denoise":
            out[self.output] = np.stack([self._denoise(im) for im in batch[self.column]])
            return out
        x = self._rows(batch)
        if self.what == "encode":
            out[self.output] = self.model.encode(x)
        else:
            out[self.output] = self.model.score(x)
        return out


def _run(ds, model_path, out, what, column, output, *, concurrency, num_gpus, batch_size,
         backend, num_cpus=1, tile=128, overwrite=False, _crash_once=None):
    remote = "://" in str(out)
    if not remote and os.path.exists(out):
        if not overwrite:
            raise FileExistsError(f"{out} exists: pass overwrite=True to replace it")
    if not os.path.exists(model_path) and not remote:
        raise FileNotFoundError(f"no model file {model_path}")
    mapped = ds.map_batches(
        _Worker,
        fn_constructor_kwargs=dict(
            model_path=str(model_path), what=what, column=column, output=output,
            backend=backend, tile=tile, _crash_once=_crash_once,
        ),
        batch_size=batch_size,
        batch_format="numpy",
        concurrency=concurrency,
        num_gpus=num_gpus,
        num_cpus=num_cpus,
    )
    target = out if remote else f"{out}.partial-{uuid.uuid4().hex[:8]}"
    try:
        mapped.write_parquet(target)
    except Exception as e:
        if not remote:
            shutil.rmtree(target, ignore_errors=True)
        raise RuntimeError(f"aegpu.ray.{what} failed, no output written to {out}: {e}") from e
    if remote:
        import pyarrow.fs

        fs, path = pyarrow.fs.FileSystem.from_uri(str(out))
        with fs.open_output_stream(f"{path.rstrip('/')}/{SUCCESS}"):
            pass
    else:
        open(os.path.join(target, SUCCESS), "w").close()
        if os.path.exists(out):
            shutil.rmtree(out)
        os.replace(target, out)
    return str(out)


def encode(ds, model_path, out, *, column="features", output="code", concurrency=1, num_gpus=0,
           num_cpus=1, batch_size=1024, backend="auto", overwrite=False):
    """Codes of the rows in `column` (a tensor column, or a list of numeric columns),
    written to `out` as Parquet with every other column; returns `out`. Each of the
    `concurrency` actors takes `num_cpus` CPUs and `num_gpus` GPUs: leave CPUs for
    Ray Data's reading and writing tasks, or the job waits for them forever."""
    return _run(ds, model_path, out, "encode", column, output, concurrency=concurrency,
                num_gpus=num_gpus, num_cpus=num_cpus, batch_size=batch_size, backend=backend,
                overwrite=overwrite)


def score(ds, model_path, out, *, column="features", output="score", concurrency=1, num_gpus=0,
          num_cpus=1, batch_size=1024, backend="auto", overwrite=False):
    """Outlier scores (mean squared reconstruction error per row) as Parquet."""
    return _run(ds, model_path, out, "score", column, output, concurrency=concurrency,
                num_gpus=num_gpus, num_cpus=num_cpus, batch_size=batch_size, backend=backend,
                overwrite=overwrite)


def denoise(ds, model_path, out, *, column="image", output="denoised", concurrency=1, num_gpus=0,
            num_cpus=1, batch_size=8, backend="auto", tile=128, overwrite=False):
    """Denoised images as Parquet. `column` holds float `(H, W)` or `(C, H, W)` arrays
    on the 0–1 scale, or the uint8 `(H, W, C)` images of `ray.data.read_images` (given
    back in that layout); images of one batch share a shape (`batch_size=1` when they
    differ)."""
    return _run(ds, model_path, out, "denoise", column, output, concurrency=concurrency,
                num_gpus=num_gpus, num_cpus=num_cpus, batch_size=batch_size, backend=backend, tile=tile,
                overwrite=overwrite)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m aegpu.ray", description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["encode", "score"])
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True, help="Parquet files (a folder or URI)")
    p.add_argument("--column", default="features")
    p.add_argument("--out", required=True)
    p.add_argument("--concurrency", type=int, default=1)
    p.add_argument("--num-gpus", type=float, default=0)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--backend", default="auto")
    p.add_argument("--overwrite", action="store_true")
    a = p.parse_args(argv)
    import ray

    ray.init()
    ds = ray.data.read_parquet(a.input)
    fn = encode if a.what == "encode" else score
    out = fn(ds, a.model, a.out, column=a.column, concurrency=a.concurrency, num_gpus=a.num_gpus,
             batch_size=a.batch_size, backend=a.backend, overwrite=a.overwrite)
    print(out)


if __name__ == "__main__":
    main()
