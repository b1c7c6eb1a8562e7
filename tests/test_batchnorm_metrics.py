"""batchnorm_mnist's revised Fig. 1(b, c) metrics on tiny hand-made inputs (values worked out by hand)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from replicate_suite.runner import load_module

bn = load_module("batchnorm_mnist")


def test_batch_normalized_uses_the_batch_statistics_by_hand():
    # Column 0: mean 2, biased variance 1; column 1: mean 2, biased variance 4. epsilon 3 makes the divisors
    # sqrt(1 + 3) = 2 and sqrt(4 + 3) = sqrt(7).
    z = np.array([[1.0, 0.0], [3.0, 4.0]])
    out = bn.batch_normalized(z, gamma=np.array([2.0, 1.0]), beta=np.array([0.5, 0.0]), epsilon=3.0)
    expected = np.array([[2 * -0.5 + 0.5, -2 / math.sqrt(7)], [2 * 0.5 + 0.5, 2 / math.sqrt(7)]])
    np.testing.assert_allclose(out, expected)


def test_batch_normalized_matches_keras_batchnorm_in_training_mode():
    import keras

    rng = np.random.default_rng(0)
    z = rng.normal(3.0, 2.0, (50, 4)).astype("float32")
    layer = keras.layers.BatchNormalization()
    layer.build(z.shape)
    gamma, beta = np.array([0.5, 1.0, 2.0, -1.0]), np.array([0.0, 1.0, -1.0, 0.25])
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    keras_out = keras.ops.convert_to_numpy(layer(z, training=True))
    np.testing.assert_allclose(bn.batch_normalized(z, gamma, beta, layer.epsilon), keras_out, rtol=1e-4, atol=1e-5)


def test_the_paper_view_normalises_every_bn_layer_with_the_batch_statistics_as_the_training_network_does():
    """The revised targets' view (N_BN^tr, Alg. 2): every BN layer, not only the last, uses the probe images' own
    statistics; before the fix the earlier layers ran on their moving averages (start-up values mean 0, variance 1),
    up to 1.7 apart at step 0 of seed 10. The moving statistics stay untouched."""
    import keras

    from replicate_suite.models.mlp import MLPSpec, build_mlp

    keras.utils.set_random_seed(0)
    model = build_mlp(6, 3, MLPSpec(hidden=(5, 4, 4), activation="sigmoid", initializer="gaussian:1.0", batchnorm=True))
    x = np.random.default_rng(1).normal(2.0, 3.0, (200, 6)).astype("float32")
    moving = [keras.ops.convert_to_numpy(w).copy() for w in model.non_trainable_weights]
    ours = bn.training_network_inputs(model, x, 3)
    assert all(
        np.array_equal(keras.ops.convert_to_numpy(w), m)
        for w, m in zip(model.non_trainable_weights, moving, strict=True)
    )
    probe = keras.Model(model.inputs, model.get_layer("bn_3").output)
    keras_training = keras.ops.convert_to_numpy(probe(x, training=True))  # updates the moving statistics: last
    np.testing.assert_allclose(ours, keras_training, rtol=1e-4, atol=1e-4)
    only_last = bn.batch_normalized(
        keras.ops.convert_to_numpy(keras.Model(model.inputs, model.get_layer("hidden_3").output)(x, training=False)),
        *(keras.ops.convert_to_numpy(w) for w in (model.get_layer("bn_3").gamma, model.get_layer("bn_3").beta)),
        model.get_layer("bn_3").epsilon,
    )
    assert np.abs(only_last - keras_training).max() > 0.05  # the fault: earlier layers on their moving averages


def test_movement_is_the_mean_range_of_the_three_percentiles():
    # Rows: recorded steps; columns: p15, p50, p85. Ranges over steps: 1 - (-1) = 2, 4 - 1 = 3, 5 - 2 = 3.
    history = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 5.0], [-1.0, 4.0, 2.0]])
    assert bn.movement(history) == pytest.approx(8 / 3)
    assert bn.movement(np.array([[0.0, 1.0, 2.0]] * 4)) == 0.0  # a distribution that never moves


def test_unit_shift_is_the_median_shift_over_the_final_spread_averaged_over_units():
    # Rows p15, p50, p85; columns units. Unit 0: |1 - 0| / (2 - (-2)) = 1/4; unit 1: |3 - 1| / (5 - 2) = 2/3.
    first = np.array([[-1.0, 0.0], [0.0, 1.0], [1.0, 2.0]])
    last = np.array([[-2.0, 2.0], [1.0, 3.0], [2.0, 5.0]])
    assert bn.unit_shift(first, last) == pytest.approx((1 / 4 + 2 / 3) / 2)
    assert bn.unit_shift(last, last) == 0.0


def test_unit_shift_refuses_a_unit_without_spread():
    first = np.zeros((3, 2))
    last = np.array([[0.0, 1.0], [0.0, 1.0], [1.0, 1.0]])  # unit 1: p85 - p15 = 0
    with pytest.raises(ValueError, match=r"units \[1\]"):
        bn.unit_shift(first, last)
