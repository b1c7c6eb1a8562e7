"""Deep plain nets degrade, residual nets do not (He et al. 2016, Sec. 4.2, Fig. 6, Table 6) on CIFAR-10.

Reads top to bottom: config, data (45k/5k split, per-pixel mean, crops and flips), the training of one net with its
monitors, and the run over all nets with the same seed, batch order and augmentation for each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

import keras
import numpy as np

from replicate_suite.config import COUNT, NON_NEGATIVE, POSITIVE, Range
from replicate_suite.data.cifar10 import Variant, load_cifar10
from replicate_suite.errors import ReplicateError
from replicate_suite.images import pad_crop_flip
from replicate_suite.models.resnet import blocks_per_stage, build_cifar_resnet
from replicate_suite.runner import RunContext
from replicate_suite.training import classification_error, train_steps

FAMILIES = {"plain": "plain", "resnet": "residual"}


@dataclass(frozen=True)
class WarmupConfig:
    min_depth: int
    """Nets this deep or deeper start with the warm-up rate (paper: ResNet-110)."""
    iterations: Annotated[int, NON_NEGATIVE]
    """Iterations at the warm-up rate (paper: 'until the training error is below 80% (about 400 iterations)')."""
    learning_rate: Annotated[float, POSITIVE]
    """Warm-up rate (paper: 0.01)."""


@dataclass(frozen=True)
class TrainConfig:
    iterations: Annotated[int, COUNT]
    """Parameter updates per net (paper: 64,000)."""
    batch_size: Annotated[int, COUNT]
    """Images per update (paper: 128)."""
    learning_rate: Annotated[float, POSITIVE]
    """Initial rate (paper: 0.1)."""
    lr_drops: list[int]
    """Iterations at which the rate is divided (paper: 32,000 and 48,000)."""
    lr_drop_factor: Annotated[float, Range(0, 1, low_open=True)]
    """Multiplier at each drop (paper: 0.1)."""
    momentum: Annotated[float, Range(0, 1, high_open=True)]
    """SGD momentum (paper: 0.9)."""
    weight_decay: Annotated[float, NON_NEGATIVE]
    """SGD weight decay on conv and fc kernels (paper: 0.0001)."""
    warmup: WarmupConfig


@dataclass(frozen=True)
class AugmentConfig:
    pad: Annotated[int, NON_NEGATIVE]
    """Zero padding on each side before the random 32x32 crop (paper: 4)."""
    flip: bool
    """Random horizontal flips (paper: yes)."""


@dataclass(frozen=True)
class MonitorConfig:
    every: Annotated[int, COUNT]
    """Log the training error of the batches seen (augmented, training mode) every this many updates."""
    eval_every: Annotated[int, COUNT]
    """Test error on the evaluation set every this many updates (and at the end)."""
    train_eval_examples: Annotated[int, COUNT]
    """Fixed, un-augmented training images on which the final training error is measured in inference mode."""


@dataclass(frozen=True)
class DataConfig:
    variant: Variant
    """auto: the official archive if it can be had, else the documented JPEG rebuild; or official / jpeg75."""
    validation: Annotated[int, NON_NEGATIVE]
    """Last N training images held out (paper: 5,000 of 50,000); never trained on."""
    train_limit: int | None = None
    """Use only the first N training images (smoke profile only)."""
    test_limit: int | None = None
    """Use only the first N test images (smoke profile only)."""


VARIANT_FIELD = "nets"  # each net can run on its own: replicate run ... --variant resnet110


@dataclass(frozen=True)
class Config:
    nets: list[str]
    """Nets to train, as plain<depth> or resnet<depth> with depth = 6n + 2."""
    train: TrainConfig
    augment: AugmentConfig
    monitor: MonitorConfig
    data: DataConfig


def parse_net(name: str) -> tuple[str, int]:
    """'plain56' -> ('plain', 56); 'resnet110' -> ('residual', 110); anything else is a clear error."""
    for prefix, family in FAMILIES.items():
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            depth = int(name[len(prefix) :])
            try:
                blocks_per_stage(depth)
            except ValueError as exc:
                raise ReplicateError(f"net {name!r}: {exc}") from None
            return family, depth
    raise ReplicateError(f"unknown net {name!r} (expected plain<depth> or resnet<depth>, e.g. plain20, resnet56)")


@dataclass(frozen=True)
class Data:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def prepare(cfg: DataConfig, ctx: RunContext) -> Data:
    """45k/5k split of the training set; float32 images in [0, 1] minus the per-pixel mean of the 45k."""
    cifar = load_cifar10(cfg.variant)
    ctx.record_data("cifar10", cifar.variant, cifar.sources)
    x, y = cifar.x_train[: cfg.train_limit], cifar.y_train[: cfg.train_limit]
    if not 0 < cfg.validation < len(x):
        raise ReplicateError(f"data.validation must be between 1 and {len(x) - 1}, got {cfg.validation}")
    cut = len(x) - cfg.validation
    x = x.astype("float32") / 255.0
    mean = x[:cut].mean(axis=0)
    x_test = cifar.x_test[: cfg.test_limit].astype("float32") / 255.0 - mean
    return Data(x[:cut] - mean, y[:cut], x[cut:] - mean, y[cut:], x_test, cifar.y_test[: cfg.test_limit])


def learning_rate(cfg: TrainConfig, depth: int):
    """The paper's step schedule in iterations, with the warm-up for very deep nets."""
    boundaries = list(cfg.lr_drops)
    values = [cfg.learning_rate * cfg.lr_drop_factor**i for i in range(len(boundaries) + 1)]
    if depth >= cfg.warmup.min_depth and cfg.warmup.iterations > 0:
        boundaries, values = [cfg.warmup.iterations, *boundaries], [cfg.warmup.learning_rate, *values]
    if not boundaries:
        return values[0]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)


class ChunkError(keras.callbacks.Callback):
    """The training error over the updates of one fit() call (augmented batches, training-mode BN), as in Fig. 6."""

    def __init__(self):
        super().__init__()
        self.error = float("nan")

    def on_epoch_end(self, epoch, logs=None):
        self.error = 1.0 - float((logs or {})["accuracy"])


def train_net(name: str, cfg: Config, data: Data, seed: int, ctx: RunContext) -> dict[str, float]:
    family, depth = parse_net(name)
    keras.utils.set_random_seed(seed)  # the same seed, batch order and augmentation for every net
    model = build_cifar_resnet(depth, family, weight_decay=cfg.train.weight_decay, name=name)
    model.compile(
        keras.optimizers.SGD(learning_rate(cfg.train, depth), momentum=cfg.train.momentum),
        "sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=10 if cfg.monitor.every % 10 == 0 else 1,
    )
    augment_rng = np.random.default_rng([seed, 1])
    chunk = ChunkError()
    train_seconds = 0.0
    last_end = [time.perf_counter()]

    def monitor(step: int) -> None:
        nonlocal train_seconds
        train_seconds += time.perf_counter() - last_end[0]
        if step > 0:
            ctx.curves.add(step, **{f"train_error/{name}": chunk.error})
        if step > 0 and (step % cfg.monitor.eval_every == 0 or step == cfg.train.iterations):
            ctx.curves.add(step, **{f"test_error/{name}": classification_error(model, data.x_test, data.y_test, 500)})
        last_end[0] = time.perf_counter()

    train_steps(
        model,
        data.x_train,
        data.y_train,
        cfg.train.iterations,
        cfg.train.batch_size,
        np.random.default_rng(seed),
        every=cfg.monitor.every,
        on_every=monitor,
        label=name,
        transform=lambda batch: pad_crop_flip(batch, augment_rng, cfg.augment.pad, cfg.augment.flip),
        callbacks=[chunk],
    )
    fixed = data.x_train[: cfg.monitor.train_eval_examples], data.y_train[: cfg.monitor.train_eval_examples]
    return {
        f"train_error_{name}": classification_error(model, *fixed, 500),
        f"running_train_error_{name}": chunk.error,
        f"val_error_{name}": classification_error(model, data.x_val, data.y_val, 500),
        f"test_error_{name}": classification_error(model, data.x_test, data.y_test, 500),
        f"params_{name}": float(model.count_params()),
        f"train_images_per_second_{name}": cfg.train.iterations * cfg.train.batch_size / max(train_seconds, 1e-9),
    }


def run(cfg: Config, seed: int, ctx: RunContext) -> dict[str, float]:
    if cfg.train.iterations % cfg.monitor.every or cfg.monitor.eval_every % cfg.monitor.every:
        raise ReplicateError("train.iterations and monitor.eval_every must be multiples of monitor.every")
    for name in cfg.nets:
        parse_net(name)  # fail on a bad name before loading data
    data = prepare(cfg.data, ctx)
    metrics: dict[str, float] = {"iterations": cfg.train.iterations}
    for name in cfg.nets:
        metrics.update(train_net(name, cfg, data, seed, ctx))
    return metrics
