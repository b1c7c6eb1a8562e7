"""The course notes' worked examples, computed through Keras layers and the backend's autodiff.

Each example returns flat metrics that claim.yaml checks against the notes' numbers. The independent NumPy
computations here (delta recursion, sliding window, Adam's equations) are second derivations to compare with, not
the source of the checked values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import keras
import numpy as np
from keras import layers, ops

from shared.autodiff import gradients
from shared.config import POSITIVE
from shared.runner import RunContext


@dataclass(frozen=True)
class BackpropConfig:
    w1: list[list[float]]
    """First weight matrix, one row per hidden unit (notes: [[10,1,1,1],[1,1,1,1]])."""
    w2: list[list[float]]
    """Second weight matrix (notes: [[1,1],[1,1]])."""
    w3: list[list[float]]
    """Output weights (notes: [[1,1]])."""
    x: list[float]
    """The input (notes: [-1,1,1,1]); all biases are zero and every unit is a ReLU."""
    y: float
    """The target; the cost is (1/2)(output - y)^2."""


@dataclass(frozen=True)
class SoftmaxConfig:
    classes: int
    """Number of logits per example."""
    examples: int
    """Random logit vectors (standard normal times `scale`) to check p_j - 1{j=k} on."""
    scale: float


@dataclass(frozen=True)
class ImageConfig:
    conv_input: list[list[float]]
    """The notes' 6x6 input."""
    conv_filter: list[list[float]]
    """The notes' 3x3 vertical-edge filter."""
    pool_input: list[list[float]]
    """The notes' 4x4 pooling input."""


@dataclass(frozen=True)
class InitConfig:
    width: int
    """Units per layer of the wide square layers."""
    samples: int
    """Inputs drawn from N(0, 1) to estimate E||y||^2."""
    depth: int
    """Layers of the deep ReLU stack whose end-to-end gain is measured."""


@dataclass(frozen=True)
class AdamConfig:
    learning_rate: Annotated[float, POSITIVE]
    beta_1: float
    beta_2: float
    epsilon: float
    steps: int
    """Steps compared between Keras's Adam and the update equations."""
    start: float
    """w_0 on f(w) = (a/2) w^2."""
    curvatures: list[float]
    """Values of a; the bias-corrected first step has size learning_rate whatever a is."""


@dataclass(frozen=True)
class Config:
    backprop: BackpropConfig
    softmax: SoftmaxConfig
    images: ImageConfig
    init: InitConfig
    adam: AdamConfig


def relu_net(cfg: BackpropConfig) -> keras.Model:
    """The notes' 4-2-2-1 ReLU network without biases, exposing every pre-activation z and the output."""
    inputs = keras.Input((4,))
    z2 = layers.Dense(2, use_bias=False, name="W1")(inputs)
    z3 = layers.Dense(2, use_bias=False, name="W2")(layers.ReLU()(z2))
    z4 = layers.Dense(1, use_bias=False, name="W3")(layers.ReLU()(z3))
    model = keras.Model(inputs, [z2, z3, z4, layers.ReLU()(z4)])
    # Keras kernels are (inputs, units): the transpose of the notes' W.
    model.set_weights([np.array(w, dtype="float32").T for w in (cfg.w1, cfg.w2, cfg.w3)])
    return model


def backprop_by_hand(cfg: BackpropConfig) -> list[np.ndarray]:
    """The notes' delta recursion in NumPy.

    delta^L = (a^L - y) relu'(z^L); delta^l = (W^{l+1})^T delta^{l+1} * relu'(z^l); dC/dW^l = delta^l (a^{l-1})^T.
    """
    ws = [np.array(w, dtype=float) for w in (cfg.w1, cfg.w2, cfg.w3)]
    activations, zs = [np.array(cfg.x, dtype=float)], []
    for w in ws:
        zs.append(w @ activations[-1])
        activations.append(np.maximum(zs[-1], 0.0))
    delta = (activations[-1] - cfg.y) * (zs[-1] > 0)
    grads = [np.outer(delta, activations[-2])]
    for layer in range(len(ws) - 2, -1, -1):
        delta = (ws[layer + 1].T @ delta) * (zs[layer] > 0)
        grads.insert(0, np.outer(delta, activations[layer]))
    return grads


def backprop_example(cfg: BackpropConfig) -> dict[str, float]:
    model = relu_net(cfg)
    x = np.array([cfg.x], dtype="float32")
    z2, _, _, output = (np.asarray(t) for t in model(x))

    def cost(kernels):
        prediction = model.stateless_call(kernels, [], x)[0][-1]
        return 0.5 * ops.sum(ops.square(prediction - cfg.y))

    value, kernel_grads = gradients(cost, [np.asarray(w) for w in model.trainable_weights])
    autodiff = [g.T for g in kernel_grads]  # back to the notes' (units, inputs) layout
    by_hand = backprop_by_hand(cfg)
    return {
        "backprop_z_hidden1": float(z2[0, 0]),
        "backprop_z_hidden2": float(z2[0, 1]),
        "backprop_output": float(output[0, 0]),
        "backprop_cost": value,
        # The notes' w^2_{11} and w^2_{21}: first-layer weights from input 1 to hidden units 1 and 2.
        "backprop_dC_dw_11": float(autodiff[0][0, 0]),
        "backprop_dC_dw_21": float(autodiff[0][1, 0]),
        "backprop_numpy_vs_autodiff_max_abs_diff": max(
            float(np.max(np.abs(a - b))) for a, b in zip(autodiff, by_hand, strict=True)
        ),
    }


def softmax_example(cfg: SoftmaxConfig, rng: np.random.Generator) -> dict[str, float]:
    logits = (rng.standard_normal((cfg.examples, cfg.classes)) * cfg.scale).astype("float32")
    labels = rng.integers(0, cfg.classes, cfg.examples)

    def total_cost(tensors):
        return ops.sum(keras.losses.sparse_categorical_crossentropy(labels, tensors[0], from_logits=True))

    _, (autodiff,) = gradients(total_cost, [logits])
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = shifted / shifted.sum(axis=1, keepdims=True)
    analytic = p - np.eye(cfg.classes)[labels]
    return {"softmax_ce_grad_max_abs_diff": float(np.max(np.abs(autodiff - analytic)))}


def sliding_window(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Stride-1, unpadded cross-correlation by explicit windows (the notes' 'inner product' picture)."""
    k = kernel.shape[0]
    size = image.shape[0] - k + 1
    return np.array([[np.sum(image[r : r + k, c : c + k] * kernel) for c in range(size)] for r in range(size)])


def image_examples(cfg: ImageConfig) -> dict[str, float]:
    image = np.array(cfg.conv_input, dtype="float32")
    kernel = np.array(cfg.conv_filter, dtype="float32")
    conv = layers.Conv2D(1, kernel.shape[0], strides=1, padding="valid", use_bias=False)
    conv.build((1, *image.shape, 1))
    conv.set_weights([kernel[:, :, None, None]])
    out = np.asarray(conv(image[None, :, :, None]))[0, :, :, 0]
    # A textbook convolution flips the kernel; Keras (like the notes) computes the unflipped cross-correlation.
    conv.set_weights([kernel[::-1, ::-1, None, None]])
    flipped = np.asarray(conv(image[None, :, :, None]))[0, :, :, 0]
    metrics = {
        "conv_output_rows": float(out.shape[0]),
        "conv_output_cols": float(out.shape[1]),
        "conv_out_11": float(out[0, 0]),
        "conv_flipped_kernel_out_11": float(flipped[0, 0]),
        "conv_vs_sliding_window_max_abs_diff": float(np.max(np.abs(out - sliding_window(image, kernel)))),
    }
    pool_input = np.array(cfg.pool_input, dtype="float32")[None, :, :, None]
    for name, layer in (("max_pool", layers.MaxPooling2D(2)), ("avg_pool", layers.AveragePooling2D(2))):
        pooled = np.asarray(layer(pool_input))[0, :, :, 0]
        for (r, c), value in np.ndenumerate(pooled):
            metrics[f"{name}_{r + 1}{c + 1}"] = float(value)
    return metrics


def _gain(model: keras.Model, x: np.ndarray) -> float:
    """E||y||^2 / E||x||^2 over the samples."""
    y = np.asarray(model(x))
    return float(np.mean(np.sum(y.astype("float64") ** 2, axis=1)) / np.mean(np.sum(x.astype("float64") ** 2, axis=1)))


def _stack(width: int, depth: int, scale: float, relu_first: bool) -> keras.Model:
    """depth square layers y^{l+1} = W^{l+1} relu(y^l) (or W x with no ReLU), variance scale/width uniform init."""
    inputs = keras.Input((width,))
    h = inputs
    for _ in range(depth):
        if relu_first:
            h = layers.ReLU()(h)
        init = keras.initializers.VarianceScaling(scale, mode="fan_in", distribution="uniform")
        h = layers.Dense(width, use_bias=False, kernel_initializer=init)(h)
    return keras.Model(inputs, h)


def init_example(cfg: InitConfig, rng: np.random.Generator) -> dict[str, float]:
    # The notes' Xavier: sqrt(3) U[-1/sqrt(W), 1/sqrt(W)], variance 1/W; He doubles it for ReLU.
    x = rng.standard_normal((cfg.samples, cfg.width)).astype("float32")
    xavier, he = 1.0, 2.0
    return {
        "init_linear_xavier_gain": _gain(_stack(cfg.width, 1, xavier, relu_first=False), x),
        "init_relu_xavier_gain": _gain(_stack(cfg.width, 1, xavier, relu_first=True), x),
        "init_relu_he_gain": _gain(_stack(cfg.width, 1, he, relu_first=True), x),
        "init_relu_xavier_log2_gain_deep": float(np.log2(_gain(_stack(cfg.width, cfg.depth, xavier, True), x))),
        "init_relu_he_log2_gain_deep": float(np.log2(_gain(_stack(cfg.width, cfg.depth, he, True), x))),
    }


def adam_equations(cfg: AdamConfig, curvature: float, efficient: bool) -> list[float]:
    """Kingma & Ba's Adam written out for f(w) = (a/2) w^2: the trajectory w_0..w_steps.

    efficient=False is Algorithm 1 (epsilon added to sqrt(v_hat)); efficient=True is the reordering given after it
    in Sec. 2 (alpha_t = alpha sqrt(1 - beta_2^t) / (1 - beta_1^t), epsilon added to sqrt(v)), which Keras uses.
    """
    w, m, v, path = cfg.start, 0.0, 0.0, [cfg.start]
    for t in range(1, cfg.steps + 1):
        g = curvature * w
        m = cfg.beta_1 * m + (1 - cfg.beta_1) * g
        v = cfg.beta_2 * v + (1 - cfg.beta_2) * g * g
        if efficient:
            alpha_t = cfg.learning_rate * np.sqrt(1 - cfg.beta_2**t) / (1 - cfg.beta_1**t)
            w = w - alpha_t * m / (np.sqrt(v) + cfg.epsilon)
        else:
            m_hat, v_hat = m / (1 - cfg.beta_1**t), v / (1 - cfg.beta_2**t)
            w = w - cfg.learning_rate * m_hat / (np.sqrt(v_hat) + cfg.epsilon)
        path.append(w)
    return path


def adam_keras(cfg: AdamConfig, curvature: float) -> list[float]:
    """The same steps taken by keras.optimizers.Adam, gradients from the backend's autodiff."""
    w = keras.Variable(np.array([cfg.start], dtype="float32"))
    optimizer = keras.optimizers.Adam(cfg.learning_rate, cfg.beta_1, cfg.beta_2, cfg.epsilon)
    path = [cfg.start]
    for _ in range(cfg.steps):
        _, (grad,) = gradients(lambda ts: 0.5 * curvature * ops.sum(ts[0] ** 2), [np.asarray(w)])
        optimizer.apply([ops.convert_to_tensor(grad)], [w])
        path.append(float(np.asarray(w)[0]))
    return path


def adam_example(cfg: AdamConfig) -> dict[str, float]:
    def max_diff(a: list[float], b: list[float]) -> float:
        return max(abs(x - y) for x, y in zip(a, b, strict=True))

    efficient_diffs, algorithm1_diffs, first_steps = [], [], []
    for a in cfg.curvatures:
        keras_path = adam_keras(cfg, a)
        efficient_diffs.append(max_diff(keras_path, adam_equations(cfg, a, efficient=True)))
        algorithm1_diffs.append(max_diff(keras_path, adam_equations(cfg, a, efficient=False)))
        first_steps.append(abs(keras_path[1] - keras_path[0]) / cfg.learning_rate)
    return {
        "adam_keras_vs_equations_max_abs_diff": max(efficient_diffs),
        "adam_keras_vs_algorithm1_max_abs_diff": max(algorithm1_diffs),
        "adam_first_step_over_lr_min": min(first_steps),
        "adam_first_step_over_lr_max": max(first_steps),
    }


def run(cfg: Config, seed: int, ctx: RunContext) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {
        **backprop_example(cfg.backprop),
        **softmax_example(cfg.softmax, rng),
        **image_examples(cfg.images),
        **init_example(cfg.init, rng),
        **adam_example(cfg.adam),
    }
