"""RL test fixtures: a tiny deterministic chain MDP and a small Q-network MLP (test-only, not library code)."""

from __future__ import annotations

import gymnasium as gym
import keras
import numpy as np
from keras import layers


def build_q_mlp(input_dim: int, num_actions: int, hidden: tuple[int, ...] = (64,)) -> keras.Model:
    """A small ReLU MLP with linear Q-value outputs, for vector observations."""
    inputs = keras.Input((input_dim,), name="obs")
    x = inputs
    for i, width in enumerate(hidden, start=1):
        x = layers.Dense(width, activation="relu", name=f"hidden_{i}")(x)
    return keras.Model(inputs, layers.Dense(num_actions, name="q_values")(x), name="q_mlp")


class ChainEnv(gym.Env):
    """A deterministic chain of n states (one-hot observations). Action 1 moves right, action 0 moves left; reaching
    the right end pays 1 and ends the episode; episodes are truncated after `horizon` steps. The optimal return is 1
    (discounted: gamma^(n-2)); a random walk rarely gets there when n is large enough. Its state can be saved and
    restored exactly, which the resume tests use."""

    metadata: dict = {}

    def __init__(self, n: int = 8, horizon: int = 20):
        if n < 2:
            raise ValueError(f"chain needs n >= 2 states, got {n}")
        self.n, self.horizon = n, horizon
        self.observation_space = gym.spaces.Box(0.0, 1.0, (n,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.position, self.t = 0, 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.n, np.float32)
        obs[self.position] = 1.0
        return obs

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position, self.t = 0, 0
        return self._obs(), {"life_lost": False}

    def step(self, action):
        self.t += 1
        self.position = min(self.position + 1, self.n - 1) if int(action) == 1 else max(self.position - 1, 0)
        terminated = self.position == self.n - 1
        truncated = not terminated and self.t >= self.horizon
        return self._obs(), float(terminated), terminated, truncated, {"life_lost": False}

    def get_state(self) -> dict:
        return {"position": self.position, "t": self.t}

    def set_state(self, state: dict) -> None:
        self.position, self.t = int(state["position"]), int(state["t"])
