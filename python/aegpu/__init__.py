"""aegpu: autoencoders on any GPU vendor (wgpu) or a fast CPU backend, from Python.

    from aegpu import DenseAutoencoder
    ae = DenseAutoencoder(layers=(256, 64), epochs=5).fit(X)   # X: rows × features
    codes = ae.transform(X)
    ae.save("model.safetensors")                              # what `aegpu train` writes

Estimators follow scikit-learn's conventions (Pipeline, clone, get_params); `aegpu.ray`
runs encoding, scoring and denoising of Ray Data datasets on a cluster, and
`aegpu.distributed` trains data-parallel across Ray workers.
"""

from ._native import AegpuError, Model, kinds
from .estimators import AutoencoderOutlierDetector, ConvDenoiser, DenseAutoencoder, load

__all__ = [
    "AegpuError",
    "AutoencoderOutlierDetector",
    "ConvDenoiser",
    "DenseAutoencoder",
    "Model",
    "kinds",
    "load",
]
