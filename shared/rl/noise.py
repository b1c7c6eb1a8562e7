"""Exploration noise for continuous actions: the Ornstein-Uhlenbeck process of Lillicrap et al. 2016.

dx = theta (mu - x) dt + sigma sqrt(dt) dW, discretised with Euler-Maruyama. In continuous time its stationary law
is N(mu, sigma^2 / (2 theta)); the discrete process x' = (1 - theta dt) x + sigma sqrt(dt) eps has stationary variance
sigma^2 dt / (1 - (1 - theta dt)^2), which tends to sigma^2 / (2 theta) as dt -> 0 (at the usual dt = 1, theta 0.15,
sigma 0.2: 0.1441 against 0.1333). dt = 1 (one step per agent step) is the default: the paper gives theta and
sigma but no dt.
"""

from __future__ import annotations

import numpy as np


class OrnsteinUhlenbeck:
    """Temporally correlated noise, one independent process per action dimension; reset() at episode starts."""

    def __init__(self, size: int, theta: float, sigma: float, mu: float = 0.0, dt: float = 1.0, seed: int = 0):
        if theta <= 0 or sigma < 0 or dt <= 0:
            raise ValueError(f"OU noise needs theta > 0, sigma >= 0, dt > 0; got {theta}, {sigma}, {dt}")
        self.size, self.theta, self.sigma, self.mu, self.dt = (
            int(size),
            float(theta),
            float(sigma),
            float(mu),
            float(dt),
        )
        self.rng = np.random.default_rng(seed)
        self.state = np.full(self.size, self.mu)

    def reset(self) -> None:
        """Back to mu (at an episode start); the generator is not touched."""
        self.state = np.full(self.size, self.mu)

    def sample(self) -> np.ndarray:
        """One Euler-Maruyama step of every process; returns the new state (size,), in units of sigma's."""
        drift = self.theta * (self.mu - self.state) * self.dt
        self.state = self.state + drift + self.sigma * np.sqrt(self.dt) * self.rng.standard_normal(self.size)
        return self.state.copy()

    def stationary_variance(self) -> float:
        """Variance of the discretised process in its stationary regime (-> sigma^2 / (2 theta) as dt -> 0)."""
        a = 1.0 - self.theta * self.dt
        return self.sigma**2 * self.dt / (1.0 - a * a)

    def get_state(self) -> dict:
        return {"state": self.state.tolist(), "rng": self.rng.bit_generator.state}

    def set_state(self, state: dict) -> None:
        self.state = np.asarray(state["state"], dtype=float)
        self.rng.bit_generator.state = state["rng"]
