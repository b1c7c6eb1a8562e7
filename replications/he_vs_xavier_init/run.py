"""Xavier (Glorot & Bengio 2010) vs He (He et al. 2015) initialisation in deep plain ReLU nets, on MNIST.

For each depth and initialisation: per-layer variance of the pre-activations and of the weight gradients at
initialisation (against the variance argument), then training, logging the training loss. He et al.'s Fig. 3 shape:
at 30 layers Xavier stalls near its initial loss while He trains; at 22 layers both train (Fig. 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal

import keras
import numpy as np
from keras import ops

from replicate_suite.autodiff import gradients
from replicate_suite.config import COUNT, POSITIVE, Range
from replicate_suite.data.mnist import MnistDataConfig, flat_pixels, load_mnist_split
from replicate_suite.models.mlp import MLPSpec, build_mlp
from replicate_suite.monitors import layer_probe, output_variances
from replicate_suite.runner import RunContext
from replicate_suite.training import classification_error, train_steps

INITIALIZERS = {"xavier": "glorot_normal", "he": "he_normal"}  # Var 2/(n_in + n_out) and 2/n_in


@dataclass(frozen=True)
class NetConfig:
    depths: list[int]
    """Weight layers per net (hidden layers + the output layer); He et al. Figs. 2 and 3: 22 and 30."""
    width: Annotated[int, COUNT]
    """Units per hidden layer."""
    inits: list[Literal["xavier", "he"]]


@dataclass(frozen=True)
class TrainConfig:
    steps: Annotated[int, COUNT]
    batch_size: Annotated[int, COUNT]
    learning_rate: Annotated[float, POSITIVE]
    momentum: Annotated[float, Range(0, 1, high_open=True)]


@dataclass(frozen=True)
class MonitorConfig:
    every: Annotated[int, COUNT]
    """Evaluate the training loss on the probe every this many updates."""
    probe_examples: Annotated[int, COUNT]
    """Training images used for the loss curve and the variance measurements."""


@dataclass(frozen=True)
class Config:
    net: NetConfig
    train: TrainConfig
    monitor: MonitorConfig
    data: MnistDataConfig


def variances_at_init(model: keras.Model, depth: int, x: np.ndarray, y: np.ndarray) -> tuple[list[float], list[float]]:
    """Per hidden layer: variance of the pre-activations, and of the loss gradient w.r.t. that layer's kernel."""
    names = [f"hidden_{i}" for i in range(1, depth)]
    activations = output_variances(layer_probe(model, names), x)

    def loss(weights):
        probs = model.stateless_call(weights, model.non_trainable_weights, x)[0]
        return ops.mean(keras.losses.sparse_categorical_crossentropy(y, probs))

    _, grads = gradients(loss, [np.asarray(w) for w in model.trainable_weights])
    kernels = {w.path: g for w, g in zip(model.trainable_weights, grads, strict=True)}
    gradient_vars = [float(np.var(kernels[f"{name}/kernel"].astype("float64"))) for name in names]
    return activations, gradient_vars


def slope_log2(values: list[float]) -> float:
    """Least-squares slope of log2(value) against layer index: -1 means halving per layer."""
    layers_ = np.arange(1, len(values) + 1)
    return float(np.polyfit(layers_, np.log2(values), 1)[0])


def train_net(depth: int, init: str, cfg: Config, data, seed: int, ctx: RunContext) -> dict[str, float]:
    keras.utils.set_random_seed(seed)
    spec = MLPSpec(hidden=(cfg.net.width,) * (depth - 1), activation="relu", initializer=INITIALIZERS[init])
    model = build_mlp(784, 10, spec, name=f"{init}_{depth}")
    model.compile(
        keras.optimizers.SGD(cfg.train.learning_rate, momentum=cfg.train.momentum),
        "sparse_categorical_crossentropy",
        steps_per_execution=math.gcd(cfg.monitor.every, 50),  # many updates per compiled call
    )
    probe_x, probe_y = data.x_train[: cfg.monitor.probe_examples], data.y_train[: cfg.monitor.probe_examples]
    tag = f"{init}_d{depth}"
    act_vars, grad_vars = variances_at_init(model, depth, probe_x, probe_y)
    for layer, (a, g) in enumerate(zip(act_vars, grad_vars, strict=True), start=1):
        ctx.curves.add(
            layer,
            **{
                f"activation_variance_d{depth}_by_layer/{init}": a,
                f"weight_gradient_variance_d{depth}_by_layer/{init}": g,
            },
        )
    losses: dict[int, float] = {}

    def monitor(step: int) -> None:
        losses[step] = float(model.evaluate(probe_x, probe_y, batch_size=1000, verbose=0))
        ctx.curves.add(step, **{f"train_loss_d{depth}/{init}": losses[step]})

    train_steps(
        model,
        data.x_train,
        data.y_train,
        cfg.train.steps,
        cfg.train.batch_size,
        np.random.default_rng(seed),
        every=cfg.monitor.every,
        on_every=monitor,
        label=tag,
    )
    return {
        f"initial_loss_{tag}": losses[0],
        f"final_loss_{tag}": losses[max(losses)],
        f"final_over_initial_loss_{tag}": losses[max(losses)] / losses[0],
        f"{data.eval_name}_error_{tag}": classification_error(model, data.x_eval, data.y_eval),
        f"activation_variance_log2_slope_{tag}": slope_log2(act_vars),
        f"activation_variance_max_over_min_{tag}": max(act_vars) / min(act_vars),
        f"weight_gradient_variance_log2_slope_{tag}": slope_log2(grad_vars),
    }


def run(cfg: Config, seed: int, ctx: RunContext) -> dict[str, float]:
    data = load_mnist_split(cfg.data, flat_pixels, ctx.record_data)
    metrics: dict[str, float] = {"steps": cfg.train.steps}
    for depth in cfg.net.depths:
        for init in cfg.net.inits:
            metrics.update(train_net(depth, init, cfg, data, seed, ctx))
    return metrics
