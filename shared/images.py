"""Image preprocessing for the CIFAR nets, in NumPy (so the same input path serves every Keras backend)."""

from __future__ import annotations

import numpy as np


def pad_crop_flip(images: np.ndarray, rng: np.random.Generator, pad: int = 4, flip: bool = True) -> np.ndarray:
    """He et al. 2016's training augmentation for a batch (N, H, W, C): zero-pad `pad` pixels on each side, take a
    random HxW crop, and mirror it left-right with probability 1/2. One vectorised gather, no per-image Python."""
    n, height, width, _ = images.shape
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    top = rng.integers(0, 2 * pad + 1, size=n)
    left = rng.integers(0, 2 * pad + 1, size=n)
    rows = top[:, None] + np.arange(height)[None, :]
    cols = left[:, None] + np.arange(width)[None, :]
    if flip:
        mirrored = rng.random(n) < 0.5
        cols[mirrored] = cols[mirrored, ::-1]
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
