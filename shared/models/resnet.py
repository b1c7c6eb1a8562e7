"""The CIFAR-10 nets of He et al. 2016 (Sec. 4.2): 6n+2 weighted layers, plain or residual.

A 3x3 convolution with 16 filters, then three stages of n blocks on 32x32, 16x16 and 8x8 maps with 16, 32 and 64
filters (the first block of stages 2 and 3 halves the map with stride 2), global average pooling and a 10-way
softmax. A block is conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut for residual nets, then ReLU. Shortcuts are the
paper's option A: identity, and where the shape changes a parameter-free stride-2 subsampling with the new channels
zero-padded, so plain and residual nets of one depth have exactly the same parameters. The strided convolution of a
downsampling block samples the same pixels as its shortcut (x[::2, ::2]; Torch's padding, see build_cifar_resnet).
"""

from __future__ import annotations

from typing import Literal

import keras
from keras import layers, ops

Family = Literal["plain", "residual"]
PAPER_PARAMS_M = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7}  # Table 6, millions


def blocks_per_stage(depth: int) -> int:
    """n for a 6n+2-layer net, or a clear error."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2 with n >= 1 (20, 32, 44, 56, 110, ...), got {depth}")
    return (depth - 2) // 6


@keras.saving.register_keras_serializable(package="replicate")
class ZeroPadShortcut(layers.Layer):
    """Option A shortcut: take every `stride`-th pixel and append zero channels up to `filters`."""

    def __init__(self, filters: int, stride: int, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.stride = filters, stride

    def call(self, x):
        x = x[:, :: self.stride, :: self.stride, :]
        extra = self.filters - x.shape[-1]
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, extra]]) if extra > 0 else x

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        size = lambda d: None if d is None else -(-d // self.stride)  # noqa: E731
        return (n, size(h), size(w), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "stride": self.stride}


def build_cifar_resnet(
    depth: int,
    family: Family = "residual",
    weight_decay: float = 1e-4,
    num_classes: int = 10,
    name: str | None = None,
) -> keras.Model:
    """A plain or residual 6n+2-layer CIFAR net; input (32, 32, 3) float, output class probabilities.

    `weight_decay` is the SGD weight decay of the paper (gradient += wd * w on every conv and dense kernel); it is
    applied as an L2 loss of wd/2 * ||w||^2, which has exactly that gradient. Weights start as in He et al. 2015
    (Gaussian, std sqrt(2 / fan_in)).
    """
    if family not in ("plain", "residual"):
        raise ValueError(f"family must be 'plain' or 'residual', got {family!r}")
    n = blocks_per_stage(depth)
    reg = keras.regularizers.L2(weight_decay / 2) if weight_decay else None
    init = keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal")

    def conv(x, filters, stride, label):
        # A strided "same" convolution in Keras pads only at the end of an even input, so its taps would centre on
        # x[1::2, 1::2] while the option-A shortcut takes x[::2, ::2]: the two branches would be added one pixel
        # apart. Padding 1 on every side, then a "valid" convolution (Torch's convention, as in fb.resnet.torch),
        # centres the taps on x[::2, ::2] in both branches; for stride 1 the two paddings are the same.
        if stride > 1:
            x = layers.ZeroPadding2D(1, name=f"{label}_pad")(x)
        x = layers.Conv2D(
            filters,
            3,
            stride,
            "valid" if stride > 1 else "same",
            use_bias=False,
            kernel_initializer=init,
            kernel_regularizer=reg,
            name=f"{label}_conv",
        )(x)
        return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=f"{label}_bn")(x)

    inputs = keras.Input((32, 32, 3), name="image")
    x = layers.ReLU(name="stem_relu")(conv(inputs, 16, 1, "stem"))
    for stage, filters in enumerate((16, 32, 64), start=1):
        for block in range(1, n + 1):
            stride = 2 if stage > 1 and block == 1 else 1
            label = f"s{stage}b{block}"
            y = layers.ReLU(name=f"{label}a_relu")(conv(x, filters, stride, f"{label}a"))
            y = conv(y, filters, 1, f"{label}b")
            if family == "residual":
                shortcut = ZeroPadShortcut(filters, stride, name=f"{label}_shortcut")(x) if stride > 1 else x
                y = layers.Add(name=f"{label}_add")([y, shortcut])
            x = layers.ReLU(name=f"{label}_relu")(y)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = layers.Dense(
        num_classes, activation="softmax", kernel_initializer=init, kernel_regularizer=reg, dtype="float32", name="fc"
    )(x)  # float32 softmax under a mixed policy (Keras's guidance); no-op in float32
    return keras.Model(inputs, outputs, name=name or f"{family}{depth}")
