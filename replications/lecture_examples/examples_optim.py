"""Momentum as a convex combination of past gradients, and ADAM (bias correction, normalisation by the gradient's
size), with Keras's optimizers and the backend's autodiff.

Source: ../shared/sources/course-notes.md, the ADAM slides: "v_t = beta v_{t-1} + (1 - beta) g_t ... this is a convex
combination! ... The coefficients on everything except v_0 add up to 1 - beta^t", "v_hat_t = v_t / (1 - beta^t)",
"So a gradient of 10^-6 will get normalized into a direction to follow. But a gradient of 10^-10 will get ignored",
and "This finally brings us to ADAM" (beta_1 = 0.9, beta_2 = 0.999).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from replicate_suite.autodiff import gradients


@dataclass(frozen=True)
class MomentumConfig:
    beta: float
    """beta in v_t = beta v_{t-1} + (1 - beta) g_t."""
    steps: int
    """t: the number of gradients combined."""


@dataclass(frozen=True)
class AdamConfig:
    learning_rate: float
    beta_1: float
    beta_2: float
    epsilon: float
    steps: int
    """Steps compared between Keras's Adam and the update equations."""
    start: float
    """w_0 on f(w) = (a/2) w^2."""
    curvatures: list[float]
    """Values of a; the bias-corrected first step has size learning_rate whatever a is."""
    tiny_gradients: list[float]
    """Gradient sizes near epsilon: the notes' 1e-6 (followed) and 1e-10 (ignored)."""


def momentum_example(cfg: MomentumConfig) -> dict[str, float]:
    """The weights v_t puts on g_1..g_t, read off Keras's SGD with momentum.

    Keras's SGD keeps m_t = momentum m_{t-1} - lr g_t and steps w += m_t; with momentum = beta and lr = 1 - beta,
    m_t = -v_t exactly. Feeding the one-hot gradient g_i = e_i at step i (the autodiff gradient of <w, e_i>) makes
    coordinate i of v_t the weight on g_i.
    """
    w = keras.Variable(np.zeros(cfg.steps, "float32"))
    optimizer = keras.optimizers.SGD(learning_rate=1.0 - cfg.beta, momentum=cfg.beta)
    sums, v = [], np.zeros(cfg.steps)
    for t in range(cfg.steps):
        direction = np.eye(cfg.steps, dtype="float32")[t]
        _, (grad,) = gradients(lambda ts, d=direction: ops.sum(ts[0] * d), [np.asarray(w)])
        before = np.asarray(w).astype("float64")
        optimizer.apply([ops.convert_to_tensor(grad)], [w])
        v = before - np.asarray(w).astype("float64")
        sums.append(float(np.sum(v)))
    exponents = np.arange(cfg.steps - 1, -1, -1)
    geometric = cfg.beta**exponents * (1 - cfg.beta)
    t = np.arange(1, cfg.steps + 1)
    return {
        "momentum_weight_sum": sums[-1],
        "momentum_bias_corrected_weight_sum": sums[-1] / (1 - cfg.beta**cfg.steps),
        "momentum_weight_sums_vs_1_minus_beta_t_max_abs_diff": float(
            np.max(np.abs(np.array(sums) - (1 - cfg.beta**t)))
        ),
        "momentum_weights_vs_geometric_max_abs_diff": float(np.max(np.abs(v - geometric))),
        "momentum_weights_min": float(np.min(v)),
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


def adam_keras(cfg: AdamConfig, loss, steps: int) -> list[float]:
    """w_0..w_steps under keras.optimizers.Adam on a scalar loss(w), gradients from the backend's autodiff."""
    w = keras.Variable(np.array([cfg.start], dtype="float32"))
    optimizer = keras.optimizers.Adam(cfg.learning_rate, cfg.beta_1, cfg.beta_2, cfg.epsilon)
    path = [cfg.start]
    for _ in range(steps):
        _, (grad,) = gradients(lambda ts: ops.sum(loss(ts[0])), [np.asarray(w)])
        optimizer.apply([ops.convert_to_tensor(grad)], [w])
        path.append(float(np.asarray(w)[0]))
    return path


def adam_example(cfg: AdamConfig) -> dict[str, float]:
    """Keras's Adam against the update equations; the bias-corrected first step; gradients near epsilon."""

    def max_diff(a: list[float], b: list[float]) -> float:
        return max(abs(x - y) for x, y in zip(a, b, strict=True))

    efficient_diffs, algorithm1_diffs, first_steps = [], [], []
    for a in cfg.curvatures:
        keras_path = adam_keras(cfg, lambda w, a=a: 0.5 * a * w**2, cfg.steps)
        efficient_diffs.append(max_diff(keras_path, adam_equations(cfg, a, efficient=True)))
        algorithm1_diffs.append(max_diff(keras_path, adam_equations(cfg, a, efficient=False)))
        first_steps.append(abs(keras_path[1] - keras_path[0]) / cfg.learning_rate)
    metrics = {
        "adam_keras_vs_equations_max_abs_diff": max(efficient_diffs),
        "adam_keras_vs_algorithm1_max_abs_diff": max(algorithm1_diffs),
        "adam_first_step_over_lr_min": min(first_steps),
        "adam_first_step_over_lr_max": max(first_steps),
    }
    for g in cfg.tiny_gradients:
        # A linear loss g w has gradient g. Keras adds epsilon to sqrt(v_t), i.e. epsilon / sqrt(1 - beta_2) to
        # |g| at step 1; the notes' normalisation g / (sqrt(||g||^2) + epsilon) adds epsilon itself.
        path = adam_keras(cfg, lambda w, g=g: g * w, 1)
        metrics[f"adam_first_step_over_lr_at_grad_{g:.0e}"] = abs(path[1] - path[0]) / cfg.learning_rate
        grad = ops.convert_to_tensor(np.float32([g]))
        normalised = grad / (ops.sqrt(ops.sum(ops.square(grad))) + cfg.epsilon)
        metrics[f"notes_normalised_step_at_grad_{g:.0e}"] = float(np.asarray(normalised)[0])
    return metrics
