"""CIFAR-10 (Krizhevsky 2009), "python version" archive, checksum-pinned; no TensorFlow needed.

Two variants, in order of preference: the official archive (cache, mirror or download from the author's site), and
a documented substitute for offline machines that lack it: a lossy rebuild of the same layout from JPEG files
(quality 75, 4:2:0; about 30 dB PSNR against the originals; test images in class-major order). The substitute is
used only when the official archive cannot be had, and every run records which one it read (run_meta "data").
"""

from __future__ import annotations

import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from replicate_suite.data.files import DatasetSpec, data_source, fetch_preferred
from replicate_suite.errors import ReplicateError

OFFICIAL = DatasetSpec(
    name="cifar10",
    variant="official CIFAR-10 python archive (sha256-verified)",
    folder="cifar10",
    sha256={"cifar-10-python.tar.gz": "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"},
    urls=("https://www.cs.toronto.edu/~kriz/",),
)
JPEG75 = DatasetSpec(
    name="cifar10",
    variant=(
        "NOT the official files: CIFAR-10 rebuilt from JPEG quality-75 4:2:0 images (about 30 dB PSNR, mean abs "
        "error 5.8/255; canonical training order, class-major test order), sha256-verified; see ../shared/data/cifar10"
    ),
    folder="cifar10",
    sha256={"cifar-10-python-jpeg75.tar.xz": "3b9f0bc50489e879704f3a9777ea1a1870e8eaa73c71cdcbbdc51e7f42187e79"},
    urls=(),  # exists only in the project's offline mirror
)
VARIANTS = {"official": (OFFICIAL,), "jpeg75": (JPEG75,), "auto": (OFFICIAL, JPEG75)}
Variant = Literal["auto", "official", "jpeg75"]

EXPECTED_SIZES = (50000, 10000)  # training and test images
_TRAIN_MEMBERS = [f"data_batch_{i}" for i in range(1, 6)]
_TEST_MEMBER = "test_batch"
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


@dataclass(frozen=True)
class Cifar10Data:
    """CIFAR-10 as uint8 arrays: x (N, 32, 32, 3) in 0..255 (channels last), y (N,) in 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    variant: str
    sources: dict[str, str]


def _read_batch(archive: tarfile.TarFile, member: str, path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        handle = archive.extractfile(f"cifar-10-batches-py/{member}")
    except KeyError:
        raise ReplicateError(f"{path}: no cifar-10-batches-py/{member} in the archive") from None
    batch = pickle.load(handle, encoding="bytes")  # a checksum-pinned file, so unpickling it is safe
    data = np.asarray(batch[b"data"], dtype=np.uint8)
    labels = np.asarray(batch[b"labels"], dtype=np.int32)
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise ReplicateError(
            f"{path}:{member}: expected N x 3072 pixels and N labels, got {data.shape}, {labels.shape}"
        )
    # Rows are channel-planar R(1024) G(1024) B(1024); the nets want (32, 32, 3).
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def read_archive(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The five training batches and the test batch of a CIFAR-10 python archive (.tar.gz or .tar.xz)."""
    with tarfile.open(path, "r:*") as archive:
        train = [_read_batch(archive, member, path) for member in _TRAIN_MEMBERS]
        x_test, y_test = _read_batch(archive, _TEST_MEMBER, path)
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    if (len(x_train), len(x_test)) != EXPECTED_SIZES:
        raise ReplicateError(
            f"{path}: expected {EXPECTED_SIZES[0]} training and {EXPECTED_SIZES[1]} test images, "
            f"got {len(x_train)} and {len(x_test)}"
        )
    return x_train, y_train, x_test, y_test


def load_cifar10(variant: Variant = "auto") -> Cifar10Data:
    """Fetch (cache, mirror, download), verify and parse CIFAR-10; `variant` picks which files are acceptable.
    With REPLICATE_DATA_SOURCE=tfds, read the official data through tensorflow-datasets instead
    (tfds_source.load_cifar10_tfds; variant auto or official)."""
    if variant not in VARIANTS:
        raise ReplicateError(f"unknown CIFAR-10 variant {variant!r} (known: {', '.join(VARIANTS)})")
    if data_source() == "tfds":
        if variant == "jpeg75":
            raise ReplicateError(
                "CIFAR-10 variant 'jpeg75' exists only as the suite's mirror file; REPLICATE_DATA_SOURCE=tfds reads "
                "the official archive (use variant auto or official, or REPLICATE_DATA_SOURCE=files)"
            )
        from replicate_suite.data.tfds_source import load_cifar10_tfds

        return load_cifar10_tfds()
    spec, paths, sources = fetch_preferred(VARIANTS[variant])
    (name,) = spec.sha256
    x_train, y_train, x_test, y_test = read_archive(paths[name])
    return Cifar10Data(x_train, y_train, x_test, y_test, variant=spec.variant, sources=sources)
