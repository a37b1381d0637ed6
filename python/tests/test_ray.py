"""aegpu.ray and aegpu.distributed on a local Ray cluster of 2 CPUs (one for the whole
module: Ray's start-up is the slow part)."""

import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import aegpu
from aegpu import DenseAutoencoder

ray = pytest.importorskip("ray")
import aegpu.distributed  # noqa: E402
import aegpu.ray  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # Ray's workers put the driver's folder first on their path: not python/, whose
    # aegpu/ sources (without the compiled extension) would hide the installed wheel.
    here = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("ray"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"RAYON_NUM_THREADS": "1"}})
    ray.data.DataContext.get_current().enable_progress_bars = False
    yield
    ray.shutdown()
    os.chdir(here)


def _iris_dataset(iris):
    return ray.data.from_items([{"id": i, "features": row} for i, row in enumerate(iris)])


def _read(out, column):
    table = pq.read_table(out).to_pandas().sort_values("id")
    assert table["id"].tolist() == list(range(150))
    return np.stack(table[column].to_numpy()).astype(np.float32)


def test_encode_and_score_equal_single_process(cluster, tmp_path, iris):
    model = tmp_path / "m.safetensors"
    est = DenseAutoencoder(layers=(3, 2), epochs=5, scale="minmax", backend="cpu").fit(iris)
    est.save(model)
    ds = _iris_dataset(iris).repartition(4)
    out = aegpu.ray.encode(ds, model, str(tmp_path / "codes"), concurrency=2, num_cpus=0.5, batch_size=32,
                           backend="cpu")
    assert os.path.exists(os.path.join(out, "_SUCCESS"))
    np.testing.assert_array_equal(_read(out, "code"), est.transform(iris))
    out = aegpu.ray.score(ds, model, str(tmp_path / "scores"), concurrency=2, num_cpus=0.5, batch_size=32,
                           backend="cpu")
    scores = pq.read_table(out).to_pandas().sort_values("id")["score"].to_numpy(dtype=np.float32)
    np.testing.assert_array_equal(scores, -est.score_samples(iris))
    with pytest.raises(FileExistsError):
        aegpu.ray.encode(ds, model, out, backend="cpu")


def test_a_worker_dying_mid_job_is_retried_or_fails_without_output(cluster, tmp_path, iris):
    """One actor exits mid-job (as a lost machine would). Ray restarts it and reruns its
    batch, and the output is complete and equal to the single-process codes; had it
    not, the call would raise and leave no output folder (never a partial one)."""
    model = tmp_path / "m.safetensors"
    est = DenseAutoencoder(layers=(3, 2), epochs=2, backend="cpu").fit(iris)
    est.save(model)
    out = str(tmp_path / "codes")
    marker = str(tmp_path / "crashed")
    try:
        aegpu.ray._run(_iris_dataset(iris).repartition(4), model, out, "encode", "features", "code",
                       concurrency=1, num_gpus=0, num_cpus=0.5, batch_size=16, backend="cpu",
                       _crash_once=marker)
    except RuntimeError as e:
        assert "no output written" in str(e)
        assert not os.path.exists(out)
        assert not [p for p in os.listdir(tmp_path) if p.startswith("codes")]
    else:
        np.testing.assert_array_equal(_read(out, "code"), est.transform(iris))
    assert os.path.exists(marker), "the worker never crashed: the test tested nothing"


def test_two_workers_equal_one_process_on_the_summed_batch(cluster, tmp_path, iris):
    """2 actors × 16 rows, SGD with momentum, 8 steps, against DenseAutoencoder.fit with
    one 32-row batch per epoch for 8 epochs: equal to 1e-6 (the gradients are averaged
    in another order than one batch sums them); the two actors are bit-identical."""
    X = (iris[:32] / iris.max(axis=0)).astype(np.float32)
    start = tmp_path / "start.safetensors"
    flags = ["--optimizer", "momentum", "--lr", "0.1"]
    model = aegpu.Model.build("dense", ["--layers", "4,3,2"], 4, seed=5, backend="cpu")
    model.save(str(start))
    actors = aegpu.distributed.start(X, start, workers=2, steps=8, batch_size=16, flags=flags)
    aegpu.distributed.run(actors, 8)
    first, second = ray.get([a.parameters.remote() for a in actors])
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])

    single = aegpu.Model.load(str(start), backend="cpu")
    single.fit(X, ["--epochs", "8", "--batch", "32"] + flags)
    reference = single.weights()
    initial = aegpu.Model.load(str(start), backend="cpu").weights()
    moved = max(np.abs(got - initial[name].ravel()).max() for name, got in first.items())
    assert moved > 1e-3, "training did not move the weights"
    for name, got in first.items():
        np.testing.assert_allclose(got, reference[name].ravel(), rtol=0, atol=1e-6, err_msg=name)


def test_denoise_equals_single_process(cluster, tmp_path):
    rng = np.random.default_rng(1)
    patches = rng.random((64, 12, 12), dtype=np.float32)
    den = aegpu.ConvDenoiser(channels=(4, 4), epochs=1, batch_size=16, backend="cpu").fit(patches)
    model = tmp_path / "den.safetensors"
    den.save(model)
    images = rng.random((6, 20, 24), dtype=np.float32)
    ds = ray.data.from_items([{"id": i, "image": im} for i, im in enumerate(images)])
    out = aegpu.ray.denoise(ds, model, str(tmp_path / "clean"), num_cpus=0.5, batch_size=2, tile=16,
                            backend="cpu")
    table = pq.read_table(out).to_pandas().sort_values("id")
    got = np.stack([np.asarray(v, dtype=np.float32).reshape(20, 24) for v in table["denoised"]])
    want = np.stack([den.denoise(im, tile=16) for im in images])
    np.testing.assert_array_equal(got, want)


def test_worker_reads_images_as_ray_data_gives_them(tmp_path):
    """uint8 (H, W, C) images (`ray.data.read_images`) come back in that layout, each
    channel denoised by a grey model as the float planar image would be."""
    rng = np.random.default_rng(2)
    den = aegpu.ConvDenoiser(channels=(4,), epochs=1, batch_size=16, backend="cpu").fit(
        rng.random((32, 10, 10), dtype=np.float32))
    model = tmp_path / "den.safetensors"
    den.save(model)
    worker = aegpu.ray._Worker(model, "denoise", "image", "denoised", "cpu", 16)
    rgb = rng.integers(0, 256, size=(2, 14, 18, 3), dtype=np.uint8)
    out = worker({"image": rgb, "id": np.arange(2)})
    assert out["denoised"].shape == rgb.shape and out["denoised"].dtype == np.uint8
    planar = np.moveaxis(rgb[1], -1, 0).astype(np.float32) / 255.0
    want = np.clip(np.rint(np.moveaxis(den.denoise(planar, tile=16), 0, -1) * 255.0), 0, 255)
    np.testing.assert_array_equal(out["denoised"][1], want.astype(np.uint8))
    np.testing.assert_array_equal(out["id"], np.arange(2))
