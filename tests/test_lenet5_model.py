"""LeNet-5 builder against the paper's layer description (LeCun et al. 1998, Sec. II-B and Table I)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from shared.models.lenet5 import (
    C3_CONNECTIONS,
    PAPER_TRAINABLE_PARAMS,
    build_lenet5,
    paper_layers_trainable_params,
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
