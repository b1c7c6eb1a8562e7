"""The off-policy training skeleton shared by DQN (`replicate_suite.rl.loop`) and DDPG
(`replicate_suite.rl.continuous`).

`run_off_policy` does what every off-policy agent does (Stable-Baselines3's OffPolicyAlgorithm, without the class
tree): resume from the newest checkpoint or start fresh, then per step act and store (the algorithm's `collect`),
update when the algorithm says so (`train`), end episodes, evaluate on a schedule and save checkpoints on another,
and keep the counters in a `LoopState`. An algorithm is one object with the hooks of `OffPolicyAlgorithm`; what it
does not say, the skeleton does the same way for all.

Steps: `LoopState.step` counts agent steps, one `env.step` call each (on Atari one agent step is `frame_skip`
emulator frames). DQN's metrics name it `agent_steps_<label>` and DDPG's `env_steps_<label>`: one counter, two
names kept so that existing results files keep their columns.

Checkpoints (`replicate_suite.rl.checkpoint`) hold the agent, the replay, the LoopState, the curves so far, the current
observation and the environment's state where the algorithm can save it (`snapshot_env`), plus whatever the
algorithm adds (`extra_state`, `extra_arrays`). With the environment's state a resumed run ends exactly like an
uninterrupted one; without it the unfinished episode is dropped and a new one starts with reset(seed=seed + step).

Watching and keeping: with `log_dir`, TensorBoard scalars (`replicate_suite.rl.tblog`: each training episode's return
and length and the mean loss of its updates, every curve point of an evaluation, training steps per second) are kept
in memory and written at evaluations, checkpoints and the end; with `agent_dir`, the final networks are saved there
(`replicate_suite.rl.saved`) once training ends. Neither changes what the run computes.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from replicate_suite.errors import Diverged, ReplicateError
from replicate_suite.results import CurveLog
from replicate_suite.rl.checkpoint import Checkpointer, read_loop_checkpoint, saved_counters, write_loop_checkpoint
from replicate_suite.rl.saved import describe_space, save_agent
from replicate_suite.rl.tblog import TrainingLog


def check_loop_settings(loop: Any, minimum: dict[str, int]) -> None:
    """A loop config's checks shared by the DQN and DDPG loops: each count in `minimum` (field -> smallest value) a
    whole number at least that; learning_starts below total_steps and a replay that holds a minibatch (else the run
    ends without an update while looking complete). Raises ReplicateError naming the `loop.` key."""
    for name, low in minimum.items():
        value = getattr(loop, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            hint = " (0 = no cap)" if name == "eval_max_frames" else ""
            raise ReplicateError(f"loop.{name} must be >= {low}{hint} (a whole number), got {value!r}")
    if loop.learning_starts >= loop.total_steps:
        raise ReplicateError(
            f"loop.learning_starts ({loop.learning_starts}) must be below loop.total_steps ({loop.total_steps}): "
            "the run would end before its first update"
        )
    if loop.replay_capacity < loop.batch_size:
        raise ReplicateError(
            f"loop.replay_capacity ({loop.replay_capacity}) is below loop.batch_size ({loop.batch_size}): "
            "no minibatch could be drawn, so the run would never learn"
        )


@dataclass
class LoopState:
    """Every counter of a training loop that a checkpoint must restore (saved in state.json under these names)."""

    step: int = 0
    """Agent steps taken (= env.step calls of the training environment)."""
    episodes: int = 0
    """Training episodes finished."""
    episode_return: float = 0.0
    """Raw return of the unfinished training episode so far."""
    episode_steps: int = 0
    """Agent steps of the unfinished training episode so far."""
    last_loss: float = math.nan
    """Loss of the latest update (NaN before the first)."""
    train_returns: list[list[float]] = field(default_factory=list)
    """[step at its end, raw return] of each finished training episode."""
    eval_means: list[list[float]] = field(default_factory=list)
    """[step, mean return, best episode's return, episodes] of each evaluation."""
    elapsed: float = 0.0
    """Wall seconds of training before the latest resume (summed over earlier sessions)."""
    resumed_at: list[int] = field(default_factory=list)
    """Steps at which the run was resumed from a checkpoint."""
    last_values: list[float] | None = None
    """[value estimate, true value] of the latest evaluation (DQN with track_values)."""

    @classmethod
    def from_saved(cls, saved: dict[str, Any]) -> LoopState:
        """The state a checkpoint's state.json holds (fields it lacks keep their defaults)."""
        return cls(**{f.name: saved[f.name] for f in fields(cls) if f.name in saved})


@dataclass(frozen=True)
class Schedule:
    """When the skeleton evaluates and saves (all in agent steps)."""

    total_steps: int
    """Agent steps of training."""
    eval_every: int
    """Evaluate every this many steps and at the last one; 0 = only at the last."""
    eval_episodes: int
    """0 = never evaluate (benchmarks)."""
    checkpoint_every: int
    """Save a checkpoint every this many steps; 0 = never."""
    train_return_window: int
    """An evaluation's train_return curve point is the mean return of the training episodes that ended within
    this many steps before it (DQN: max(eval_every, 1); DDPG: eval_every)."""


class OffPolicyAlgorithm(Protocol):
    """What one off-policy algorithm says; `run_off_policy` does the rest."""

    agent: Any
    """Has state_arrays(), load_state_arrays(arrays), migrate_numbered(arrays) and `updates`."""
    replay: Any
    """Has save(path) and load(path)."""
    obs_dtype: Any
    """The dtype in which a checkpoint's observation is restored."""

    def start_episode(self, obs: np.ndarray) -> None:
        """A training episode began with `obs` (after every reset of the training environment)."""

    def collect(self, obs: np.ndarray, step: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Act in state `obs` at `step` (agent steps taken so far), step the training environment, store the
        transition; returns env.step's (next_obs, reward, terminated, truncated, info)."""

    def train(self, step: int) -> float | None:
        """After `step` agent steps: one update's loss, or None when this step has no update."""

    def evaluate(self, step: int, state: LoopState) -> tuple[list[float], dict[str, float], dict[str, float]]:
        """Evaluation episodes at `step`: (their raw returns, curve values logged right after eval_return, curve
        values logged last)."""

    def snapshot_env(self, env: gym.Env) -> Any:
        """The training environment's state as JSON-able values, or None if it cannot be saved."""

    def restore_env(self, env: gym.Env, snapshot: Any, seed: int) -> None:
        """Put a fresh training environment into a saved state."""

    def extra_state(self) -> dict[str, Any]:
        """JSON-able state of the algorithm's own generators (exploration, noise) for state.json."""

    def restore_extra(self, saved: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore what extra_state() and extra_arrays() saved."""

    def extra_arrays(self) -> dict[str, np.ndarray]:
        """Arrays saved as <name>.npy (DQN's Q probe states)."""


def run_off_policy(
    algo: OffPolicyAlgorithm,
    env: gym.Env,
    schedule: Schedule,
    config: dict[str, Any],
    seed: int,
    curves: CurveLog,
    label: str,
    checkpoint_dir: Path | None,
    resume: bool,
    progress: bool,
    log_dir: Path | None = None,
    agent_dir: Path | None = None,
    agent_info: dict[str, Any] | None = None,
) -> tuple[LoopState, float]:
    """Train `algo` on the training environment `env` for schedule.total_steps agent steps; returns the final
    LoopState and the wall seconds of training (summed over resumes). Curve points are named `<metric>/<label>`.
    `config` (the loop config as a dict) is saved with each checkpoint, and a checkpoint with another one is
    refused. A non-finite loss raises Diverged. With `log_dir`, TensorBoard scalars go there; with `agent_dir`, the
    trained agent is saved there at the end, with `agent_info` (e.g. the environment's recipe) in its agent.json."""
    checkpoints = Checkpointer(checkpoint_dir)
    state = LoopState()
    started = time.perf_counter()
    found = checkpoints.resumable(resume, config)
    if found is not None:
        folder, saved = found
        with checkpoints.restoring(folder):  # contents this code cannot read: one line, never a traceback
            saved, arrays = read_loop_checkpoint(folder, saved, algo.agent, algo.replay)
            algo.restore_extra(saved, arrays)
            curves.rows[:] = [tuple(row) for row in saved["curves"]]
            state = LoopState(**saved_counters(asdict(LoopState()), saved))
            state.resumed_at.append(state.step)
            if saved.get("env") is not None:
                algo.restore_env(env, saved["env"], seed)
                obs = np.asarray(saved["obs"], dtype=algo.obs_dtype)
            else:  # the environment cannot be restored: the unfinished episode is dropped, a new one starts here
                obs, _ = env.reset(seed=seed + state.step)
                algo.start_episode(obs)
                state.episode_return, state.episode_steps = 0.0, 0
        print(f"  {label}: resumed from {folder} at step {state.step}", file=sys.stderr)
    else:
        obs, _ = env.reset(seed=seed)
        algo.start_episode(obs)
    log = TrainingLog(log_dir, fresh=found is None, step=state.step)

    def write(folder: Path) -> None:
        snapshot = algo.snapshot_env(env)
        saved = {
            **asdict(state),
            "elapsed": state.elapsed + time.perf_counter() - started,
            "obs": np.asarray(obs, dtype=algo.obs_dtype).tolist() if snapshot is not None else None,
            "env": snapshot,
            **algo.extra_state(),
            "curves": curves.rows,
            "config": config,
        }
        write_loop_checkpoint(folder, algo.agent, algo.replay, saved, algo.extra_arrays())

    def log_evaluation(step: int) -> None:
        if schedule.eval_episodes == 0:  # benchmarks: no evaluation at all
            return
        eval_started = time.perf_counter()
        returns, first, last = algo.evaluate(step, state)
        state.eval_means.append([step, float(np.mean(returns)), float(np.max(returns)), len(returns)])
        values = {f"eval_return/{label}": float(np.mean(returns)), **first}
        recent = [r for t, r in state.train_returns if t > step - schedule.train_return_window]
        if recent:
            values[f"train_return/{label}"] = float(np.mean(recent))
        if np.isfinite(state.last_loss):
            values[f"loss/{label}"] = state.last_loss
        curves.add(step, **values, **last)
        log.evaluation(step, {**values, **last}, eval_started)

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=schedule.total_steps, initial=state.step, desc=label, mininterval=10, file=sys.stderr, leave=False
        )
    try:
        while state.step < schedule.total_steps:
            next_obs, reward, terminated, truncated, _ = algo.collect(obs, state.step)
            state.episode_return += float(reward)
            state.episode_steps += 1
            state.step = step = state.step + 1
            loss = algo.train(step)
            if loss is not None:
                state.last_loss = loss
                if not np.isfinite(loss):
                    raise Diverged(step)
                log.update(loss)
            if terminated or truncated:
                log.episode_end(step, state.episode_return, state.episode_steps)
                state.train_returns.append([step, state.episode_return])
                state.episodes += 1
                state.episode_return, state.episode_steps = 0.0, 0
                obs, _ = env.reset()
                algo.start_episode(obs)
            else:
                obs = next_obs
            if (schedule.eval_every and step % schedule.eval_every == 0) or step == schedule.total_steps:
                log_evaluation(step)
            if schedule.checkpoint_every and checkpoint_dir is not None and step % schedule.checkpoint_every == 0:
                checkpoints.save(step, write)
                log.flush()
            if bar is not None:
                bar.update(1)
    finally:  # what was logged reaches the disk, also when training stops with an error
        log.close()
    if bar is not None:
        bar.close()
    if agent_dir is not None:
        info = {
            "label": label,
            "steps": state.step,
            "observation_space": describe_space(env.observation_space),
            "action_space": describe_space(env.action_space),
            **(agent_info or {}),
        }
        save_agent(agent_dir, algo.agent, info)
    return state, state.elapsed + time.perf_counter() - started


def evaluation_summary(state: LoopState, label: str) -> dict[str, float]:
    """The metrics every off-policy loop reports from its evaluations: the last one's mean return and the best
    mean (none without evaluations)."""
    if not state.eval_means:
        return {}
    return {
        f"eval_return_{label}": state.eval_means[-1][1],
        f"eval_return_best_mean_{label}": max(row[1] for row in state.eval_means),
    }
