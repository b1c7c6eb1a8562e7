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
