"""Playing Atari with Deep Reinforcement Learning (Mnih et al. 2013), Table 1: the Random row and DQN.

Reads top to bottom: config, the Atari protocol per game, the random-policy episodes, and DQN training with
periodic evaluation (checkpointed; `replicate run ... --resume` continues a killed run).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from replicate_suite.errors import ReplicateError
from replicate_suite.models.qnets import Architecture, build_atari_cnn
from replicate_suite.rl.agents.dqn import DQNAgent, DQNConfig
from replicate_suite.rl.envs import AtariConfig, EnvRecipe, atari_env_id, check_frame_caps, make_atari
from replicate_suite.rl.loop import LoopConfig, train_dqn
from replicate_suite.runner import RunContext


@dataclass(frozen=True)
class FrameSkipOverride:
    game: str
    frame_skip: int


@dataclass(frozen=True)
class AtariProtocol:
    frame_skip: int
    """Emulator frames per action (paper: 4)."""
    frame_skip_overrides: list[FrameSkipOverride]
    """Per-game exceptions (paper: 3 for Space Invaders, whose lasers blink at period 4)."""
    repeat_action_probability: float
    """Sticky actions (paper: none, i.e. 0)."""
    noop_max: int
    """Random no-op starts (paper: none)."""
    max_episode_frames: int
    """Emulator frames after which an episode is cut (training and random play; 108,000 = 30 minutes at 60 Hz)."""


@dataclass(frozen=True)
class RandomConfig:
    episodes: int
    """Random-policy episodes per game (uniform random action every step; full games, raw score)."""


VARIANT_FIELD = "parts"  # each part can run on its own: replicate run ... --variant Pong (or --variant random)
RANDOM_PART = "random"


@dataclass(frozen=True)
class Config:
    games: list[str]
    """Games of the Random row."""
    parts: list[str]
    """What a run does: "random" plays the Random row (every game of `games`); a game name trains DQN on it."""
    atari: AtariProtocol
    network: Architecture
    """mnih2013: 16 8x8/4, 32 4x4/2, 256 hidden (the paper's); nature: the 2015 net."""
    agent: DQNConfig
    loop: LoopConfig
    random: RandomConfig

    def __post_init__(self):
        skips = {self.atari.frame_skip, *(o.frame_skip for o in self.atari.frame_skip_overrides)}
        for skip in sorted(skips, reverse=True):  # every cap counts emulator frames, whatever the frame skip
            check_frame_caps(skip, self.atari.max_episode_frames, self.loop.eval_max_frames)


def atari_config(protocol: AtariProtocol, game: str) -> AtariConfig:
    """The environment settings of one game under the protocol (its frame skip override, if any)."""
    skip = {o.game: o.frame_skip for o in protocol.frame_skip_overrides}.get(game, protocol.frame_skip)
    return AtariConfig(
        frame_skip=skip,
        repeat_action_probability=protocol.repeat_action_probability,
        noop_max=protocol.noop_max,
        max_episode_frames=protocol.max_episode_frames,
    )


def random_returns(game: str, protocol: AtariProtocol, episodes: int, seed: int) -> list[float]:
    """Raw scores of a uniformly random policy, one full game per episode."""
    env = make_atari(game, atari_config(protocol, game))
    rng = np.random.default_rng([seed, 11])
    scores = []
    for episode in range(episodes):
        env.reset(seed=seed * 100_000 + episode)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(int(rng.integers(env.action_space.n)))
            total += float(reward)
            done = terminated or truncated
        scores.append(total)
    env.close()
    return scores


def train_game(game: str, cfg: Config, seed: int, ctx: RunContext) -> dict[str, float]:
    import keras

    keras.utils.set_random_seed(seed)
    atari = atari_config(cfg.atari, game)
    make_env = EnvRecipe.atari(game, atari)
    probe_env = make_env()
    num_actions = int(probe_env.action_space.n)
    probe_env.close()
    agent = DQNAgent(lambda: build_atari_cnn(num_actions, cfg.network, atari.frame_stack), num_actions, cfg.agent)
    return train_dqn(make_env, agent, cfg.loop, seed, ctx.curves, label=game, resume=ctx.resume, **ctx.loop_dirs(game))


def run(cfg: Config, seed: int, ctx: RunContext) -> dict[str, float]:
    dqn_games = [part for part in cfg.parts if part != RANDOM_PART]
    for game in dict.fromkeys([*cfg.games, *dqn_games, *(o.game for o in cfg.atari.frame_skip_overrides)]):
        atari_env_id(game)  # unknown games fail before anything runs
    if cfg.loop.eval_episodes < 1:
        raise ReplicateError("loop.eval_episodes must be >= 1 (the table reports evaluation returns)")
    metrics: dict[str, float] = {}
    for game in cfg.games if RANDOM_PART in cfg.parts and cfg.random.episodes else []:
        scores = random_returns(game, cfg.atari, cfg.random.episodes, seed)
        metrics[f"random_return_{game}"] = float(np.mean(scores))
        metrics[f"random_return_best_{game}"] = float(np.max(scores))
    for game in dqn_games:
        metrics.update(train_game(game, cfg, seed, ctx))
    return metrics
