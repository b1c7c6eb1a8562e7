"""DDPG's actor and critic for low-dimensional observations (Lillicrap et al. 2016, Sec. 7 "Experiment details").

Actor: obs -> 400 ReLU -> 300 ReLU -> tanh, scaled to the action bounds. Critic: obs -> 400 ReLU, then the action
joins -> 300 ReLU -> one linear Q output ("actions were not included until the 2nd hidden layer of Q").

Initialisation (Sec. 7): the final layers' weights and biases from U(-3e-3, 3e-3); "the other layers" from
U(-1/sqrt(f), 1/sqrt(f)), f the layer's fan-in. The fan-in is applied to the biases too (an interpretation: the paper
says "layers"): fc1 +-1/sqrt(obs_dim), actor fc2 +-1/sqrt(400), critic fc2 +-1/sqrt(400 + action_dim), since the
action joins there. Every layer gets its own initialiser, made when the network is built, so its seed comes from
Python's `random` as seeded by the run (keras.utils.set_random_seed) and no two layers share a random stream.

With batch_norm, the state input and every hidden actor layer, and the critic's layers before the action joins, are
batch-normalised (the paper's low-dimensional setting).

The critic's second layer is `DenseWithAction`: a Dense layer on the concatenation [h, a] that can, for the actor's
gradient, take dQ/da through the action's own rows of the kernel alone (6 columns instead of 406 at the paper's
sizes).
"""

from __future__ import annotations

import contextlib
import math

import keras
import numpy as np
from keras import layers, ops


def fan_in_bound(fan_in: int) -> float:
    """1/sqrt(f): the half-width of the uniform initialisation of a hidden layer with fan-in f (Sec. 7)."""
    return 1.0 / math.sqrt(fan_in)


def _uniform(bound: float) -> keras.initializers.Initializer:
    # A new instance per weight: its seed is drawn now, from the run's seeded Python `random`.
    return keras.initializers.RandomUniform(-bound, bound)


def _dense(
    width: int, fan_in: int, name: str, activation: str | None = None, layer: type[layers.Dense] = layers.Dense
) -> layers.Dense:
    """A hidden layer (`layer`: Dense or DenseWithAction): kernel and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = fan_in_bound(fan_in)
    return layer(
        width, activation=activation, kernel_initializer=_uniform(bound), bias_initializer=_uniform(bound), name=name
    )


def _final(width: int, final_init: float, name: str, activation: str | None = None) -> layers.Dense:
    """A final layer: kernel and bias from U(-final_init, final_init) (paper: 3e-3)."""
    return layers.Dense(
        width,
        activation=activation,
        kernel_initializer=_uniform(final_init),
        bias_initializer=_uniform(final_init),
        name=name,
    )


@keras.saving.register_keras_serializable(package="replicate")
class DenseWithAction(layers.Dense):
    """A Dense layer on [h, action] = concatenate([h, action], -1): inputs h (batch, H) and action (batch, A), output
    activation([h, action] @ W + b) (batch, units), W of shape (H + A, units) and b (units,): the critic's second
    layer, where "actions were not included until the 2nd hidden layer of Q" (Lillicrap et al. 2016, Sec. 7).

    By default it is exactly Concatenate + Dense (the same operations). Inside `action_gradient_only(model)` (read when
    the call is traced) it computes the same value with the action held fixed (stop_gradient) in the product and adds
    (action - stop_gradient(action)) @ stop_gradient(W[H:]) before the activation: a term exactly zero in value
    (x - x = 0 for finite x; an infinite or NaN action gives NaN), whose gradient is the action's, dL/daction =
    dL/dz @ W[H:]^T: (batch, units) x (units, A). Differentiating the plain layer multiplies dL/dz with the whole
    kernel instead ((batch, H + A) columns, 406 at the paper's sizes), of which DDPG's actor gradient (3) keeps the
    last A, since the critic's weights and h are held fixed there. In that mode h, W and b keep their gradients
    through the product (with the action held fixed in it); DDPG's actor loss asks for none of them (it holds the
    critic's weights fixed, and h does not depend on the actor)."""

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.input_spec = None  # two inputs; Dense's spec expects one
        self.action_gradient_only = False

    def build(self, input_shape):
        two = isinstance(input_shape, (list, tuple)) and len(input_shape) == 2
        if not two or not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"DenseWithAction takes two inputs [h, action]; got input shape {input_shape}")
        h_shape, action_shape = input_shape
        self.action_dim = int(action_shape[-1])
        super().build((*h_shape[:-1], int(h_shape[-1]) + self.action_dim))
        self.input_spec = None

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], self.units)

    def call(self, inputs):
        h, action = inputs
        narrow = self.action_gradient_only
        held = ops.stop_gradient(action) if narrow else action
        z = ops.matmul(ops.concatenate([h, held], axis=-1), self.kernel)
        if self.bias is not None:
            z = ops.add(z, self.bias)
        if narrow:
            action_rows = ops.stop_gradient(self.kernel[-self.action_dim :])
            z = ops.add(z, ops.matmul(ops.subtract(action, held), action_rows))
        return self.activation(z) if self.activation is not None else z


def action_joins(model: keras.Model) -> list[DenseWithAction]:
    """The DenseWithAction layers among `model.layers` (build_critic's: one, named fc2)."""
    return [layer for layer in model.layers if isinstance(layer, DenseWithAction)]


@contextlib.contextmanager
def action_gradient_only(model: keras.Model, enabled: bool = True):
    """Within the block (when enabled), the DenseWithAction layers among `model.layers` compute their action gradient
    only (DenseWithAction's docstring): for a call whose only gradient wanted is with respect to the action, with every
    weight and the other inputs held fixed (DDPG's actor loss). Takes effect for calls traced or run in the block (a
    function traced before keeps the mode it was traced in); on leaving, each layer's mode is what it was before."""
    joins = action_joins(model)
    before = [layer.action_gradient_only for layer in joins]
    for layer in joins:
        layer.action_gradient_only = enabled
    try:
        yield
    finally:
        for layer, mode in zip(joins, before, strict=True):
            layer.action_gradient_only = mode


def build_actor(
    obs_dim: int,
    action_low: np.ndarray,
    action_high: np.ndarray,
    hidden: tuple[int, ...] = (400, 300),
    final_init: float = 3e-3,
    batch_norm: bool = False,
    name: str = "actor",
) -> keras.Model:
    """mu(s): (batch, obs_dim) -> (batch, action_dim), tanh outputs mapped affinely onto [action_low, action_high]."""
    low, high = np.asarray(action_low, np.float32), np.asarray(action_high, np.float32)
    obs = keras.Input((obs_dim,), name="obs")
    x = layers.BatchNormalization(name="obs_bn")(obs) if batch_norm else obs
    fan_in = obs_dim
    for i, width in enumerate(hidden):
        x = _dense(width, fan_in, f"fc{i + 1}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"fc{i + 1}_bn")(x)
        x = layers.Activation("relu")(x)
        fan_in = width
    x = _final(len(low), final_init, "out", activation="tanh")(x)
    scale, centre = (high - low) / 2.0, (high + low) / 2.0
    action = layers.Rescaling(scale, offset=centre, name="to_bounds")(x)
    return keras.Model(obs, action, name=name)


def build_critic(
    obs_dim: int,
    action_dim: int,
    hidden: tuple[int, int] = (400, 300),
    final_init: float = 3e-3,
    batch_norm: bool = False,
    name: str = "critic",
) -> keras.Model:
    """Q(s, a): [(batch, obs_dim), (batch, action_dim)] -> (batch, 1); the action enters at the second hidden layer."""
    obs = keras.Input((obs_dim,), name="obs")
    action = keras.Input((action_dim,), name="action")
    x = layers.BatchNormalization(name="obs_bn")(obs) if batch_norm else obs
    x = _dense(hidden[0], obs_dim, "fc1")(x)
    if batch_norm:
        x = layers.BatchNormalization(name="fc1_bn")(x)
    x = layers.Activation("relu")(x)
    x = _dense(hidden[1], hidden[0] + action_dim, "fc2", activation="relu", layer=DenseWithAction)([x, action])
    q = _final(1, final_init, "q")(x)
    return keras.Model([obs, action], q, name=name)
