"""DDPG's actor and critic for low-dimensional observations (Lillicrap et al. 2016, Sec. 7 "Experiment details").

Actor: obs -> 400 ReLU -> 300 ReLU -> tanh, scaled to the action bounds. Critic: obs -> 400 ReLU, then the action
joins -> 300 ReLU -> one linear Q output ("actions were not included until the 2nd hidden layer of Q"). Final
layers are drawn uniformly from +-3e-3, the others from +-1/sqrt(fan-in). With batch_norm, the state input and every
actor layer, and the critic's layers before the action joins, are batch-normalised (the paper's low-dimensional
setting).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

FAN_IN_UNIFORM = keras.initializers.VarianceScaling(scale=1 / 3, mode="fan_in", distribution="uniform")  # +-1/sqrt(f)


def _final(final_init: float, seed: int | None) -> keras.initializers.Initializer:
    return keras.initializers.RandomUniform(-final_init, final_init, seed=seed)


def build_actor(
    obs_dim: int,
    action_low: np.ndarray,
    action_high: np.ndarray,
    hidden: tuple[int, ...] = (400, 300),
    final_init: float = 3e-3,
    batch_norm: bool = False,
    name: str = "actor",
) -> keras.Model:
    """mu(s): tanh outputs mapped affinely onto [action_low, action_high]."""
    low, high = np.asarray(action_low, np.float32), np.asarray(action_high, np.float32)
    obs = keras.Input((obs_dim,), name="obs")
    x = layers.BatchNormalization(name="obs_bn")(obs) if batch_norm else obs
    for i, width in enumerate(hidden):
        x = layers.Dense(width, kernel_initializer=FAN_IN_UNIFORM, bias_initializer=FAN_IN_UNIFORM, name=f"fc{i + 1}")(
            x
        )
        if batch_norm:
            x = layers.BatchNormalization(name=f"fc{i + 1}_bn")(x)
        x = layers.Activation("relu")(x)
    init = _final(final_init, None)
    x = layers.Dense(len(low), activation="tanh", kernel_initializer=init, bias_initializer=init, name="out")(x)
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
    """Q(s, a): the action enters at the second hidden layer."""
    obs = keras.Input((obs_dim,), name="obs")
    action = keras.Input((action_dim,), name="action")
    x = layers.BatchNormalization(name="obs_bn")(obs) if batch_norm else obs
    x = layers.Dense(hidden[0], kernel_initializer=FAN_IN_UNIFORM, bias_initializer=FAN_IN_UNIFORM, name="fc1")(x)
    if batch_norm:
        x = layers.BatchNormalization(name="fc1_bn")(x)
    x = layers.Activation("relu")(x)
    x = layers.Concatenate(name="with_action")([x, action])
    x = layers.Dense(
        hidden[1], activation="relu", kernel_initializer=FAN_IN_UNIFORM, bias_initializer=FAN_IN_UNIFORM, name="fc2"
    )(x)
    init = _final(final_init, None)
    q = layers.Dense(1, kernel_initializer=init, bias_initializer=init, name="q")(x)
    return keras.Model([obs, action], q, name=name)
