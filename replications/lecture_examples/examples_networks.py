"""Perceptrons, the gradient of one neuron with respect to its weights, backpropagation by hand, and the two remarks
that follow it (several outputs, SGD's expectation), all computed with Keras layers and the backend's autodiff.

Source: ../shared/sources/course-notes.md, the part headed "Why use neural networks?": "The basic building block of a
neural network: the perceptron", "If we fix the weights ... f_{1,1,1,3}(1,1,1) = 6", the three "Suppose x_1 = [5, 6, 7]"
slides, "Suppose all b's are zero and W(1) = [10, 1, 1, 1] ...", "Next: what if a neural network has multiple
outputs?" and "pick b data points at random ... this has the right expectation. This method is called SGD."
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import keras
import numpy as np
from keras import layers, ops

from replicate_suite.autodiff import gradients


@dataclass(frozen=True)
class PerceptronConfig:
    relu_weights: list[float]
    """The ReLU perceptron y = max(x1 - x2 - 1, 0): weights [1, -1] ..."""
    relu_bias: float
    """... and bias -1."""
    grid: list[float]
    """Plane grid for the two regions and the threshold unit: [low, high, points per axis]."""
    weights: list[list[float]]
    """[w1, w2, w3, b] of the notes' evaluations f_{w1,w2,w3,b}(x) with a ReLU."""
    inputs: list[list[float]]
    """The inputs they are evaluated at, in the same order."""
    sigmoid_gains: list[float]
    """k in sigmoid(k z), the continuous stand-in for the threshold unit."""
    sigmoid_margin: float
    """|z| >= margin is where sigmoid(k z) is compared with the threshold."""


@dataclass(frozen=True)
class NeuronConfig:
    x: list[float]
    """The fixed input (notes: [5, 6, 7])."""
    identity_points: list[list[float]]
    """Weights [w1, w2, w3, b] at which the identity neuron's gradient is taken ("evaluated at any point")."""
    half_square_point: list[float]
    """Where the (1/2) u^2 neuron's gradient is taken (notes: [0, 0, 0, 2])."""
    relu_live_point: list[float]
    """ReLU neuron in region 1 (notes: [1, 1, 1, 1])."""
    relu_dead_point: list[float]
    """ReLU neuron in region 2 (notes: [-1, -1, -1, -1])."""
    relu_kink_point: list[float]
    """A point on the boundary 5 w1 + 6 w2 + 7 w3 + b = 0, where the notes' two regions meet."""


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
class GradientRemarksConfig:
    widths: list[int]
    """Layer widths of the small ReLU network the two remarks are checked on, input first, outputs last."""
    examples: int
    """m, the size of the data set."""
    batch_size: int
    """b; every one of the C(m, b) minibatches is enumerated."""


def _neuron(activation, weights: list[float]) -> keras.layers.Dense:
    """One perceptron on three inputs with weights [w1, w2, w3] and bias b."""
    neuron = layers.Dense(1, activation=activation, kernel_initializer="zeros")  # weights set below
    neuron.build((None, len(weights) - 1))
    neuron.set_weights([np.array(weights[:-1], "float32")[:, None], np.array(weights[-1:], "float32")])
    return neuron


def _weight_gradient(neuron: keras.layers.Dense, x: np.ndarray) -> np.ndarray:
    """d output / d [w..., b] at the neuron's current weights, the input held fixed (backend autodiff; summed over
    the rows of x)."""

    def output(params):
        return ops.sum(neuron.stateless_call(params, [], x)[0])

    _, (kernel, bias) = gradients(output, [np.asarray(w) for w in neuron.trainable_weights])
    return np.concatenate([kernel[:, 0], bias])


def threshold(z):
    """The notes' threshold activation: 1 if z > 0, else 0 (sign of relu: zero gradient everywhere, like a step)."""
    return ops.sign(ops.relu(z))


def perceptron_examples(cfg: PerceptronConfig) -> dict[str, float]:
    """The ReLU perceptron's two regions, the notes' three evaluations, and why the threshold unit gives way."""
    low, high, points = cfg.grid
    axis = np.linspace(low, high, int(points), dtype="float32")
    plane = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    relu = _neuron("relu", [*cfg.relu_weights, cfg.relu_bias])
    y = np.asarray(relu(plane))[:, 0]
    x1, x2 = plane[:, 0].astype("float64"), plane[:, 1].astype("float64")
    region2 = x1 > x2 + 1
    metrics = {
        "perceptron_relu_region1_max_abs": float(np.max(np.abs(y[~region2]))),
        "perceptron_relu_region2_max_abs_diff": float(np.max(np.abs(y[region2] - (x1 - x2 - 1)[region2]))),
    }
    for weights, inputs in zip(cfg.weights, cfg.inputs, strict=True):
        name = "".join(f"{w:g}" for w in weights)
        pre = _neuron(None, weights)(np.array([inputs], "float32"))
        metrics[f"perceptron_z_{name}"] = float(np.asarray(pre)[0, 0])
        metrics[f"perceptron_f_{name}"] = float(
            np.asarray(_neuron("relu", weights)(np.array([inputs], "float32")))[0, 0]
        )

    # Threshold unit y = threshold(x1 + x2): a jump of 1 at the boundary and a zero gradient everywhere, so
    # gradient descent cannot move its weights; sigmoid(k z) is continuous and tends to it as k grows.
    step = _neuron(threshold, [1.0, 1.0, 0.0])
    metrics["threshold_on_boundary"] = float(np.asarray(step(np.array([[0.5, -0.5]], "float32")))[0, 0])
    h = np.array([[1e-4, 0.0], [-1e-4, 0.0]], "float32")
    jump = np.asarray(step(h))[:, 0]
    metrics["threshold_jump_at_0"] = float(jump[0] - jump[1])
    metrics["threshold_weight_grad_max_abs"] = float(np.max(np.abs(_weight_gradient(step, plane))))
    z = plane.sum(axis=1)
    far = np.abs(z) >= cfg.sigmoid_margin
    target = np.asarray(threshold(z[far]))
    for k in cfg.sigmoid_gains:
        smooth = np.asarray(keras.activations.sigmoid(ops.convert_to_tensor(k * z[far])))
        metrics[f"sigmoid_k{k:g}_vs_threshold_max_abs"] = float(np.max(np.abs(smooth - target)))
    return metrics


def neuron_gradient_examples(cfg: NeuronConfig) -> dict[str, float]:
    """The gradient of one neuron's output with respect to [w1, w2, w3, b] at x = [5, 6, 7], three activations."""
    x = np.array([cfg.x], "float32")
    metrics = {}
    identity = [_weight_gradient(_neuron(None, point), x) for point in cfg.identity_points]
    spread = max(float(np.max(np.abs(g - identity[0]))) for g in identity)
    half_square = _weight_gradient(_neuron(lambda u: 0.5 * ops.square(u), cfg.half_square_point), x)
    live = _weight_gradient(_neuron("relu", cfg.relu_live_point), x)
    for name, grad in (("identity", identity[0]), ("half_square", half_square), ("relu_live", live)):
        for i, value in enumerate(grad, start=1):
            metrics[f"neuron_{name}_grad_{i}"] = float(value)
    metrics["neuron_identity_grad_spread_over_points"] = spread
    metrics["neuron_relu_dead_grad_max_abs"] = float(
        np.max(np.abs(_weight_gradient(_neuron("relu", cfg.relu_dead_point), x)))
    )
    # On the boundary the notes' "region 1: ... => 0" is ambiguous; autodiff takes relu'(0) = 0 (not a target).
    metrics["neuron_relu_kink_grad_max_abs"] = float(
        np.max(np.abs(_weight_gradient(_neuron("relu", cfg.relu_kink_point), x)))
    )
    return metrics


def relu_net(cfg: BackpropConfig) -> keras.Model:
    """The notes' 4-2-2-1 ReLU network, biases present but zero (so dC/db^l is delta^l, the notes' Eq. (4)),
    exposing the pre-activations z^2, z^3, z^4 and the output a^4."""
    inputs = keras.Input((4,))
    z2 = layers.Dense(2, kernel_initializer="zeros", name="W1")(inputs)  # weights set below
    z3 = layers.Dense(2, kernel_initializer="zeros", name="W2")(layers.ReLU()(z2))
    z4 = layers.Dense(1, kernel_initializer="zeros", name="W3")(layers.ReLU()(z3))
    model = keras.Model(inputs, [z2, z3, z4, layers.ReLU()(z4)])
    # Keras kernels are (inputs, units): the transpose of the notes' W.
    weights = []
    for w in (cfg.w1, cfg.w2, cfg.w3):
        weights += [np.array(w, dtype="float32").T, np.zeros(len(w), "float32")]
    model.set_weights(weights)
    return model


def backprop_by_hand(cfg: BackpropConfig) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The notes' delta recursion in NumPy: ([dC/dW^l], [delta^l]) for the three layers.

    delta^L = (a^L - y) relu'(z^L); delta^l = (W^{l+1})^T delta^{l+1} * relu'(z^l); dC/dW^l = delta^l (a^{l-1})^T.
    """
    ws = [np.array(w, dtype=float) for w in (cfg.w1, cfg.w2, cfg.w3)]
    activations, zs = [np.array(cfg.x, dtype=float)], []
    for w in ws:
        zs.append(w @ activations[-1])
        activations.append(np.maximum(zs[-1], 0.0))
    delta = (activations[-1] - cfg.y) * (zs[-1] > 0)
    deltas, grads = [delta], [np.outer(delta, activations[-2])]
    for layer in range(len(ws) - 2, -1, -1):
        delta = (ws[layer + 1].T @ delta) * (zs[layer] > 0)
        deltas.insert(0, delta)
        grads.insert(0, np.outer(delta, activations[layer]))
    return grads, deltas


def backprop_example(cfg: BackpropConfig) -> dict[str, float]:
    """Forward pass, cost, deltas (as bias gradients) and weight gradients of the notes' example, by autodiff."""
    model = relu_net(cfg)
    x = np.array([cfg.x], dtype="float32")
    z2, z3, _, output = (np.asarray(t) for t in model(x))

    def cost(params):
        prediction = model.stateless_call(params, [], x)[0][-1]
        return 0.5 * ops.sum(ops.square(prediction - cfg.y))

    value, grads = gradients(cost, [np.asarray(w) for w in model.trainable_weights])
    kernel_grads = [g.T for g in grads[0::2]]  # back to the notes' (units, inputs) layout
    deltas = grads[1::2]  # dC/db^l = delta^l
    by_hand, by_hand_deltas = backprop_by_hand(cfg)
    return {
        "backprop_z_hidden1": float(z2[0, 0]),
        "backprop_z_hidden2": float(z2[0, 1]),
        "backprop_z3_1": float(z3[0, 0]),
        "backprop_z3_2": float(z3[0, 1]),
        "backprop_output": float(output[0, 0]),
        "backprop_cost": value,
        "backprop_delta4": float(deltas[2][0]),
        "backprop_delta3_1": float(deltas[1][0]),
        "backprop_delta3_2": float(deltas[1][1]),
        "backprop_delta2_1": float(deltas[0][0]),
        "backprop_delta2_2": float(deltas[0][1]),
        # The notes' w^2_{11} and w^2_{21}: first-layer weights from input 1 to hidden units 1 and 2.
        "backprop_dC_dw_11": float(kernel_grads[0][0, 0]),
        "backprop_dC_dw_21": float(kernel_grads[0][1, 0]),
        "backprop_numpy_vs_autodiff_max_abs_diff": max(
            float(np.max(np.abs(a - b)))
            for a, b in zip([*kernel_grads, *deltas], [*by_hand, *by_hand_deltas], strict=True)
        ),
    }


def _small_relu_net(widths: list[int], seed: int) -> keras.Model:
    """ReLU hidden layers, linear outputs, Glorot-uniform weights drawn from a fixed seed (one per layer)."""
    inputs = keras.Input((widths[0],))
    h = inputs
    for i, width in enumerate(widths[1:]):
        last = i == len(widths) - 2
        init = keras.initializers.GlorotUniform(seed=seed + i)
        h = layers.Dense(
            width,
            activation=None if last else "relu",
            kernel_initializer=init,
            bias_initializer=keras.initializers.RandomNormal(stddev=0.1, seed=seed + 100 + i),
        )(h)
    return keras.Model(inputs, h)


def gradient_remarks(cfg: GradientRemarksConfig, rng: np.random.Generator, seed: int) -> dict[str, float]:
    """Several outputs need one backpropagation, not k; the gradient-descent formula; SGD's right expectation."""
    model = _small_relu_net(cfg.widths, seed)
    params = [np.asarray(w) for w in model.trainable_weights]
    x = rng.standard_normal((cfg.examples, cfg.widths[0])).astype("float32")
    y = rng.standard_normal((cfg.examples, cfg.widths[-1])).astype("float32")

    def half_squared_error(rows, output=None):
        def cost(p):
            error = model.stateless_call(p, [], x[rows])[0] - y[rows]
            error = error if output is None else error[:, output]
            return 0.5 * ops.sum(ops.square(error)) / len(rows)

        return gradients(cost, params)[1]

    def flat(grads):
        return np.concatenate([g.ravel() for g in grads])

    everything = list(range(cfg.examples))
    one_pass = flat(half_squared_error(everything[:1]))
    k_passes = sum(flat(half_squared_error(everything[:1], j)) for j in range(cfg.widths[-1]))
    # Gradient descent's formula: (1/m) sum_i (f_w(x_i) - y_i) df_w(x_i)/dw, per-example df/dw from autodiff.
    full = flat(half_squared_error(everything))
    residuals = np.asarray(model(x)) - y
    formula = (
        sum(
            residuals[i, j]
            * flat(gradients(lambda p, i=i, j=j: model.stateless_call(p, [], x[i : i + 1])[0][0, j], params)[1])
            for i in everything
            for j in range(cfg.widths[-1])
        )
        / cfg.examples
    )
    batches = [flat(half_squared_error(list(rows))) for rows in itertools.combinations(everything, cfg.batch_size)]
    return {
        "multi_output_k_backprops_vs_one_max_abs_diff": float(np.max(np.abs(one_pass - k_passes))),
        "gd_gradient_formula_max_abs_diff": float(np.max(np.abs(full - formula))),
        "sgd_minibatch_mean_vs_full_gradient_max_abs_diff": float(np.max(np.abs(np.mean(batches, axis=0) - full))),
        "sgd_minibatches_enumerated": len(batches),
        "sgd_minibatch_gradient_spread": float(np.max(np.std(batches, axis=0))),
    }
