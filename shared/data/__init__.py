"""Dataset loaders: official files, pinned checksums, cache in data/, offline mirror, normal download; or, with
REPLICATE_DATA_SOURCE=tfds, the same arrays through tensorflow-datasets (tfds_source.py)."""

from __future__ import annotations

from replicate_suite.data import cifar10, mnist
from replicate_suite.data.files import DatasetSpec


def dataset_specs() -> dict[str, tuple[DatasetSpec, ...]]:
    """Every dataset the suite knows, by name, as its acceptable file sets in order of preference (looked up at
    call time so tests can swap a spec)."""
    return {"mnist": (mnist.MNIST,), "cifar10": cifar10.VARIANTS["auto"]}
