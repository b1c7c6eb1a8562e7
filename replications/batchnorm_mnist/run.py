"""Batch normalization on MNIST (Ioffe & Szegedy 2015, Sec. 4.1, Fig. 1): the same 3x100 sigmoid net trained with
and without BN before each nonlinearity; test accuracy and one last-layer sigmoid's input distribution over training.

Reads top to bottom: config, the two nets, the training of each with its monitors, the summary metrics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

import keras
import numpy as np

from shared.config import POSITIVE
from shared.data.mnist import Split, flat_pixels, load_mnist, train_eval_split
from shared.models.mlp import MLPSpec, build_mlp
from shared.monitors import layer_probe, unit_percentiles
from shared.runner import RunContext
from shared.training import classification_error, train_steps


@dataclass(frozen=True)
class NetConfig:
    hidden: list[int]
    """Hidden layer widths (paper: 3 layers of 100)."""
    activation: str
    """Hidden nonlinearity (paper: sigmoid)."""
    init_std: float
    """Std of the Gaussian initial weights (paper: "small random Gaussian values", no number given)."""


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    """Parameter updates (paper: 50,000)."""
    batch_size: int
    """Examples per update (paper: 60)."""
    learning_rate: Annotated[float, POSITIVE]
    """SGD step size (not given in the paper)."""


@dataclass(frozen=True)
class MonitorConfig:
    every: int
    """Record test accuracy and the sigmoid-input percentiles every this many updates."""
    probe_examples: int
    """Test images whose inputs to the watched sigmoid give the percentiles."""
    unit: int
    """Which sigmoid of the last hidden layer to watch."""
    early_step: int
    """'Trains faster' is judged by test accuracy at this update; drift is measured from here on."""


@dataclass(frozen=True)
class DataConfig:
    train_limit: int | None = None
    """Use only the first N training images (smoke profile only)."""
    test_limit: int | None = None
    """Use only the first N test images (smoke profile only)."""
    validation_holdout: int = 0
    """Tuning mode: evaluate on the last N training images (metrics named val_*); the test set is not read."""


@dataclass(frozen=True)
class Config:
    variants: list[Literal["baseline", "batchnorm"]]
    """Which nets to train (both for results; tune.py trains the baseline alone)."""
    net: NetConfig
    train: TrainConfig
    monitor: MonitorConfig
    data: DataConfig


def drift(curve: list[tuple[int, dict[str, float]]], start_step: int) -> float:
    """How far the watched input distribution moves after start_step: the largest change of the median plus the
    largest change of the 15-85 spread, relative to their final values."""
    later = [values for step, values in curve if step >= start_step]
    median = np.array([v["p50"] for v in later])
    spread = np.array([v["p85"] - v["p15"] for v in later])
    return float(np.max(np.abs(median - median[-1])) + np.max(np.abs(spread - spread[-1])))


def train_variant(name: str, cfg: Config, data: Split, rng: np.random.Generator, ctx: RunContext) -> dict[str, float]:
    spec = MLPSpec(
        hidden=tuple(cfg.net.hidden),
        activation=cfg.net.activation,
        initializer=f"gaussian:{cfg.net.init_std}",
        batchnorm=name == "batchnorm",
    )
    model = build_mlp(784, 10, spec, name=name)
    model.compile(
        keras.optimizers.SGD(cfg.train.learning_rate),
        "sparse_categorical_crossentropy",
        steps_per_execution=math.gcd(cfg.monitor.every, 100),  # many updates per compiled call
    )
    last = len(cfg.net.hidden)
    # The input of the watched sigmoid: the BN output with BN, the affine pre-activation without.
    probe = layer_probe(model, [f"bn_{last}" if spec.batchnorm else f"hidden_{last}"])
    probe_x = data.x_eval[: cfg.monitor.probe_examples]
    acc_name = f"{data.eval_name}_accuracy"
    accuracy: dict[int, float] = {}
    percentiles: list[tuple[int, dict[str, float]]] = []

    def monitor(step: int) -> None:
        accuracy[step] = 1.0 - classification_error(model, data.x_eval, data.y_eval)
        found = unit_percentiles(probe, probe_x, cfg.monitor.unit, prefix=f"sigmoid_input_{name}")
        percentiles.append((step, {key.split("/")[-1]: value for key, value in found.items()}))
        ctx.curves.add(step, **{f"{acc_name}/{name}": accuracy[step]}, **found)

    train_steps(
        model,
        data.x_train,
        data.y_train,
        cfg.train.steps,
        cfg.train.batch_size,
        rng,
        every=cfg.monitor.every,
        on_every=monitor,
        label=name,
    )
    early = max(s for s in accuracy if s <= cfg.monitor.early_step)
    return {
        f"{acc_name}_{name}": accuracy[max(accuracy)],
        f"{acc_name}_early_{name}": accuracy[early],
        f"sigmoid_input_drift_{name}": drift(percentiles, cfg.monitor.early_step),
    }


def run(cfg: Config, seed: int, ctx: RunContext) -> dict[str, float]:
    mnist = load_mnist()
    ctx.record_data("mnist", mnist.variant, mnist.sources)
    d = cfg.data
    data = train_eval_split(mnist, flat_pixels, d.train_limit, d.test_limit, d.validation_holdout)
    metrics: dict[str, float] = {"steps": cfg.train.steps}
    for name in cfg.variants:
        # The same seed for both nets' initial weights and batch order, so that they differ only by BN.
        keras.utils.set_random_seed(seed)
        metrics.update(train_variant(name, cfg, data, np.random.default_rng(seed), ctx))
    return metrics
