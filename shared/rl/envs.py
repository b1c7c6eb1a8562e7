"""Environments: Atari through gymnasium + ale-py, configured per protocol, and a tiny deterministic chain MDP.

Atari is gymnasium's own stack: `ALE/<Game>-v5` with frameskip 1 and the chosen sticky-action probability, then
gymnasium's AtariPreprocessing (frame skip with max over the last two frames, 84x84 grayscale, optional no-op starts)
and FrameStackObservation. Rewards are returned raw; clipping is the learner's business (training only), so
evaluation returns are full-game scores. `info["life_lost"]` marks a step on which a life was lost.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from shared.errors import ReplicateError

RAW_FRAMES_PER_SECOND = 60


@dataclass(frozen=True)
class AtariConfig:
    frame_skip: int = 4
    """Emulator frames per agent step (Mnih 2013: 4, and 3 for Space Invaders)."""
    repeat_action_probability: float = 0.0
    """Sticky actions (0 in the 2013/2015 protocols; 0.25 in Machado et al. 2018 and ALE v5's default)."""
    noop_max: int = 0
    """Up to this many no-op actions at the start of each episode (Nature 2015 evaluation: 30; 2013: none)."""
    frame_stack: int = 4
    """Frames per state."""
    screen_size: int = 84
    """Side of the square grayscale frame."""
    full_action_space: bool = False
    """False: the game's minimal action set."""
    max_episode_frames: int = 108_000
    """Emulator frames after which an episode is truncated (108,000 = 30 minutes at 60 Hz)."""


def atari_env_id(game: str) -> str:
    """'Breakout' -> 'ALE/Breakout-v5', or a clear error listing the games ale-py knows."""
    import ale_py

    gym.register_envs(ale_py)
    env_id = f"ALE/{game}-v5"
    if env_id not in gym.registry:
        known = sorted(k[4:-3] for k in gym.registry if k.startswith("ALE/") and k.endswith("-v5"))
        raise ReplicateError(f"unknown Atari game {game!r} (ale-py knows {len(known)}: {', '.join(known)})")
    return env_id


class LifeLossInfo(gym.Wrapper):
    """Adds info['life_lost']: True on a step where the lives counter dropped (a learning signal; the game goes on)."""

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.lives = self.env.unwrapped.ale.lives()
        return obs, {**info, "life_lost": False}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self.env.unwrapped.ale.lives()
        lost, self.lives = lives < self.lives, lives
        return obs, reward, terminated, truncated, {**info, "life_lost": bool(lost)}


def make_atari(game: str, cfg: AtariConfig) -> gym.Env:
    """The Atari environment of a protocol: observations uint8 (frame_stack, screen, screen), raw rewards."""
    if cfg.frame_skip < 1 or cfg.frame_stack < 1 or not 0.0 <= cfg.repeat_action_probability <= 1.0:
        raise ReplicateError(f"bad Atari options: {cfg}")
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    env = gym.make(
        atari_env_id(game),
        frameskip=1,  # AtariPreprocessing skips (and max-pools the last two frames)
        repeat_action_probability=cfg.repeat_action_probability,
        full_action_space=cfg.full_action_space,
        max_num_frames_per_episode=cfg.max_episode_frames,
    )
    env = AtariPreprocessing(
        env,
        noop_max=cfg.noop_max,
        frame_skip=cfg.frame_skip,
        screen_size=cfg.screen_size,
        terminal_on_life_loss=False,
        grayscale_obs=True,
        scale_obs=False,
    )
    env = LifeLossInfo(env)
    return FrameStackObservation(env, cfg.frame_stack)


class ChainEnv(gym.Env):
    """A deterministic chain of n states (one-hot observations). Action 1 moves right, action 0 moves left; reaching
    the right end pays 1 and ends the episode; episodes are truncated after `horizon` steps. The optimal return is 1
    (discounted: gamma^(n-2)); a random walk rarely gets there when n is large enough. Its state can be saved and
    restored exactly, which the resume tests use."""

    metadata: dict = {}

    def __init__(self, n: int = 8, horizon: int = 20):
        if n < 2:
            raise ReplicateError(f"chain needs n >= 2 states, got {n}")
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
