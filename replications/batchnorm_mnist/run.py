"""Batch normalization on MNIST (Ioffe & Szegedy 2015, Sec. 4.1, Fig. 1): the same 3x100 sigmoid net trained with
and without BN before each nonlinearity; test accuracy and one last-layer sigmoid's input distribution over training.

Two independent parts (VARIANT_FIELD): `shared_lr`, the registered protocol (both nets at one rate tuned for the
baseline; seeds 0-2), and `own_lr`, the revised targets' protocol (each net at its own validation-chosen rate; fresh
seeds, `--variant own_lr`). Reads top to bottom: config, the summary metrics, the training of each net with its
monitors, the parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

import keras
import numpy as np

from replicate_suite.config import COUNT, NON_NEGATIVE, POSITIVE
from replicate_suite.data.mnist import MnistDataConfig, Split, flat_pixels, load_mnist_split
from replicate_suite.models.mlp import MLPSpec, build_mlp
from replicate_suite.monitors import layer_probe, unit_percentiles
from replicate_suite.runner import RunContext
from replicate_suite.training import classification_error, train_steps


@dataclass(frozen=True)
class NetConfig:
    hidden: list[int]
    """Hidden layer widths (paper: 3 layers of 100)."""
    activation: str
    """Hidden nonlinearity (paper: sigmoid)."""
    init_std: Annotated[float, POSITIVE]
    """Std of the Gaussian initial weights (paper: "small random Gaussian values", no number given)."""


@dataclass(frozen=True)
class OwnLearningRates:
    baseline: Annotated[float, POSITIVE]
    """The baseline's own SGD step size (tune.py --own-lr)."""
    batchnorm: Annotated[float, POSITIVE]
    """The BN net's own SGD step size (tune.py --own-lr)."""


@dataclass(frozen=True)
class TrainConfig:
    steps: Annotated[int, COUNT]
    """Parameter updates (paper: 50,000)."""
    batch_size: Annotated[int, COUNT]
    """Examples per update (paper: 60)."""
    learning_rate: Annotated[float, POSITIVE]
    """SGD step size of both nets in the `shared_lr` part (not given in the paper; tuned for the baseline)."""
    own_learning_rates: OwnLearningRates
    """Each net's step size in the `own_lr` part, chosen per net on validation data by the rule in tune.py."""


@dataclass(frozen=True)
class MonitorConfig:
    every: Annotated[int, COUNT]
    """Record test accuracy and the sigmoid-input percentiles every this many updates."""
    probe_examples: Annotated[int, COUNT]
    """Test images whose inputs to the watched sigmoid give the percentiles."""
    unit: Annotated[int, NON_NEGATIVE]
    """Which sigmoid of the last hidden layer to watch."""
    early_step: Annotated[int, NON_NEGATIVE]
    """'Trains faster' is judged by test accuracy at this update; drift is measured from here on."""


VARIANT_FIELD = "parts"
PERCENTILES = (15, 50, 85)
OWN_LR_SUFFIX = "_own_lr"  # the own_lr part's metric and curve names end in this


@dataclass(frozen=True)
class Config:
    parts: list[Literal["shared_lr", "own_lr"]]
    """Independent parts (`--variant`): `shared_lr` trains the nets at train.learning_rate (the registered
    protocol), `own_lr` at train.own_learning_rates (the revised targets); their names end in _own_lr."""
    variants: list[Literal["baseline", "batchnorm"]]
    """Which nets each part trains (both for results; tune.py trains one net at a time)."""
    net: NetConfig
    train: TrainConfig
    monitor: MonitorConfig
    data: MnistDataConfig


def drift(curve: list[tuple[int, dict[str, float]]], start_step: int) -> float:
    """How far the watched input distribution moves after start_step: the largest change of the median plus the
    largest change of the 15-85 spread, relative to their final values."""
    later = [values for step, values in curve if step >= start_step]
    median = np.array([v["p50"] for v in later])
    spread = np.array([v["p85"] - v["p15"] for v in later])
    return float(np.max(np.abs(median - median[-1])) + np.max(np.abs(spread - spread[-1])))


def batch_normalized(z: np.ndarray, gamma: np.ndarray, beta: np.ndarray, epsilon: float) -> np.ndarray:
    """BN of the examples z (rows) with their own statistics, as in training: per column gamma * (z - mean) /
    sqrt(var + epsilon) + beta, var the biased variance (Keras's). Read-only: no moving statistic is touched."""
    z = np.asarray(z, dtype="float64")
    return gamma * (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + epsilon) + beta


def training_network_inputs(model: keras.Model, x: np.ndarray, layers: int) -> np.ndarray:
    """The BN net's last hidden layer's normalised pre-activations (the watched sigmoids' inputs), shape
    (examples, units), as the training network N_BN^tr computes them (Ioffe & Szegedy 2015, Alg. 2 / Sec. 4.1):
    every BN layer, not only the last, normalises with the statistics of the examples x themselves. The layers are
    called one by one and BN applied in NumPy (batch_normalized), so no moving statistic is touched."""
    h = np.asarray(x)
    for i in range(1, layers + 1):
        z = np.asarray(model.get_layer(f"hidden_{i}")(h))
        bn = model.get_layer(f"bn_{i}")
        gamma, beta = (keras.ops.convert_to_numpy(w) for w in (bn.gamma, bn.beta))
        z = batch_normalized(z, gamma, beta, bn.epsilon)
        if i == layers:
            return z
        h = np.asarray(model.get_layer(f"act_{i}")(z.astype("float32")))
    raise ValueError("layers must be >= 1")


def movement(history: np.ndarray) -> float:
    """How far one unit's input distribution moves over the whole run: history[t, k] is its k-th percentile
    (15/50/85) at the t-th recorded step; the mean over the percentiles of (max over t - min over t)."""
    history = np.asarray(history, dtype="float64")
    return float(np.mean(history.max(axis=0) - history.min(axis=0)))


def unit_shift(first: np.ndarray, last: np.ndarray) -> float:
    """How far every unit's median moves relative to its spread: first[k, j], last[k, j] are unit j's 15/50/85th
    percentiles at the first and the last recorded step; the mean over units of |p50_last - p50_first| /
    (p85_last - p15_last)."""
    first, last = np.asarray(first, dtype="float64"), np.asarray(last, dtype="float64")
    spread = last[2] - last[0]
    if np.any(spread <= 0):
        raise ValueError(f"unit_shift: units {np.flatnonzero(spread <= 0).tolist()} have no 15-85 spread at the end")
    return float(np.mean(np.abs(last[1] - first[1]) / spread))


def train_variant(
    name: str, tag: str, learning_rate: float, cfg: Config, data: Split, rng: np.random.Generator, ctx: RunContext
) -> dict[str, float]:
    """Train one net (name: baseline or batchnorm) at this rate; its metrics and curves are named by tag."""
    spec = MLPSpec(
        hidden=tuple(cfg.net.hidden),
        activation=cfg.net.activation,
        initializer=f"gaussian:{cfg.net.init_std}",
        batchnorm=name == "batchnorm",
    )
    model = build_mlp(784, 10, spec, name=name)
    model.compile(
        keras.optimizers.SGD(learning_rate),
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
    by_unit: list[np.ndarray] = []  # per recorded step: the 15/50/85th percentiles of every last-layer sigmoid input

    def sigmoid_inputs() -> np.ndarray:
        """Every last-layer sigmoid's input on the probe images; with BN, every BN layer normalised by the probe
        images' own batch statistics, as in the training network (the paper's view: no moving-average start-up
        transient enters, from any layer)."""
        if not spec.batchnorm:
            return np.asarray(probe(probe_x, training=False), dtype="float64")
        return training_network_inputs(model, probe_x, last)

    def monitor(step: int) -> None:
        accuracy[step] = 1.0 - classification_error(model, data.x_eval, data.y_eval)
        found = unit_percentiles(probe, probe_x, cfg.monitor.unit, prefix=f"sigmoid_input_{tag}")
        percentiles.append((step, {key.split("/")[-1]: value for key, value in found.items()}))
        by_unit.append(np.percentile(sigmoid_inputs(), PERCENTILES, axis=0))
        batch_stats = {}
        if spec.batchnorm:  # the baseline's would repeat sigmoid_input_<tag>
            watched = by_unit[-1][:, cfg.monitor.unit]
            names = [f"sigmoid_input_{tag}_batch_stats/p{p}" for p in PERCENTILES]
            batch_stats = {name: float(v) for name, v in zip(names, watched, strict=True)}
        ctx.curves.add(step, **{f"{acc_name}/{tag}": accuracy[step]}, **found, **batch_stats)

    train_steps(
        model,
        data.x_train,
        data.y_train,
        cfg.train.steps,
        cfg.train.batch_size,
        rng,
        every=cfg.monitor.every,
        on_every=monitor,
        label=tag,
    )
    early = max(s for s in accuracy if s <= cfg.monitor.early_step)
    return {
        f"{acc_name}_{tag}": accuracy[max(accuracy)],
        f"{acc_name}_early_{tag}": accuracy[early],
        f"sigmoid_input_drift_{tag}": drift(percentiles, cfg.monitor.early_step),
        f"sigmoid_input_movement_{tag}": movement(np.stack(by_unit)[:, :, cfg.monitor.unit]),
        f"sigmoid_input_unit_shift_{tag}": unit_shift(by_unit[0], by_unit[-1]),
    }


def run(cfg: Config, seed: int, ctx: RunContext) -> dict[str, float]:
    data = load_mnist_split(cfg.data, flat_pixels, ctx.record_data)
    metrics: dict[str, float] = {"steps": cfg.train.steps}
    for part in cfg.parts:
        for name in cfg.variants:
            if part == "shared_lr":
                tag, learning_rate = name, cfg.train.learning_rate
            else:
                tag, learning_rate = name + OWN_LR_SUFFIX, getattr(cfg.train.own_learning_rates, name)
            # The same seed for both nets' initial weights and batch order, so that they differ only by BN (and,
            # in own_lr, by their rates).
            keras.utils.set_random_seed(seed)
            metrics.update(train_variant(name, tag, learning_rate, cfg, data, np.random.default_rng(seed), ctx))
    return metrics
