"""One call seeds Python, NumPy and the Keras backend; op determinism is optional (TensorFlow only needs it)."""

from __future__ import annotations

import random

import keras
import numpy as np


def seed_everything(seed: int, deterministic: bool = True) -> np.random.Generator:
    """Seed every generator a run touches and return a NumPy Generator for the run's own sampling.

    With deterministic=True TensorFlow is asked for deterministic kernels (slower on some ops); JAX on CPU is
    deterministic already.
    """
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    if deterministic and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    return np.random.default_rng(seed)
