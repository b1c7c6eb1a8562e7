"""Fixtures: tiny MNIST-format IDX files written by the tests, served through the real loader path."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The tests exercise the default file loaders; tests/test_tfds_source.py selects tensorflow-datasets itself.
os.environ.pop("REPLICATE_DATA_SOURCE", None)

from replicate_suite.data import mnist  # noqa: E402
from replicate_suite.data.files import DatasetSpec, sha256_of  # noqa: E402


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as a gzip-compressed IDX file (magic 2049 for 1-D labels, 2051 for 3-D images)."""
    magic = {1: 2049, 3: 2051}[array.ndim]
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def write_tiny_mnist(folder: Path, train: int, test: int, seed: int = 0) -> dict[str, str]:
    """The four MNIST IDX files with random 28x28 images and labels; returns their SHA-256 sums by name."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (train, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, train),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (test, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, test),
    }
    for name, array in arrays.items():
        write_idx(folder / name, array)
    return {name: sha256_of(folder / name) for name in arrays}


@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch) -> DatasetSpec:
    """256 train / 128 test synthetic 28x28 digits in an offline mirror; the loader's spec pins their checksums."""
    mirror = tmp_path / "mirror" / "mnist"
    spec = DatasetSpec(
        name="mnist",
        variant="synthetic test fixture",
        folder="mnist",
        sha256=write_tiny_mnist(mirror, train=256, test=128),
        urls=(),
    )
    monkeypatch.setattr(mnist, "MNIST", spec)
    monkeypatch.setenv("REPLICATE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("REPLICATE_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("REPLICATE_OFFLINE", "1")
    return spec


@pytest.fixture
def no_data(tmp_path, monkeypatch) -> None:
    """An empty cache, no mirror, downloads off: every dataset is missing."""
    monkeypatch.setenv("REPLICATE_DATA_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("REPLICATE_DATA_MIRROR", "")
    monkeypatch.setenv("REPLICATE_OFFLINE", "1")


def write_cifar_archive(path: Path, train_per_batch: int, test: int, seed: int = 0) -> None:
    """A CIFAR-10 "python version" archive (tar.gz, official member names and pickle layout) of random images."""
    import io
    import pickle
    import tarfile

    rng = np.random.default_rng(seed)

    def member(name: str, count: int) -> tuple[str, bytes]:
        batch = {
            b"data": rng.integers(0, 256, (count, 3072)).astype(np.uint8),
            b"labels": list(rng.integers(0, 10, count)),
        }
        return f"cifar-10-batches-py/{name}", pickle.dumps(batch, protocol=2)

    members = [member(f"data_batch_{i}", train_per_batch) for i in range(1, 6)] + [member("test_batch", test)]
    with tarfile.open(path, "w:gz") as archive:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))


@pytest.fixture
def tiny_cifar(tmp_path, monkeypatch) -> DatasetSpec:
    """5 x 80 training and 100 test random 32x32 images as the official archive, served from an offline mirror."""
    from replicate_suite.data import cifar10

    mirror = tmp_path / "mirror" / "cifar10"
    mirror.mkdir(parents=True)
    write_cifar_archive(mirror / "cifar-10-python.tar.gz", train_per_batch=80, test=100)
    spec = DatasetSpec(
        name="cifar10",
        variant="synthetic test fixture",
        folder="cifar10",
        sha256={"cifar-10-python.tar.gz": sha256_of(mirror / "cifar-10-python.tar.gz")},
        urls=(),
    )
    monkeypatch.setitem(cifar10.VARIANTS, "auto", (spec, cifar10.JPEG75))
    monkeypatch.setitem(cifar10.VARIANTS, "official", (spec,))
    monkeypatch.setattr(cifar10, "EXPECTED_SIZES", (400, 100))
    monkeypatch.setenv("REPLICATE_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("REPLICATE_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("REPLICATE_OFFLINE", "1")
    return spec
