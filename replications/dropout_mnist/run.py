"""Dropout on MNIST (Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov 2014, Table 2 and Fig. 4).

Each configured net (a Table 2 row, or its no-dropout control) is trained with the same seed and batch order;
test error is logged against updates (Fig. 4's shape) and reported at the end (no early stopping).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

import keras
import numpy as np

from replicate_suite.config import COUNT, POSITIVE, Range
from replicate_suite.data.mnist import MnistDataConfig, flat_pixels, load_mnist_split
from replicate_suite.models.mlp import MLPSpec, build_mlp
from replicate_suite.runner import RunContext
from replicate_suite.training import classification_error, train_steps


@dataclass(frozen=True)
class NetConfig:
    name: str
    """Metric suffix, e.g. dropout_relu_3x1024."""
    hidden: list[int]
    activation: Literal["relu", "sigmoid"]
    """relu or sigmoid (the paper's 'logistic')."""
    retain_input: Annotated[float, Range(0, 1, low_open=True)]
    """Probability of keeping an input unit (paper: 0.8 with dropout, 1 without)."""
    retain_hidden: Annotated[float, Range(0, 1, low_open=True)]
    """Probability of keeping a hidden unit (paper: 0.5 with dropout, 1 without)."""
    max_norm: float | None
    """Bound on each unit's incoming weight-vector norm, or null."""
    learning_rate: Annotated[float, POSITIVE] | None = None
    """This net's initial SGD learning rate (per-row tuning, as the paper tunes each row on validation data);
    null: train.learning_rate."""


@dataclass(frozen=True)
class TrainConfig:
    epochs: Annotated[int, COUNT]
    """Passes over the training set."""
    batch_size: Annotated[int, COUNT]
    learning_rate: Annotated[float, POSITIVE]
    """Initial SGD learning rate."""
    lr_decay_per_epoch: Annotated[float, Range(0, 1, low_open=True)]
    """The learning rate is multiplied by this after every pass."""
    momentum: Annotated[float, Range(0, 1, high_open=True)]


@dataclass(frozen=True)
class Config:
    nets: list[NetConfig]
    train: TrainConfig
    init: str
    """Keras initializer name for all weights."""
    eval_every_epochs: Annotated[int, COUNT]
    """Log the evaluation error every this many passes (the Fig. 4 curve)."""
    data: MnistDataConfig


VARIANT_FIELD = "nets"  # each net can run on its own, by name: replicate run ... --variant dropout_relu_3x1024


def train_net(net: NetConfig, cfg: Config, data, seed: int, ctx: RunContext) -> dict[str, float]:
    keras.utils.set_random_seed(seed)
    spec = MLPSpec(
        hidden=tuple(net.hidden),
        activation=net.activation,
        initializer=cfg.init,
        dropout_input=1.0 - net.retain_input,
        dropout_hidden=1.0 - net.retain_hidden,
        max_norm=net.max_norm,
    )
    model = build_mlp(784, 10, spec, name=net.name)
    steps_per_pass = len(data.x_train) // cfg.train.batch_size
    rate = cfg.train.learning_rate if net.learning_rate is None else net.learning_rate
    schedule = keras.optimizers.schedules.ExponentialDecay(
        rate, steps_per_pass, cfg.train.lr_decay_per_epoch, staircase=True
    )
    every = steps_per_pass * cfg.eval_every_epochs
    model.compile(
        keras.optimizers.SGD(schedule, momentum=cfg.train.momentum),
        "sparse_categorical_crossentropy",
        steps_per_execution=math.gcd(every, 100),
    )
    name = f"{data.eval_name}_error"
    errors: dict[int, float] = {}

    def monitor(step: int) -> None:
        errors[step] = classification_error(model, data.x_eval, data.y_eval)
        ctx.curves.add(step, **{f"{name}/{net.name}": errors[step]})

    train_steps(
        model, data.x_train, data.y_train, steps_per_pass * cfg.train.epochs, cfg.train.batch_size,
        np.random.default_rng(seed), every=every, on_every=monitor, label=net.name,
    )  # fmt: skip
    return {
        f"{name}_{net.name}": errors[max(errors)],
        f"train_error_{net.name}": classification_error(model, data.x_train, data.y_train),
    }


def run(cfg: Config, seed: int, ctx: RunContext) -> dict[str, float]:
    data = load_mnist_split(cfg.data, flat_pixels, ctx.record_data)
    metrics: dict[str, float] = {"epochs": cfg.train.epochs}
    for net in cfg.nets:
        metrics.update(train_net(net, cfg, data, seed, ctx))
    return metrics
