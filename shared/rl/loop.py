"""The DQN training loop (Mnih et al. 2013, Alg. 1): epsilon-greedy acting, frame replay, an update every k steps,
separate evaluation episodes (with the value tracking of van Hasselt et al. 2016), curves and checkpoints that a
killed run resumes from. What it shares with DDPG (resume, save, episode bookkeeping, the evaluation and checkpoint
schedule) is `replicate_suite.rl.offpolicy.run_off_policy`; this module holds DQN's part (`_DQN`) and its evaluation.

Steps are agent steps (one action, `frame_skip` emulator frames on Atari). A checkpoint holds the networks, the
optimizer's slots, the replay contents, the step and episode counters, every random generator's state, the
curves so far and, where the environment can save its state (`get_state`/`set_state`), the environment too; with
such an environment a resumed run ends exactly where an uninterrupted one does. Atari cannot save its state through
gymnasium's wrappers, so a resumed Atari run starts a fresh episode at the checkpoint step (the replay, networks and
counters still continue).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np

from replicate_suite.errors import ReplicateError
from replicate_suite.results import CurveLog
from replicate_suite.rl.agents.dqn import DQNAgent
from replicate_suite.rl.envs import episode_frames, frame_stack, recipe_of
from replicate_suite.rl.offpolicy import (
    LoopState,
    Schedule,
    check_loop_settings,
    evaluation_summary,
    run_off_policy,
)
from replicate_suite.rl.replay import ReplayBuffer
from replicate_suite.rl.schedules import LinearSchedule


@dataclass(frozen=True)
class LoopConfig:
    """The DQN loop's settings (Mnih et al. 2013 Sec. 5, Alg. 1); steps are agent steps."""

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
        """Settings under which a run would crash, never learn or never evaluate while looking complete are errors."""
        minimum = {"total_steps": 1, "learning_starts": 0, "train_every": 1, "batch_size": 1, "epsilon_steps": 0,
                   "eval_every": 0, "eval_episodes": 0, "checkpoint_every": 0, "final_eval_episodes": 0,
                   "eval_max_frames": 0, "q_probe_states": 0}  # fmt: skip
        check_loop_settings(self, minimum)
        for name in ("epsilon_start", "epsilon_end", "eval_epsilon"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ReplicateError(f"loop.{name} must be in [0, 1], got {getattr(self, name)}")


def newest_frame(obs: np.ndarray, stack: int) -> np.ndarray:
    """The newest frame of an observation: obs[-1] of a (stack, *frame) stack, the observation itself if stack 1."""
    return obs[-1] if stack > 1 else obs


@dataclass
class Evaluation:
    """What one evaluation measured (see `evaluate`)."""

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
    the last terminal and within `horizon` = ceil(log 0.01 / log gamma) steps of the cut are dropped: every state
    whose unobserved tail could weigh gamma^k >= 0.01, and (conservatively) the one at k = horizon, where gamma^k is
    just below 0.01 (459 states at gamma 0.99)."""
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
    value_tracking: LoopConfig | None = None,
) -> Evaluation:
    """Full-game raw returns of `episodes` epsilon-greedy episodes, seeded so that a given (seed) repeats exactly;
    an episode is cut once it has played `max_frames` emulator frames (`episode_frames`; 0 = no cap).

    With `value_tracking` (the loop config of a run with track_values), also the value estimate and the true
    discounted return over the visited states (van Hasselt et al. 2016, Sec. 5 and Fig. 3), with that config's
    reward clipping and terminals (life loss) and the agent's gamma.
    """
    rng = np.random.default_rng([seed, 7])
    returns, lengths, estimates, truths = [], [], [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed * 1000 + episode)
        total, steps, done, cut = 0.0, 0, False, False
        q_max, rewards, ends = [], [], []
        while not done:
            if value_tracking is None:
                action = agent.act(obs, epsilon, rng)
            else:  # same draws as agent.act, but Q is needed on every state
                q = agent.q_values(obs[None])[0]
                q_max.append(float(np.max(q)))
                action = int(rng.integers(agent.num_actions)) if rng.random() < epsilon else int(np.argmax(q))
            obs, reward, terminated, truncated, info = env.step(action)
            total, steps = total + float(reward), steps + 1
            done = terminated or truncated or (max_frames > 0 and episode_frames(info, steps) >= max_frames)
            if value_tracking is not None:
                rewards.append(float(np.sign(reward)) if value_tracking.clip_rewards else float(reward))
                ends.append(terminated or (value_tracking.terminal_on_life_loss and bool(info.get("life_lost", False))))
                cut = done and not terminated
        returns.append(total)
        lengths.append(steps)
        if value_tracking is not None:
            ends_arr = np.asarray(ends, dtype=bool)
            keep = observed_return_mask(ends_arr, agent.cfg.gamma, cut)
            estimates.extend(np.asarray(q_max)[keep])
            truths.extend(discounted_returns(np.asarray(rewards), ends_arr, agent.cfg.gamma)[keep])
    result = Evaluation(returns, lengths)
    if value_tracking is not None and estimates:
        result.value_estimate, result.true_value = float(np.mean(estimates)), float(np.mean(truths))
    return result


class _DQN:
    """DQN's part of the off-policy skeleton (replicate_suite.rl.offpolicy): epsilon-greedy acting, frame replay with
    clipped rewards and life-loss terminals, an update every `train_every` steps, evaluations with their epsilon,
    the Q probe and the tracked values."""

    def __init__(self, agent: DQNAgent, env: gym.Env, eval_env: gym.Env, cfg: LoopConfig, seed: int, label: str):
        self.agent, self.env, self.eval_env, self.cfg, self.seed, self.label = agent, env, eval_env, cfg, seed, label
        obs_shape = env.observation_space.shape
        self.stack = frame_stack(env)
        frame_shape = obs_shape[1:] if self.stack > 1 else obs_shape
        self.obs_dtype = env.observation_space.dtype
        self.replay = ReplayBuffer(cfg.replay_capacity, frame_shape, self.stack, self.obs_dtype, seed=seed + 1)
        self.explore = np.random.default_rng([seed, 2])
        self.epsilon = LinearSchedule(cfg.epsilon_start, cfg.epsilon_end, cfg.epsilon_steps)
        self.probe: np.ndarray | None = None

    def start_episode(self, obs: np.ndarray) -> None:
        self.replay.start_episode(newest_frame(obs, self.stack))

    def collect(self, obs: np.ndarray, step: int):
        cfg = self.cfg
        action = self.agent.act(obs, self.epsilon(step), self.explore)
        next_obs, reward, terminated, truncated, info = self.env.step(action)
        train_reward = float(np.sign(reward)) if cfg.clip_rewards else float(reward)
        terminal = terminated or (cfg.terminal_on_life_loss and bool(info.get("life_lost", False)))
        self.replay.add(action, train_reward, terminal, newest_frame(next_obs, self.stack))
        return next_obs, reward, terminated, truncated, info

    def train(self, step: int) -> float | None:
        cfg = self.cfg
        if step < cfg.learning_starts or step % cfg.train_every != 0:
            return None
        if self.probe is None and cfg.q_probe_states:
            self.probe = self.replay.sample(cfg.q_probe_states).states
        return self.agent.update(self.replay.sample(cfg.batch_size, frames_last=self.agent.frames_last))

    def evaluate(self, step: int, state: LoopState):
        cfg, label = self.cfg, self.label
        final = step == cfg.total_steps and cfg.final_eval_episodes > 0
        evaluation = evaluate(
            self.agent,
            self.eval_env,
            cfg.final_eval_episodes if final else cfg.eval_episodes,
            cfg.eval_epsilon,
            self.seed + 10_000 + step,
            cfg.eval_max_frames,
            value_tracking=cfg if cfg.track_values else None,
        )
        last = {}
        if self.probe is not None:
            last[f"avg_max_q/{label}"] = float(np.mean(np.max(self.agent.q_values(self.probe), axis=1)))
        if np.isfinite(evaluation.value_estimate):
            last[f"value_estimate/{label}"] = evaluation.value_estimate
            last[f"true_value/{label}"] = evaluation.true_value
            state.last_values = [evaluation.value_estimate, evaluation.true_value]
        return evaluation.returns, {f"epsilon/{label}": self.epsilon(step)}, last

    def snapshot_env(self, env: gym.Env):
        return env.unwrapped.get_state() if hasattr(env.unwrapped, "get_state") else None

    def restore_env(self, env: gym.Env, snapshot, seed: int) -> None:
        env.reset(seed=seed)
        env.unwrapped.set_state(snapshot)

    def extra_state(self) -> dict:
        return {"explore_rng": self.explore.bit_generator.state}

    def restore_extra(self, saved: dict, arrays: dict[str, np.ndarray]) -> None:
        self.explore.bit_generator.state = saved["explore_rng"]
        self.probe = arrays.get("probe")

    def extra_arrays(self) -> dict[str, np.ndarray]:
        return {} if self.probe is None else {"probe": self.probe}


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
    log_dir: Path | None = None,
    agent_dir: Path | None = None,
) -> dict[str, float]:
    """Train `agent` on a fresh environment from make_env() for cfg.total_steps agent steps (Mnih et al. 2013,
    Alg. 1, with the loop's options); curves go to `curves` as `<metric>/<label>` at each evaluation step.

    Returns summary metrics, suffixed with the label: eval_return (last evaluation's mean raw return), its
    episodes, the best evaluation mean and best single episode, with track_values value_estimate, true_value and
    overestimation (their difference), and train_episodes, agent_steps, updates, train_seconds (wall) and resumes.
    With `checkpoint_dir`, checkpoints are saved every cfg.checkpoint_every steps; `resume` continues from the
    newest (without it a left-over checkpoint is a ReplicateError). A non-finite loss raises Diverged. With
    `log_dir`, TensorBoard scalars go there; with `agent_dir`, the trained online Q-network is saved there
    (replicate_suite.rl.saved; playable when make_env is an EnvRecipe)."""
    env, eval_env = make_env(), make_env()
    algo = _DQN(agent, env, eval_env, cfg, seed, label)
    schedule = Schedule(
        cfg.total_steps, cfg.eval_every, cfg.eval_episodes, cfg.checkpoint_every, max(cfg.eval_every, 1)
    )
    agent_info = {"env": recipe_of(make_env), "eval_epsilon": cfg.eval_epsilon, "eval_max_frames": cfg.eval_max_frames}
    state, elapsed = run_off_policy(
        algo, env, schedule, asdict(cfg), seed, curves, label, checkpoint_dir, resume, progress,
        log_dir=log_dir, agent_dir=agent_dir, agent_info=agent_info,
    )  # fmt: skip
    metrics = evaluation_summary(state, label)
    if state.eval_means:
        metrics[f"eval_episodes_final_{label}"] = state.eval_means[-1][3]
        metrics[f"eval_return_best_episode_{label}"] = max(row[2] for row in state.eval_means)
    if state.last_values is not None:
        estimate, truth = state.last_values
        metrics[f"value_estimate_{label}"] = estimate
        metrics[f"true_value_{label}"] = truth
        metrics[f"overestimation_{label}"] = estimate - truth
    return {
        **metrics,
        f"train_episodes_{label}": state.episodes,
        f"agent_steps_{label}": state.step,
        f"updates_{label}": agent.updates,
        f"train_seconds_{label}": elapsed,
        f"resumes_{label}": len(state.resumed_at),
    }
