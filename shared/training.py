"""Pieces every supervised replication's training loop uses: divergence guard, per-epoch curves, schedules."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable

import keras
import numpy as np

from shared.errors import Diverged


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops training the moment the batch loss is NaN/inf (a result to record, not a crash)."""

    def __init__(self):
        super().__init__()
        self.step = 0

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise Diverged(self.step)


class EpochCurves(keras.callbacks.Callback):
    """After each epoch, logs the training loss/error and any extra evaluations into a CurveLog at the update count.

    `evaluations` maps a curve name to a function of the model returning a number (e.g. test error); these are
    recorded only, never used to choose anything.
    """

    def __init__(
        self,
        curves,
        steps_per_epoch: int,
        evaluations: dict[str, Callable[[keras.Model], float]],
        progress: bool = True,
    ):
        super().__init__()
        self.curves = curves
        self.steps_per_epoch = steps_per_epoch
        self.evaluations = evaluations
        self.progress = progress
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        step = (epoch + 1) * self.steps_per_epoch
        values = {"train_loss": float(logs["loss"])}
        if "accuracy" in logs:
            values["train_error"] = 1.0 - float(logs["accuracy"])
        values.update({name: fn(self.model) for name, fn in self.evaluations.items()})
        self.curves.add(step, **values)
        if self.progress:
            shown = " ".join(f"{k} {v:.4g}" for k, v in values.items())
            elapsed = time.perf_counter() - self.started
            print(f"  epoch {epoch + 1} (step {step}, {elapsed:.0f}s): {shown}", file=sys.stderr, flush=True)


def piecewise_constant_lr(boundaries_epochs: list[int], values: list[float], steps_per_epoch: int):
    """A learning rate that takes values[i] until epoch boundaries_epochs[i] (a per-pass schedule as in the papers)."""
    if len(values) != len(boundaries_epochs) + 1:
        raise ValueError(f"need len(values) == len(boundaries) + 1, got {len(values)} and {len(boundaries_epochs)}")
    if not boundaries_epochs:
        return float(values[0])
    boundaries = [int(b * steps_per_epoch) for b in boundaries_epochs]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, [float(v) for v in values])


class _StepHook(keras.callbacks.Callback):
    """Counts updates across the per-pass fit() calls of train_steps; checks the loss; calls the monitor."""

    def __init__(self, steps: int, every: int, on_every, label: str):
        super().__init__()
        self.steps, self.every, self.on_every, self.label = steps, every, on_every, label
        self.offset, self.started, self.loss = 0, time.perf_counter(), float("nan")

    def on_train_batch_end(self, batch, logs=None):
        step = self.offset + batch + 1  # with steps_per_execution = k, called once per k updates
        self.loss = float((logs or {}).get("loss", float("nan")))
        if not math.isfinite(self.loss):
            raise Diverged(step)
        if self.every and step % self.every == 0:
            if self.on_every is not None:
                self.on_every(step)
            if self.label and (step % (self.every * 10) == 0 or step == self.steps):
                elapsed = time.perf_counter() - self.started
                print(f"  {self.label}: step {step}/{self.steps} ({elapsed:.0f}s) loss {self.loss:.4g}",
                      file=sys.stderr, flush=True)  # fmt: skip


def train_steps(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    steps: int,
    batch_size: int,
    rng: np.random.Generator,
    every: int = 0,
    on_every: Callable[[int], None] | None = None,
    label: str = "",
) -> float:
    """Exactly `steps` updates on mini-batches drawn without replacement from a seeded permutation per pass.

    For protocols stated in updates rather than epochs (e.g. 50,000 steps of 60). Each pass is one compiled fit()
    over the permuted data, cut to a whole number of executions (the examples left over are skipped that pass). Calls on_every(step) at step 0 and every `every`
    steps, printing a progress line to stderr when a label is given. Compile the model with steps_per_execution
    dividing `every` (the hook runs once per execution; larger values cut per-step overhead). Raises Diverged when
    the loss becomes non-finite (detected at the end of an execution). Returns the loss of the last pass.
    """
    chunk = model.steps_per_execution
    per_pass = (len(x) // batch_size) // chunk * chunk  # whole executions per pass, so hooks land on their steps
    if per_pass == 0:
        raise ValueError(f"{len(x)} examples make no {chunk} batches of {batch_size}")
    if every and every % chunk:
        raise ValueError(f"every={every} is not a multiple of steps_per_execution={chunk}")
    hook = _StepHook(steps, every, on_every, label)
    if on_every is not None:
        on_every(0)
    while hook.offset < steps:
        updates = min(per_pass, steps - hook.offset)
        order = rng.permutation(len(x))[: updates * batch_size]
        model.fit(x[order], y[order], batch_size=batch_size, epochs=1, shuffle=False, verbose=0, callbacks=[hook])
        hook.offset += updates
    return hook.loss


def classification_error(model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    """Fraction of misclassified examples, computed batch by batch through the compiled predict step."""
    wrong = 0
    for start in range(0, len(x), batch_size):
        probs = model.predict_on_batch(x[start : start + batch_size])
        wrong += int(np.sum(np.argmax(np.asarray(probs), axis=-1) != y[start : start + batch_size]))
    return wrong / len(x)
