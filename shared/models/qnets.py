"""Q-networks: the convolutional nets of Mnih et al. 2013 and 2015 (Nature) and a small MLP for toy tasks.

The CNNs take the stacked uint8 frames as the environment gives them, (stack, 84, 84), and scale them to [0, 1]
inside the model, so replay and acting move bytes, not floats.
"""

from __future__ import annotations

from typing import Literal

import keras
from keras import layers

# (filters, kernel, stride) of each convolution, then the hidden fully connected width.
ARCHITECTURES = {
    # Mnih et al. 2013, Sec. 5: 16 8x8 filters stride 4, 32 4x4 filters stride 2, 256 rectifier units.
    "mnih2013": ([(16, 8, 4), (32, 4, 2)], 256),
    # Mnih et al. 2015 (Nature), Methods: 32 8x8 s4, 64 4x4 s2, 64 3x3 s1, 512 rectifier units.
    "nature": ([(32, 8, 4), (64, 4, 2), (64, 3, 1)], 512),
}
Architecture = Literal["mnih2013", "nature"]


def build_atari_cnn(num_actions: int, arch: Architecture = "nature", stack: int = 4, size: int = 84) -> keras.Model:
    """Linear Q-value outputs, one per action, from uint8 frames (stack, size, size)."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown Q-network {arch!r} (known: {', '.join(ARCHITECTURES)})")
    convs, hidden = ARCHITECTURES[arch]
    inputs = keras.Input((stack, size, size), dtype="uint8", name="frames")
    x = layers.Permute((2, 3, 1), name="channels_last")(inputs)
    x = layers.Rescaling(1.0 / 255.0, name="scale")(x)
    for i, (filters, kernel, stride) in enumerate(convs, start=1):
        x = layers.Conv2D(filters, kernel, stride, activation="relu", name=f"conv{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(hidden, activation="relu", name="hidden")(x)
    outputs = layers.Dense(num_actions, name="q_values")(x)
    return keras.Model(inputs, outputs, name=f"q_{arch}")


def build_q_mlp(input_dim: int, num_actions: int, hidden: tuple[int, ...] = (64,)) -> keras.Model:
    """A small ReLU MLP with linear Q-value outputs, for vector observations."""
    inputs = keras.Input((input_dim,), name="obs")
    x = inputs
    for i, width in enumerate(hidden, start=1):
        x = layers.Dense(width, activation="relu", name=f"hidden_{i}")(x)
    return keras.Model(inputs, layers.Dense(num_actions, name="q_values")(x), name="q_mlp")
