"""Continuous control: a transition replay of float vectors and the DDPG training loop (OU exploration, separate
noise-free evaluation episodes, curves, checkpoints a killed run resumes from).

Termination vs truncation: a transition that ended the episode because the task ended (`terminated`) is not
bootstrapped; one cut by the time limit (`truncated`) is, as the state was not terminal.

Determinism: a seed fixes everything a run computes (the environment is reset with a seed once and then draws from
its own generator; replay sampling and OU noise have their own seeded generators; wall-clock figures go to
run_meta, not to the metrics). A checkpoint holds the networks, Adam, the loss window, replay, noise, counters,
curves, the current observation and the environment's full state (env_snapshot: MuJoCo's integration state or
Pendulum's (theta, theta_dot), the environment's generator, the time limit's step count), so a run resumed from it
ends exactly like an uninterrupted one. For an environment whose state env_snapshot cannot read, a resumed run
instead drops the unfinished episode (its return is not logged) and starts a new one with reset(seed=seed + step)
and the noise reset.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.pendulum import PendulumEnv

from shared.errors import Diverged, ReplicateError
from shared.results import CurveLog
from shared.rl.agents.ddpg import DDPGAgent
from shared.rl.checkpoint import Checkpointer, saved_counters
from shared.rl.noise import OrnsteinUhlenbeck


class TransitionReplay:
    """Circular replay of (s, a, r, s', terminal) with float32 vectors and seeded uniform sampling."""

    _ARRAYS = ("obs", "actions", "rewards", "next_obs", "terminals")

    def __init__(self, capacity: int, obs_dim: int, action_dim: int, seed: int = 0):
        if capacity < 1:
            raise ReplicateError(f"replay capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.actions = np.zeros((capacity, action_dim), np.float32)
        self.rewards = np.zeros(capacity, np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.terminals = np.zeros(capacity, np.float32)
        self.size, self.cursor = 0, 0
        self.rng = np.random.default_rng(seed)

    def add(self, obs, action, reward: float, next_obs, terminal: bool) -> None:
        i = self.cursor
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.terminals[i] = next_obs, float(terminal)
        self.cursor = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int) -> tuple[np.ndarray, ...]:
        if self.size == 0:
            raise ReplicateError("cannot sample an empty replay")
        idx = self.rng.integers(self.size, size=batch_size)
        return tuple(getattr(self, name)[idx] for name in self._ARRAYS)

    def save(self, path: Path) -> None:
        arrays = {name: getattr(self, name)[: self.size] for name in self._ARRAYS}
        meta = json.dumps({"size": self.size, "cursor": self.cursor, "rng": self.rng.bit_generator.state})
        np.savez(path, meta=np.array(meta), **arrays)

    def load(self, path: Path) -> None:
        with np.load(path) as saved:
            meta = json.loads(str(saved["meta"]))
            for name in self._ARRAYS:
                getattr(self, name)[: meta["size"]] = saved[name]
        self.size, self.cursor = meta["size"], meta["cursor"]
        self.rng.bit_generator.state = meta["rng"]


@dataclass(frozen=True)
class ContinuousLoopConfig:
    total_steps: int
    """Environment steps of training."""
    learning_starts: int
    """Steps before the first update (the replay must hold a minibatch)."""
    batch_size: int
    """Paper: 64."""
    replay_capacity: int
    """Paper: 1e6."""
    ou_theta: float
    """Paper: 0.15."""
    ou_sigma: float
    """Paper: 0.2, in units of the action bounds' half-width."""
    eval_every: int
    """Evaluate every this many steps (and at the end)."""
    eval_episodes: int
    """Noise-free episodes per evaluation."""
    checkpoint_every: int
    """Save a checkpoint every this many steps; 0 = never."""


def _time_limit(env: gym.Env) -> gym.wrappers.TimeLimit | None:
    while isinstance(env, gym.Wrapper):
        if isinstance(env, gym.wrappers.TimeLimit):
            return env
        env = env.env
    return None


def _mujoco_env(env: gym.Env):
    """The MujocoEnv under the wrappers, or None (also when MuJoCo is not installed)."""
    try:
        from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
    except (ImportError, gym.error.DependencyNotInstalled):
        return None
    return env.unwrapped if isinstance(env.unwrapped, MujocoEnv) else None


def env_snapshot(env: gym.Env) -> dict | None:
    """The state a reset environment continues from exactly, as JSON-able values: the simulator's state (MuJoCo:
    mj_getState with mjSTATE_INTEGRATION: time, qpos, qvel, act, warm start, controls and applied forces; Pendulum:
    (theta, theta_dot)), the environment's random generator and its time limit's step count. None for another kind
    of environment."""
    base = env.unwrapped
    snapshot = {"np_random": base.np_random.bit_generator.state}
    limit = _time_limit(env)
    if limit is not None:
        snapshot["elapsed_steps"] = limit._elapsed_steps
    if _mujoco_env(env) is not None:
        import mujoco

        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        state = np.empty(mujoco.mj_stateSize(base.model, spec))
        mujoco.mj_getState(base.model, base.data, state, spec)
        snapshot["mujoco"] = state.tolist()
    elif isinstance(base, PendulumEnv):
        snapshot["pendulum"] = np.asarray(base.state, np.float64).tolist()
    else:
        return None
    return snapshot


def restore_env(env: gym.Env, snapshot: dict, seed: int) -> None:
    """Put a fresh environment into the state env_snapshot() read (a seeded reset first: gymnasium refuses a step
    before a reset, and the reset makes the generator that the snapshot's state then overwrites)."""
    env.reset(seed=seed)
    base = env.unwrapped
    base.np_random.bit_generator.state = snapshot["np_random"]
    if "elapsed_steps" in snapshot:
        _time_limit(env)._elapsed_steps = snapshot["elapsed_steps"]
    if "mujoco" in snapshot:
        import mujoco

        state = np.asarray(snapshot["mujoco"], np.float64)
        mujoco.mj_setState(base.model, base.data, state, mujoco.mjtState.mjSTATE_INTEGRATION)
    else:
        base.state = np.asarray(snapshot["pendulum"], np.float64)


def episode_returns(env: gym.Env, choose: Callable[[np.ndarray], np.ndarray], episodes: int, seed: int) -> list[float]:
    """Returns of `episodes` episodes with actions choose(obs), seeded so that a given seed repeats exactly."""
    returns = []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed * 1000 + episode)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(choose(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return returns


def evaluate_policy(agent: DDPGAgent, env: gym.Env, episodes: int, seed: int) -> list[float]:
    """Returns of noise-free episodes of the agent's policy."""
    return episode_returns(env, lambda obs: agent.act(np.asarray(obs, np.float32)), episodes, seed)


def random_policy_returns(env: gym.Env, episodes: int, seed: int) -> list[float]:
    """Returns of uniformly random actions (the paper's normalisation's zero point)."""
    env.action_space.seed(seed)
    return episode_returns(env, lambda obs: env.action_space.sample(), episodes, seed)


def train_ddpg(
    make_env: Callable[[], gym.Env],
    agent: DDPGAgent,
    cfg: ContinuousLoopConfig,
    seed: int,
    curves: CurveLog,
    label: str = "ddpg",
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    progress: bool = True,
    measured: dict | None = None,
) -> dict[str, float]:
    """Train `agent` on make_env(); returns summary metrics (suffixed with the label): the last evaluation's mean
    return, the mean of the last 3 evaluations' means, the best evaluation mean, episodes, steps and updates. The
    wall seconds of training (summed over resumes) and the steps it resumed at go into `measured` (run_meta)."""
    env, eval_env = make_env(), make_env()
    obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
    replay = TransitionReplay(cfg.replay_capacity, obs_dim, action_dim, seed=seed + 1)
    half_width = (agent.high - agent.low) / 2.0
    noise = OrnsteinUhlenbeck(action_dim, cfg.ou_theta, cfg.ou_sigma, seed=seed + 2)
    checkpoints = Checkpointer(checkpoint_dir)
    s = {
        "step": 0,
        "episodes": 0,
        "episode_return": 0.0,
        "last_loss": float("nan"),
        "train_returns": [],
        "eval_means": [],
        "elapsed": 0.0,
        "resumed_at": [],
    }

    def save(folder: Path) -> None:
        np.savez(folder / "agent.npz", **agent.state_arrays())
        replay.save(folder / "replay.npz")
        state = {
            **s,
            "elapsed": s["elapsed"] + time.perf_counter() - started,
            "obs": np.asarray(obs, np.float32).tolist(),
            "env": env_snapshot(env),
            "noise": noise.get_state(),
            "curves": curves.rows,
            "config": asdict(cfg),
        }
        (folder / "state.json").write_text(json.dumps(state))

    started = time.perf_counter()
    found = checkpoints.resumable(resume, asdict(cfg))
    if found is not None:
        latest, state = found
        with checkpoints.restoring(latest):
            with np.load(latest / "agent.npz") as arrays:
                agent.load_state_arrays(dict(arrays))
            replay.load(latest / "replay.npz")
            noise.set_state(state["noise"])
            curves.rows[:] = [tuple(row) for row in state["curves"]]
            s.update(saved_counters(s, state))
            s["resumed_at"].append(s["step"])
            if state.get("env") is not None:
                restore_env(env, state["env"], seed)
                obs = np.asarray(state["obs"], np.float32)
            else:  # the environment's state was not saved: the unfinished episode is dropped, a new one starts
                s["episode_return"] = 0.0
                obs, _ = env.reset(seed=seed + s["step"])
                noise.reset()
        print(f"  {label}: resumed from {latest} at step {s['step']}", file=sys.stderr)
    else:
        obs, _ = env.reset(seed=seed)

    def log_evaluation(step: int) -> None:
        if cfg.eval_episodes == 0:  # benchmarks: no evaluation at all
            return
        returns = evaluate_policy(agent, eval_env, cfg.eval_episodes, seed + 10_000 + step)
        s["eval_means"].append([step, float(np.mean(returns)), float(np.max(returns))])
        values = {f"eval_return/{label}": float(np.mean(returns))}
        recent = [r for t, r in s["train_returns"] if t > step - cfg.eval_every]
        if recent:
            values[f"train_return/{label}"] = float(np.mean(recent))
        if np.isfinite(s["last_loss"]):
            values[f"loss/{label}"] = s["last_loss"]
        curves.add(step, **values)

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.total_steps, initial=s["step"], desc=label, mininterval=10, file=sys.stderr, leave=False)
    while s["step"] < cfg.total_steps:
        obs = np.asarray(obs, np.float32)
        action = agent.act(obs, noise.sample() * half_width)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        replay.add(obs, action, float(reward), next_obs, terminated)
        s["episode_return"] += float(reward)
        s["step"] = step = s["step"] + 1
        if step >= cfg.learning_starts and replay.size >= cfg.batch_size:
            s["last_loss"] = agent.update(*replay.sample(cfg.batch_size))
            if not np.isfinite(s["last_loss"]):
                raise Diverged(step)
        if terminated or truncated:
            s["train_returns"].append([step, s["episode_return"]])
            s["episodes"] += 1
            s["episode_return"] = 0.0
            obs, _ = env.reset()
            noise.reset()
        else:
            obs = next_obs
        if (cfg.eval_every and step % cfg.eval_every == 0) or step == cfg.total_steps:
            log_evaluation(step)
        if cfg.checkpoint_every and checkpoint_dir is not None and step % cfg.checkpoint_every == 0:
            checkpoints.save(step, save)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    metrics = {}
    if s["eval_means"]:
        metrics[f"eval_return_{label}"] = s["eval_means"][-1][1]
        metrics[f"eval_return_last3_{label}"] = float(np.mean([row[1] for row in s["eval_means"][-3:]]))
        metrics[f"eval_return_best_mean_{label}"] = max(row[1] for row in s["eval_means"])
    if measured is not None:
        measured[f"train_seconds_{label}"] = round(s["elapsed"] + time.perf_counter() - started, 3)
        measured[f"resumed_at_{label}"] = s["resumed_at"]
    return {
        **metrics,
        f"train_episodes_{label}": s["episodes"],
        f"env_steps_{label}": s["step"],
        f"updates_{label}": agent.updates,
    }
