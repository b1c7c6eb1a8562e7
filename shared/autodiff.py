"""The one place where gradient code differs by Keras backend.

`gradients(fn, tensors)` differentiates a scalar function of a list of tensors, written with keras.ops, at the given
values, on TensorFlow (GradientTape), JAX (jax.grad) or PyTorch (autograd). Returns NumPy arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np


def gradients(fn: Callable[[list], object], values: Sequence[np.ndarray]) -> tuple[float, list[np.ndarray]]:
    """(fn(values), [d fn / d value for each value]) with the active backend's autodiff."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(v, dtype="float32") for v in values]
        with tf.GradientTape() as tape:
            for t in tensors:
                tape.watch(t)
            out = fn(tensors)
        grads = tape.gradient(out, tensors)
        return float(out), [np.asarray(g) for g in grads]
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        arrays = [jnp.asarray(v, dtype="float32") for v in values]
        out, grads = jax.value_and_grad(lambda xs: fn(list(xs)))(arrays)
        return float(out), [np.asarray(g) for g in grads]
    if backend == "torch":
        import torch

        tensors = [torch.tensor(np.asarray(v, dtype="float32"), requires_grad=True) for v in values]
        out = fn(tensors)
        grads = torch.autograd.grad(out, tensors)
        return float(out.detach()), [g.detach().cpu().numpy() for g in grads]
    raise NotImplementedError(f"no gradient code for Keras backend {backend!r}")
