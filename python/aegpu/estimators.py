"""scikit-learn-style estimators over the aegpu engine.

Each estimator's parameters are the `aegpu train` flags of the same name, so a setting
means in Python what it means on the command line, and a bad value is refused with the
command line's message. A fitted estimator holds `model_`, a model of the engine; its
`save` writes the same safetensors file `aegpu train --out` writes, and `load` reads
files of either.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _native
from ._common import PicklesModel, as_rows, fit_flags, regularizer_flags, train


class _Trained(PicklesModel, TransformerMixin, BaseEstimator):
    """Fitting, saving and the dtype rules shared by the estimators."""

    def _rows(self, X, reset):
        # NaN and infinity are left to the engine, which names the row and column.
        X = validate_data(
            self, X, reset=reset, dtype=[np.float32, np.float64], ensure_all_finite=False
        )
        return as_rows(X)

    def _fit_model(self, model, X, validation):
        argv = fit_flags(self, min(int(self.batch_size), X.shape[0])) + regularizer_flags(self)
        self.model_ = model
        self.report_ = train(model, X, argv, self, validation)
        self.history_ = self.report_["epochs"]
        return self

    def save(self, path):
        """Writes the fitted model as `aegpu train --out` does (safetensors, atomic)."""
        check_is_fitted(self, "model_")
        self.model_.save(str(path))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.input_tags.allow_nan = False
        return tags


_FIT_DEFAULTS = dict(
    epochs=5,
    batch_size=256,
    lr=None,
    optimizer="adam",
    loss="mse",
    momentum=0.9,
    weight_decay=0.0,
    schedule="constant",
    warmup=0,
    clip_norm=None,
    early_stop=None,
    monitor=None,
    validation_fraction=0.0,
    scale="none",
    noise=None,
    dropout=0.0,
    sparse_l1=0.0,
    sparse_kl=None,
    contractive=0.0,
    contractive_directions=4,
    random_state=0,
    backend="auto",
    verbose=0,
)


class DenseAutoencoder(_Trained):
    """A dense autoencoder with every regulariser of `aegpu train`.

    `layers` are the encoder widths after the input (the input width comes from X):
    `(256, 64)` is `--layers D,256,64`. `transform` gives codes, `inverse_transform`
    decodes codes, `score_samples` is minus each row's mean squared reconstruction
    error (higher is more normal, as scikit-learn's detectors have it).

    Training settings: `epochs`, `batch_size`, `lr` (default 5e-3), `optimizer`
    (sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw, lbfgs), `loss` (mse, bce),
    `momentum`, `weight_decay`, `schedule`, `warmup`, `clip_norm`, `early_stop` and
    `monitor` (with `validation_fraction` or `fit(X, validation=...)`), `scale` (none,
    auto, minmax, standard: fitted on X, saved with the model). Regularisers: `noise`
    (`"gaussian:0.1"`, `"mask:0.3"`, `"salt-pepper:0.1"`), `dropout`, `sparse_l1`,
    `sparse_kl` (`(rho, beta)`), `contractive`, `contractive_directions`. `backend`:
    auto, cpu or gpu. `verbose`: 1 logs each epoch on the `aegpu` logger, 2 adds a
    tqdm bar when tqdm is installed.
    """

    def __init__(
        self,
        layers=(256, 64),
        activation="relu",
        code_activation="linear",
        output_activation=None,
        activations=None,
        tied=False,
        init=None,
        epochs=5,
        batch_size=256,
        lr=None,
        optimizer="adam",
        loss="mse",
        momentum=0.9,
        weight_decay=0.0,
        schedule="constant",
        warmup=0,
        clip_norm=None,
        early_stop=None,
        monitor=None,
        validation_fraction=0.0,
        scale="none",
        noise=None,
        dropout=0.0,
        sparse_l1=0.0,
        sparse_kl=None,
        contractive=0.0,
        contractive_directions=4,
        random_state=0,
        backend="auto",
        verbose=0,
    ):
        self.layers = layers
        self.activation = activation
        self.code_activation = code_activation
        self.output_activation = output_activation
        self.activations = activations
        self.tied = tied
        self.init = init
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.loss = loss
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.warmup = warmup
        self.clip_norm = clip_norm
        self.early_stop = early_stop
        self.monitor = monitor
        self.validation_fraction = validation_fraction
        self.scale = scale
        self.noise = noise
        self.dropout = dropout
        self.sparse_l1 = sparse_l1
        self.sparse_kl = sparse_kl
        self.contractive = contractive
        self.contractive_directions = contractive_directions
        self.random_state = random_state
        self.backend = backend
        self.verbose = verbose

    def _model_flags(self, width, X=None):
        widths = [int(width)] + [int(w) for w in self.layers]
        argv = ["--layers", ",".join(map(str, widths)), "--activation", str(self.activation)]
        argv += ["--code-activation", str(self.code_activation)]
        if self.output_activation is not None:
            argv += ["--output-activation", str(self.output_activation)]
        elif self.activations is None and X is not None and self._standardises(X):
            # As `aegpu train`: a sigmoid cannot reach standardised values below 0.
            argv += ["--output-activation", "linear"]
        if self.activations is not None:
            argv += ["--activations", ",".join(map(str, self.activations))]
        if self.tied:
            argv += ["--tied"]
        if self.init is not None:
            argv += ["--init", str(self.init)]
        return argv + regularizer_flags(self)

    def _standardises(self, X):
        """True when `scale` will standardise X: "standard", or "auto" on rows outside
        [0, 1] (raw features)."""
        scale = str(self.scale).lower()
        raw = X.size > 0 and (float(X.min()) < 0.0 or float(X.max()) > 1.0)
        return scale == "standard" or (scale == "auto" and raw)

    def fit(self, X, y=None, validation=None):
        """Trains a fresh model on the rows of X (y is ignored)."""
        X = self._rows(X, reset=True)
        model = _native.Model.build(
            "dense",
            self._model_flags(X.shape[1], X),
            X.shape[1],
            seed=int(self.random_state or 0),
            backend=str(self.backend),
        )
        return self._fit_model(model, X, validation)

    def transform(self, X):
        """The codes of the rows of X."""
        check_is_fitted(self, "model_")
        return self.model_.encode(self._rows(X, reset=False))

    def inverse_transform(self, X):
        """Decodes codes back to rows (in the data's own units)."""
        check_is_fitted(self, "model_")
        return self.model_.decode(as_rows(X, "codes"))

    def reconstruct(self, X):
        """Each row through the whole network (in the data's own units)."""
        check_is_fitted(self, "model_")
        return self.model_.reconstruct(self._rows(X, reset=False))

    def score_samples(self, X):
        """Minus each row's mean squared reconstruction error (higher: more normal)."""
        check_is_fitted(self, "model_")
        return -self.model_.score(self._rows(X, reset=False))

    def score(self, X, y=None):
        """Minus the mean squared reconstruction error per element (higher is better)."""
        return float(np.mean(self.score_samples(X)))


class ConvDenoiser(_Trained):
    """A fully convolutional denoiser (`aegpu train --model conv --residual`): trained
    on clean patches corrupted by `noise` on the fly, it denoises images of any size
    tile by tile with `denoise(image)`.

    `fit(X)` takes patches as `(n, H, W)` or `(n, C, H, W)` arrays (or 2-D rows with
    `image_shape=(C, H, W)`), on the 0–1 scale. `transform` reconstructs patches (rows).
    """

    def __init__(
        self,
        channels=(32, 32, 32, 32),
        kernel=3,
        residual=True,
        image_shape=None,
        noise="gaussian:0.1",
        epochs=5,
        batch_size=64,
        lr=1e-3,
        optimizer="adam",
        loss="mse",
        momentum=0.9,
        weight_decay=0.0,
        schedule="constant",
        warmup=0,
        clip_norm=None,
        early_stop=None,
        monitor=None,
        validation_fraction=0.0,
        random_state=0,
        backend="auto",
        verbose=0,
    ):
        self.channels = channels
        self.kernel = kernel
        self.residual = residual
        self.image_shape = image_shape
        self.noise = noise
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.loss = loss
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.schedule = schedule
        self.warmup = warmup
        self.clip_norm = clip_norm
        self.early_stop = early_stop
        self.monitor = monitor
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.backend = backend
        self.verbose = verbose

    # The regularisers a denoiser takes: its input noise only.
    scale = "none"
    dropout = 0.0
    sparse_l1 = 0.0
    sparse_kl = None
    contractive = 0.0
    contractive_directions = 4

    def _patches(self, X):
        a = np.asarray(X)
        if a.ndim == 3:
            shape = (1,) + a.shape[1:]
        elif a.ndim == 4:
            shape = a.shape[1:]
        elif a.ndim == 2 and self.image_shape is not None:
            shape = tuple(int(v) for v in self.image_shape)
        else:
            raise ValueError(
                "patches must be (n, H, W) or (n, C, H, W), or 2-D rows with image_shape=(C, H, W); "
                f"got shape {a.shape}"
            )
        return as_rows(a.reshape(a.shape[0], -1)), shape

    def fit(self, X, y=None):
        """Trains a fresh denoiser on clean patches."""
        rows, shape = self._patches(X)
        self.image_shape_ = shape
        self.n_features_in_ = rows.shape[1]
        c, h, w = shape
        argv = [
            "--image", f"{c}x{h}x{w}",
            "--channels", ",".join(str(int(v)) for v in self.channels),
            "--strides", ",".join("1" for _ in self.channels),
            "--kernel", str(int(self.kernel)),
        ]
        if self.residual:
            argv += ["--residual"]
        argv += regularizer_flags(self)
        model = _native.Model.build(
            "conv", argv, rows.shape[1], seed=int(self.random_state or 0), backend=str(self.backend)
        )
        return self._fit_model(model, rows, None)

    def transform(self, X):
        """Patches through the network, as rows."""
        check_is_fitted(self, "model_")
        rows, _ = self._patches(X)
        return self.model_.reconstruct(rows)

    def denoise(self, image, tile=128, ensemble=1, refine="none"):
        """`image` (`(H, W)` grey or `(C, H, W)`, 0–1 scale) denoised; the same shape back.
        A grey model denoises each channel of a colour image. `ensemble` (1, 2, 4 or 8):
        the image is also denoised mirrored and turned, and the results mapped back and
        averaged (that many times slower, a little cleaner). `refine="wiener"`: the
        network's output is refined by collaborative Wiener filtering (BM3D's second
        stage with it as pilot) for the noise level it removed, as `aegpu denoise` does."""
        check_is_fitted(self, "model_")
        a = np.ascontiguousarray(np.asarray(image), dtype=np.float32)
        return self.model_.denoise(a, tile=int(tile), ensemble=int(ensemble), refine=refine)


class AutoencoderOutlierDetector(DenseAutoencoder):
    """Outlier detection by reconstruction error, in pyod's shape: after `fit(X)`,
    `decision_scores_` (each training row's mean squared reconstruction error, higher
    is more abnormal), `threshold_` (their (1 − contamination) quantile, NumPy's
    linear interpolation) and `labels_` (1: outlier, score > threshold);
    `decision_function(X)` scores new rows, `predict(X)` labels them 0/1, as
    `aegpu outliers --contamination` does. Features are scaled by default
    (`scale="auto"`, as pyod standardises): rows in [0, 1] are kept; others are
    standardised, with a linear output unless `output_activation` is given (a bounded
    one gets min-max scaling instead), as `aegpu train` does.
    """

    def __init__(
        self,
        contamination=0.1,
        layers=(64, 8),
        activation="relu",
        code_activation="linear",
        output_activation=None,
        activations=None,
        tied=False,
        init=None,
        epochs=5,
        batch_size=256,
        lr=None,
        optimizer="adam",
        loss="mse",
        momentum=0.9,
        weight_decay=0.0,
        schedule="constant",
        warmup=0,
        clip_norm=None,
        early_stop=None,
        monitor=None,
        validation_fraction=0.0,
        scale="auto",
        noise=None,
        dropout=0.0,
        sparse_l1=0.0,
        sparse_kl=None,
        contractive=0.0,
        contractive_directions=4,
        random_state=0,
        backend="auto",
        verbose=0,
    ):
        super().__init__(
            layers=layers,
            activation=activation,
            code_activation=code_activation,
            output_activation=output_activation,
            activations=activations,
            tied=tied,
            init=init,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            optimizer=optimizer,
            loss=loss,
            momentum=momentum,
            weight_decay=weight_decay,
            schedule=schedule,
            warmup=warmup,
            clip_norm=clip_norm,
            early_stop=early_stop,
            monitor=monitor,
            validation_fraction=validation_fraction,
            scale=scale,
            noise=noise,
            dropout=dropout,
            sparse_l1=sparse_l1,
            sparse_kl=sparse_kl,
            contractive=contractive,
            contractive_directions=contractive_directions,
            random_state=random_state,
            backend=backend,
            verbose=verbose,
        )
        self.contamination = contamination

    def fit(self, X, y=None, validation=None):
        c = float(self.contamination)
        if not 0.0 < c < 0.5:
            raise ValueError(f"contamination {c} is outside (0, 0.5]: it is the fraction of rows flagged")
        super().fit(X, y, validation)
        self.decision_scores_ = self.decision_function(X)
        self.threshold_ = float(np.quantile(self.decision_scores_.astype(np.float64), 1.0 - c))
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(int)
        return self

    def decision_function(self, X):
        """Each row's mean squared reconstruction error (higher: more abnormal)."""
        check_is_fitted(self, "model_")
        return self.model_.score(self._rows(X, reset=False))

    def predict(self, X):
        """1 for rows scored above `threshold_`, 0 for the others."""
        check_is_fitted(self, "threshold_")
        return (self.decision_function(X) > self.threshold_).astype(int)

    def fit_predict(self, X, y=None):
        return self.fit(X).labels_


def load(path, backend="auto"):
    """A fitted estimator from a model file of `aegpu train` or `save`: a
    DenseAutoencoder for dense models, a ConvDenoiser for conv ones."""
    model = _native.Model.load(str(path), backend=backend)
    if model.kind == "dense":
        est = DenseAutoencoder(backend=backend)
    elif model.kind == "conv":
        est = ConvDenoiser(backend=backend)
        import json

        shape = json.loads(model.config_json)["input"]
        est.image_shape_ = (shape["channels"], shape["height"], shape["width"])
    else:
        raise _native.AegpuError(
            f"{path}: a `{model.kind}` model; the Python estimators take dense and conv models"
        )
    est.model_ = model
    est.n_features_in_ = model.input_width
    return est
