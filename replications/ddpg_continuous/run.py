"""Continuous control with deep reinforcement learning (Lillicrap et al. 2016): DDPG on gymnasium's MuJoCo tasks.

Reads top to bottom: config, the task table, the random policy's returns (the paper's normalisation's zero point),
and DDPG training with noise-free evaluations (checkpointed; `replicate run ... --resume` continues a killed run).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import gymnasium as gym
import numpy as np

from replicate_suite.errors import ReplicateError
from replicate_suite.models.actor_critic import build_actor, build_critic
from replicate_suite.rl.agents.ddpg import DDPGAgent, DDPGConfig
from replicate_suite.rl.continuous import ContinuousLoopConfig, random_policy_returns, train_ddpg
from replicate_suite.rl.envs import EnvRecipe
from replicate_suite.runner import RunContext

VARIANT_FIELD = "tasks"  # replicate run ddpg_continuous --variant Hopper
# One TensorFlow intra-op thread (the runner sets it before the first op; TF_NUM_INTRAOP_THREADS overrides it): the
# 400-300 networks at batch 64 are too small to gain from splitting an op across cores: an update took 2.95 ms at 2
# threads and 2.20 ms at 1 in a microbenchmark (2026-12-05; benchmarks/results/ddpg_throughput*.json hold the
# side-by-side runs at both counts, --intra-op-threads). Weights after 100 updates are bit-identical
# at 1, 2 and 4 threads, with and without batch normalisation, actions too (tests/test_ddpg.py, with oneDNN's
# kernels: TensorFlow's default on the AVX-512 CPU), so runs made before stay exact there; with Eigen's kernels
# (TensorFlow's default on an AVX2-only CPU, Zen 3) 2 threads give other bits.
INTRA_OP_THREADS = 1
TASKS = {  # the paper's task names -> gymnasium's current versions
    "Pendulum": "Pendulum-v1",
    "InvertedPendulum": "InvertedPendulum-v5",
    "Reacher": "Reacher-v5",
    "HalfCheetah": "HalfCheetah-v5",
    "Hopper": "Hopper-v5",
    "Walker2d": "Walker2d-v5",
}


@dataclass(frozen=True)
class TaskOverride:
    task: str
    total_steps: int
    eval_every: int


@dataclass(frozen=True)
class RandomConfig:
    episodes: int
    """Episodes of uniformly random actions per task."""


@dataclass(frozen=True)
class Config:
    tasks: list[str]
    agent: DDPGConfig
    loop: ContinuousLoopConfig
    task_overrides: list[TaskOverride]
    """Per-task training steps and evaluation period where they differ from the loop's."""
    random: RandomConfig

    def __post_init__(self):
        if not self.tasks:
            raise ReplicateError("tasks: needs at least one task (an empty list would write a result with no metric)")
        repeated = sorted({task for task in self.tasks if self.tasks.count(task) > 1})
        if repeated:
            raise ReplicateError(f"tasks: {', '.join(repeated)} listed twice (each task is trained once per run)")


def env_id(task: str) -> str:
    if task not in TASKS:
        raise ReplicateError(f"unknown task {task!r} (known: {', '.join(TASKS)})")
    return TASKS[task]


def make_env(task: str) -> gym.Env:
    try:
        return gym.make(env_id(task))
    except gym.error.DependencyNotInstalled as error:
        raise ReplicateError(f"{task}: {error}") from None


def train_task(task: str, cfg: Config, seed: int, ctx: RunContext) -> dict[str, float]:
    import keras

    keras.utils.set_random_seed(seed)
    loop = cfg.loop
    for override in cfg.task_overrides:
        if override.task == task:
            loop = replace(loop, total_steps=override.total_steps, eval_every=override.eval_every)
    probe = make_env(task)
    obs_dim, space = probe.observation_space.shape[0], probe.action_space
    probe.close()
    a = cfg.agent
    agent = DDPGAgent(
        lambda: build_actor(obs_dim, space.low, space.high, tuple(a.hidden), a.final_init, a.batch_norm),
        lambda: build_critic(obs_dim, space.shape[0], tuple(a.hidden), a.final_init, a.batch_norm),
        space.low,
        space.high,
        a,
    )
    return train_ddpg(
        EnvRecipe("gym", env_id(task)), agent, loop, seed, ctx.curves, task, resume=ctx.resume,
        measured=ctx.measured, **ctx.loop_dirs(task),
    )  # fmt: skip


def run(cfg: Config, seed: int, ctx: RunContext) -> dict[str, float]:
    for task in [*cfg.tasks, *(o.task for o in cfg.task_overrides)]:
        env_id(task)  # unknown tasks fail before anything runs
    if len(cfg.agent.hidden) != 2:
        raise ReplicateError("agent.hidden must list two widths (the critic takes the action at the second layer)")
    metrics: dict[str, float] = {}
    for task in cfg.tasks:
        env = make_env(task)
        scores = random_policy_returns(env, cfg.random.episodes, seed)
        env.close()
        metrics[f"random_return_{task}"] = float(np.mean(scores))
        metrics.update(train_task(task, cfg, seed, ctx))
    return metrics
