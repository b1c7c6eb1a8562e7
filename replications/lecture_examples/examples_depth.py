"""Products that explode or vanish, and the initialisations that keep backpropagation's product of matrices near
norm 1: the bridge the notes build from 1.5^100 to Xavier and He.

Source: ../shared/sources/course-notes.md, the slides after the universal-approximation proof: "1.5^100 ~ 4 10^17 ...
(2/3)^100 ~ 2 10^-18", "if you generate numbers randomly with a mean above one, their product will blow up",
"What if you multiply matrices instead of numbers?", "delta^l = sigma'(z^l) . (w^{l+1})^T delta^{l+1}", "initialize
w = sqrt(3) U[-1/sqrt(W), +1/sqrt(W)] ... W var(w) = 1" (Xavier), "What is the derivative of a sigmoid as you go to
infinity or -infinity?", and "the variance should be doubled" (He).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers, ops

from replicate_suite.autodiff import gradients


@dataclass(frozen=True)
class ProductsConfig:
    factors: list[float]
    """The notes' 3/2 and 2/3 ..."""
    count: int
    """... multiplied this many times (notes: 100)."""
    uniform_high: float
    """Factors drawn from U[0, high]: mean high/2 > 1, yet E[log] = log(high) - 1 < 0 for high < e."""
    products: int
    """Random products drawn."""


@dataclass(frozen=True)
class DepthConfig:
    width: int
    """Units per layer of the square layers whose product backpropagation multiplies."""
    depth: int
    """Layers; delta is measured after every one of them."""
    probes: int
    """Output directions u (delta^L = u) averaged over."""
    scales: list[float]
    """Linear layers with entries of variance scale^2 / width: scale 1 is Xavier's W var(w) = 1."""


@dataclass(frozen=True)
class InitConfig:
    width: int
    """Units per layer of the wide square layers."""
    samples: int
    """Inputs drawn from N(0, 1) to estimate E||y||^2."""
    depth: int
    """Layers of the deep ReLU stack whose end-to-end gain is measured."""


def product_examples(cfg: ProductsConfig, seed: int) -> dict[str, float]:
    """1.5^100 and (2/3)^100 with keras.ops.prod; products of random factors whose mean is above 1."""
    metrics = {}
    for factor in cfg.factors:
        metrics[f"product_{factor:.4g}_pow_{cfg.count}"] = float(np.asarray(ops.prod(ops.full((cfg.count,), factor))))
    draws = keras.random.uniform((cfg.products, cfg.count), 0.0, cfg.uniform_high, seed=seed)
    logs = ops.sum(ops.log(draws), axis=1)
    metrics["random_product_factor_mean"] = float(np.asarray(ops.mean(draws)))
    metrics["random_product_log_growth_per_factor"] = float(np.asarray(ops.mean(logs))) / cfg.count
    metrics["random_product_fraction_below_1"] = float(np.asarray(ops.mean(ops.cast(logs < 0, "float32"))))
    return metrics


def _kernels(width: int, depth: int, initializer, seed: int) -> list[np.ndarray]:
    """depth square kernels from a Keras initializer, each with its own seed (one seed would repeat one matrix)."""
    return [np.asarray(initializer(seed + i)((width, width))) for i in range(depth)]


def delta_norms(kernels: list[np.ndarray], activation, probes: np.ndarray, x: np.ndarray) -> np.ndarray:
    """||delta^l|| for l = L, L-1, ..., 0 (mean over probes), by one backend autodiff call.

    z^{l+1} = W^{l+1} sigma(z^l) with z^0 = x; the cost is <u, z^L>, so delta^L = u, and delta^l = dC/dz^l is read
    as the gradient with respect to a zero tensor added to z^l.
    """

    def cost(zeros):
        z = x + zeros[0]
        for i, kernel in enumerate(kernels):
            z = ops.matmul(activation(z), kernel) + zeros[i + 1]
        return ops.sum(z * probes)

    _, deltas = gradients(cost, [np.zeros_like(x) for _ in range(len(kernels) + 1)])
    return np.array([np.mean(np.linalg.norm(d.astype("float64"), axis=1)) for d in reversed(deltas)])


def depth_examples(cfg: DepthConfig, rng: np.random.Generator, seed: int, ctx) -> dict[str, float]:
    """log10 ||delta|| against the number of layers backpropagated through, for products of random matrices."""
    probes = rng.standard_normal((cfg.probes, cfg.width)).astype("float32")
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    x = rng.standard_normal((cfg.probes, cfg.width)).astype("float32")

    def normal(scale):
        return lambda s: keras.initializers.RandomNormal(stddev=scale / np.sqrt(cfg.width), seed=s)

    def variance_scaling(scale):  # the notes' Xavier (scale 1) and He (scale 2): uniform, variance scale / fan-in
        return lambda s: keras.initializers.VarianceScaling(scale, mode="fan_in", distribution="uniform", seed=s)

    identity = lambda z: z  # noqa: E731 - the notes' "Suppose we have no activation functions"
    series = {f"linear_scale{scale:.4g}": (identity, normal(scale)) for scale in cfg.scales}
    series["relu_xavier"] = (ops.relu, variance_scaling(1.0))
    series["relu_he"] = (ops.relu, variance_scaling(2.0))
    series["sigmoid_xavier"] = (ops.sigmoid, variance_scaling(1.0))
    metrics = {}
    for i, (name, (activation, initializer)) in enumerate(series.items()):
        # The activation's derivative enters delta^l at the z^l it is applied to; for the linear stacks it is 1.
        kernels = _kernels(cfg.width, cfg.depth, initializer, seed + 1000 * i)
        norms = delta_norms(kernels, activation, probes, x)
        logs = np.log10(norms)
        for layers_back, value in enumerate(logs):
            ctx.curves.add(layers_back, **{f"depth_log10_delta_norm/{name}": float(value)})
        metrics[f"depth_{name}_log10_norm_per_layer"] = float(np.polyfit(np.arange(len(logs)), logs, 1)[0])
    return metrics


def sigmoid_derivative_example(grid: list[float]) -> dict[str, float]:
    """sigma'(z) by autodiff on a grid: at most 1/4, at z = 0, and near zero far out."""
    low, high, points = grid
    z = np.linspace(low, high, int(points), dtype="float32")
    _, (slope,) = gradients(lambda t: ops.sum(ops.sigmoid(t[0])), [z])
    return {
        "sigmoid_grad_max": float(np.max(slope)),
        "sigmoid_grad_argmax": float(z[np.argmax(slope)]),
        "sigmoid_grad_at_ends_max": float(max(slope[0], slope[-1])),
    }


def _gain(model: keras.Model, x: np.ndarray) -> float:
    """E||y||^2 / E||x||^2 over the samples."""
    y = np.asarray(model(x))
    return float(np.mean(np.sum(y.astype("float64") ** 2, axis=1)) / np.mean(np.sum(x.astype("float64") ** 2, axis=1)))


def _model(width: int, depth: int, scale: float, relu_first: bool, seed: int) -> keras.Model:
    """depth square layers y^{l+1} = W^{l+1} relu(y^l) (or W x with no ReLU), variance scale/width uniform init."""
    inputs = keras.Input((width,))
    h = inputs
    for i in range(depth):
        if relu_first:
            h = layers.ReLU()(h)
        init = keras.initializers.VarianceScaling(scale, mode="fan_in", distribution="uniform", seed=seed + i)
        h = layers.Dense(width, use_bias=False, kernel_initializer=init)(h)
    return keras.Model(inputs, h)


def init_example(cfg: InitConfig, rng: np.random.Generator, seed: int) -> dict[str, float]:
    """The notes' Xavier init, E||y||^2 = E||x||^2 for a linear layer, halved per layer by a ReLU, kept by He's."""
    x = rng.standard_normal((cfg.samples, cfg.width)).astype("float32")
    xavier, he = 1.0, 2.0
    kernel = np.asarray(_model(cfg.width, 1, xavier, False, seed).layers[-1].kernel).astype("float64")
    return {
        "init_xavier_fan_in_times_variance": float(cfg.width * np.var(kernel)),
        "init_xavier_max_abs_times_sqrt_fan_in": float(np.max(np.abs(kernel)) * np.sqrt(cfg.width)),
        "init_linear_xavier_gain": _gain(_model(cfg.width, 1, xavier, False, seed + 100), x),
        "init_relu_xavier_gain": _gain(_model(cfg.width, 1, xavier, True, seed + 200), x),
        "init_relu_he_gain": _gain(_model(cfg.width, 1, he, True, seed + 300), x),
        "init_relu_xavier_log2_gain_deep": float(
            np.log2(_gain(_model(cfg.width, cfg.depth, xavier, True, seed + 400), x))
        ),
        "init_relu_he_log2_gain_deep": float(np.log2(_gain(_model(cfg.width, cfg.depth, he, True, seed + 500), x))),
    }
