"""Fixtures: tiny MNIST-format IDX files written by the tests, served through the real loader path."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from shared.data import mnist  # noqa: E402
from shared.data.files import DatasetSpec, sha256_of  # noqa: E402


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as a gzip-compressed IDX file (magic 2049 for 1-D labels, 2051 for 3-D images)."""
    magic = {1: 2049, 3: 2051}[array.ndim]
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch) -> DatasetSpec:
    """256 train / 128 test synthetic 28x28 digits in an offline mirror; the loader's spec pins their checksums."""
    rng = np.random.default_rng(0)
    mirror = tmp_path / "mirror" / "mnist"
    mirror.mkdir(parents=True)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (256, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 256),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (128, 28, 28)),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 128),
    }
    for name, array in arrays.items():
        write_idx(mirror / name, array)
    spec = DatasetSpec(
        name="mnist",
        variant="synthetic test fixture",
        folder="mnist",
        sha256={name: sha256_of(mirror / name) for name in arrays},
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
