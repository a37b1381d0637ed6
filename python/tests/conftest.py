import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def aegpu_cli():
    """The `aegpu` binary of this source tree (built by `cargo build --release`)."""
    exe = os.environ.get("AEGPU_CLI") or str(ROOT / "target" / "release" / "aegpu")
    if not Path(exe).exists():
        subprocess.run(["cargo", "build", "--release", "--bin", "aegpu"], cwd=ROOT, check=True)
    return exe


@pytest.fixture(scope="session")
def iris():
    """The bundled iris set (data/small/iris.csv): 150 rows, 4 features."""
    import csv

    with open(ROOT / "data" / "small" / "iris.csv") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    features = [i for i, name in enumerate(header) if name != "target"]
    return np.array([[float(r[i]) for i in features] for r in body], dtype=np.float32)
