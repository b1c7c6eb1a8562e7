"""DDPG training throughput on HalfCheetah: this suite's agent and loop against Stable-Baselines3's DDPG, same process.

Both train 400-300 ReLU actors and critics on gymnasium's HalfCheetah-v5 with the same settings: batch 64, one
update per environment step after `learning_starts`, gamma 0.99, tau 0.001, Ornstein-Uhlenbeck exploration
(theta 0.15, sigma 0.2, dt 1), Adam, no evaluation. Differences that do not change the work done per step: SB3's
critic takes the action at its input (ours at the second layer, as in the paper; the layer sizes and parameter
counts differ by 6 x 400 weights), one learning rate for both networks in SB3 (ours 1e-4 / 1e-3), and our critic's
weight decay. Reported: environment steps per second over the whole run (acting, environment, replay, updates) and
the mean milliseconds of one update; the ratio is ours / SB3 (> 1 = ours faster). Needs the `bench` extra.

    pip install -e ".[bench]"
    python benchmarks/ddpg_throughput.py [--steps 6000] [--repeats 2] [--out benchmarks/results/ddpg_throughput.json]
"""

from __future__ import annotations

from sb3_compare import compare, throughput, timed

ENV_ID, STEPS_DEFAULT, LEARNING_STARTS, BATCH, TAU, GAMMA = "HalfCheetah-v5", 6000, 1000, 64, 0.001, 0.99


def run_ours(steps: int, seed: int) -> dict[str, float]:
    import gymnasium as gym
    import keras

    from shared.models.actor_critic import build_actor, build_critic
    from shared.results import CurveLog
    from shared.rl.agents.ddpg import DDPGAgent, DDPGConfig
    from shared.rl.continuous import ContinuousLoopConfig, train_ddpg

    keras.utils.set_random_seed(seed)
    probe = gym.make(ENV_ID)
    obs_dim, space = probe.observation_space.shape[0], probe.action_space
    cfg = DDPGConfig(GAMMA, TAU, 1e-4, 1e-3, 1e-2, [400, 300], 3e-3, batch_norm=False)
    agent = DDPGAgent(
        lambda: build_actor(obs_dim, space.low, space.high),
        lambda: build_critic(obs_dim, space.shape[0]),
        space.low,
        space.high,
        cfg,
    )
    loop = ContinuousLoopConfig(
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
    updates = timed(agent, "update")
    return throughput(
        lambda: train_ddpg(lambda: gym.make(ENV_ID), agent, loop, seed, CurveLog(), progress=False), steps, updates
    )


def run_sb3(steps: int, seed: int) -> dict[str, float]:
    import gymnasium as gym
    import numpy as np
    import torch
    from stable_baselines3 import DDPG
    from stable_baselines3.common.noise import OrnsteinUhlenbeckActionNoise

    env = gym.make(ENV_ID)
    size = env.action_space.shape[0]
    model = DDPG(
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
        action_noise=OrnsteinUhlenbeckActionNoise(np.zeros(size), 0.2 * np.ones(size), theta=0.15, dt=1.0),
        policy_kwargs={"net_arch": [400, 300]},
        seed=seed,
        device="cpu",
        verbose=0,
    )
    updates = timed(model, "train")
    return throughput(lambda: model.learn(total_timesteps=steps), steps, updates, torch_threads=torch.get_num_threads())


def main() -> None:
    compare(
        __doc__,
        f"{ENV_ID}, actor and critic 400-300, batch 64, one update per step, OU noise, no evaluation",
        STEPS_DEFAULT,
        "benchmarks/results/ddpg_throughput.json",
        run_ours,
        run_sb3,
        learning_starts=LEARNING_STARTS,
    )


if __name__ == "__main__":
    main()
