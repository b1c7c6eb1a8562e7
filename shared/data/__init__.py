"""Dataset loaders: official files, pinned checksums, cache in data/, offline mirror, normal download."""

from __future__ import annotations

from shared.data import mnist
from shared.data.files import DatasetSpec


def dataset_specs() -> dict[str, DatasetSpec]:
    """Every dataset the suite knows, by name (looked up at call time so tests can swap a spec)."""
    return {"mnist": mnist.MNIST}
