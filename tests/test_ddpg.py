"""DDPG: OU noise statistics, the compiled soft update, the critic's target networks, per-network learning rates,
loss separation, the loop's checkpoint/resume, and the ddpg_continuous smoke run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from shared.rl.noise import OrnsteinUhlenbeck


def test_ou_noise_reverts_to_its_mean():
    ou = OrnsteinUhlenbeck(2000, theta=0.15, sigma=0.2, mu=0.0, seed=0)
    ou.state = np.full(2000, 5.0)
    for _ in range(10):
        sample = ou.sample()
    # E[x_k] = mu + (x_0 - mu)(1 - theta)^k; 2000 independent paths, std of the mean ~ 0.35 / sqrt(2000)
    assert abs(sample.mean() - 5.0 * 0.85**10) < 0.03


@pytest.mark.parametrize("dt", [1.0, 0.01])
def test_ou_noise_stationary_variance(dt):
    ou = OrnsteinUhlenbeck(4000, theta=0.15, sigma=0.2, dt=dt, seed=1)
    for _ in range(int(60 / (0.15 * dt))):  # many correlation times
        ou.sample()
    empirical = np.var(ou.sample())
    assert abs(empirical - ou.stationary_variance()) < 0.05 * ou.stationary_variance()
    if dt < 0.1:  # the continuous-time value sigma^2 / (2 theta) = 0.1333
        assert abs(empirical - 0.2**2 / (2 * 0.15)) < 0.05 * 0.1333


def _agent(seed=0, tau=0.1, actor_lr=1e-4):
    import keras

    from shared.models.actor_critic import build_actor, build_critic
    from shared.rl.agents.ddpg import DDPGAgent, DDPGConfig

    keras.utils.set_random_seed(seed)
    low, high = np.array([-2.0, -1.0]), np.array([2.0, 1.0])
    cfg = DDPGConfig(
        gamma=0.99,
        tau=tau,
        actor_learning_rate=actor_lr,
        critic_learning_rate=1e-3,
        critic_weight_decay=1e-2,
        hidden=[32, 24],
        final_init=3e-3,
        batch_norm=False,
    )
    return DDPGAgent(lambda: build_actor(3, low, high, (32, 24)), lambda: build_critic(3, 2, (32, 24)), low, high, cfg)


def _batch(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.normal(size=(n, 3)),
        rng.uniform(-1, 1, size=(n, 2)),
        rng.normal(size=n),
        rng.normal(size=(n, 3)),
        (rng.random(n) < 0.2).astype(float),
    )


def test_actor_maps_onto_the_action_bounds_and_paper_sizes():
    from shared.models.actor_critic import build_actor, build_critic

    actor = build_actor(17, -np.ones(6), np.ones(6))
    critic = build_critic(17, 6)
    assert actor.count_params() == (17 * 400 + 400) + (400 * 300 + 300) + (300 * 6 + 6)
    assert critic.count_params() == (17 * 400 + 400) + ((400 + 6) * 300 + 300) + (300 + 1)
    agent = _agent()
    big = agent.policy(np.full((4, 3), 1e3))
    assert np.all(np.abs(big) <= agent.high + 1e-6)
    assert np.allclose(agent.act(np.zeros(3), np.array([10.0, -10.0])), [2.0, -1.0])  # noise clipped to bounds


def test_soft_update_runs_in_the_compiled_step():
    from shared.rl.agents.ddpg import soft_update

    agent = _agent(tau=0.1)
    batch = _batch()
    agent.update(*batch)
    online = agent.learner.actor.get_weights() + agent.learner.critic.get_weights()
    targets = agent.learner.target_actor.get_weights() + agent.learner.target_critic.get_weights()
    agent.update(*batch)  # its soft update happens before its gradient step, on the weights after the first
    after = agent.learner.target_actor.get_weights() + agent.learner.target_critic.get_weights()
    for i, (new, old, o) in enumerate(zip(after, targets, online, strict=True)):
        np.testing.assert_allclose(new, soft_update(old, o, 0.1), atol=1e-6, err_msg=f"weight {i}")


def test_critic_target_uses_the_target_actor_and_target_critic():
    agent = _agent()
    learner = agent.learner
    for net in (learner.target_actor, learner.target_critic):  # make the targets differ from the online nets
        net.set_weights([w + 0.05 * np.sign(w + 1e-3) for w in net.get_weights()])
    from keras import ops

    obs, _, rewards, next_obs, terminals = _batch()
    discounts = (0.99 * (1 - terminals)).astype(np.float32)
    tensor = lambda a: ops.convert_to_tensor(np.asarray(a, np.float32))  # noqa: E731
    got = np.asarray(learner.critic_targets(tensor(rewards), tensor(next_obs), tensor(discounts)))
    next_actions = tensor(learner.target_actor(tensor(next_obs)))
    expected = rewards + discounts * np.asarray(learner.target_critic([tensor(next_obs), next_actions]))[:, 0]
    online = rewards + discounts * agent.q_values(next_obs, agent.policy(next_obs))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert np.max(np.abs(got - online)) > 1e-3


def test_actor_and_critic_move_at_their_own_learning_rates():
    agent = _agent()
    before = [agent.learner.actor.get_weights(), agent.learner.critic.get_weights()]
    agent.update(*_batch())
    after = [agent.learner.actor.get_weights(), agent.learner.critic.get_weights()]
    steps = [max(np.max(np.abs(a - b)) for a, b in zip(x, y, strict=True)) for x, y in zip(after, before, strict=True)]
    assert math.isclose(steps[0], 1e-4, rel_tol=0.01) and math.isclose(steps[1], 1e-3, rel_tol=0.01)  # Adam's 1st step


def test_the_actor_loss_does_not_move_the_critic():
    # Two agents with the same critic (and targets) but different online actors: the critic's loss does not involve
    # the online actor, so if no gradient of the actor's loss leaks into the critic, both critics end up equal.
    first, second = _agent(seed=0), _agent(seed=0)
    second.learner.actor.set_weights([w * 1.5 + 0.01 for w in second.learner.actor.get_weights()])
    batch = _batch()
    first.update(*batch)
    second.update(*batch)
    for a, b in zip(first.learner.critic.get_weights(), second.learner.critic.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)  # threaded reductions differ in the last bits; a leak moves ~1e-3
    assert any(
        np.max(np.abs(a - b)) > 1e-3
        for a, b in zip(first.learner.actor.get_weights(), second.learner.actor.get_weights(), strict=True)
    )


def _loop(**changes):
    from shared.rl.continuous import ContinuousLoopConfig

    base = dict(
        total_steps=300,
        learning_starts=64,
        batch_size=32,
        replay_capacity=1000,
        ou_theta=0.15,
        ou_sigma=0.2,
        eval_every=150,
        eval_episodes=1,
        checkpoint_every=150,
    )
    return ContinuousLoopConfig(**{**base, **changes})


def _small_agent():
    from shared.models.actor_critic import build_actor, build_critic
    from shared.rl.agents.ddpg import DDPGAgent, DDPGConfig

    cfg = DDPGConfig(0.99, 0.005, 1e-4, 1e-3, 1e-2, [16, 16], 3e-3, False)
    low, high = np.array([-2.0]), np.array([2.0])
    return DDPGAgent(lambda: build_actor(3, low, high, (16, 16)), lambda: build_critic(3, 1, (16, 16)), low, high, cfg)


class _RecordResets:
    """Makes Pendulums that record the seeds they are reset with, one list per environment made (the loop makes
    its training environment first, then its evaluation environment)."""

    def __init__(self):
        self.resets: list[list] = []

    def __call__(self):
        import gymnasium as gym

        seeds = []
        self.resets.append(seeds)

        class Recording(gym.Wrapper):
            def reset(self, *, seed=None, options=None):
                seeds.append(seed)
                return self.env.reset(seed=seed, options=options)

        return Recording(gym.make("Pendulum-v1"))


def _kill_after_first_checkpoint(monkeypatch, make, loop, folder):
    from shared.results import CurveLog
    from shared.rl import continuous

    save = continuous.Checkpointer.save

    def save_then_die(self, step, write):
        save(self, step, write)
        raise KeyboardInterrupt

    keras_seed(0)
    monkeypatch.setattr(continuous.Checkpointer, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        continuous.train_ddpg(make, _small_agent(), loop, 0, CurveLog(), "p", folder, progress=False)
    monkeypatch.setattr(continuous.Checkpointer, "save", save)


def keras_seed(seed):
    import keras

    keras.utils.set_random_seed(seed)


# The checkpoint at step 120 falls mid-episode (Pendulum: 200 steps) and mid loss window (update 57 of 0-99), and
# the evaluation at 150 reports a loss averaged across it: a resumed run must restore all of that exactly.
RESUME_LOOP = dict(total_steps=300, checkpoint_every=120, eval_every=150)


def test_a_killed_run_resumes_and_ends_exactly_like_an_uninterrupted_one(tmp_path, monkeypatch):
    from shared.errors import ReplicateError
    from shared.results import CurveLog
    from shared.rl import continuous

    make, loop = _RecordResets(), _loop(**RESUME_LOOP)
    keras_seed(0)
    straight_curves, measured = CurveLog(), {}
    straight_agent = _small_agent()
    straight = continuous.train_ddpg(
        make, straight_agent, loop, 0, straight_curves, "p", progress=False, measured=measured
    )
    assert set(measured) == {"train_seconds_p", "resumed_at_p"} and measured["resumed_at_p"] == []
    assert not any("seconds" in name for name in straight)  # wall-clock figures are not results

    _kill_after_first_checkpoint(monkeypatch, make, loop, tmp_path)
    assert (tmp_path / "LATEST").read_text() == "step_000000000120"
    with pytest.raises(ReplicateError, match="resume it or delete it"):
        continuous.train_ddpg(make, _small_agent(), loop, 0, CurveLog(), "p", tmp_path, progress=False)
    make.resets.clear()
    keras_seed(1)  # the checkpoint, not the initialisation, decides the resumed run
    curves, measured, agent = CurveLog(), {}, _small_agent()
    resumed = continuous.train_ddpg(
        make, agent, loop, 0, curves, "p", tmp_path, resume=True, progress=False, measured=measured
    )
    assert measured["resumed_at_p"] == [120]
    # the training environment: a seeded reset, then the saved state; the next episode starts unseeded at step 200
    assert make.resets[0] == [0, None]
    assert resumed == straight and curves.rows == straight_curves.rows
    assert [row[0] for row in curves.rows if row[1] == "eval_return/p"] == [150, 300]
    assert straight["train_episodes_p"] == 1  # the episode the checkpoint cut through finished at step 200
    for name, value in straight_agent.state_arrays().items():
        np.testing.assert_array_equal(value, agent.state_arrays()[name], err_msg=name)


def test_without_the_environment_state_a_resumed_run_starts_a_new_seeded_episode(tmp_path, monkeypatch):
    from shared.results import CurveLog
    from shared.rl import continuous

    monkeypatch.setattr(continuous, "env_snapshot", lambda env: None)  # an environment whose state cannot be read
    make, loop = _RecordResets(), _loop(**RESUME_LOOP)
    _kill_after_first_checkpoint(monkeypatch, make, loop, tmp_path)
    make.resets.clear()
    metrics = continuous.train_ddpg(
        make, _small_agent(), loop, 0, CurveLog(), "p", tmp_path, resume=True, progress=False
    )
    assert make.resets[0] == [0 + 120]  # seed + step: a new episode from the checkpoint's step, no other reset
    # the unfinished episode is dropped: the new one (steps 121-320) does not end by step 300
    assert metrics["train_episodes_p"] == 0 and metrics["env_steps_p"] == 300 and metrics["updates_p"] == 300 - 63


def test_smoke_run_and_bad_task(tmp_path):
    from shared.errors import ReplicateError
    from shared.runner import load_module, run_replication

    folder = run_replication("ddpg_continuous", "smoke", 0, results_root=tmp_path)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["env_steps_Pendulum"] == 300 and "random_return_Pendulum" in metrics
    assert metrics["random_return_Pendulum"] < -500  # a random policy does badly on Pendulum
    with pytest.raises(ReplicateError, match="unknown task"):
        load_module("ddpg_continuous").env_id("Cheetah")
