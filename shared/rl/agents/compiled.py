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

On TensorFlow the concrete function is called through its flat path (`_TFConcrete`). Measured quiet, one process
per side, 7 blocks each, op determinism on: DDPG's 400-300 actor on one state (one intra-op thread) 0.27-0.28 ->
0.20-0.23 ms per action; the Nature CNN on one state (two threads) 0.76-0.78 -> 0.69-0.70 ms. The smoke runs of
dqn_atari2013, double_dqn_overestimation and ddpg_continuous keep bit-identical weights and curves.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

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

    def __call__(self, x) -> float:
        if not self.model.built:  # a stateless call (JAX) needs the model built: one eager forward pass builds it
            self.model(x)
        return float(self._call(x))


def tf_graph_without_xla(model: keras.Model) -> bool:
    """Whether `model`'s compiled calls run as TensorFlow graphs without XLA (TensorFlow backend, model.jit_compile
    off): where TrainThenForward makes one call and DDPGAgent packs its minibatch, both bit-identical there."""
    return keras.backend.backend() == "tensorflow" and not model.jit_compile


@functools.cache
def tf_column_product_matches(batch: int, inner: int, rows: int, columns: int, trials: int = 3) -> bool:
    """Whether, in a TensorFlow graph on this machine, dy @ W[-columns:]^T equals the last `columns` columns of
    dy @ W^T bit for bit, for dy of shape (batch, inner) and W of shape (rows, inner) (float32): checked on `trials`
    random draws, once per shape in a process. Matrix-product libraries choose their kernel, and with it the order
    of each sum, by shape and thread count: on the AVX2 AMD EPYC of 2026-12-05, at one intra-op thread, the narrow
    product matched for 2 to 8 columns at batch 32 or 64 and not for one column (a matrix-vector kernel) nor at
    batch 128; at two threads, batch 128 matched for 2 to 8 columns. The order does not depend on the values, so a
    few draws decide a shape; the check runs eagerly (tf.init_scope), also while a graph is being traced."""
    import tensorflow as tf

    @tf.function(autograph=False, jit_compile=False)
    def products(dy, w):
        return tf.matmul(dy, w, transpose_b=True)[:, rows - columns :], tf.matmul(
            dy, w[rows - columns :], transpose_b=True
        )

    rng = np.random.default_rng(0)
    with tf.init_scope():
        for _ in range(trials):
            dy = tf.constant(rng.standard_normal((batch, inner)).astype(np.float32))
            w = tf.constant(rng.standard_normal((rows, inner)).astype(np.float32))
            wide, narrow = products(dy, w)
            if not np.array_equal(wide.numpy(), narrow.numpy()):
                return False
    return True


class TrainThenForward:
    """One update and then a forward pass with the updated weights, as one compiled call where the backend allows:
    call(x, inputs) trains as step(x) does and returns (that loss, forward_model(inputs, training=False) as a NumPy
    array). An agent that acts right after each update (DDPG: mu(s_{t+1}) after the update of step t) saves one
    call's fixed cost per step this way. `step` and `forward` are the agent's own DirectTrainStep(model) and
    compiled_forward(forward_model).

    TensorFlow without XLA: one concrete function that runs model.train_step and then the forward pass;
    tf.function's automatic control dependencies order the forward pass's reads of the weights after the optimizer's
    writes, so the outputs are bit-identical to step followed by forward (tests/test_ddpg.py; with Eigen's and with
    oneDNN's kernels, the latter forced on an AVX2 CPU on 2026-12-05). With XLA
    (model.jit_compile), other backends: exactly those two calls (XLA would compile the forward pass too and round it
    differently from compiled_forward's, which never uses XLA)."""

    def __init__(self, step: DirectTrainStep, forward_model: keras.Model, forward: Callable[[np.ndarray], np.ndarray]):
        model = self.model = step.model
        if tf_graph_without_xla(model):

            def fused(data):
                x, inputs = data
                return model.train_step((x,))["loss"], forward_model(inputs, training=False)

            fused_call = _TFConcrete(fused, jit_compile=False)

            def call(x, inputs):
                loss, outputs = fused_call((x, inputs))
                return float(loss), outputs.numpy()

            self._call = call
        else:
            self._call = lambda x, inputs: (step(x), forward(inputs))

    def __call__(self, x, inputs: np.ndarray) -> tuple[float, np.ndarray]:
        if not self.model.built:  # as DirectTrainStep: a stateless call (JAX) needs the model built
            self.model(x)
        return self._call(x, inputs)


class _TFConcrete:
    """fn(data) through tf.function's concrete function for data's structure, shapes and dtypes (traced at the
    first call with each; with `any_batch` the leading dimension of every input is left free, except that a batch
    of one, an agent's action, gets a trace of its own). A graph whose shapes are all known runs the Nature CNN's
    single-state forward pass faster than one with a free batch dimension, with bit-identical outputs.

    The call itself takes the concrete function's flat path (`_call_flat`: the input tensors in tf.nest.flatten
    order, then the captured variables), which is what calling the concrete function does after matching the
    arguments to its signature; that matching (binding, nest.map_structure, spec checks) costs more than a small
    network's arithmetic on 2 cores. The graph run is the same, so the outputs are bit-identical
    (tests/test_compiled_calls.py). Where a TensorFlow version lacks `_call_flat`, the concrete function is called
    as usual."""

    def __init__(self, fn: Callable, jit_compile: bool, any_batch: bool = False):
        import tensorflow as tf

        self._tf, self._any_batch = tf, any_batch
        self._function = tf.function(fn, autograph=False, jit_compile=jit_compile)
        self._calls: dict = {}

    def __call__(self, data):
        tf = self._tf
        leaves, shapes, dtypes = [], [], []
        for leaf in tf.nest.flatten(data):
            if isinstance(leaf, np.ndarray):  # NumPy's shape and dtype: cheaper to read than an EagerTensor's
                leaves.append(tf.constant(leaf))
                shapes.append(leaf.shape)
                dtypes.append(leaf.dtype)
            else:
                leaves.append(tf.convert_to_tensor(leaf))
                shapes.append(tuple(leaves[-1].shape))
                dtypes.append(leaves[-1].dtype)
        if self._any_batch and any(shape[0] != 1 for shape in shapes):
            shapes = [(None, *shape[1:]) for shape in shapes]
        key = (_structure(data), tuple(shapes), tuple(dtypes))
        call = self._calls.get(key)
        if call is None:
            specs = [tf.TensorSpec(shape, tf.as_dtype(dtype)) for shape, dtype in zip(shapes, dtypes, strict=True)]
            concrete = self._function.get_concrete_function(tf.nest.pack_sequence_as(data, specs))
            call = self._calls[key] = _flat_caller(concrete, data)
        return call(leaves)


def _structure(data) -> object:
    """A hashable description of data's nesting with its leaves' values left out: the container types (tuples, lists,
    namedtuples, mappings with their keys) and each leaf's type. Two inputs with the same description and the same
    leaf shapes and dtypes share one trace; anything else (a mapping against a bare array, other keys, a list against
    a tuple) gets its own."""
    if isinstance(data, (tuple, list)):
        return type(data), tuple(_structure(item) for item in data)
    if isinstance(data, Mapping):
        return type(data), tuple((key, _structure(data[key])) for key in sorted(data))
    return type(data)


def _flat_caller(concrete, example) -> Callable[[list], object]:
    """leaves (tensors, in tf.nest.flatten order of an input shaped like `example`) -> concrete's structured
    output."""
    call_flat = getattr(concrete, "_call_flat", None)
    if call_flat is None:
        import tensorflow as tf

        return lambda leaves: concrete(tf.nest.pack_sequence_as(example, leaves))
    return lambda leaves: call_flat(leaves, concrete.captured_inputs)
