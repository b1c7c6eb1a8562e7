"""DQN training throughput on Pong: this suite's agent and loop against Stable-Baselines3's DQN, each side in its
own process (`sb3_compare`: alternating runs, every pairwise ratio, update and action times, FLOPs per update
against a measured matmul peak).

Both train the Nature-2015 CNN (32/64/64 convolutions, 512 hidden units) on the same gymnasium environment
(`replicate_suite.rl.envs.make_atari`: ALE v5 Pong, frame skip 4, no sticky actions, 84x84 grayscale, 4 stacked
frames) with
the same settings: batch 32, one update every 4 agent steps after `learning_starts`, Adam lr 1e-4, Huber loss,
gradient-norm clip 10, target copy every 1,000 agent steps, epsilon 1 -> 0.1 over the first 10 % of steps, gamma
0.99, float32. Both follow the epsilon schedule from the first step, as dqn_atari2013 does (SB3's uniformly random
warm-up before learning_starts is turned off: sb3_compare.policy_from_first_step; records without
`warm_up_actions` had it on, which spared SB3 ~650 greedy forward passes: 4,476-4,517 against 5,103-5,149).

    pip install -e ".[bench]"    # see the README for a CPU-only torch
    python benchmarks/dqn_throughput.py [--steps 6000] [--repeats 3] [--backend tensorflow|jax] [--xla]
                                        [--torch-threads 2] [--intra-op-threads N] [--sb3-python PYTHON]
                                        [--tensorflow-kernels onednn|eigen]
                                        [--out benchmarks/results/dqn_throughput.json]

Threads: SB3's torch uses --torch-threads (default 2, one per core); ours uses dqn_atari2013's setting (TensorFlow's
default, one intra-op thread per core) unless --intra-op-threads, which may change the convolutions' reduction
order (the record says so).
"""

from __future__ import annotations

from sb3_compare import (
    WARM_UP_STEPS,
    StepClock,
    compare,
    policy_from_first_step,
    run_our_side,
    run_side,
    timed,
    training_flops,
)

STEPS_DEFAULT, LEARNING_STARTS, TRAIN_EVERY, BATCH, TARGET_STEPS, LR = 6000, 1000, 4, 32, 1000, 1e-4
PONG_ACTIONS = 6


def nature_cnn_macs(num_actions: int) -> list[int]:
    """Multiply-accumulates per 84x84x4 input of each layer of the Nature CNN (valid convolutions)."""
    return [
        20 * 20 * 32 * (8 * 8 * 4),  # conv 8x8 stride 4 -> 20x20x32
        9 * 9 * 64 * (4 * 4 * 32),  # conv 4x4 stride 2 -> 9x9x64
        7 * 7 * 64 * (3 * 3 * 64),  # conv 3x3 stride 1 -> 7x7x64
        7 * 7 * 64 * 512,  # dense 3136 -> 512
        512 * num_actions,
    ]


def flops_per_update() -> dict:
    """Convolution and matmul FLOPs of one update (batch 32): online net forward + backward on s, target net
    forward on s'. Elementwise work (Huber loss, Adam, clipping) is not counted."""
    macs = nature_cnn_macs(PONG_ACTIONS)
    per_sample = training_flops(macs, first_input=macs[0]) + 2 * sum(macs)
    return {"flops": BATCH * per_sample, "counted": "conv/matmul only: online fwd+bwd on s, target fwd on s'"}


def atari_config():
    from replicate_suite.rl.envs import AtariConfig

    return AtariConfig(frame_skip=4, repeat_action_probability=0.0, noop_max=0, frame_stack=4)


def run_ours(steps: int, seed: int, xla: bool = False) -> dict:
    import keras

    from replicate_suite.models.qnets import build_atari_cnn
    from replicate_suite.results import CurveLog
    from replicate_suite.rl import loop
    from replicate_suite.rl.agents.dqn import DQNAgent, DQNConfig
    from replicate_suite.rl.envs import make_atari

    keras.utils.set_random_seed(seed)
    clock = StepClock(LEARNING_STARTS + WARM_UP_STEPS)
    envs = iter([clock.wrap(make_atari("Pong", atari_config())), make_atari("Pong", atari_config())])
    agent = DQNAgent(
        lambda: build_atari_cnn(PONG_ACTIONS, "nature"),
        PONG_ACTIONS,
        DQNConfig(
            gamma=0.99,
            learning_rate=LR,
            optimizer="adam",
            loss="huber",
            target_period=TARGET_STEPS // TRAIN_EVERY,
            max_grad_norm=10.0,
            xla=xla,
        ),
    )
    cfg = loop.LoopConfig(
        total_steps=steps,
        learning_starts=LEARNING_STARTS,
        train_every=TRAIN_EVERY,
        batch_size=BATCH,
        replay_capacity=steps + 10,
        epsilon_start=1.0,
        epsilon_end=0.1,
        epsilon_steps=steps // 10,
        eval_every=0,
        eval_episodes=0,
        eval_epsilon=0.05,
        eval_max_frames=0,
        clip_rewards=True,
        terminal_on_life_loss=False,
        checkpoint_every=0,
    )
    return run_our_side(
        lambda: loop.train_dqn(lambda: next(envs), agent, cfg, seed, CurveLog(), progress=False),
        steps, clock, (loop._DQN, "train"), agent, "q_values",
    )  # fmt: skip


def run_sb3(steps: int, seed: int) -> dict:
    from stable_baselines3 import DQN
    from stable_baselines3.common.vec_env import DummyVecEnv

    from replicate_suite.rl.envs import make_atari

    clock = StepClock(LEARNING_STARTS + WARM_UP_STEPS)
    env = DummyVecEnv([lambda: clock.wrap(make_atari("Pong", atari_config()))])
    model = policy_from_first_step(DQN)(
        "CnnPolicy",
        env,
        learning_rate=LR,
        buffer_size=steps + 10,
        learning_starts=LEARNING_STARTS,
        batch_size=BATCH,
        gamma=0.99,
        train_freq=TRAIN_EVERY,
        gradient_steps=1,
        target_update_interval=TARGET_STEPS,
        exploration_fraction=0.1,
        exploration_initial_eps=1.0,
        exploration_final_eps=0.1,
        max_grad_norm=10.0,
        seed=seed,
        device="cpu",
        verbose=0,
        optimize_memory_usage=False,
    )
    updates, actions = timed(model, "train"), timed(model.policy, "predict")
    return run_side(lambda: model.learn(total_timesteps=steps), steps, clock, updates, actions)


def main() -> None:
    compare(
        __doc__,
        "Pong (ALE v5, frameskip 4, no sticky actions), Nature CNN, batch 32, update every 4 steps, float32",
        STEPS_DEFAULT,
        "benchmarks/results/dqn_throughput.json",
        run_ours,
        run_sb3,
        flops_per_update(),
        "dqn_atari2013",
        sb3_imports=("replicate_suite", "ale_py", "cv2"),
        learning_starts=LEARNING_STARTS,
    )


if __name__ == "__main__":
    main()
