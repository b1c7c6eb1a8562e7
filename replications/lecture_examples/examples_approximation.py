"""The notes' universal-approximation construction built as Keras ReLU networks with the weights the proof names:
ramps max(x - a, 0) - max(x - a - Delta, 0), bumps that approximate 1_[a, b], sums of bumps, and the n-dimensional
box indicator max(sum_i 1_[a_i, b_i](x_i) - (n - 1), 0).

Source: ../shared/sources/course-notes.md, "## Approximating the x^2 function with step functions" and the slides
around it: "max(x - 1, 0) - max(x - 1.2, 0) ... Delta = 0.2 / 0.1 / 0.05", "How many layers are there ... The answer
is 3", "But a ReLU network cannot multiply ... 1_A(x) = max((sum_i 1_[a_i, b_i](x_i)) - (n - 1), 0)", "Can do with
four layers", and the example f(x_1, ..., x_n) = x_1 x_2^2 ... x_n^n. Errors are measured as the notes define
accuracy: the integral of |f - g| over the domain (midpoint rule on a grid whose cell edges contain every kink).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers


@dataclass(frozen=True)
class ApproximationConfig:
    interval: list[float]
    """[a, b] of the indicator 1_[a, b] (notes: [1, 2])."""
    deltas: list[float]
    """The notes' ramp widths (0.2, 0.1, 0.05)."""
    domain: list[float]
    """[low, high] of the 1-D domain D the error is integrated over."""
    cells: int
    """Midpoint-rule cells per unit length (a multiple of 1/Delta so that every kink is a cell edge)."""
    pieces: list[int]
    """k: the number of simple functions approximating x^2 on [0, 1] (and per axis for x1 x2^2 on [0, 1]^2)."""
    delta_fraction: float
    """Delta of those approximations as a fraction of the piece width 1/k."""
    box: list[list[float]]
    """[[a_1, b_1], [a_2, b_2]]: the 2-D box whose indicator is built by the four-layer network."""
    box_domain: list[float]
    """[low, high] of the square domain for the box's error."""
    box_cells: int
    """Midpoint-rule cells per unit length per axis in 2-D."""
    max_and_inputs: int
    """n up to which max(sum of n indicators - (n - 1), 0) is checked against their product on all 0/1 inputs."""
    figure_points: int
    """Points per curve written to curves.csv for the report's figures."""


def approximation_network(edges: list[np.ndarray], values: np.ndarray, delta: float) -> keras.Model:
    """The notes' construction: sum_j c_j 1_{A_j}(x) over the boxes A_j of a grid, as a ReLU network.

    Layer 1 holds max(x_d - a, 0), max(x_d - a - Delta, 0), max(x_d - b, 0), max(x_d - b - Delta, 0) for every
    interval [a, b] of every axis d; layer 2 turns each four into a bump approximating 1_[a, b](x_d); in n > 1
    dimensions layer 3 is max(sum_d bump_d - (n - 1), 0) for every box; the last layer weighs by c_j (values,
    one axis per input dimension). Three layers in 1-D, four in n-D.
    """
    n = len(edges)
    counts = [len(e) - 1 for e in edges]
    offsets = [0, *(int(c) for c in np.cumsum(counts))]
    kernel1 = np.zeros((n, 4 * offsets[-1]), "float32")
    bias1 = np.zeros(4 * offsets[-1], "float32")
    kernel2 = np.zeros((4 * offsets[-1], offsets[-1]), "float32")
    for d, e in enumerate(edges):
        for i, (a, b) in enumerate(zip(e[:-1], e[1:], strict=True)):
            unit = offsets[d] + i
            kernel1[d, 4 * unit : 4 * unit + 4] = 1.0
            bias1[4 * unit : 4 * unit + 4] = [-a, -a - delta, -b, -b - delta]
            kernel2[4 * unit : 4 * unit + 4, unit] = np.array([1.0, -1.0, -1.0, 1.0]) / delta
    inputs = keras.Input((n,))
    # Weights are set below; "zeros" only avoids drawing random ones first.
    hidden = [
        layers.Dense(4 * offsets[-1], activation="relu", kernel_initializer="zeros"),
        layers.Dense(offsets[-1], activation="relu", kernel_initializer="zeros"),
    ]
    weights = [[kernel1, bias1], [kernel2, np.zeros(offsets[-1], "float32")]]
    if n > 1:
        boxes = list(itertools.product(*[range(c) for c in counts]))
        kernel3 = np.zeros((offsets[-1], len(boxes)), "float32")
        for j, box in enumerate(boxes):
            kernel3[[offsets[d] + i for d, i in enumerate(box)], j] = 1.0
        hidden.append(layers.Dense(len(boxes), activation="relu", kernel_initializer="zeros"))
        weights.append([kernel3, np.full(len(boxes), -(n - 1), "float32")])
    output = layers.Dense(1, kernel_initializer="zeros")
    weights.append([np.asarray(values, "float32").reshape(-1, 1), np.zeros(1, "float32")])
    h = inputs
    for layer in [*hidden, output]:
        h = layer(h)
    model = keras.Model(inputs, h)
    for layer, w in zip([*hidden, output], weights, strict=True):
        layer.set_weights(w)
    return model


def dense_layers(model: keras.Model) -> int:
    """The number of Dense layers: the depth the notes count."""
    return sum(isinstance(layer, layers.Dense) for layer in model.layers)


def _midpoints(low: float, high: float, per_unit: int) -> tuple[np.ndarray, float]:
    cells = int(round((high - low) * per_unit))
    h = (high - low) / cells
    return low + (np.arange(cells) + 0.5) * h, h


def _predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model(x.astype("float32"), training=False)).astype("float64")[:, 0]


def _rate(sizes: list[float], errors: list[float]) -> float:
    """Least-squares slope of log(error) against log(size)."""
    return float(np.polyfit(np.log(sizes), np.log(errors), 1)[0])


def _figure_rows(ctx, name: str, x: np.ndarray, y: np.ndarray) -> None:
    for step, (xi, yi) in enumerate(zip(x, y, strict=True)):
        ctx.curves.add(step, **{f"{name}/x": float(xi), f"{name}/y": float(yi)})


def indicator_examples(cfg: ApproximationConfig, ctx) -> dict[str, float]:
    """1_[a, b] approximated with the notes' ramps for each Delta: L1 error, its rate in Delta, sup error."""
    a, b = cfg.interval
    x, h = _midpoints(*cfg.domain, cfg.cells)
    truth = ((x >= a) & (x <= b)).astype("float64")
    shown = np.linspace(*cfg.domain, cfg.figure_points)
    metrics, errors, sups = {}, [], []
    for delta in cfg.deltas:
        model = approximation_network([np.array([a, b])], np.array([1.0]), delta)
        approx = _predict(model, x[:, None])
        errors.append(float(np.sum(np.abs(approx - truth)) * h))
        sups.append(float(np.max(np.abs(approx - truth))))
        metrics[f"uap_indicator_l1_delta{delta:g}"] = errors[-1]
        _figure_rows(ctx, f"uap_bump_delta{delta:g}", shown, _predict(model, shown[:, None]))
    metrics["uap_indicator_l1_rate_in_delta"] = _rate(cfg.deltas, errors)
    metrics["uap_indicator_sup_error_min_over_deltas"] = min(sups)
    metrics["uap_1d_layers"] = dense_layers(model)
    return metrics


def square_examples(cfg: ApproximationConfig, ctx) -> dict[str, float]:
    """x^2 on [0, 1] by k simple functions (values at the midpoints) and by the network built from them."""
    x, h = _midpoints(0.0, 1.0, max(cfg.pieces) * int(round(1 / cfg.delta_fraction)) * 16)
    shown = np.linspace(0.0, 1.0, cfg.figure_points)
    _figure_rows(ctx, "uap_x2_truth", shown, shown**2)
    metrics, errors, ratios = {}, [], []
    for k in cfg.pieces:
        edges = np.linspace(0.0, 1.0, k + 1)
        values = ((edges[:-1] + edges[1:]) / 2) ** 2
        delta = cfg.delta_fraction / k
        model = approximation_network([edges], values, delta)
        approx = _predict(model, x[:, None])
        simple = values[np.minimum((x * k).astype(int), k - 1)]
        errors.append(float(np.sum(np.abs(approx - x**2)) * h))
        metrics[f"uap_x2_l1_k{k}"] = errors[-1]
        metrics[f"uap_x2_step_function_l1_k{k}"] = float(np.sum(np.abs(simple - x**2)) * h)
        # The notes' bound: ||f_hat - s||_1 <= delta sum_i |c_i|, delta = ||bump - 1_[a, b]||_1 = Delta.
        ratios.append(float(np.sum(np.abs(approx - simple)) * h) / (delta * np.sum(np.abs(values))))
        _figure_rows(ctx, f"uap_x2_k{k}", shown, _predict(model, shown[:, None]))
        _figure_rows(ctx, f"uap_x2_step_k{k}", shown, values[np.minimum((shown * k).astype(int), k - 1)])
    metrics["uap_x2_l1_rate_in_k"] = _rate(cfg.pieces, errors)
    metrics["uap_x2_network_vs_simple_over_bound_max"] = max(ratios)
    # In 1-D layer 2's ReLU acts on bumps in [0, 1], so layers 2 and 3 fold into one linear layer: two layers do.
    first, second, third = (layer for layer in model.layers if isinstance(layer, layers.Dense))
    (k2, b2), (k3, b3) = second.get_weights(), third.get_weights()
    inputs = keras.Input((1,))
    folded = keras.Model(
        inputs,
        layers.Dense(1, kernel_initializer="zeros")(
            layers.Dense(k2.shape[0], activation="relu", kernel_initializer="zeros")(inputs)
        ),
    )
    folded.set_weights([*first.get_weights(), k2 @ k3, b2 @ k3 + b3])
    metrics["uap_1d_two_layer_fold_max_abs_diff"] = float(
        np.max(np.abs(_predict(folded, shown[:, None]) - _predict(model, shown[:, None])))
    )
    metrics["uap_1d_two_layer_fold_layers"] = dense_layers(folded)
    return metrics


def box_examples(cfg: ApproximationConfig, ctx) -> dict[str, float]:
    """The n-D indicator via max(sum - (n - 1), 0): the identity on 0/1 inputs, a 2-D box, and x1 x2^2."""
    mismatches = 0
    for n in range(1, cfg.max_and_inputs + 1):
        corners = np.array(list(itertools.product([0.0, 1.0], repeat=n)), "float32")
        summed = layers.ReLU()(np.sum(corners, axis=1, keepdims=True) - (n - 1))
        mismatches += int(np.sum(np.asarray(summed)[:, 0] != np.prod(corners, axis=1)))
    metrics = {"uap_max_sum_identity_mismatches": mismatches}
    axis, h = _midpoints(*cfg.box_domain, cfg.box_cells)
    grid = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    (a1, b1), (a2, b2) = cfg.box
    truth = ((grid[:, 0] >= a1) & (grid[:, 0] <= b1) & (grid[:, 1] >= a2) & (grid[:, 1] <= b2)).astype("float64")
    errors = []
    for delta in cfg.deltas:
        model = approximation_network([np.array(cfg.box[0]), np.array(cfg.box[1])], np.ones((1, 1)), delta)
        errors.append(float(np.sum(np.abs(_predict(model, grid) - truth)) * h * h))
        metrics[f"uap_box_l1_delta{delta:g}"] = errors[-1]
    metrics["uap_box_l1_rate_in_delta"] = _rate(cfg.deltas, errors)
    metrics["uap_nd_layers"] = dense_layers(model)
    unit, h = _midpoints(0.0, 1.0, cfg.box_cells)
    square = np.stack(np.meshgrid(unit, unit, indexing="ij"), axis=-1).reshape(-1, 2)
    target = square[:, 0] * square[:, 1] ** 2
    errors = []
    for k in cfg.pieces:
        edges = np.linspace(0.0, 1.0, k + 1)
        centres = (edges[:-1] + edges[1:]) / 2
        model = approximation_network([edges, edges], np.outer(centres, centres**2), cfg.delta_fraction / k)
        errors.append(float(np.sum(np.abs(_predict(model, square) - target)) * h * h))
        metrics[f"uap_x1x2sq_l1_k{k}"] = errors[-1]
    metrics["uap_x1x2sq_l1_rate_in_k"] = _rate(cfg.pieces, errors)
    return metrics
