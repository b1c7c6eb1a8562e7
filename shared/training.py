"""Pieces every supervised replication's training loop uses: divergence guard, per-epoch curves, schedules."""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np

from replicate_suite.errors import Diverged, ReplicateError


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
    """A learning rate that takes values[i] until epoch boundaries_epochs[i] (a per-pass schedule as in the papers).
    Raises ReplicateError (a config error: one `error:` line) unless there is one value more than boundaries."""
    if len(values) != len(boundaries_epochs) + 1:
        raise ReplicateError(
            f"a learning-rate schedule needs one value more than boundaries, got {len(values)} value(s) and "
            f"{len(boundaries_epochs)} boundaries"
        )
    if not boundaries_epochs:
        return float(values[0])
    boundaries = [int(b * steps_per_epoch) for b in boundaries_epochs]
    return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, [float(v) for v in values])


class _StepHook(keras.callbacks.Callback):
    """Counts updates across train_steps' fit() calls and stops at the first non-finite loss."""

    def __init__(self):
        super().__init__()
        self.offset, self.loss = 0, float("nan")

    def on_train_batch_end(self, batch, logs=None):
        self.loss = float((logs or {}).get("loss", float("nan")))
        if not math.isfinite(self.loss):  # with steps_per_execution = k, seen once per k updates
            raise Diverged(self.offset + batch + 1)


def _batch_plan(n: int, steps: int, batch_size: int, every: int, rng: np.random.Generator):
    """Yields (rows, first update, updates) per fit() call: a seeded permutation per pass, cut at every multiple of
    `every` and at the end of each pass. Drawn lazily, so the generator's state advances exactly as it is consumed."""
    per_pass = n // batch_size
    done = 0
    while done < steps:
        pass_updates = min(per_pass, steps - done)
        order = rng.permutation(n)[: pass_updates * batch_size]
        position = 0
        while position < pass_updates:
            until_monitor = every - (done % every) if every else pass_updates
            chunk = min(pass_updates - position, until_monitor)
            yield order[position * batch_size : (position + chunk) * batch_size], done, chunk
            position, done = position + chunk, done + chunk


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
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> float:
    """Exactly `steps` updates on mini-batches drawn without replacement from a seeded permutation per pass.

    For protocols stated in updates rather than epochs (e.g. 50,000 steps of 60). Each pass is cut into compiled
    fit() calls that end at every multiple of `every`, where on_every(step) runs (also at step 0, and after the
    last update when `steps` is not a multiple of `every`, so a run's final numbers are its last step's) with the
    model's state synced on every backend (JAX included); a progress line goes to stderr when a label is given. Examples
    left over after the last whole batch of a pass are skipped that pass. Compile with steps_per_execution > 1 to
    cut per-step overhead. Raises Diverged when the loss or any weight becomes non-finite. Returns the last
    reported loss.

    The input pipeline runs one fit() call ahead in a background thread: it gathers the next call's examples and
    applies `transform` (e.g. random crops and flips; called in order, from that one thread, so a seeded transform
    stays deterministic), so preparing data overlaps training. `callbacks` are passed to every fit() call (each
    call is one Keras "epoch" of its updates).
    """
    if len(x) // batch_size == 0:
        raise ValueError(f"{len(x)} examples make no batch of {batch_size}")
    hook, started = _StepHook(), time.perf_counter()
    plan = _batch_plan(len(x), steps, batch_size, every, rng)

    def prepare(item):
        rows, first, count = item
        inputs = x[rows]
        return (transform(inputs) if transform is not None else inputs), y[rows], first, count

    if on_every is not None:
        on_every(0)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="input") as pool:
        pending = pool.submit(prepare, next(plan)) if steps > 0 else None
        while pending is not None:
            inputs, targets, first, count = pending.result()
            upcoming = next(plan, None)
            pending = pool.submit(prepare, upcoming) if upcoming is not None else None
            hook.offset = first
            model.fit(
                inputs,
                targets,
                batch_size=batch_size,
                epochs=1,
                shuffle=False,
                verbose=0,
                callbacks=[hook, *(callbacks or [])],
            )
            done = first + count
            # Losses with clipped probabilities can stay finite after the weights have not: check those too.
            if not all(np.isfinite(np.asarray(w)).all() for w in model.trainable_weights):
                raise Diverged(done, metric="weights")
            if every and (done % every == 0 or done == steps):  # the last update is always monitored
                if on_every is not None:
                    on_every(done)
                if label and (done % (every * 10) == 0 or done == steps):
                    elapsed = time.perf_counter() - started
                    print(f"  {label}: step {done}/{steps} ({elapsed:.0f}s) loss {hook.loss:.4g}", file=sys.stderr)
    return hook.loss


def classification_error(model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    """Fraction of misclassified examples, computed batch by batch through the compiled predict step."""
    wrong = 0
    for start in range(0, len(x), batch_size):
        probs = model.predict_on_batch(x[start : start + batch_size])
        wrong += int(np.sum(np.argmax(np.asarray(probs), axis=-1) != y[start : start + batch_size]))
    return wrong / len(x)
