"""LeNet-5 on MNIST (LeCun, Bottou, Bengio & Haffner 1998): train on the 60k training set, report test error.

Reads top to bottom: the config fields, the input preprocessing, then the training run.
Model: replicate_suite.models.lenet5.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import keras
import numpy as np

from replicate_suite.config import COUNT, POSITIVE, Range
from replicate_suite.data.mnist import MnistDataConfig, load_mnist_split
from replicate_suite.errors import ReplicateError
from replicate_suite.models.lenet5 import MAPLoss, build_lenet5, paper_layers_trainable_params
from replicate_suite.runner import RunContext
from replicate_suite.training import EpochCurves, StopOnNonFinite, classification_error, piecewise_constant_lr

STEPS_PER_EXECUTION = 64


@dataclass(frozen=True, kw_only=True)
class DataConfig(MnistDataConfig):
    """MNIST's shared data block plus the paper's input field."""

    pad_to: Annotated[int, Range(32, 256)]
    """Side of the input field, 32 to 256 (the net's C1-S2-C3-S4-C5 needs 32 at least); the paper centres the 28x28
    digits in 32x32 so strokes reach C5's receptive fields."""
    background: float
    """Input value of white pixels (paper: -0.1, so the input mean is roughly 0)."""
    foreground: float
    """Input value of black pixels (paper: 1.175, so the input variance is roughly 1)."""


@dataclass(frozen=True)
class ModelConfig:
    output: Literal["rbf", "softmax"]
    """rbf: the paper's fixed Euclidean RBF units trained with the MAP criterion (Eq. 9); softmax: a trainable
    softmax layer trained with cross-entropy."""
    map_j: float
    """The constant j of Eq. 9 (penalty of the "rubbish" class); used with output rbf only."""


@dataclass(frozen=True)
class TrainConfig:
    epochs: Annotated[int, COUNT]
    """Passes through the training set (paper: 20)."""
    batch_size: Annotated[int, COUNT]
    """Examples per update (paper: 1, online updates)."""
    optimizer: Literal["sgd", "adam"]
    """sgd stands in for the paper's stochastic diagonal Levenberg-Marquardt; adam: as in Keras."""
    momentum: Annotated[float, Range(0, 1, high_open=True)]
    """SGD momentum (sgd only)."""
    lr_values: list[Annotated[float, POSITIVE]]
    """Learning rate per phase of the per-pass schedule."""
    lr_boundaries_epochs: list[int]
    """Epochs at which the next lr value starts (len = len(lr_values) - 1)."""
    ema_momentum: float = 0.0
    """0 = off (paper). Otherwise the optimizer keeps an exponential moving average of the weights with this momentum
    and the final weights are replaced by it (Polyak averaging; the per-pass curve shows the raw weights)."""

    def __post_init__(self):
        if not 0.0 <= self.ema_momentum < 1.0:
            raise ReplicateError(f"train.ema_momentum must be in [0, 1), got {self.ema_momentum}")
        if not self.lr_values or len(self.lr_boundaries_epochs) != len(self.lr_values) - 1:
            raise ReplicateError(
                f"train.lr_boundaries_epochs needs one entry fewer than train.lr_values (a schedule of phases), got "
                f"{len(self.lr_boundaries_epochs)} boundaries for {len(self.lr_values)} value(s)"
            )
        bounds = self.lr_boundaries_epochs
        if any(b < 1 for b in bounds) or any(a >= b for a, b in zip(bounds, bounds[1:], strict=False)):
            raise ReplicateError(f"train.lr_boundaries_epochs must be increasing epochs >= 1, got {bounds}")


@dataclass(frozen=True)
class Config:
    data: DataConfig
    model: ModelConfig
    train: TrainConfig


def preprocess(images: np.ndarray, cfg: DataConfig) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, pad_to, pad_to, 1), background/foreground mapped as in the paper."""
    scale = (cfg.foreground - cfg.background) / 255.0
    x = images.astype("float32") * scale + cfg.background
    pad = (cfg.pad_to - x.shape[1]) // 2
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad)), constant_values=cfg.background)
    return x[..., None]


def make_optimizer(cfg: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    lr = piecewise_constant_lr(cfg.lr_boundaries_epochs, cfg.lr_values, steps_per_epoch)
    # fit() swaps the averaged weights in at its end (Optimizer.finalize_variable_values), on every backend.
    ema = {"use_ema": cfg.ema_momentum > 0, "ema_momentum": cfg.ema_momentum}
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=cfg.momentum, **ema)
    return keras.optimizers.Adam(learning_rate=lr, **ema)


def compiled_model(cfg: Config, steps_per_epoch: int) -> keras.Model:
    """LeNet-5 with the configured output layer, its loss and optimizer, compiled as every run trains it (also used
    by benchmarks/lenet5_throughput.py, so the benchmark times exactly this)."""
    model = build_lenet5(num_classes=10, input_size=cfg.data.pad_to, output=cfg.model.output)
    loss = MAPLoss(cfg.model.map_j) if cfg.model.output == "rbf" else "sparse_categorical_crossentropy"
    # 64 updates per compiled call: same updates in the same order, less per-step Python overhead (matters at small
    # batches: batch 16 takes about 11 s per pass instead of about 26 s on 2 cores). The divergence check sees
    # every 64th loss.
    model.compile(
        optimizer=make_optimizer(cfg.train, steps_per_epoch),
        loss=loss,
        metrics=["accuracy"],
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    return model


def run(cfg: Config, seed: int, ctx: RunContext) -> dict[str, float]:
    split = load_mnist_split(cfg.data, lambda images: preprocess(images, cfg.data), ctx.record_data)
    x_train, y_train, x_eval, y_eval = split.x_train, split.y_train, split.x_eval, split.y_eval
    eval_name = f"{split.eval_name}_error"

    steps_per_epoch = -(-len(x_train) // cfg.train.batch_size)
    model = compiled_model(cfg, steps_per_epoch)
    # The evaluation error is logged per epoch to draw the curve only; nothing is chosen on it (no early stopping).
    curves = EpochCurves(ctx.curves, steps_per_epoch, {eval_name: lambda m: classification_error(m, x_eval, y_eval)})
    model.fit(
        x_train,
        y_train,
        batch_size=cfg.train.batch_size,
        epochs=cfg.train.epochs,
        shuffle=True,
        verbose=0,
        callbacks=[StopOnNonFinite(), curves],
    )
    return {
        eval_name: classification_error(model, x_eval, y_eval),
        "train_error": classification_error(model, x_train, y_train),
        "updates": steps_per_epoch * cfg.train.epochs,
        "epochs": cfg.train.epochs,
        "trainable_params": model.count_params(),
        "paper_layers_trainable_params": paper_layers_trainable_params(model),
    }
