"""Q-networks: the convolutional nets of Mnih et al. 2013 and 2015 (Nature), MinAtar's, and a small MLP for toy
tasks.

The Atari CNNs take the stacked uint8 frames as the environment gives them, (stack, 84, 84), and scale them to
[0, 1] inside the model, so replay and acting move bytes, not floats; MinAtar's takes its uint8 0/1 grid.
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
Architecture = Literal["mnih2013", "nature", "minatar"]


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


def frames_last_body(model: keras.Model) -> keras.Model | None:
    """The part of an Atari CNN (build_atari_cnn) after its channels_last Permute, as a model of its own on frames
    already laid out channels-last, (B, size, size, stack) uint8, sharing the model's layers and so its weights;
    None for a model that is not such a chain: one that does not begin with that Permute (MinAtar's net, an MLP), or
    whose graph after it is not each layer once, in order, each feeding the next (a layer applied twice, a branch).

    Why: a replay batch of 32 stacks of four 84x84 frames can be gathered channels-last for about what gathering it
    channels-first costs (ReplayBuffer.sample(frames_last=True)), while TensorFlow's transpose of that uint8 batch,
    once for the online and once for the target net, took ~1.5 ms each per update on a 2-core AVX2 EPYC. The
    Permute only moves bytes, so the body gives bit-identical outputs and gradients (tests/test_rl_core.py)."""
    layers_ = model.layers
    if len(layers_) < 3 or layers_[1].name != "channels_last" or not isinstance(layers_[1], layers.Permute):
        return None
    if tuple(layers_[1].dims) != (2, 3, 1) or len(model.inputs) != 1 or len(model.outputs) != 1:
        return None
    if _chain_back(model.outputs[0], layers_[1]) != layers_[2:]:
        return None
    stack, *frame = model.input_shape[1:]
    inputs = keras.Input((*frame, stack), dtype=model.inputs[0].dtype, name="frames_last")
    x = inputs
    for layer in layers_[2:]:
        x = layer(x)
    return keras.Model(inputs, x, name=f"{model.name}_frames_last")


def _chain_back(tensor, stop: keras.layers.Layer) -> list | None:
    """The layers from `stop`'s output to `tensor`, in the order they run, if each has exactly one input on that
    path (a chain); None where a node has several inputs or the walk never reaches `stop`."""
    chain = []
    while True:
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            return None
        layer = history.operation
        if layer is stop:
            return chain[::-1]
        inputs = layer._inbound_nodes[history.node_index].input_tensors
        if len(inputs) != 1:
            return None
        chain.append(layer)
        tensor = inputs[0]


def build_minatar_cnn(num_actions: int, channels: int, size: int = 10) -> keras.Model:
    """The DQN network of Young & Tian 2019 (MinAtar, arXiv:1903.03176): 16 3x3 filters stride 1, 128 rectifier
    units, one linear output per action, on the uint8 0/1 grid (size, size, channels)."""
    inputs = keras.Input((size, size, channels), dtype="uint8", name="grid")
    x = layers.Rescaling(1.0, name="to_float")(inputs)
    x = layers.Conv2D(16, 3, 1, activation="relu", name="conv1")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(128, activation="relu", name="hidden")(x)
    return keras.Model(inputs, layers.Dense(num_actions, name="q_values")(x), name="q_minatar")


def build_q_network(arch: Architecture, num_actions: int, obs_shape: tuple[int, ...]) -> keras.Model:
    """The Q-net named by a config for an environment's observation shape: (stack, 84, 84) Atari frames for
    mnih2013 / nature, the (10, 10, channels) grid for minatar."""
    if arch == "minatar":
        if len(obs_shape) != 3 or obs_shape[0] != obs_shape[1]:
            raise ValueError(f"the minatar net takes (size, size, channels) grids, not {obs_shape}")
        return build_minatar_cnn(num_actions, obs_shape[2], obs_shape[0])
    if len(obs_shape) != 3 or obs_shape[1] != obs_shape[2]:
        raise ValueError(f"the {arch} net takes (stack, size, size) frames, not {obs_shape}")
    return build_atari_cnn(num_actions, arch, obs_shape[0], obs_shape[1])
