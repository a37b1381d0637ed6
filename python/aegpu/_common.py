"""What every estimator shares: the `aegpu train` flags its parameters become, array
checks, progress reporting and pickling through the safetensors model file."""

from __future__ import annotations

import json
import logging
import os
import tempfile

import numpy as np

from . import _native

logger = logging.getLogger("aegpu")


def as_rows(X, what="X"):
    """`X` as the engine reads it: 2-D, float32, C-contiguous.

    A float32 C-contiguous array is passed on as it is (the engine reads it in place);
    any other real dtype or memory order is converted once. Complex, object and string
    arrays are refused with a TypeError; NaN and infinity are left for the engine to
    refuse, naming the row and column.
    """
    a = np.asarray(X)
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{what} must hold real numbers, got dtype {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{what} must be 2-D (rows × features), got shape {a.shape}")
    return np.ascontiguousarray(a, dtype=np.float32)


def fit_flags(est, batch_rows):
    """The `aegpu train` flags of the training settings every estimator shares."""
    argv = [
        "--epochs", str(est.epochs),
        "--batch", str(batch_rows),
        "--optimizer", str(est.optimizer),
        "--loss", str(est.loss),
        "--momentum", repr(float(est.momentum)),
        "--weight-decay", repr(float(est.weight_decay)),
        "--schedule", str(est.schedule),
        "--warmup", str(int(est.warmup)),
        "--seed", str(int(est.random_state or 0)),
    ]
    if est.lr is not None:
        argv += ["--lr", repr(float(est.lr))]
    if est.early_stop is not None:
        argv += ["--early-stop", str(int(est.early_stop))]
    if est.monitor is not None:
        argv += ["--monitor", str(est.monitor)]
    if est.clip_norm is not None:
        argv += ["--clip-norm", repr(float(est.clip_norm))]
    if est.verbose:
        argv += ["--loss-every", "20"]
    return argv


def regularizer_flags(est):
    """Noise, dropout, sparsity and contractive flags."""
    argv = []
    if est.noise is not None:
        argv += ["--noise", str(est.noise)]
    if est.dropout:
        argv += ["--dropout", repr(float(est.dropout))]
    if est.sparse_l1:
        argv += ["--sparse-l1", repr(float(est.sparse_l1))]
    if est.sparse_kl is not None:
        kl = est.sparse_kl
        if not isinstance(kl, str):
            kl = ",".join(repr(float(v)) for v in kl)
        argv += ["--sparse-kl", kl]
    if est.contractive:
        argv += ["--contractive", repr(float(est.contractive))]
        argv += ["--contractive-directions", str(int(est.contractive_directions))]
    return argv


class Progress:
    """Relays the engine's progress: one log line per epoch on the `aegpu` logger and,
    with verbose >= 2 and tqdm installed, a bar of steps."""

    def __init__(self, verbose, epochs):
        self.verbose = verbose
        self.epochs = epochs
        self.bar = None
        self.history = []
        if verbose >= 2:
            try:
                from tqdm.auto import tqdm

                self.tqdm = tqdm
            except ImportError:
                self.tqdm = None
        else:
            self.tqdm = None

    def __call__(self, event, fields):
        if event == "step" and self.tqdm is not None:
            if self.bar is None or fields["step"] == 1:
                if self.bar is not None:
                    self.bar.close()
                self.bar = self.tqdm(total=fields["steps"], desc=f"epoch {fields['epoch']}/{self.epochs}")
            self.bar.update(fields["step"] - self.bar.n)
            if fields.get("loss") is not None:
                self.bar.set_postfix(loss=f"{fields['loss']:.5f}")
        elif event == "epoch":
            self.history.append(dict(fields))
            if self.verbose:
                val = fields.get("validation_loss")
                logger.info(
                    "epoch %d/%d: loss %.6f%s, %.0f samples/s",
                    fields["epoch"], self.epochs, fields["loss"],
                    "" if val is None else f", validation {val:.6f}",
                    fields["samples_per_s"],
                )

    def close(self):
        if self.bar is not None:
            self.bar.close()


def train(model, X, argv, est, validation=None):
    """Runs `model.fit` with progress relayed; returns the run's report (a dict)."""
    progress = Progress(est.verbose, est.epochs)
    try:
        report = model.fit(
            X,
            argv,
            validation=None if validation is None else as_rows(validation, "validation"),
            validation_fraction=float(est.validation_fraction),
            scale=str(est.scale),
            progress=progress,
        )
    finally:
        progress.close()
    return json.loads(report)


def model_bytes(model):
    """The model's safetensors file as bytes (what `save` writes)."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.safetensors")
        model.save(path)
        with open(path, "rb") as f:
            return f.read()


def model_from_bytes(data, backend):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.safetensors")
        with open(path, "wb") as f:
            f.write(data)
        return _native.Model.load(path, backend=backend)


class PicklesModel:
    """Pickles the fitted model as its safetensors file."""

    def __getstate__(self):
        state = self.__dict__.copy()
        if "model_" in state:
            state["model_"] = model_bytes(state["model_"])
        return state

    def __setstate__(self, state):
        if "model_" in state:
            state["model_"] = model_from_bytes(state["model_"], state.get("backend", "auto"))
        self.__dict__.update(state)
