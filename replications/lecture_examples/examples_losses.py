"""Softmax and the log loss: why the notes grade by the log of the probability given to the right answer, what the
softmax's name means, and the categorical cross-entropy gradient p_j - 1{j=k}.

Source: ../shared/sources/course-notes.md, part "Why use neural networks?": "This is called the softmax function. Why
does that name make sense?", the multiple-choice grading slides ("Suppose your next exam is multiple choice ...
(3/4)(3/4) + (1/4)(1/4) = 10/16 ... f(p) = log_2(p) + 1"), "This loss is nonnegative and equals zero exactly when you
assign a 1 to the correct answer ... never to give a zero probability", and the cross-entropy backpropagation slides
("dC/dz_j = p_j" for j != k, "p_k - 1").
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from replicate_suite.autodiff import gradients


@dataclass(frozen=True)
class SoftmaxConfig:
    classes: int
    """Number of logits per example."""
    examples: int
    """Random logit vectors (standard normal times `scale`) to check p_j - 1{j=k} on."""
    scale: float
    logits: list[float]
    """One logit vector for the 'soft max' reading: softmax(c z) tends to the one-hot of argmax z as c grows."""
    sharpness: list[float]
    """The values of c."""


@dataclass(frozen=True)
class GradingConfig:
    belief: float
    """p, the probability the student gives answer A (notes: 3/4)."""
    beliefs: list[float]
    """Further values of p at which the log rule's best report is found."""
    grid_step: float
    """Reports q searched on the grid step, 2 step, ..., 1 - step (and 0, 1 for the linear rule)."""


def softmax_examples(cfg: SoftmaxConfig, rng: np.random.Generator) -> dict[str, float]:
    """Autodiff of Keras's cross-entropy against p - onehot(k); softmax(c z) against the one-hot of argmax z."""
    logits = (rng.standard_normal((cfg.examples, cfg.classes)) * cfg.scale).astype("float32")
    labels = rng.integers(0, cfg.classes, cfg.examples)

    def total_cost(tensors):
        return ops.sum(keras.losses.sparse_categorical_crossentropy(labels, tensors[0], from_logits=True))

    _, (autodiff,) = gradients(total_cost, [logits])
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = shifted / shifted.sum(axis=1, keepdims=True)
    analytic = p - np.eye(cfg.classes)[labels]
    metrics = {"softmax_ce_grad_max_abs_diff": float(np.max(np.abs(autodiff - analytic)))}
    z = np.array(cfg.logits, "float32")
    hard = np.eye(len(z))[np.argmax(z)]
    for c in cfg.sharpness:
        soft = np.asarray(keras.activations.softmax(ops.convert_to_tensor(c * z[None, :])))[0]
        metrics[f"softmax_c{c:g}_vs_onehot_argmax_max_abs"] = float(np.max(np.abs(soft - hard)))
    return metrics


def log_score(q):
    """The notes' grading rule f(q) = 1 + log2 q, written as 1 - (Keras categorical cross-entropy) / ln 2."""
    q = ops.convert_to_tensor(q)
    report = ops.stack([q, 1.0 - q], axis=-1)
    answer_a = ops.concatenate([ops.ones_like(q)[..., None], ops.zeros_like(q)[..., None]], axis=-1)
    return 1.0 - keras.losses.categorical_crossentropy(answer_a, report) / np.log(2.0)


def expected_score(rule, p: float, q):
    """p f(q) + (1 - p) f(1 - q): the points a student who believes (p, 1 - p) expects for reporting (q, 1 - q)."""
    q = ops.convert_to_tensor(q)
    return p * rule(q) + (1.0 - p) * rule(1.0 - q)


def _best_report(rule, p: float, grid: np.ndarray) -> float:
    return float(grid[int(np.asarray(ops.argmax(expected_score(rule, p, grid))))])


def grading_examples(cfg: GradingConfig) -> dict[str, float]:
    """The linear rule rewards lying; the log rule f(q) = 1 + log2 q makes the truthful report q = p the best."""
    linear = lambda q: q  # noqa: E731 - the notes' first grading scheme: the probability given to the right answer
    log2_only = lambda q: ops.log(q) / np.log(2.0)  # noqa: E731 - "Equivalently, can choose f(p) = log_2(p)"
    squared = lambda q: -2.0 * ops.square(1.0 - q)  # noqa: E731 - minus the notes' cost (q - 1)^2 + ((1 - q) - 0)^2
    closed = np.round(np.arange(0.0, 1.0 + cfg.grid_step / 2, cfg.grid_step), 12).astype("float32")
    inner = closed[1:-1]  # log q needs q > 0
    p = cfg.belief
    metrics = {
        "grading_linear_truthful": float(np.asarray(expected_score(linear, p, np.float32(p)))),
        "grading_linear_all_in": float(np.asarray(expected_score(linear, p, np.float32(1.0)))),
        "grading_linear_best_report": _best_report(linear, p, closed),
        "grading_squared_cost_best_report": _best_report(squared, p, closed),
        "grading_log_f_at_1": float(np.asarray(log_score(np.float32(1.0)))),
        "grading_log_f_at_half": float(np.asarray(log_score(np.float32(0.5)))),
    }
    errors, foc, shifted = [], [], []
    for belief in [p, *cfg.beliefs]:
        best = _best_report(log_score, belief, inner)
        errors.append(abs(best - belief))
        shifted.append(abs(_best_report(log2_only, belief, inner) - best))
        # First-order condition p f'(q) - (1 - p) f'(1 - q) = 0 at q = p, the derivative by autodiff.
        _, (slope,) = gradients(lambda t, b=belief: ops.sum(expected_score(log_score, b, t[0])), [np.float32([belief])])
        foc.append(abs(float(slope[0])))
    metrics["grading_log_best_report_max_abs_error"] = max(errors)
    metrics["grading_log_vs_log2_best_report_max_abs_diff"] = max(shifted)
    metrics["grading_log_first_order_condition_max_abs"] = max(foc)
    _, (slope,) = gradients(lambda t: ops.sum(expected_score(linear, p, t[0])), [np.float32([p])])
    metrics["grading_linear_slope_at_truth"] = float(slope[0])
    # The loss side: zero for a one-hot report on the right answer, and large (the notes: unbounded) for a zero.
    right = np.array([[1.0, 0.0]], "float32")
    metrics["log_loss_at_certain_right"] = float(np.asarray(keras.losses.categorical_crossentropy(right, right))[0])
    metrics["log_loss_at_zero_on_right"] = float(
        np.asarray(keras.losses.categorical_crossentropy(right, right[:, ::-1].copy()))[0]
    )
    return metrics
