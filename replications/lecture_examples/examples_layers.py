"""Keras layers on the notes' own inputs: convolution (and its shift property), pooling, dropout, batch normalisation.

Source: ../shared/sources/course-notes.md: the convolution slides ("Input ... 6 x 6", "Filter", "2 = 4*1 + 9*0 + ...",
"A convolutional layer is shift invariant. Indeed, suppose you shift the image i to right by one pixel ..."), the
"Max Pooling" and "Avg Pooling" figures, "Dropout: during training, set each input of each neuron to zero with
probability p ... multiply the weights by 1/p", and "Next trick: batch normalization ... x_new = gamma x_hat + beta".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from keras import layers


@dataclass(frozen=True)
class ImageConfig:
    conv_input: list[list[float]]
    """The notes' 6x6 input."""
    conv_filter: list[list[float]]
    """The notes' 3x3 vertical-edge filter."""
    pool_input: list[list[float]]
    """The notes' 4x4 pooling input."""


@dataclass(frozen=True)
class RegularisationConfig:
    dropout_rate: float
    """Probability of zeroing a unit (the notes' `model.add(Dropout(0.5))`)."""
    dropout_units: int
    """Units of value 1 passed through one Dropout layer in training mode."""
    batch: int
    """Examples in the batch normalised by BatchNormalization."""
    features: int
    """Neurons normalised (each with its own mean and scale in the batch)."""
    gamma: float
    """The learned scale gamma set on the layer ..."""
    beta: float
    """... and shift beta, to check x_new = gamma x_hat + beta."""


def sliding_window(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Stride-1, unpadded cross-correlation by explicit windows (the notes' 'inner product' picture)."""
    k = kernel.shape[0]
    size = image.shape[0] - k + 1
    return np.array([[np.sum(image[r : r + k, c : c + k] * kernel) for c in range(size)] for r in range(size)])


def image_examples(cfg: ImageConfig) -> dict[str, float]:
    """Conv2D with the notes' filter on the notes' input; max and average pooling of the notes' 4x4 input."""
    image = np.array(cfg.conv_input, dtype="float32")
    kernel = np.array(cfg.conv_filter, dtype="float32")
    conv = layers.Conv2D(1, kernel.shape[0], padding="valid", use_bias=False, kernel_initializer="zeros")
    conv.build((1, *image.shape, 1))

    def apply(picture: np.ndarray) -> np.ndarray:
        return np.asarray(conv(picture[None, :, :, None]))[0, :, :, 0]

    conv.set_weights([kernel[::-1, ::-1, None, None]])
    # A textbook convolution flips the kernel; Keras (like the notes) computes the unflipped cross-correlation.
    flipped = apply(image)
    conv.set_weights([kernel[:, :, None, None]])
    out = apply(image)
    # The image shifted one pixel right (a zero column enters on the left): away from the border, the output is
    # the old output shifted one pixel right. That is equivariance; the notes call it shift invariance.
    shifted = np.concatenate([np.zeros_like(image[:, :1]), image[:, :-1]], axis=1)
    metrics = {
        "conv_output_rows": float(out.shape[0]),
        "conv_output_cols": float(out.shape[1]),
        "conv_out_11": float(out[0, 0]),
        "conv_flipped_kernel_out_11": float(flipped[0, 0]),
        "conv_vs_sliding_window_max_abs_diff": float(np.max(np.abs(out - sliding_window(image, kernel)))),
        "conv_shift_equivariance_max_abs_diff": float(np.max(np.abs(apply(shifted)[:, 1:] - out[:, :-1]))),
    }
    pool_input = np.array(cfg.pool_input, dtype="float32")[None, :, :, None]
    for name, layer in (("max_pool", layers.MaxPooling2D(2)), ("avg_pool", layers.AveragePooling2D(2))):
        pooled = np.asarray(layer(pool_input))[0, :, :, 0]
        for (r, c), value in np.ndenumerate(pooled):
            metrics[f"{name}_{r + 1}{c + 1}"] = float(value)
    return metrics


def regularisation_examples(cfg: RegularisationConfig, rng: np.random.Generator, seed: int) -> dict[str, float]:
    """Keras Dropout (inverted: kept units scaled by 1/(1 - rate) in training) and BatchNormalization in training."""
    dropout = layers.Dropout(cfg.dropout_rate, seed=seed)
    ones = np.ones((1, cfg.dropout_units), "float32")
    dropped = np.asarray(dropout(ones, training=True)).astype("float64")
    metrics = {
        "dropout_kept_fraction": float(np.mean(dropped > 0)),
        "dropout_train_mean_over_input": float(np.mean(dropped)),
        "dropout_inference_max_abs_change": float(np.max(np.abs(np.asarray(dropout(ones, training=False)) - 1))),
    }
    scales = np.linspace(1.0, 4.0, cfg.features)
    x = (rng.standard_normal((cfg.batch, cfg.features)) * scales + 3.0 * scales).astype("float32")
    norm = layers.BatchNormalization()
    x_hat = np.asarray(norm(x, training=True)).astype("float64")
    metrics["batchnorm_train_mean_max_abs"] = float(np.max(np.abs(x_hat.mean(axis=0))))
    metrics["batchnorm_train_var_max_abs_dev_from_1"] = float(np.max(np.abs(x_hat.var(axis=0) - 1.0)))
    norm.gamma.assign(np.full(cfg.features, cfg.gamma, "float32"))
    norm.beta.assign(np.full(cfg.features, cfg.beta, "float32"))
    x_new = np.asarray(norm(x, training=True)).astype("float64")
    metrics["batchnorm_gamma_beta_max_abs_diff"] = float(np.max(np.abs(x_new - (cfg.gamma * x_hat + cfg.beta))))
    return metrics
