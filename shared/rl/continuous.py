"""Continuous control: the DDPG training loop (OU exploration, separate noise-free evaluation episodes, curves,
checkpoints a killed run resumes from); its replay is `replicate_suite.rl.replay.TransitionReplay`.

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

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.pendulum import PendulumEnv

from replicate_suite.errors import ReplicateError
from replicate_suite.results import CurveLog
from replicate_suite.rl.agents.ddpg import DDPGAgent
from replicate_suite.rl.envs import recipe_of
from replicate_suite.rl.noise import OrnsteinUhlenbeck
from replicate_suite.rl.offpolicy import (
    LoopState,
    Schedule,
    check_loop_settings,
    evaluation_summary,
    run_off_policy,
)
from replicate_suite.rl.replay import TransitionReplay


@dataclass(frozen=True)
class ContinuousLoopConfig:
    """The DDPG loop's settings (Lillicrap et al. 2016, Alg. 1 and Sec. 7); steps are environment steps."""

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

    def __post_init__(self):
        """Settings under which a run would end without learning or without its evaluations, while looking complete,
        are errors: counts below their minimum, a replay smaller than a minibatch, evaluations of no episode."""
        minimum = {"total_steps": 1, "batch_size": 1, "learning_starts": 0, "eval_every": 0, "eval_episodes": 0,
                   "checkpoint_every": 0}  # fmt: skip
        check_loop_settings(self, minimum)
        if self.eval_every > 0 and self.eval_episodes < 1:
            raise ReplicateError("loop.eval_episodes must be >= 1 when loop.eval_every > 0 (evaluations of no episode)")
        if self.ou_theta < 0 or self.ou_sigma < 0:
            raise ReplicateError(f"loop.ou_theta and loop.ou_sigma must be >= 0, got {self.ou_theta}, {self.ou_sigma}")


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


class _DDPG:
    """DDPG's part of the off-policy skeleton (replicate_suite.rl.offpolicy): mu(s) plus OU noise scaled to the action
    bounds, transition replay (terminated, not truncated, is terminal), an update on every step once the replay
    holds a minibatch, noise-free evaluations, and the environment's full state for checkpoints."""

    obs_dtype = np.float32

    def __init__(self, agent: DDPGAgent, env: gym.Env, eval_env: gym.Env, cfg: ContinuousLoopConfig, seed: int):
        self.agent, self.env, self.eval_env, self.cfg, self.seed = agent, env, eval_env, cfg, seed
        obs_dim, action_dim = env.observation_space.shape[0], env.action_space.shape[0]
        self.replay = TransitionReplay(cfg.replay_capacity, obs_dim, action_dim, seed=seed + 1)
        self.half_width = (agent.high - agent.low) / 2.0
        self.noise = OrnsteinUhlenbeck(action_dim, cfg.ou_theta, cfg.ou_sigma, seed=seed + 2)
        self._next_obs: np.ndarray | None = None  # s' of the last transition: the update computes mu(s') for act()

    def start_episode(self, obs: np.ndarray) -> None:
        self.noise.reset()

    def collect(self, obs: np.ndarray, step: int):
        obs = np.asarray(obs, np.float32)
        action = self.agent.act(obs, self.noise.sample() * self.half_width)
        next_obs, reward, terminated, truncated, info = self.env.step(action)
        self.replay.add(obs, action, float(reward), next_obs, terminated)
        self._next_obs = np.asarray(next_obs, np.float32)
        return next_obs, reward, terminated, truncated, info

    def train(self, step: int) -> float | None:
        if step < self.cfg.learning_starts or self.replay.size < self.cfg.batch_size:
            return None
        # The update also computes mu(s') for the next step's action (one compiled call; the same numbers). Also when
        # the episode just ended: the next act() is then on the reset observation, misses the cached mu(s') and
        # computes its own (a wasted batch-of-one forward pass), but no update goes through a second compiled
        # function, train_step alone, whose tracing and graph optimisation (~0.4 s at the paper's sizes on 2 cores)
        # would otherwise come at the first episode end after learning starts.
        return self.agent.update_rows(self.replay.sample_rows(self.cfg.batch_size), act_on=self._next_obs)

    def evaluate(self, step: int, state: LoopState):
        returns = evaluate_policy(self.agent, self.eval_env, self.cfg.eval_episodes, self.seed + 10_000 + step)
        return returns, {}, {}

    def snapshot_env(self, env: gym.Env):
        return env_snapshot(env)

    def restore_env(self, env: gym.Env, snapshot, seed: int) -> None:
        restore_env(env, snapshot, seed)

    def extra_state(self) -> dict:
        return {"noise": self.noise.get_state()}

    def restore_extra(self, saved: dict, arrays: dict[str, np.ndarray]) -> None:
        self.noise.set_state(saved["noise"])

    def extra_arrays(self) -> dict[str, np.ndarray]:
        return {}


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
    log_dir: Path | None = None,
    agent_dir: Path | None = None,
) -> dict[str, float]:
    """Train `agent` on make_env() for cfg.total_steps environment steps (Lillicrap et al. 2016, Alg. 1); curves go
    to `curves` as `<metric>/<label>` at each evaluation step.

    Returns summary metrics (suffixed with the label): the last evaluation's mean return, the mean of the last 3
    evaluations' means, the best evaluation mean, episodes, steps and updates. The wall seconds of training (summed
    over resumes) and the steps it resumed at go into `measured` (run_meta). With `checkpoint_dir`, checkpoints are
    saved every cfg.checkpoint_every steps; `resume` continues from the newest (without it a left-over checkpoint
    is a ReplicateError). A non-finite loss raises Diverged. With `log_dir`, TensorBoard scalars go there; with
    `agent_dir`, the trained actor and critic are saved there (replicate_suite.rl.saved; playable when make_env is an
    EnvRecipe)."""
    env, eval_env = make_env(), make_env()
    algo = _DDPG(agent, env, eval_env, cfg, seed)
    schedule = Schedule(cfg.total_steps, cfg.eval_every, cfg.eval_episodes, cfg.checkpoint_every, cfg.eval_every)
    state, elapsed = run_off_policy(
        algo, env, schedule, asdict(cfg), seed, curves, label, checkpoint_dir, resume, progress,
        log_dir=log_dir, agent_dir=agent_dir, agent_info={"env": recipe_of(make_env)},
    )  # fmt: skip
    metrics = evaluation_summary(state, label)
    if state.eval_means:
        metrics[f"eval_return_last3_{label}"] = float(np.mean([row[1] for row in state.eval_means[-3:]]))
    if measured is not None:
        measured[f"train_seconds_{label}"] = round(elapsed, 3)
        measured[f"resumed_at_{label}"] = state.resumed_at
    return {
        **metrics,
        f"train_episodes_{label}": state.episodes,
        f"env_steps_{label}": state.step,
        f"updates_{label}": agent.updates,
    }
