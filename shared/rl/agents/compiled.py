"""The one place where the agents' compiled calls differ by Keras backend: a lean forward pass for acting, and a
model's own `train_step` called directly as one compiled function.

Why not Keras's `predict_on_batch` / `train_on_batch`: on every call they go through the trainer's data handling
(an iterator over a one-batch dataset, callbacks' bookkeeping, on JAX the gathering and writing back of every
state variable through the trainer's sharding code) before and after the compiled step. For DDPG's small networks
that machinery costs more than the arithmetic. Measured on one pinned core of a loaded 2-core machine (direction
only): JAX's DDPG update ~21 -> ~12-15 ms and its action ~2 -> ~0.25 ms; TensorFlow's action ~2.8 -> ~1.3 ms (the
concrete function, below), its update unchanged within the noise. The compiled function is the one Keras compiles
(`train_step`: forward, loss, gradients, optimizer, loss metric), so a seeded run's numbers do not change
(tests/test_compiled_calls.py; the smoke runs of dqn_atari2013 and ddpg_continuous are byte-identical).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np


def compiled_forward(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """A function x -> model(x, training=False) as a NumPy array, compiled once per input shape: x is a batch
    (B, *input_shape) of the model's input. It reads the model's current weights at every call.

    TensorFlow: a tf.function's concrete function; JAX: jax.jit of model.stateless_call on the variables' current
    values; other backends: predict_on_batch."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        forward = _TFConcrete(lambda x: model(x, training=False), jit_compile=False, any_batch=True)
        return lambda x: forward(x).numpy()
    if backend == "jax":
        import jax

        def pure(trainable, non_trainable, x):
            return model.stateless_call(trainable, non_trainable, x, training=False)[0]

        forward = jax.jit(pure)
        trainable, non_trainable = model.trainable_variables, model.non_trainable_variables
        return lambda x: np.asarray(forward([v.value for v in trainable], [v.value for v in non_trainable], x))
    return lambda x: np.asarray(model.predict_on_batch(x))


class DirectTrainStep:
    """`model.train_step` on one batch as one compiled call: step(x) trains on x (what model.fit would pass as x;
    no targets, no sample weights) and returns the model's loss metric, i.e. the mean loss since the last
    model.reset_metrics() (the caller decides when to reset). The model must be compiled with its optimizer built.

    TensorFlow: the concrete function of tf.function(train_step) (XLA only if the model was compiled with
    jit_compile); JAX: jax.jit of the stateless train_step on the model's state, written back into the variables
    after each call; other backends: train_on_batch (which resets the metric first: the loss is that batch's)."""

    def __init__(self, model: keras.Model):
        self.model = model
        backend = keras.backend.backend()
        if backend == "tensorflow":
            step = _TFConcrete(model.train_step, jit_compile=bool(model.jit_compile))
            self._call = lambda x: step((x,))["loss"]
        elif backend == "jax":
            import jax

            groups = (
                model.trainable_variables,
                model.non_trainable_variables,
                model.optimizer.variables,
                model.metrics_variables,
            )
            step = jax.jit(model.train_step)

            def call(x):
                logs, state = step(tuple([v.value for v in group] for group in groups), (x,))
                for group, values in zip(groups, state, strict=True):
                    for variable, value in zip(group, values, strict=True):
                        variable.assign(value)
                return logs["loss"]

            self._call = call
        else:  # resets the metric on every call: the loss is that batch's
            self._call = lambda x: model.train_on_batch(x, return_dict=True)["loss"]

    def __call__(self, x: tuple[np.ndarray, ...]) -> float:
        if not self.model.built:  # a stateless call (JAX) needs the model built: one eager forward pass builds it
            self.model(x)
        return float(self._call(x))


class _TFConcrete:
    """fn(data) through tf.function's concrete function for data's structure, shapes and dtypes (traced at the
    first call with each; with `any_batch` the leading dimension of every input is left free, except that a batch
    of one, an agent's action, gets a trace of its own). Calling the concrete function skips tf.function's argument
    matching: about half of a small network's call on 2 cores. A graph whose shapes are all known runs the Nature
    CNN's single-state forward pass faster than one with a free batch dimension, with bit-identical outputs
    (tests/test_compiled_calls.py; benchmarks/results/dqn_throughput.json, action_ms)."""

    def __init__(self, fn: Callable, jit_compile: bool, any_batch: bool = False):
        import tensorflow as tf

        self._tf, self._any_batch = tf, any_batch
        self._function = tf.function(fn, autograph=False, jit_compile=jit_compile)
        self._concrete: dict = {}

    def __call__(self, data):
        tf = self._tf
        data = tf.nest.map_structure(tf.convert_to_tensor, data)
        leaves = tf.nest.flatten(data)
        free = self._any_batch and any(t.shape[0] != 1 for t in leaves)
        shape = (lambda t: (None, *t.shape[1:])) if free else (lambda t: tuple(t.shape))
        key = (tf.nest.map_structure(lambda _: None, data), tuple((shape(t), t.dtype) for t in leaves))
        concrete = self._concrete.get(key)
        if concrete is None:
            specs = tf.nest.map_structure(lambda t: tf.TensorSpec(shape(t), t.dtype), data)
            concrete = self._concrete[key] = self._function.get_concrete_function(specs)
        return concrete(data)
