"""MNIST from the four official IDX gzip files (LeCun, Cortes & Burges), checksum-pinned; no TensorFlow needed."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np

from replicate_suite.config import COUNT, NON_NEGATIVE
from replicate_suite.data.files import DatasetSpec, data_source, fetch_dataset
from replicate_suite.errors import ReplicateError

MNIST = DatasetSpec(
    name="mnist",
    variant="official MNIST IDX files (sha256-verified)",
    folder="mnist",
    sha256={
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    # The original host first, then the long-standing public mirror of the same bytes.
    urls=("https://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
)

_IDX_MAGIC = {2049: 1, 2051: 3}  # labels: 1-D, images: 3-D; both uint8


@dataclass(frozen=True)
class MnistData:
    """MNIST as uint8 arrays plus what was read: x (N, 28, 28) in 0..255, y (N,) in 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    variant: str
    sources: dict[str, str]


def read_idx(path: Path) -> np.ndarray:
    """Parse one gzip-compressed IDX file of unsigned bytes (magic 2049 or 2051)."""
    with gzip.open(path, "rb") as handle:
        raw = handle.read()
    magic = int.from_bytes(raw[:4], "big")
    if magic not in _IDX_MAGIC:
        raise ReplicateError(f"{path}: not an IDX uint8 file (magic {magic}, expected 2049 or 2051)")
    ndim = _IDX_MAGIC[magic]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape))
    if len(raw) - offset != expected:
        raise ReplicateError(f"{path}: header says {shape} ({expected} bytes) but holds {len(raw) - offset}")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(shape)


def load_mnist(spec: DatasetSpec | None = None) -> MnistData:
    """Fetch (cache → mirror → download), verify and parse the four MNIST files; with REPLICATE_DATA_SOURCE=tfds
    (and no explicit spec) read the same arrays through tensorflow-datasets instead (tfds_source.load_mnist_tfds)."""
    if spec is None and data_source() == "tfds":
        from replicate_suite.data.tfds_source import load_mnist_tfds

        return load_mnist_tfds()
    spec = spec if spec is not None else MNIST
    paths, sources = fetch_dataset(spec)
    arrays = {name: read_idx(path) for name, path in paths.items()}
    data = MnistData(
        x_train=arrays["train-images-idx3-ubyte.gz"],
        y_train=arrays["train-labels-idx1-ubyte.gz"],
        x_test=arrays["t10k-images-idx3-ubyte.gz"],
        y_test=arrays["t10k-labels-idx1-ubyte.gz"],
        variant=spec.variant,
        sources=sources,
    )
    for split, (x, y) in {"train": (data.x_train, data.y_train), "test": (data.x_test, data.y_test)}.items():
        if len(x) != len(y):
            raise ReplicateError(f"mnist {split}: {len(x)} images but {len(y)} labels")
    return data


def flat_pixels(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 784) in [0, 1], the input of the fully connected MNIST nets."""
    return images.reshape(len(images), -1).astype("float32") / 255.0


@dataclass(frozen=True)
class Split:
    """Training and evaluation arrays; eval_name is "test", or "val" when the evaluation set is held-out training
    data (tuning mode: the test set is then not used at all)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray
    eval_name: str


def train_eval_split(
    data: MnistData,
    preprocess: Callable[[np.ndarray], np.ndarray],
    train_limit: int | None = None,
    test_limit: int | None = None,
    validation_holdout: int = 0,
) -> Split:
    """Preprocessed training set and evaluation set: the test set, or the last `validation_holdout` training images."""
    x_train = preprocess(data.x_train[:train_limit])
    y_train = data.y_train[:train_limit].astype("int32")
    if validation_holdout > 0:
        if validation_holdout >= len(x_train):
            raise ReplicateError(f"validation_holdout {validation_holdout} leaves no training images")
        cut = len(x_train) - validation_holdout
        return Split(x_train[:cut], y_train[:cut], x_train[cut:], y_train[cut:], "val")
    x_test = preprocess(data.x_test[:test_limit])
    return Split(x_train, y_train, x_test, data.y_test[:test_limit].astype("int32"), "test")


@dataclass(frozen=True)
class MnistDataConfig:
    """The `data` block shared by the MNIST replications' configs (a replication adds its own fields by subclassing
    with kw_only=True, e.g. LeNet-5's input field)."""

    train_limit: Annotated[int, COUNT] | None = None
    """Use only the first N training images (smoke profile only); None = all 60,000."""
    test_limit: Annotated[int, COUNT] | None = None
    """Use only the first N test images (smoke profile only); None = all 10,000."""
    validation_holdout: Annotated[int, NON_NEGATIVE] = 0
    """Tuning mode: evaluate on the last N training images (metrics named val_*); the test set is not read at all."""


def load_mnist_split(
    cfg: MnistDataConfig,
    preprocess: Callable[[np.ndarray], np.ndarray],
    record_data: Callable[[str, str, object], None],
) -> Split:
    """Load MNIST (load_mnist), report which copy was read through record_data("mnist", variant, sources) (a
    RunContext's record_data), and split it as `cfg` says (train_eval_split) with `preprocess` applied to the uint8
    (N, 28, 28) images."""
    mnist = load_mnist()
    record_data("mnist", mnist.variant, mnist.sources)
    return train_eval_split(mnist, preprocess, cfg.train_limit, cfg.test_limit, cfg.validation_holdout)
