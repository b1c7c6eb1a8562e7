"""The DQN training loop: epsilon-greedy acting, replay, updates every k steps, separate evaluation episodes,
curves, and checkpoints that a killed run resumes from.

Steps are agent steps (one action, `frame_skip` emulator frames on Atari). A checkpoint holds the networks, the
optimizer's slots, the replay contents, the step and episode counters, every random generator's state, the
curves so far and, where the environment can save its state (`get_state`/`set_state`), the environment too; with
such an environment a resumed run ends exactly where an uninterrupted one does. Atari cannot save its state through
gymnasium's wrappers, so a resumed Atari run starts a fresh episode at the checkpoint step (the replay, networks and
counters still continue).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np

from shared.errors import Diverged, ReplicateError
from shared.results import CurveLog
from shared.rl.agents.dqn import DQNAgent
from shared.rl.checkpoint import Checkpointer, saved_counters
from shared.rl.envs import episode_frames, frame_stack
from shared.rl.replay import ReplayBuffer
from shared.rl.schedules import LinearSchedule


@dataclass(frozen=True)
class LoopConfig:
    total_steps: int
    """Agent steps of training."""
    learning_starts: int
    """Steps of acting (and filling replay) before the first update."""
    train_every: int
    """One update every this many agent steps (Mnih 2013/2015: 4)."""
    batch_size: int
    replay_capacity: int
    """Frames kept (Mnih 2013: the 1M most recent)."""
    epsilon_start: float
    epsilon_end: float
    epsilon_steps: int
    """Steps over which epsilon falls linearly from start to end."""
    eval_every: int
    """Evaluate every this many steps (and at the end); 0 = only at the end."""
    eval_episodes: int
    """Episodes of each evaluation during training."""
    eval_epsilon: float
    """Mnih 2013/2015: 0.05."""
    eval_max_frames: int
    """Cap on one evaluation episode in emulator frames since reset, no-op starts included (Nature: 18,000 = 5
    minutes at 60 Hz, i.e. 4,500 agent steps at frame skip 4 and 6,000 at 3); the episode ends with the agent step
    on which the count reaches the cap; 0 = the environment's own limit. Environments without an emulator (the chain,
    MinAtar) count one frame per agent step."""
    clip_rewards: bool
    """Train on sign(reward) (Mnih 2013); evaluation and logged returns stay raw."""
    terminal_on_life_loss: bool
    """Treat a lost life as terminal in the TD target (the game continues)."""
    checkpoint_every: int
    """Save a checkpoint every this many steps; 0 = never."""
    final_eval_episodes: int = 0
    """Episodes of the evaluation at the end of training, whose mean is the run's final return; 0 = eval_episodes."""
    q_probe_states: int = 0
    """Track the mean max-Q on this many fixed states drawn from replay when learning starts (Mnih 2013, Fig. 2)."""
    track_values: bool = False
    """At every evaluation also log the mean max-Q over the states the evaluation visits and the actual discounted
    (training-reward) return from those states (van Hasselt et al. 2016, Fig. 3)."""

    def __post_init__(self):
        if self.final_eval_episodes < 0:
            raise ReplicateError(f"loop.final_eval_episodes must be >= 0, got {self.final_eval_episodes}")
        if self.eval_max_frames < 0:
            raise ReplicateError(f"loop.eval_max_frames must be >= 0 (0 = no cap), got {self.eval_max_frames}")


def newest_frame(obs: np.ndarray, stack: int) -> np.ndarray:
    return obs[-1] if stack > 1 else obs


@dataclass
class Evaluation:
    returns: list[float]
    """Raw full-game return of each episode."""
    steps: list[int] = field(default_factory=list)
    """Agent steps of each episode."""
    value_estimate: float = float("nan")
    """Mean of max_a Q(s, a) over the visited states (with track_values)."""
    true_value: float = float("nan")
    """Mean over the same states of the discounted return actually obtained from them, in training rewards."""


def discounted_returns(rewards: np.ndarray, ends: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = r_t + gamma * G_{t+1}, with G_t = r_t where ends[t] (the target's terminal: game over or life lost)."""
    out = np.zeros(len(rewards))
    following = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        following = rewards[t] + (0.0 if ends[t] else gamma * following)
        out[t] = following
    return out


def observed_return_mask(ends: np.ndarray, gamma: float, cut: bool) -> np.ndarray:
    """States whose discounted return is known: all of them unless the episode was cut, in which case those after
    the last terminal and within the horizon where gamma^k >= 0.01 of the cut are dropped."""
    keep = np.ones(len(ends), dtype=bool)
    if cut and len(ends):
        horizon = int(np.ceil(np.log(0.01) / np.log(gamma))) if 0 < gamma < 1 else len(ends)
        last_end = int(np.flatnonzero(ends)[-1]) if ends.any() else -1
        keep[max(last_end + 1, len(ends) - horizon) :] = False
    return keep


def evaluate(
    agent: DQNAgent,
    env: gym.Env,
    episodes: int,
    epsilon: float,
    seed: int,
    max_frames: int,
    values: LoopConfig | None = None,
) -> Evaluation:
    """Full-game raw returns of `episodes` epsilon-greedy episodes, seeded so that a given (seed) repeats exactly;
    an episode is cut once it has played `max_frames` emulator frames (`episode_frames`; 0 = no cap).

    With `values` (a loop config with track_values), also the value estimate and the true discounted return over
    the visited states, with the loop's reward clipping and terminals (life loss) and the agent's gamma.
    """
    rng = np.random.default_rng([seed, 7])
    returns, lengths, estimates, truths = [], [], [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed * 1000 + episode)
        total, steps, done, cut = 0.0, 0, False, False
        q_max, rewards, ends = [], [], []
        while not done:
            if values is None:
                action = agent.act(obs, epsilon, rng)
            else:  # same draws as agent.act, but Q is needed on every state
                q = agent.q_values(obs[None])[0]
                q_max.append(float(np.max(q)))
                action = int(rng.integers(agent.num_actions)) if rng.random() < epsilon else int(np.argmax(q))
            obs, reward, terminated, truncated, info = env.step(action)
            total, steps = total + float(reward), steps + 1
            done = terminated or truncated or (max_frames > 0 and episode_frames(info, steps) >= max_frames)
            if values is not None:
                rewards.append(float(np.sign(reward)) if values.clip_rewards else float(reward))
                ends.append(terminated or (values.terminal_on_life_loss and bool(info.get("life_lost", False))))
                cut = done and not terminated
        returns.append(total)
        lengths.append(steps)
        if values is not None:
            ends_arr = np.asarray(ends, dtype=bool)
            keep = observed_return_mask(ends_arr, agent.cfg.gamma, cut)
            estimates.extend(np.asarray(q_max)[keep])
            truths.extend(discounted_returns(np.asarray(rewards), ends_arr, agent.cfg.gamma)[keep])
    result = Evaluation(returns, lengths)
    if values is not None and estimates:
        result.value_estimate, result.true_value = float(np.mean(estimates)), float(np.mean(truths))
    return result


def train_dqn(
    make_env: Callable[[], gym.Env],
    agent: DQNAgent,
    cfg: LoopConfig,
    seed: int,
    curves: CurveLog,
    label: str = "dqn",
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict[str, float]:
    """Train `agent` on a fresh environment from make_env(); returns summary metrics (suffixed with the label)."""
    env, eval_env = make_env(), make_env()
    obs_shape = env.observation_space.shape
    stack = frame_stack(env)
    frame_shape = obs_shape[1:] if stack > 1 else obs_shape
    replay = ReplayBuffer(cfg.replay_capacity, frame_shape, stack, env.observation_space.dtype, seed=seed + 1)
    explore = np.random.default_rng([seed, 2])
    epsilon = LinearSchedule(cfg.epsilon_start, cfg.epsilon_end, cfg.epsilon_steps)
    checkpoints = Checkpointer(checkpoint_dir)
    s = {  # every counter a checkpoint must restore
        "step": 0,
        "episodes": 0,
        "episode_return": 0.0,
        "episode_steps": 0,
        "last_loss": float("nan"),
        "train_returns": [],
        "eval_means": [],
        "elapsed": 0.0,
        "resumed_at": [],
        "last_values": None,  # [value estimate, true value] of the latest evaluation, with track_values
    }
    probe = None

    def save(folder: Path) -> None:
        np.savez(folder / "agent.npz", **agent.state_arrays())
        replay.save(folder / "replay.npz")
        if probe is not None:
            np.save(folder / "probe.npy", probe)
        env_state = env.unwrapped.get_state() if hasattr(env.unwrapped, "get_state") else None
        state = {
            **s,
            "elapsed": s["elapsed"] + time.perf_counter() - started,
            "obs": obs.tolist() if env_state is not None else None,
            "env_state": env_state,
            "explore_rng": explore.bit_generator.state,
            "curves": curves.rows,
            "config": asdict(cfg),
        }
        (folder / "state.json").write_text(json.dumps(state))

    started = time.perf_counter()
    found_state = checkpoints.resumable(resume, asdict(cfg))
    if found_state is not None:
        found, state = found_state
        with checkpoints.restoring(found):
            with np.load(found / "agent.npz") as arrays:
                agent.load_state_arrays(dict(arrays))
            replay.load(found / "replay.npz")
            probe = np.load(found / "probe.npy") if (found / "probe.npy").exists() else None
            explore.bit_generator.state = state["explore_rng"]
            curves.rows[:] = [tuple(row) for row in state["curves"]]
            s.update(saved_counters(s, state))
            s["resumed_at"].append(s["step"])
            if state["env_state"] is not None:
                env.reset(seed=seed)
                env.unwrapped.set_state(state["env_state"])
                obs = np.asarray(state["obs"], dtype=env.observation_space.dtype)
            else:  # the environment cannot be restored: a new episode from here
                obs, _ = env.reset(seed=seed + s["step"])
                replay.start_episode(newest_frame(obs, stack))
                s["episode_return"], s["episode_steps"] = 0.0, 0
        print(f"  {label}: resumed from {found} at step {s['step']}", file=sys.stderr)
    else:
        obs, _ = env.reset(seed=seed)
        replay.start_episode(newest_frame(obs, stack))

    def log_evaluation(step: int) -> None:
        if cfg.eval_episodes == 0:  # benchmarks: no evaluation at all
            return
        final = step == cfg.total_steps and cfg.final_eval_episodes > 0
        evaluation = evaluate(
            agent,
            eval_env,
            cfg.final_eval_episodes if final else cfg.eval_episodes,
            cfg.eval_epsilon,
            seed + 10_000 + step,
            cfg.eval_max_frames,
            values=cfg if cfg.track_values else None,
        )
        returns = evaluation.returns
        s["eval_means"].append([step, float(np.mean(returns)), float(np.max(returns)), len(returns)])
        values = {f"eval_return/{label}": float(np.mean(returns)), f"epsilon/{label}": epsilon(step)}
        recent = [r for t, r in s["train_returns"] if t > step - max(cfg.eval_every, 1)]
        if recent:
            values[f"train_return/{label}"] = float(np.mean(recent))
        if np.isfinite(s["last_loss"]):
            values[f"loss/{label}"] = s["last_loss"]
        if probe is not None:
            values[f"avg_max_q/{label}"] = float(np.mean(np.max(agent.q_values(probe), axis=1)))
        if np.isfinite(evaluation.value_estimate):
            values[f"value_estimate/{label}"] = evaluation.value_estimate
            values[f"true_value/{label}"] = evaluation.true_value
            s["last_values"] = [evaluation.value_estimate, evaluation.true_value]
        curves.add(step, **values)

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cfg.total_steps, initial=s["step"], desc=label, mininterval=10, file=sys.stderr, leave=False)
    while s["step"] < cfg.total_steps:
        step = s["step"]
        action = agent.act(obs, epsilon(step), explore)
        next_obs, reward, terminated, truncated, info = env.step(action)
        train_reward = float(np.sign(reward)) if cfg.clip_rewards else float(reward)
        terminal = terminated or (cfg.terminal_on_life_loss and bool(info.get("life_lost", False)))
        replay.add(action, train_reward, terminal, newest_frame(next_obs, stack))
        s["episode_return"] += float(reward)
        s["episode_steps"] += 1
        s["step"] = step = step + 1
        if step >= cfg.learning_starts and step % cfg.train_every == 0:
            if probe is None and cfg.q_probe_states:
                probe = replay.sample(cfg.q_probe_states).states
            s["last_loss"] = agent.update(replay.sample(cfg.batch_size))
            if not np.isfinite(s["last_loss"]):
                raise Diverged(step)
        if terminated or truncated:
            s["train_returns"].append([step, s["episode_return"]])
            s["episodes"] += 1
            s["episode_return"], s["episode_steps"] = 0.0, 0
            obs, _ = env.reset()
            replay.start_episode(newest_frame(obs, stack))
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
    elapsed = s["elapsed"] + time.perf_counter() - started
    metrics = {}
    if s["eval_means"]:
        metrics[f"eval_return_{label}"] = s["eval_means"][-1][1]
        metrics[f"eval_episodes_final_{label}"] = s["eval_means"][-1][3]
        metrics[f"eval_return_best_mean_{label}"] = max(row[1] for row in s["eval_means"])
        metrics[f"eval_return_best_episode_{label}"] = max(row[2] for row in s["eval_means"])
    if s["last_values"] is not None:
        estimate, truth = s["last_values"]
        metrics[f"value_estimate_{label}"] = estimate
        metrics[f"true_value_{label}"] = truth
        metrics[f"overestimation_{label}"] = estimate - truth
    return {
        **metrics,
        f"train_episodes_{label}": s["episodes"],
        f"agent_steps_{label}": s["step"],
        f"updates_{label}": agent.updates,
        f"train_seconds_{label}": elapsed,
        f"resumes_{label}": len(s["resumed_at"]),
    }
