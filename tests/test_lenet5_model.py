"""LeNet-5 builder against the paper's layer description (LeCun et al. 1998, Sec. II-B and Table I)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from replicate_suite.models.lenet5 import (
    C3_CONNECTIONS,
    PAPER_TRAINABLE_PARAMS,
    MAPLoss,
    RBFOutput,
    build_lenet5,
    paper_layers_trainable_params,
    rbf_codes,
    scaled_tanh,
)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return build_lenet5()


def test_parameter_counts_match_the_paper(model):
    # Sec. II-B gives each layer's trainable parameters; they sum to the paper's 60,000.
    per_layer = {layer.name: layer.count_params() for layer in model.layers if layer.count_params()}
    assert per_layer == {"C1": 156, "S2": 12, "C3": 1516, "S4": 32, "C5": 48120, "F6": 10164, "output": 850}
    assert paper_layers_trainable_params(model) == PAPER_TRAINABLE_PARAMS == 60_000


def test_feature_map_shapes(model):
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["C1"] == (28, 28, 6) and shapes["S2"] == (14, 14, 6)
    assert shapes["C3"] == (10, 10, 16) and shapes["S4"] == (5, 5, 16)
    assert shapes["C5"] == (1, 1, 120) and shapes["F6"] == (84,) and shapes["output"] == (10,)


def test_c3_connection_table_is_table_1():
    # Table I: maps 0-5 see 3 contiguous S2 maps, 6-11 see 4 contiguous, 12-14 see 4 non-contiguous, 15 sees all.
    sizes = [len(c) for c in C3_CONNECTIONS]
    assert sizes == [3] * 6 + [4] * 9 + [6]
    assert sum(sizes) == 60
    rows = [
        "X...XXX..XXXX.XX",
        "XX...XXX..XXXX.X",
        "XXX...XXX..X.XXX",
        ".XXX..XXXX..X.XX",
        "..XXX..XXXX.XX.X",
        "...XXX..XXXX.XXX",
    ]
    for s2_map, row in enumerate(rows):
        assert [s2_map in c for c in C3_CONNECTIONS] == [ch == "X" for ch in row]


def test_c3_unconnected_maps_do_not_influence_outputs(model):
    # Changing S2 map 3 must leave C3 map 0 (which sees maps 0, 1, 2 only) unchanged.
    c3 = model.get_layer("C3")
    x = np.random.default_rng(0).normal(size=(1, 14, 14, 6)).astype("float32")
    y = x.copy()
    y[..., 3] += 5.0
    out_x, out_y = np.asarray(c3(x)), np.asarray(c3(y))
    np.testing.assert_array_equal(out_x[..., 0], out_y[..., 0])
    assert not np.allclose(out_x[..., 3], out_y[..., 3])


def test_scaled_tanh_constants():
    # f(a) = 1.7159 tanh(2a/3): f(1) = 1 and f(-1) = -1 (Appendix A).
    values = np.asarray(scaled_tanh(keras.ops.convert_to_tensor([1.0, -1.0, 0.0])))
    np.testing.assert_allclose(values, [1.0, -1.0, 0.0], atol=2e-4)


def test_initialisation_respects_fan_in(model):
    c5 = model.get_layer("C5").kernel
    limit = 2.4 / (16 * 25)
    assert np.abs(np.asarray(c5)).max() <= limit
    assert np.abs(np.asarray(c5)).max() > 0.9 * limit


def test_rbf_output_model_has_exactly_the_papers_trainable_parameters():
    # With the paper's output layer (fixed RBF centres) the whole network trains exactly the 60,000 of Sec. II-B.
    keras.utils.set_random_seed(0)
    rbf = build_lenet5(output="rbf")
    assert rbf.count_params() == sum(int(np.prod(w.shape)) for w in rbf.trainable_weights) == 60_000
    assert rbf.get_layer("output").trainable_weights == []
    assert tuple(rbf.output.shape[1:]) == (10,)
    with pytest.raises(ValueError, match="unknown output layer"):
        build_lenet5(output="svm")


def test_rbf_codes_are_distinct_plus_minus_one_bitmaps():
    codes = rbf_codes()
    assert codes.shape == (10, 84) and set(np.unique(codes)) == {-1.0, 1.0}
    hamming = (codes[:, None, :] != codes[None, :, :]).sum(-1)
    off_diagonal = hamming[~np.eye(10, dtype=bool)]
    assert off_diagonal.min() >= 10  # every pair of digits differs in at least 10 of the 84 pixels
    # Row 0 of every bitmap is blank (all -1), as drawn.
    assert (codes[:, :7] == -1.0).all()


def test_rbf_penalties_are_squared_distances_to_the_bitmaps():
    codes = rbf_codes()
    layer = RBFOutput()
    x = codes[[3, 8]]  # F6 outputs exactly at the bitmaps of 3 and 8
    scores = np.asarray(layer(keras.ops.convert_to_tensor(x)))
    hamming = (codes[[3, 8]][:, None, :] != codes[None, :, :]).sum(-1)
    np.testing.assert_array_equal(scores, -4.0 * hamming)  # each differing pixel contributes (1 - (-1))^2 = 4
    assert scores[0, 3] == 0.0 and scores[1, 8] == 0.0


def test_map_loss_is_equation_9():
    # E = y_D + log(exp(-j) + sum_i exp(-y_i)) with penalties y and correct class D, for two values of j.
    penalties = np.array([[3.0, 0.5, 7.0, 2.0, 9.0, 4.0, 6.0, 1.5, 8.0, 5.0]], dtype="float32")
    for j in (1.0, 10.0):
        expected = penalties[0, 7] + np.log(np.exp(-j) + np.exp(-penalties[0]).sum())
        loss = MAPLoss(j)(np.array([7]), keras.ops.convert_to_tensor(-penalties))
        np.testing.assert_allclose(float(loss), expected, rtol=1e-6)
