"""DDPG training throughput on HalfCheetah: this suite's agent and loop against Stable-Baselines3's DDPG, each side
in its own process (`sb3_compare`: alternating runs, every pairwise ratio, update and action times, FLOPs per update
against a measured matmul peak).

Both train 400-300 ReLU actors and critics on gymnasium's HalfCheetah-v5 with the same settings: batch 64, one
update per environment step after `learning_starts`, gamma 0.99, tau 0.001, Ornstein-Uhlenbeck exploration
(theta 0.15, sigma 0.2, dt 1), Adam, float32, no evaluation. Differences: SB3's critic takes the action at its
input (ours at the second layer, as in the paper: 6 x 400 weights fewer, under 1 % of the products), one learning
rate for both networks in SB3 (ours 1e-4 / 1e-3: no difference in work), and our critic's weight decay (the paper's;
SB3 has none), which adds elementwise passes over the critic's ~130k kernel weights to each of our updates (its
value, its gradient and the sum with the loss's gradient; a few % of our update on 2 cores, not measured apart).
Before learning_starts both act with mu(s) + noise, as ddpg_continuous does (SB3's uniformly random warm-up is
turned off: sb3_compare.policy_from_first_step; records without `warm_up_actions` had it on, which
spared SB3 1,000 forward passes).
Ours computes mu(s_{t+1}) inside the update of step t (one compiled call, the same numbers as a separate forward
pass): its update_ms includes that forward pass (0.26 MFLOP, not in flops_per_update) and its action_ms and
greedy_actions cover only the separate ones.
Threads: SB3's torch uses --torch-threads (default 2, one per core); ours uses ddpg_continuous's own setting,
one TensorFlow intra-op thread (bit-identical results at 1, 2 and 4 with oneDNN's kernels, TensorFlow's default on
AVX-512 VNNI CPUs: tests/test_ddpg.py), unless --intra-op-threads; TensorFlow's kernels are this CPU's default unless
--tensorflow-kernels (sb3_compare).

    pip install -e ".[bench]"    # see the README for a CPU-only torch
    python benchmarks/ddpg_throughput.py [--steps 6000] [--repeats 3] [--backend tensorflow|jax] [--xla]
                                         [--torch-threads 2] [--intra-op-threads N] [--sb3-python PYTHON]
                                         [--tensorflow-kernels onednn|eigen]
                                         [--out benchmarks/results/ddpg_throughput.json]
"""

from __future__ import annotations

from sb3_compare import (
    WARM_UP_STEPS,
    StepClock,
    compare,
    dense_macs,
    policy_from_first_step,
    run_our_side,
    run_side,
    timed,
)

ENV_ID, STEPS_DEFAULT, LEARNING_STARTS, BATCH, TAU, GAMMA = "HalfCheetah-v5", 6000, 1000, 64, 0.001, 0.99
OBS_DIM, ACTION_DIM, HIDDEN = 17, 6, (400, 300)


def network_macs() -> tuple[list[int], list[int]]:
    """Multiply-accumulates per sample of each layer of our actor and critic (the action enters the critic's second
    layer)."""
    actor = dense_macs([OBS_DIM, *HIDDEN, ACTION_DIM])
    critic = [OBS_DIM * HIDDEN[0], (HIDDEN[0] + ACTION_DIM) * HIDDEN[1], HIDDEN[1]]
    return actor, critic


def flops_per_update() -> dict:
    """Matmul FLOPs one update (batch 64) of our networks needs (critic with the action at its second layer):
    target actor and target critic forward; critic forward, weight and input gradients (not into s); actor
    forward, critic forward on mu(s) and its gradient into the action only (through the q layer and the action's
    rows of the second layer: the critic's weights are held fixed); actor weight and input gradients (not into s).
    Elementwise work (Adam, soft update, decay) is not counted. Ours also computes a zero-valued 64 x 6 x 300
    product for the action's gradient (DenseWithAction; 0.2 MFLOP), and computes the whole 406-column input
    gradient instead (14.8 MFLOP more) where tf_column_product_matches rejects the shapes: its repeats record
    which (narrow_action_gradient). Records before 2026-12-05 counted that whole product (162.2 MFLOP)."""
    actor, critic = network_macs()
    a, c, first = sum(actor), sum(critic), OBS_DIM * HIDDEN[0]
    into_action = HIDDEN[1] + ACTION_DIM * HIDDEN[1]
    macs = (a + c) + (3 * c - first) + (a + c + into_action) + (2 * a - first)
    return {"flops": 2 * BATCH * macs, "counted": "matmul only; see flops_per_update in ddpg_throughput.py"}


def run_ours(steps: int, seed: int, xla: bool = False) -> dict:
    import gymnasium as gym
    import keras

    from replicate_suite.models.actor_critic import build_actor, build_critic
    from replicate_suite.results import CurveLog
    from replicate_suite.rl import continuous
    from replicate_suite.rl.agents.ddpg import DDPGAgent, DDPGConfig

    keras.utils.set_random_seed(seed)
    clock = StepClock(LEARNING_STARTS + WARM_UP_STEPS)
    envs = iter([clock.wrap(gym.make(ENV_ID)), gym.make(ENV_ID)])
    space = gym.make(ENV_ID).action_space
    cfg = DDPGConfig(GAMMA, TAU, 1e-4, 1e-3, 1e-2, list(HIDDEN), 3e-3, batch_norm=False, xla=xla)
    agent = DDPGAgent(
        lambda: build_actor(OBS_DIM, space.low, space.high),
        lambda: build_critic(OBS_DIM, ACTION_DIM),
        space.low,
        space.high,
        cfg,
    )
    loop = continuous.ContinuousLoopConfig(
        total_steps=steps,
        learning_starts=LEARNING_STARTS,
        batch_size=BATCH,
        replay_capacity=steps + 10,
        ou_theta=0.15,
        ou_sigma=0.2,
        eval_every=0,
        eval_episodes=0,
        checkpoint_every=0,
    )
    measured = run_our_side(
        lambda: continuous.train_ddpg(lambda: next(envs), agent, loop, seed, CurveLog(), progress=False),
        steps, clock, (continuous._DDPG, "train"), agent, "policy", update="update_rows",
    )  # fmt: skip
    measured["narrow_action_gradient"] = agent.learner.narrow_action_gradient(keras.ops.zeros((BATCH, OBS_DIM)))
    return measured


def run_sb3(steps: int, seed: int) -> dict:
    import gymnasium as gym
    import numpy as np
    from stable_baselines3 import DDPG
    from stable_baselines3.common.noise import OrnsteinUhlenbeckActionNoise

    clock = StepClock(LEARNING_STARTS + WARM_UP_STEPS)
    env = clock.wrap(gym.make(ENV_ID))
    model = policy_from_first_step(DDPG)(
        "MlpPolicy",
        env,
        learning_rate=1e-3,
        buffer_size=steps + 10,
        learning_starts=LEARNING_STARTS,
        batch_size=BATCH,
        tau=TAU,
        gamma=GAMMA,
        train_freq=1,
        gradient_steps=1,
        action_noise=OrnsteinUhlenbeckActionNoise(np.zeros(ACTION_DIM), 0.2 * np.ones(ACTION_DIM), theta=0.15, dt=1.0),
        policy_kwargs={"net_arch": list(HIDDEN)},
        seed=seed,
        device="cpu",
        verbose=0,
    )
    updates, actions = timed(model, "train"), timed(model.policy, "predict")
    return run_side(lambda: model.learn(total_timesteps=steps), steps, clock, updates, actions)


def main() -> None:
    compare(
        __doc__,
        f"{ENV_ID}, actor and critic 400-300, batch 64, one update per step, OU noise, no evaluation, float32",
        STEPS_DEFAULT,
        "benchmarks/results/ddpg_throughput.json",
        run_ours,
        run_sb3,
        flops_per_update(),
        "ddpg_continuous",
        sb3_imports=("mujoco",),
        learning_starts=LEARNING_STARTS,
    )


if __name__ == "__main__":
    main()
