"""One call seeds Python, NumPy and the Keras backend; op determinism is optional (TensorFlow only needs it)."""

from __future__ import annotations

import random

import keras
import numpy as np


def seed_everything(seed: int, deterministic: bool = True) -> np.random.Generator:
    """Seed every generator a run touches and return a NumPy Generator for the run's own sampling.

    With deterministic=True TensorFlow is asked for deterministic kernels (slower on some ops); JAX on CPU is
    deterministic already. Matrix products and convolutions run in full float32 (full_float32_products).
    """
    full_float32_products()
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    return np.random.default_rng(seed)


def full_float32_products() -> None:
    """float32 matrix products and convolutions in full float32 on GPUs too, as the papers computed them and as the
    READMEs' "float32" says: on NVIDIA Ampere and later GPUs TensorFlow and JAX default to TensorFloat-32 (inputs
    rounded to a 10-bit mantissa) for them. TensorFlow: enable_tensor_float_32_execution(False); JAX:
    jax_default_matmul_precision "highest". On CPUs nothing changes (bit-identical: tests/test_jax_backend.py)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_tensor_float_32_execution(False)
    elif backend == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
