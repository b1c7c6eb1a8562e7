"""DQN training throughput on Pong: this suite's agent and loop against Stable-Baselines3's DQN, same process.

Both train the Nature-2015 CNN (32/64/64 convolutions, 512 hidden units) on the same gymnasium environment
(`shared.rl.envs.make_atari`: ALE v5 Pong, frame skip 4, no sticky actions, 84x84 grayscale, 4 stacked frames) with
the same settings: batch 32, one update every 4 agent steps after `learning_starts`, Adam lr 1e-4, Huber loss,
gradient-norm clip 10, target copy every 1,000 agent steps, epsilon 1 -> 0.1 over the first 10 % of steps, gamma
0.99. Reported: agent steps per second over the whole run (acting, environment, replay, updates) and the mean
milliseconds of one update; the ratio is ours / SB3 (> 1 = ours faster). Needs the `bench` extra.

    pip install -e ".[bench]"
    python benchmarks/dqn_throughput.py [--steps 6000] [--repeats 2] [--out benchmarks/results/dqn_throughput.json]
"""

from __future__ import annotations

from sb3_compare import compare, throughput, timed

STEPS_DEFAULT, LEARNING_STARTS, TRAIN_EVERY, BATCH, TARGET_STEPS, LR = 6000, 1000, 4, 32, 1000, 1e-4


def atari_config():
    from shared.rl.envs import AtariConfig

    return AtariConfig(frame_skip=4, repeat_action_probability=0.0, noop_max=0, frame_stack=4)


def run_ours(steps: int, seed: int) -> dict[str, float]:
    import keras

    from shared.models.qnets import build_atari_cnn
    from shared.results import CurveLog
    from shared.rl.agents.dqn import DQNAgent, DQNConfig
    from shared.rl.envs import make_atari
    from shared.rl.loop import LoopConfig, train_dqn

    keras.utils.set_random_seed(seed)
    make_env = lambda: make_atari("Pong", atari_config())  # noqa: E731
    num_actions = int(make_env().action_space.n)
    agent = DQNAgent(
        lambda: build_atari_cnn(num_actions, "nature"),
        num_actions,
        DQNConfig(
            gamma=0.99,
            learning_rate=LR,
            optimizer="adam",
            loss="huber",
            target_period=TARGET_STEPS // TRAIN_EVERY,
            max_grad_norm=10.0,
        ),
    )
    cfg = LoopConfig(
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
    updates = timed(agent, "update")
    return throughput(lambda: train_dqn(make_env, agent, cfg, seed, CurveLog(), progress=False), steps, updates)


def run_sb3(steps: int, seed: int) -> dict[str, float]:
    import torch
    from stable_baselines3 import DQN
    from stable_baselines3.common.vec_env import DummyVecEnv

    from shared.rl.envs import make_atari

    env = DummyVecEnv([lambda: make_atari("Pong", atari_config())])
    model = DQN(
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
    updates = timed(model, "train")
    return throughput(lambda: model.learn(total_timesteps=steps), steps, updates, torch_threads=torch.get_num_threads())


def main() -> None:
    compare(
        __doc__,
        "Pong (ALE v5, frameskip 4, no sticky actions), Nature CNN, batch 32, update every 4 steps",
        STEPS_DEFAULT,
        "benchmarks/results/dqn_throughput.json",
        run_ours,
        run_sb3,
        learning_starts=LEARNING_STARTS,
    )


if __name__ == "__main__":
    main()
