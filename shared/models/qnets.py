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
    None for any other model. The model's graph must be one chain from its single input to its single output: the
    Permute((2, 3, 1)) named channels_last applied to the input, then layers each applied once, each to the previous
    one's single output with no other call argument (so that calling them again in order is the same computation).
    Anything else (MinAtar's net, an MLP, a layer applied twice, branches, several inputs or outputs, a layer before
    the Permute, a call keyword such as training=True) gets None, and its agent keeps the permuted layout.

    Why: a replay batch of 32 stacks of four 84x84 frames can be gathered channels-last for about what gathering it
    channels-first costs (ReplayBuffer.sample(frames_last=True)), while TensorFlow's transpose of that uint8 batch,
    once for the online and once for the target net, took ~1.5 ms each per update on a 2-core AVX2 EPYC. The
    Permute only moves bytes, so the body gives bit-identical outputs and gradients (tests/test_rl_core.py)."""
    inputs, outputs = getattr(model, "inputs", None), getattr(model, "outputs", None)
    if not inputs or not outputs or len(inputs) != 1 or len(outputs) != 1:
        return None
    chain = _chain(outputs[0], inputs[0])
    if chain is None or len(chain) < 2:
        return None
    permute, *rest = chain
    if not isinstance(permute, layers.Permute) or permute.name != "channels_last" or tuple(permute.dims) != (2, 3, 1):
        return None
    stack, *frame = inputs[0].shape[1:]
    body_input = keras.Input((*frame, stack), dtype=inputs[0].dtype, name="frames_last")
    x = body_input
    for layer in rest:
        x = layer(x)
    return keras.Model(body_input, x, name=f"{model.name}_frames_last")


def _chain(output, source) -> list | None:
    """The layers that compute `output` from `source` (KerasTensors of a functional model), in the order they run,
    if that computation is a chain: each node a Layer called once on exactly one tensor (no list around it, no
    keyword argument but training / mask left at None) with exactly one output, no layer twice. None otherwise."""
    chain, seen, tensor = [], set(), output
    while tensor is not source:
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            return None
        layer = history.operation
        node = layer._inbound_nodes[history.node_index]
        arguments = node.arguments
        if (
            node.is_input
            or not isinstance(layer, layers.Layer)
            or id(layer) in seen
            or len(node.output_tensors) != 1
            or len(arguments.args) != 1
            or not isinstance(arguments.args[0], keras.KerasTensor)
            or any(key not in ("training", "mask") or value is not None for key, value in arguments.kwargs.items())
        ):
            return None
        chain.append(layer)
        seen.add(id(layer))
        tensor = arguments.args[0]
    return chain[::-1]


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
