"""MNIST and CIFAR-10 through tensorflow-datasets (the optional extra `tfds`), as the suite's uint8 arrays in the
official files' order.

Chosen with REPLICATE_DATA_SOURCE=tfds (the default, `files`, is the suite's own checksum-pinned loaders). TFDS
checks the files it prepares from against its registered checksums (tensorflow_datasets/url_checksums/), keeps the
prepared copy in its data dir (TFDS_DATA_DIR, default ~/tensorflow_datasets), and is never asked for its
pre-built copies on GCS (try_download_gcs=False: the data is built from the registered files). Offline it is fed
from the suite's mirror: a mirror folder that holds every registered file name (e.g. ../shared/data/mnist/*.gz,
byte-identical to TFDS's MNIST files) is passed to TFDS as its manual_dir.

Order: TFDS writes a split's examples sorted by an md5 hash of their keys (the record's index in the official files,
salted with the split name), so a prepared split reads back shuffled even with shuffle_files=False. This module
restores the official order: for CIFAR-10 from each example's "id" ("train_00042"), checked to be a permutation;
for MNIST, which stores no id, by recomputing TFDS's own key hash (tensorflow_datasets.core.hashing.Hasher). The
tests check the result byte for byte against the suite's IDX loader (images and labels, train and test).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from replicate_suite.data.cifar10 import Cifar10Data
from replicate_suite.data.files import DataUnavailable
from replicate_suite.data.mnist import MnistData
from replicate_suite.errors import ReplicateError
from replicate_suite.paths import mirror_dirs, mirrors_searched


@dataclass(frozen=True)
class TfdsSpec:
    """A dataset as TFDS knows it: the suite's name, TFDS's builder name, the mirror sub-folder its files sit in."""

    name: str
    tfds_name: str
    folder: str


MNIST = TfdsSpec(name="mnist", tfds_name="mnist", folder="mnist")
CIFAR10 = TfdsSpec(name="cifar10", tfds_name="cifar10", folder="cifar10")


def import_tfds() -> ModuleType:
    """tensorflow_datasets, or a ReplicateError saying how to install it (it is an optional extra)."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as exc:
        raise ReplicateError(
            f"REPLICATE_DATA_SOURCE=tfds needs tensorflow-datasets ({exc}): pip install -e '.[tfds]', "
            "or unset REPLICATE_DATA_SOURCE to read the checksum-pinned files"
        ) from None
    tfds.disable_progress_bar()  # progress bars on stderr would bury the one error line of a failing command
    return tfds


@contextmanager
def _quiet() -> Iterator[None]:
    """TFDS's info logs and warnings (absl) off while it works, so a failing command prints one error line."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def tfds_data_dir() -> Path:
    """TFDS's data dir, read when called: TFDS_DATA_DIR, else ~/tensorflow_datasets (TFDS's own default)."""
    explicit = os.environ.get("TFDS_DATA_DIR")
    return Path(explicit) if explicit else Path.home() / "tensorflow_datasets"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _registered_files(builder) -> list[str]:
    """File names of the URLs whose checksums TFDS has registered for this builder."""
    return sorted({info.filename for info in (builder.url_infos or {}).values() if info.filename})


def _manual_dir(spec: TfdsSpec, files: list[str]) -> Path | None:
    """The first mirror folder (<mirror>/<folder> or <mirror>) that holds every registered file, or None."""
    if not files:
        return None
    for mirror in mirror_dirs():
        for candidate in (mirror / spec.folder, mirror):
            if all((candidate / name).is_file() for name in files):
                return candidate
    return None


def prepared_builder(tfds: ModuleType, spec: TfdsSpec) -> tuple[object, str]:
    """A prepared TFDS builder of `spec` in tfds_data_dir() and where its data came from: `tfds-cache:<dir>` (already
    prepared), `mirror:<folder> -> tfds:<dir>` or `download -> tfds:<dir>` (prepared now, every file checked against
    TFDS's registered checksums; a URL without one is an error).

    Errors: DataUnavailable when it is not prepared, no mirror folder holds its files and REPLICATE_OFFLINE=1, or
    preparing fails; ReplicateError on a checksum mismatch.
    """
    data_dir = tfds_data_dir()
    try:
        builder = tfds.builder(spec.tfds_name, data_dir=str(data_dir))
    except Exception as exc:  # noqa: BLE001 - TFDS raises many types for an unknown or unloadable builder
        raise ReplicateError(
            f"tensorflow-datasets has no usable builder {spec.tfds_name!r}: {_one_line(exc)}"
        ) from None
    full_name = f"{builder.name}:{builder.version}"
    if builder.is_prepared():
        return builder, f"tfds-cache:{builder.data_dir}"
    files = _registered_files(builder)
    manual = _manual_dir(spec, files)
    if manual is None and os.environ.get("REPLICATE_OFFLINE") == "1":
        raise DataUnavailable(
            f"{spec.name}: tensorflow-datasets {full_name} is not prepared in {data_dir}, no mirror folder holds "
            f"{', '.join(files) or 'its files'} ({mirrors_searched()}), and downloads are off (REPLICATE_OFFLINE=1)"
        )
    config = tfds.download.DownloadConfig(
        manual_dir=str(manual) if manual is not None else None,
        try_download_gcs=False,
        force_checksums_validation=True,
    )
    from tensorflow_datasets.core.download.download_manager import NonMatchingChecksumError

    try:
        builder.download_and_prepare(download_config=config)
    except NonMatchingChecksumError as exc:
        raise ReplicateError(f"checksum mismatch for {spec.name} ({full_name}): {_one_line(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - network, disk and format failures all mean: not available
        raise DataUnavailable(
            f"{spec.name}: tensorflow-datasets could not prepare {full_name} in {data_dir}: "
            f"{type(exc).__name__}: {_one_line(exc)}"
        ) from None
    where = f"mirror:{manual}" if manual is not None else "download"
    return builder, f"{where} -> tfds:{builder.data_dir}"


def _read_split(tfds: ModuleType, builder, split: str) -> dict[str, np.ndarray]:
    """Every example of one split as NumPy arrays, in the order TFDS stored them."""
    dataset = builder.as_dataset(split=split, batch_size=-1, shuffle_files=False)
    return tfds.as_numpy(dataset)


def _check_order_restorable(builder, spec: TfdsSpec) -> None:
    if getattr(builder.info, "nondeterministic_order", False):
        raise ReplicateError(
            f"{spec.name}: the TFDS copy in {builder.data_dir} was prepared with nondeterministic_order=True, so the "
            "official example order cannot be restored; prepare it again without that option"
        )


def hash_order(split: str, count: int) -> np.ndarray:
    """The order in which TFDS stores examples with keys 0..count-1 of `split`: position j holds key order[j]
    (keys sorted by TFDS's md5 key hash, salted with the split name, as its shuffler writes them)."""
    from tensorflow_datasets.core import hashing

    hasher = hashing.Hasher(split)
    hashes = [hasher.hash_key(key) for key in range(count)]
    return np.array(sorted(range(count), key=hashes.__getitem__), dtype=np.int64)


def _restore(stored: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Put stored[j] back at position order[j]."""
    restored = np.empty_like(stored)
    restored[order] = stored
    return restored


def _ids_order(ids: np.ndarray, prefix: str, spec: TfdsSpec) -> np.ndarray:
    """Official indices from CIFAR ids like b"train_00042"; an error unless they are a permutation of 0..N-1."""
    try:
        order = np.array([int(bytes(i).decode().removeprefix(prefix)) for i in ids], dtype=np.int64)
    except ValueError:
        raise ReplicateError(f"{spec.name}: TFDS example ids are not {prefix}<index>, e.g. {ids[:1]}") from None
    if not np.array_equal(np.sort(order), np.arange(len(ids))):
        raise ReplicateError(f"{spec.name} {prefix.rstrip('_')}: TFDS example ids are not a permutation of 0..N-1")
    return order


def _check_pair(spec: TfdsSpec, split: str, x: np.ndarray, y: np.ndarray, shape: tuple[int, ...], classes: int):
    if x.dtype != np.uint8 or x.shape[1:] != shape or len(x) != len(y):
        raise ReplicateError(
            f"{spec.name} {split} via tensorflow-datasets: expected uint8 images of shape (N, {shape}) and N labels, "
            f"got {x.dtype} {x.shape} and {len(y)} labels"
        )
    if len(y) and not (0 <= y.min() and y.max() < classes):
        raise ReplicateError(f"{spec.name} {split} via tensorflow-datasets: labels outside 0..{classes - 1}")


def _prepared_splits(spec: TfdsSpec) -> tuple[object, str, dict[str, dict[str, np.ndarray]]]:
    """The prepared TFDS builder for `spec`, where it came from, and its train and test splits as stored (TFDS's
    order, checked to be restorable)."""
    tfds = import_tfds()
    with _quiet():
        builder, source = prepared_builder(tfds, spec)
        _check_order_restorable(builder, spec)
        stored = {split: _read_split(tfds, builder, split) for split in ("train", "test")}
    return builder, source, stored


def _split_arrays(arrays: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, np.ndarray]:
    """{"train": (x, y), "test": (x, y)} as the loaders' x_train, y_train, x_test, y_test fields."""
    return {"x_train": arrays["train"][0], "y_train": arrays["train"][1], "x_test": arrays["test"][0],
            "y_test": arrays["test"][1]}  # fmt: skip


def load_mnist_tfds() -> MnistData:
    """MNIST from tensorflow-datasets as load_mnist() returns it: x uint8 (N, 28, 28), y uint8 (N,), IDX order.

    variant names the TFDS dataset and version; sources holds where the TFDS copy came from (prepared_builder)."""
    builder, source, stored = _prepared_splits(MNIST)
    arrays = {}
    for split, examples in stored.items():
        x, y = examples["image"][..., 0], examples["label"].astype(np.uint8)
        _check_pair(MNIST, split, x, y, (28, 28), 10)
        if not builder.info.disable_shuffling:
            order = hash_order(split, len(x))
            x, y = _restore(x, order), _restore(y, order)
        arrays[split] = (x, y)
    return MnistData(
        **_split_arrays(arrays),
        variant=(
            f"official MNIST via tensorflow-datasets {builder.name}:{builder.version} "
            "(TFDS registered checksums; IDX order restored)"
        ),
        sources={f"tfds:{builder.name}:{builder.version}": source},
    )


def load_cifar10_tfds() -> Cifar10Data:
    """CIFAR-10 from tensorflow-datasets as load_cifar10() returns it: x uint8 (N, 32, 32, 3), y int32 (N,), in the
    official batches' order (TFDS builds it from the official binary archive, cifar-10-binary.tar.gz)."""
    builder, source, stored = _prepared_splits(CIFAR10)
    arrays = {}
    for split, examples in stored.items():
        x, y = examples["image"], examples["label"].astype(np.int32)
        _check_pair(CIFAR10, split, x, y, (32, 32, 3), 10)
        order = _ids_order(examples["id"], f"{split}_", CIFAR10)
        arrays[split] = (_restore(x, order), _restore(y, order))
    return Cifar10Data(
        **_split_arrays(arrays),
        variant=(
            f"official CIFAR-10 binary archive via tensorflow-datasets {builder.name}:{builder.version} "
            "(TFDS registered checksums; official order restored)"
        ),
        sources={f"tfds:{builder.name}:{builder.version}": source},
    )


LOADERS = {"mnist": load_mnist_tfds, "cifar10": load_cifar10_tfds}
