"""The shared MLP builder and the step-counted training loop."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from replicate_suite.errors import Diverged
from replicate_suite.models.mlp import MLPSpec, build_mlp
from replicate_suite.training import train_steps


def test_parameter_counts():
    # Srivastava et al.'s 784-1024-1024-1024-10 net: 784*1024 + 2*1024*1024 + 1024*10 weights plus biases.
    model = build_mlp(784, 10, MLPSpec(hidden=(1024, 1024, 1024)))
    assert model.count_params() == 784 * 1024 + 2 * 1024 * 1024 + 1024 * 10 + 3 * 1024 + 10
    # With BN the Dense bias is dropped and BN adds gamma, beta (trainable) and two moving statistics per unit.
    bn = build_mlp(784, 10, MLPSpec(hidden=(100, 100, 100), batchnorm=True))
    trainable = sum(int(np.prod(w.shape)) for w in bn.trainable_weights)
    assert trainable == 784 * 100 + 2 * 100 * 100 + 100 * 10 + 10 + 3 * 2 * 100


def test_max_norm_bounds_each_units_incoming_weights():
    keras.utils.set_random_seed(0)
    model = build_mlp(20, 3, MLPSpec(hidden=(16,), max_norm=0.5, initializer="gaussian:3.0"))
    model.compile(keras.optimizers.SGD(1.0), "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(64, 20)).astype("float32")
    model.train_on_batch(x, np.zeros(64, dtype="int32"))
    norms = np.linalg.norm(np.asarray(model.get_layer("hidden_1").kernel), axis=0)
    assert norms.shape == (16,) and norms.max() <= 0.5 + 1e-5


def test_dropout_layers_follow_the_spec():
    model = build_mlp(10, 2, MLPSpec(hidden=(8, 8), dropout_input=0.2, dropout_hidden=0.5))
    rates = {layer.name: layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)}
    assert rates == {"dropout_input": 0.2, "dropout_1": 0.5, "dropout_2": 0.5}


def _tiny_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(100, 5)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32")


def test_train_steps_counts_updates_and_is_deterministic():
    x, y = _tiny_problem()
    losses, calls = [], []
    for _ in range(2):
        keras.utils.set_random_seed(1)
        model = build_mlp(5, 2, MLPSpec(hidden=(4,)))
        model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", steps_per_execution=5)
        calls.clear()
        losses.append(train_steps(model, x, y, 23, 10, np.random.default_rng(1), every=10, on_every=calls.append))
        assert int(model.optimizer.iterations) == 23
    assert calls == [0, 10, 20, 23]  # the last update is monitored too: a run's final numbers are its last step's
    assert losses[0] == losses[1] and np.isfinite(losses[0])


def test_train_steps_stops_on_divergence():
    x, y = _tiny_problem()
    model = build_mlp(5, 2, MLPSpec(hidden=(4,)))
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy", steps_per_execution=5)
    poisoned = x.copy()
    poisoned[40:] = np.nan  # a non-finite loss as soon as a batch holds one of these rows
    with pytest.raises(Diverged) as info:
        train_steps(model, poisoned, y, 50, 10, np.random.default_rng(0))
    assert 1 <= info.value.step <= 10  # caught within the first pass (10 updates)
