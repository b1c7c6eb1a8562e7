"""DDPG: OU noise statistics, the compiled soft update, the critic's target networks, per-network learning rates,
loss separation, the loop's checkpoint/resume, and the ddpg_continuous smoke run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from replicate_suite.rl.noise import OrnsteinUhlenbeck


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

    from replicate_suite.models.actor_critic import build_actor, build_critic
    from replicate_suite.rl.agents.ddpg import DDPGAgent, DDPGConfig

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
    from replicate_suite.models.actor_critic import build_actor, build_critic

    actor = build_actor(17, -np.ones(6), np.ones(6))
    critic = build_critic(17, 6)
    assert actor.count_params() == (17 * 400 + 400) + (400 * 300 + 300) + (300 * 6 + 6)
    assert critic.count_params() == (17 * 400 + 400) + ((400 + 6) * 300 + 300) + (300 + 1)
    agent = _agent()
    big = agent.policy(np.full((4, 3), 1e3))
    assert np.all(np.abs(big) <= agent.high + 1e-6)
    assert np.allclose(agent.act(np.zeros(3), np.array([10.0, -10.0])), [2.0, -1.0])  # noise clipped to bounds


def _bounds_by_layer(obs_dim, action_dim):
    """Sec. 7: final layers U(+-3e-3); the others U(+-1/sqrt(fan-in)), biases with their layer's fan-in too."""
    first, second = 1 / math.sqrt(obs_dim), 1 / math.sqrt(400)
    return {
        "actor": {"fc1": first, "fc2": second, "out": 3e-3},
        "critic": {"fc1": first, "fc2": 1 / math.sqrt(400 + action_dim), "q": 3e-3},  # the action joins at fc2
    }


@pytest.mark.parametrize("obs_dim, action_dim", [(3, 1), (17, 6)])  # Pendulum; HalfCheetah
def test_every_layer_is_initialised_within_its_papers_bound(obs_dim, action_dim):
    import keras

    from replicate_suite.models.actor_critic import build_actor, build_critic

    keras.utils.set_random_seed(0)
    nets = {
        "actor": build_actor(obs_dim, -np.ones(action_dim), np.ones(action_dim)),
        "critic": build_critic(obs_dim, action_dim),
    }
    for net_name, bounds in _bounds_by_layer(obs_dim, action_dim).items():
        dense = [layer for layer in nets[net_name].layers if isinstance(layer, keras.layers.Dense)]
        assert [layer.name for layer in dense] == list(bounds)
        for layer in dense:
            for weight in (layer.kernel, layer.bias):
                values = np.abs(np.asarray(weight))
                bound, n = bounds[layer.name], values.size
                assert values.max() <= bound, f"{net_name} {weight.path}: {values.max()} > {bound}"
                if n >= 100:  # P(max of n uniform draws < bound * (1 - 20 / n)) ~ exp(-20)
                    assert values.max() > bound * (1 - 20 / n), f"{net_name} {weight.path}: {values.max()} << {bound}"
    # every layer draws from its own stream: actor and critic fc1 have the same shape but not the same weights
    assert not np.array_equal(nets["actor"].get_layer("fc1").kernel, nets["critic"].get_layer("fc1").kernel)


def test_the_issues_smallest_case_fan_in_bounds_of_the_biases():
    # build_actor(3, [-2], [2]) / build_critic(3, 1): fc1 biases +-0.5774 (they were +-1/sqrt(400) = 0.05 when the
    # bias used its own width as fan-in), actor fc2 +-0.05, critic fc2 +-1/sqrt(401)
    import keras

    from replicate_suite.models.actor_critic import build_actor, build_critic

    keras.utils.set_random_seed(1)
    actor, critic = build_actor(3, [-2.0], [2.0]), build_critic(3, 1)
    top = {
        f"{net.name} {name}": float(np.max(np.abs(net.get_layer(name).bias)))
        for net in (actor, critic)
        for name in ("fc1", "fc2")
    }
    assert 0.55 < top["actor fc1"] <= 1 / math.sqrt(3) and 0.55 < top["critic fc1"] <= 1 / math.sqrt(3)
    assert 0.049 < top["actor fc2"] <= 0.05 and 0.049 < top["critic fc2"] <= 1 / math.sqrt(401)


def test_the_networks_follow_section_7():
    """ReLU hidden layers, tanh actor output, the action joining the critic at its second layer, batch norm on the
    state input and every hidden actor layer and the critic's layers before the action (Sec. 3 and 7)."""
    import keras

    from replicate_suite.models.actor_critic import build_actor, build_critic

    actor = build_actor(17, -np.ones(6), np.ones(6), batch_norm=True)
    critic = build_critic(17, 6, batch_norm=True)
    norms = lambda net: [layer.name for layer in net.layers if isinstance(layer, keras.layers.BatchNormalization)]  # noqa: E731
    assert norms(actor) == ["obs_bn", "fc1_bn", "fc2_bn"] and norms(critic) == ["obs_bn", "fc1_bn"]
    assert actor.get_layer("out").activation is keras.activations.tanh
    assert critic.get_layer("q").activation is keras.activations.linear
    assert critic.get_layer("fc2").activation is keras.activations.relu
    relus = [layer for layer in actor.layers if isinstance(layer, keras.layers.Activation)]
    assert [layer.activation for layer in relus] == [keras.activations.relu] * 2
    joined = critic.get_layer("fc2")  # DenseWithAction: the Dense layer on [400 ReLU outputs, action]
    assert [t.shape[-1] for t in joined.input] == [400, 6] and joined.kernel.shape == (406, 300)
    assert [t.name for t in joined.input][1] == critic.inputs[1].name == "action"


def test_the_paper_profile_holds_section_7s_numbers():
    import yaml

    from replicate_suite.paths import replications_dir

    paper = yaml.safe_load((replications_dir() / "ddpg_continuous" / "config.yaml").read_text())["paper"]
    assert paper["agent"] == {
        "gamma": 0.99,
        "tau": 0.001,
        "actor_learning_rate": 1e-4,
        "critic_learning_rate": 1e-3,
        "critic_weight_decay": 1e-2,
        "hidden": [400, 300],
        "final_init": 3e-3,
        "batch_norm": True,
        "adam_epsilon": 1e-8,
    }
    loop = paper["loop"]
    assert (loop["batch_size"], loop["replay_capacity"], loop["ou_theta"], loop["ou_sigma"]) == (64, 10**6, 0.15, 0.2)


def soft_update(target: np.ndarray, online: np.ndarray, tau: float) -> np.ndarray:
    """The reference formula (Lillicrap et al. 2016, Alg. 1): tau * online + (1 - tau) * target."""
    return tau * online + (1.0 - tau) * target


def test_soft_update_runs_in_the_compiled_step():
    agent = _agent(tau=0.1)
    batch = _batch()
    agent.update(*batch)
    online = agent.learner.actor.get_weights() + agent.learner.critic.get_weights()
    targets = agent.learner.target_actor.get_weights() + agent.learner.target_critic.get_weights()
    agent.update(*batch)  # its soft update happens before its gradient step, on the weights after the first
    after = agent.learner.target_actor.get_weights() + agent.learner.target_critic.get_weights()
    for i, (new, old, o) in enumerate(zip(after, targets, online, strict=True)):
        np.testing.assert_allclose(new, soft_update(old, o, 0.1), atol=1e-6, err_msg=f"weight {i}")


def test_after_reads_keeps_the_loss_and_its_gradient_and_depends_on_every_read():
    import keras
    from keras import ops

    from replicate_suite.autodiff import gradients
    from replicate_suite.rl.agents.ddpg import after_reads

    w = np.array([1.5, -2.0], np.float32)
    reads = [np.array([3.0, 4.0], np.float32)], [np.float32(7.0)]

    def plain(weights):
        return ops.sum(ops.square(weights[0]))

    def ordered(weights):
        return after_reads(plain(weights), *([ops.convert_to_tensor(r) for r in group] for group in reads))

    value, grads = gradients(plain, [w])
    value_ordered, grads_ordered = gradients(ordered, [w])
    assert float(value_ordered) == float(value)  # exactly: the factor is 1
    np.testing.assert_array_equal(np.asarray(grads_ordered[0]), np.asarray(grads[0]))
    # the result is a function of each read (a NaN in any of them reaches it): that is the ordering dependency
    for bad in ([np.array([np.nan, 0.0], np.float32)], [np.float32(np.inf)]):
        loss = after_reads(keras.ops.convert_to_tensor(1.0), [ops.convert_to_tensor(np.float32(0.0))], bad)
        assert np.isnan(float(loss))


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
    from replicate_suite.rl.continuous import ContinuousLoopConfig

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
    from replicate_suite.models.actor_critic import build_actor, build_critic
    from replicate_suite.rl.agents.ddpg import DDPGAgent, DDPGConfig

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
    from replicate_suite.results import CurveLog
    from replicate_suite.rl import continuous
    from replicate_suite.rl.checkpoint import Checkpointer

    save = Checkpointer.save

    def save_then_die(self, step, write):
        save(self, step, write)
        raise KeyboardInterrupt

    keras_seed(0)
    monkeypatch.setattr(Checkpointer, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        continuous.train_ddpg(make, _small_agent(), loop, 0, CurveLog(), "p", folder, progress=False)
    monkeypatch.setattr(Checkpointer, "save", save)


def keras_seed(seed):
    import keras

    keras.utils.set_random_seed(seed)


# The checkpoint at step 120 falls mid-episode (Pendulum: 200 steps) and mid loss window (update 57 of 0-99), and
# the evaluation at 150 reports a loss averaged across it: a resumed run must restore all of that exactly.
RESUME_LOOP = dict(total_steps=300, checkpoint_every=120, eval_every=150)


def test_a_killed_run_resumes_and_ends_exactly_like_an_uninterrupted_one(tmp_path, monkeypatch):
    from replicate_suite.errors import ReplicateError
    from replicate_suite.results import CurveLog
    from replicate_suite.rl import continuous

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
    from replicate_suite.results import CurveLog
    from replicate_suite.rl import continuous

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
    from replicate_suite.errors import ReplicateError
    from replicate_suite.runner import load_module, run_replication

    folder = run_replication("ddpg_continuous", "smoke", 0, results_root=tmp_path)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["env_steps_Pendulum"] == 300 and "random_return_Pendulum" in metrics
    assert metrics["random_return_Pendulum"] < -500  # a random policy does badly on Pendulum
    with pytest.raises(ReplicateError, match="unknown task"):
        load_module("ddpg_continuous").env_id("Cheetah")


# Two processes per backend: a fresh smoke run; a run killed right after its checkpoint at step 150 and resumed.
# Both must write byte-identical metrics.json and curves.csv: the resumed run repeats the fresh one's first 150 steps
# in another process, then continues from the checkpoint. Separate processes matter: a seed drawn at import time
# (as the initialisers once did) is the same within one process.
_DETERMINISM_CHILD = """
import sys
from pathlib import Path

from replicate_suite.rl.checkpoint import Checkpointer
from replicate_suite.runner import run_replication

root = Path(ROOT)
if MODE == "fresh":
    run_replication("ddpg_continuous", "smoke", 0, results_root=root / "fresh")
    sys.exit(0)
save = Checkpointer.save

def save_then_die(self, step, write):
    save(self, step, write)
    raise KeyboardInterrupt

Checkpointer.save = save_then_die
try:
    run_replication("ddpg_continuous", "smoke", 0, results_root=root / "resumed")
except KeyboardInterrupt:
    pass
else:
    sys.exit("the run was not killed")
Checkpointer.save = save
run_replication("ddpg_continuous", "smoke", 0, results_root=root / "resumed", resume=True)
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_same_seed_gives_byte_identical_results_fresh_and_resumed(backend, tmp_path):
    import os
    import subprocess
    import sys

    if backend == "jax":
        pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2"}
    for mode in ("fresh", "resumed"):
        script = f"ROOT = {str(tmp_path)!r}\nMODE = {mode!r}\n" + _DETERMINISM_CHILD
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    fresh, resumed = (tmp_path / run / "ddpg_continuous" / "smoke" / "seed_0" for run in ("fresh", "resumed"))
    metas = [json.loads((folder / "run_meta.json").read_text()) for folder in (fresh, resumed)]
    assert [meta["backend"] for meta in metas] == [backend] * 2
    # the replication's INTRA_OP_THREADS, set by the runner before TensorFlow's first op (JAX: not applied)
    assert [meta["intra_op_threads"] for meta in metas] == [1 if backend == "tensorflow" else None] * 2
    assert [meta["measured"]["resumed_at_Pendulum"] for meta in metas] == [[], [150]]
    for name in ("metrics.json", "curves.csv"):
        assert (fresh / name).read_bytes() == (resumed / name).read_bytes(), name


@pytest.mark.parametrize("task", ["InvertedPendulum-v5", "Hopper-v5"])
def test_a_mujoco_environment_restored_from_its_snapshot_continues_exactly(task):
    """The MuJoCo branch of env_snapshot/restore_env (what a resumed cpu run relies on): a fresh environment put into
    a snapshot taken mid-episode gives the same observations, rewards and endings for the same actions, and the same
    time-limit count, as the environment the snapshot came from."""
    import json

    import gymnasium as gym

    from replicate_suite.rl.continuous import env_snapshot, restore_env

    rng = np.random.default_rng(0)
    env = gym.make(task)
    env.reset(seed=3)
    low, high = 0.1 * env.action_space.low, 0.1 * env.action_space.high  # small pushes: the episode goes on
    for _ in range(3):
        assert not any(env.step(rng.uniform(low, high).astype(np.float32))[2:4])
    snapshot = json.loads(json.dumps(env_snapshot(env)))  # as a checkpoint stores it
    assert "mujoco" in snapshot and snapshot["elapsed_steps"] == 3
    actions = [rng.uniform(low, high).astype(np.float32) for _ in range(10)]
    expected = [env.step(a)[:4] for a in actions]
    fresh = gym.make(task)
    restore_env(fresh, snapshot, seed=99)  # another reset seed: the snapshot, not the reset, decides
    assert not expected[0][2]  # the first compared step is mid-episode
    for action, (obs, reward, terminated, truncated) in zip(actions, expected, strict=True):
        got = fresh.step(action)[:4]
        np.testing.assert_array_equal(got[0], obs)
        assert got[1:] == (reward, terminated, truncated)
    assert env_snapshot(fresh)["elapsed_steps"] == env_snapshot(env)["elapsed_steps"]


# One process per thread count (TensorFlow fixes it at its first op): 100 updates of the paper-sized networks
# (400-300, batch 64) on the same synthetic minibatches, with and without batch normalisation; prints a digest of
# every actor and critic weight.
_THREADS_CHILD = """
import hashlib
import numpy as np
import tensorflow as tf

tf.config.threading.set_intra_op_parallelism_threads(THREADS)
from replicate_suite.models.actor_critic import build_actor, build_critic
from replicate_suite.rl.agents.ddpg import DDPGAgent, DDPGConfig
from replicate_suite.seeding import seed_everything

# (obs, action) sizes of HalfCheetah (with and without batch norm: the paper and cpu profiles), Hopper, Pendulum
for obs_dim, action_dim, batch_norm in ((17, 6, False), (17, 6, True), (11, 3, False), (3, 1, False)):
    low, high = -np.ones(action_dim), np.ones(action_dim)
    seed_everything(0)
    cfg = DDPGConfig(0.99, 0.001, 1e-4, 1e-3, 1e-2, [400, 300], 3e-3, batch_norm=batch_norm)
    agent = DDPGAgent(lambda: build_actor(obs_dim, low, high, batch_norm=batch_norm),
                      lambda: build_critic(obs_dim, action_dim, batch_norm=batch_norm), low, high, cfg)
    rng = np.random.default_rng(0)
    digest = hashlib.sha256()
    for _ in range(100):
        agent.update(rng.normal(size=(64, obs_dim)), rng.uniform(-1, 1, (64, action_dim)), rng.normal(size=64),
                     rng.normal(size=(64, obs_dim)), (rng.random(64) < 0.1).astype(float))
        digest.update(agent.act(rng.normal(size=obs_dim)).tobytes())  # acting: a batch of one
    for net in (agent.learner.actor, agent.learner.critic):
        for weight in net.weights:
            digest.update(np.asarray(weight).tobytes())
    print(batch_norm, tf.config.threading.get_intra_op_parallelism_threads(), digest.hexdigest())
"""


@pytest.mark.parametrize("kernels", ["default", "onednn"])
def test_one_intra_op_thread_leaves_ddpg_updates_bit_identical(kernels):
    """ddpg_continuous runs with INTRA_OP_THREADS = 1 (faster at these sizes): the weights after 100 updates, and
    the 100 actions taken in between (one state at a time), must be bit-identical to those at 2 threads (the default
    on 2 cores) and 4, for the tasks' network shapes with and without batch norm, so results made before the setting
    stay exact on this CPU. Fails if a kernel splits a reduction across threads.

    A property of oneDNN's kernels (`environment.tensorflow_kernels`; TensorFlow's default on AVX-512 VNNI CPUs such
    as the AMD EPYC of the earlier records), checked with the machine's default kernels and with oneDNN's forced
    (TF_ENABLE_ONEDNN_OPTS=1; it holds so on the AVX2 EPYC of 2026-12-05 too). With Eigen's kernels (TensorFlow's
    default on that AVX2 EPYC) 2 threads give other bits: there the pinned single thread is what keeps a seed's
    results fixed, and the default case is skipped."""
    import os
    import subprocess
    import sys

    from replicate_suite.environment import tensorflow_kernels

    pytest.importorskip("tensorflow")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    if kernels == "onednn":
        env["TF_ENABLE_ONEDNN_OPTS"] = "1"
    elif tensorflow_kernels() != "onednn":
        pytest.skip(f"TensorFlow's {tensorflow_kernels()} kernels here split reductions across threads")
    env.pop("TF_NUM_INTRAOP_THREADS", None)
    digests = {}
    for threads in (1, 2, 4):
        done = subprocess.run([sys.executable, "-c", f"THREADS = {threads}\n" + _THREADS_CHILD], env=env,
                              capture_output=True, text=True, timeout=600)  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        lines = [line.split() for line in done.stdout.strip().splitlines()]
        assert [(bn, int(n)) for bn, n, _ in lines] == [(bn, threads) for bn in ("False", "True", "False", "False")]
        digests[threads] = [digest for *_, digest in lines]
    assert digests[1] == digests[2] == digests[4]
    assert len(set(digests[1])) == 4  # the configurations really differ


@pytest.mark.parametrize("batch_norm", [False, True])
def test_acting_from_inside_the_update_gives_the_same_actions_and_weights(batch_norm):
    """update(..., act_on=s) computes mu(s) in the update's compiled call (TrainThenForward); the next act(s) uses it.
    Against an agent of the same seed that updates and then acts through its own forward pass: bit-identical actions
    and weights (paper sizes, with and without batch norm, whose moving statistics the update changes), and the
    separate forward pass really skipped. An observation other than act_on, or a later update, is not served from
    the update's result."""
    from replicate_suite.models.actor_critic import build_actor, build_critic
    from replicate_suite.rl.agents.ddpg import DDPGAgent, DDPGConfig
    from replicate_suite.seeding import seed_everything

    def agent():
        seed_everything(0)
        low, high = -np.ones(6), np.ones(6)
        cfg = DDPGConfig(0.99, 0.001, 1e-4, 1e-3, 1e-2, [400, 300], 3e-3, batch_norm=batch_norm)
        return DDPGAgent(lambda: build_actor(17, low, high, batch_norm=batch_norm),
                         lambda: build_critic(17, 6, batch_norm=batch_norm), low, high, cfg)  # fmt: skip

    fused, separate = agent(), agent()
    policy_calls = []
    real_policy = fused.policy
    fused.policy = lambda obs: policy_calls.append(1) or real_policy(obs)
    rng = np.random.default_rng(0)
    for _ in range(60):
        batch = (rng.normal(size=(64, 17)), rng.uniform(-1, 1, (64, 6)), rng.normal(size=64),
                 rng.normal(size=(64, 17)), (rng.random(64) < 0.1).astype(float))  # fmt: skip
        state = rng.normal(size=17).astype(np.float32)
        noise = rng.normal(size=6).astype(np.float32) * 0.1
        loss_fused, loss_separate = fused.update(*batch, act_on=state), separate.update(*batch)
        assert loss_fused == loss_separate
        np.testing.assert_array_equal(fused.act(state, noise), separate.act(state, noise))
    assert policy_calls == []  # every action came from inside an update
    for a, b in zip(fused.learner.weights, separate.learner.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    other = rng.normal(size=17).astype(np.float32)
    np.testing.assert_array_equal(fused.act(other), separate.act(other))
    assert policy_calls == [1]  # another observation: its own forward pass
    fused.update(*batch)  # an update without act_on: the cached mu(s) is stale
    separate.update(*batch)
    np.testing.assert_array_equal(fused.act(state), separate.act(state))
    assert policy_calls == [1, 1]


_XLA_CHILD = """
import numpy as np
from replicate_suite.models.actor_critic import build_actor, build_critic
from replicate_suite.rl.agents.ddpg import DDPGAgent, DDPGConfig
from replicate_suite.seeding import seed_everything

def agent():
    seed_everything(0, deterministic=False)  # with op determinism on, Keras turns XLA off
    low, high = -np.ones(1), np.ones(1)
    cfg = DDPGConfig(0.99, 0.001, 1e-4, 1e-3, 1e-2, [8, 6], 3e-3, batch_norm=False, xla=True)
    return DDPGAgent(lambda: build_actor(3, low, high, (8, 6)), lambda: build_critic(3, 1, (8, 6)), low, high, cfg)

fused, separate = agent(), agent()
rng = np.random.default_rng(0)
same = True
for _ in range(40):
    batch = (rng.normal(size=(16, 3)), rng.uniform(-1, 1, (16, 1)), rng.normal(size=16), rng.normal(size=(16, 3)),
             np.zeros(16))
    state = rng.normal(size=3).astype(np.float32)
    fused.update(*batch, act_on=state)
    separate.update(*batch)
    same &= np.array_equal(fused.act(state), separate.act(state))
print("RESULT", bool(fused.learner.jit_compile), same)
"""


def test_every_update_of_the_loop_also_acts_even_after_an_episode_ends(tmp_path):
    """The loop passes s' of the last transition as act_on to every update, also when that transition ended the
    episode, so no update goes through train_step alone: a run compiles one update function, not a second one at
    its first episode end after learning starts (~0.4 s at the paper's sizes). The next act() after an episode end
    is on the reset observation and computes its own mu(s)."""
    import gymnasium as gym

    from replicate_suite.results import CurveLog
    from replicate_suite.rl import continuous

    keras_seed(0)
    agent = _small_agent()
    acting_updates, computed = [], []
    fused, forward = agent._train_then_act, agent._forward

    def record_fused(x, inputs):
        acting_updates.append(inputs)
        return fused(x, inputs)

    def train_step_alone(x):
        raise AssertionError("an update without act_on")

    agent._train_then_act, agent._train_step = record_fused, train_step_alone
    agent._forward = lambda obs: computed.append(obs) or forward(obs)
    loop = _loop(total_steps=450, learning_starts=64, eval_every=0, eval_episodes=0, checkpoint_every=0)
    continuous.train_ddpg(lambda: gym.make("Pendulum-v1"), agent, loop, 0, CurveLog(), "p", tmp_path, progress=False)
    assert agent.updates == len(acting_updates) == 450 - 63  # Pendulum's episodes end after 200 and 400 steps
    # until the first update, every action takes its own forward pass; after it, only each new episode's first one
    assert len(computed) == 64 + 2


def test_acting_from_inside_an_xla_update_keeps_the_separate_forward_passs_numbers():
    """With XLA (DDPGConfig.xla, effective without op determinism) the fused call would compile the actor's forward
    pass with XLA too and round it differently; TrainThenForward then makes the two calls, so act_on changes nothing."""
    import os
    import subprocess
    import sys

    pytest.importorskip("tensorflow")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", _XLA_CHILD], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split("RESULT")[-1].split() == ["True", "True"]  # XLA really on; the same actions


def test_the_packed_minibatch_is_the_replays_rows_and_bad_shapes_are_errors():
    """DDPGLearner.pack lays a minibatch out as TransitionReplay stores it, so training on sample_rows is training on
    sample; a minibatch or rows of the wrong shape is a ValueError, not a silently broadcast update."""
    from replicate_suite.rl.replay import TransitionReplay

    agent = _agent()
    twins = [TransitionReplay(50, 3, 2, seed=4) for _ in range(2)]
    for obs, action, reward, next_obs, terminal in zip(*_batch(40), strict=True):
        for replay in twins:
            replay.add(obs, action, reward, next_obs, bool(terminal))
    np.testing.assert_array_equal(agent.learner.pack(*twins[0].sample(16)), twins[1].sample_rows(16))
    obs, actions, rewards, next_obs, terminals = _batch()
    bad = {
        "one observation for all rows": (obs[0], actions, rewards, next_obs, terminals),
        "a scalar terminal": (obs, actions, rewards, next_obs, False),
        "rewards (B, 1)": (obs, actions, rewards[:, None], next_obs, terminals),
        "actions of another width": (obs, actions[:, :1], rewards, next_obs, terminals),
    }
    for name, batch in bad.items():
        with pytest.raises(ValueError, match="DDPG minibatch"):
            agent.update(*batch)
        assert agent.updates == 0, name
    with pytest.raises(ValueError, match=r"rows must be \(B, 10\)"):
        agent.update_rows(np.zeros((16, 14), np.float32))


@pytest.mark.parametrize("xla", [False, True])
def test_the_step_takes_five_arrays_wherever_xla_compiles_it(xla, monkeypatch):
    """Under XLA (JAX; TensorFlow with DDPGConfig.xla, if op determinism is off) slicing one packed array changes
    how XLA fuses the step and some sums round differently (seen at batch 24 and 32), so there the agent hands the
    learner the five arrays it always did, with discounts computed in NumPy; the packed array only where it gives the
    same numbers (TensorFlow without XLA)."""
    import keras

    from replicate_suite.rl.agents.ddpg import DDPGLearner

    agent = _agent()
    if xla:  # as DDPGConfig.xla leaves it where Keras keeps it on (no op determinism in the process)
        monkeypatch.setattr(DDPGLearner, "jit_compile", property(lambda self: True))
    seen = []
    agent._train_step = lambda x: seen.append(x) or 0.0
    batch = _batch()
    agent.update(*batch)
    packed = keras.backend.backend() == "tensorflow" and not xla
    if packed:
        np.testing.assert_array_equal(seen[0], agent.learner.pack(*batch))
    else:
        expected = tuple(np.asarray(a, np.float32) for a in batch[:4]) + (np.float32(0.99) * (1 - batch[4]),)
        assert isinstance(seen[0], tuple) and len(seen[0]) == 5
        for got, want in zip(seen[0], expected, strict=True):
            assert got.dtype == np.float32 and got.flags.c_contiguous
            np.testing.assert_array_equal(got, want.astype(np.float32))


def _graph_gradients(layer_call, h, action, wrt_action_only):
    """(output, gradients) of sum(layer_call(h, action) * upstream) in a TensorFlow graph: with respect to h,
    action, kernel and bias, or (wrt_action_only) to the action alone with h held fixed."""
    import tensorflow as tf

    rng = np.random.default_rng(1)

    @tf.function(autograph=False)
    def run(h, action, upstream):
        with tf.GradientTape() as tape:
            tape.watch(action)
            if not wrt_action_only:
                tape.watch(h)
            y = layer_call(tf.stop_gradient(h) if wrt_action_only else h, action)
            loss = tf.reduce_sum(y * upstream)
        return y, tape.gradient(loss, [action] if wrt_action_only else [h, action, *layer_call.weights])

    upstream = tf.constant(rng.standard_normal((h.shape[0], layer_call.units)).astype(np.float32))
    y, grads = run(tf.constant(h), tf.constant(action), upstream)
    return y.numpy(), [None if g is None else g.numpy() for g in grads]


class _Call:
    """A layer on (h, action) with its weights and width, for _graph_gradients."""

    def __init__(self, fn, weights, units):
        self.fn, self.weights, self.units = fn, weights, units

    def __call__(self, h, action):
        return self.fn(h, action)


@pytest.mark.parametrize("shape", [(64, 400, 6, 300), (64, 400, 1, 300), (16, 32, 2, 24)])
def test_dense_with_action_is_concatenate_and_dense_bit_for_bit(shape):
    """The critic's join layer gives Concatenate + Dense's outputs and gradients bit for bit; in
    action_gradient_only mode the same outputs, and the same action gradient wherever tf_column_product_matches
    says this machine's product gives the same sums for the shape (every shape here but one action dimension, on
    the 2-core AVX-512 machine), within float rounding elsewhere; h and the weights get no gradient there."""
    pytest.importorskip("tensorflow")
    import keras
    from keras import layers

    from replicate_suite.models.actor_critic import DenseWithAction, action_gradient_only
    from replicate_suite.rl.agents.compiled import tf_column_product_matches

    batch, width, action_dim, units = shape
    rng = np.random.default_rng(0)
    h = np.maximum(rng.standard_normal((batch, width)), 0).astype(np.float32)  # a ReLU layer's output
    action = rng.uniform(-1, 1, (batch, action_dim)).astype(np.float32)
    h_in, a_in = keras.Input((width,)), keras.Input((action_dim,))
    join = DenseWithAction(units, activation="relu")
    model = keras.Model([h_in, a_in], join([h_in, a_in]))
    plain = layers.Dense(units, activation="relu")
    plain.build((None, width + action_dim))
    plain.set_weights(join.get_weights())
    ours = _Call(lambda h, a: model([h, a]), [join.kernel.value, join.bias.value], units)
    concatenated = lambda h, a: plain(keras.ops.concatenate([h, a], axis=-1))  # noqa: E731
    reference = _Call(concatenated, [plain.kernel.value, plain.bias.value], units)

    y, grads = _graph_gradients(ours, h, action, wrt_action_only=False)
    y_ref, grads_ref = _graph_gradients(reference, h, action, wrt_action_only=False)
    np.testing.assert_array_equal(y, y_ref)
    for g, g_ref in zip(grads, grads_ref, strict=True):
        np.testing.assert_array_equal(g, g_ref)

    with action_gradient_only(model):
        y_narrow, (g_action,) = _graph_gradients(ours, h, action, wrt_action_only=True)
    assert not join.action_gradient_only  # reset after the block
    _, (g_action_ref,) = _graph_gradients(reference, h, action, wrt_action_only=True)
    np.testing.assert_array_equal(y_narrow, y_ref)
    if tf_column_product_matches(batch, units, width + action_dim, action_dim):
        np.testing.assert_array_equal(g_action, g_action_ref)
    else:
        np.testing.assert_allclose(g_action, g_action_ref, rtol=1e-5, atol=1e-6)
    if shape == (64, 400, 6, 300):  # the paper's sizes: the narrow product is in use on this machine
        assert tf_column_product_matches(batch, units, width + action_dim, action_dim)


@pytest.mark.parametrize("shape", [(64, 300, 406, 6), (64, 300, 401, 1), (128, 300, 406, 6), (32, 24, 34, 2)])
def test_the_column_product_check_agrees_with_the_products_on_other_data(shape):
    """tf_column_product_matches decides a shape on its own random draws: on other draws, the narrow and wide
    products agree bit for bit exactly when it says so (the order of the sums depends on the shape, not the data)."""
    tf = pytest.importorskip("tensorflow")
    from replicate_suite.rl.agents.compiled import tf_column_product_matches

    batch, inner, rows, columns = shape

    @tf.function(autograph=False)
    def products(dy, w):
        first = rows - columns
        return tf.matmul(dy, w, transpose_b=True)[:, first:], tf.matmul(dy, w[first:], transpose_b=True)

    rng = np.random.default_rng(12345)
    same = []
    for _ in range(5):
        dy = rng.uniform(-3, 3, (batch, inner)).astype(np.float32)
        w = rng.uniform(-0.1, 0.1, (rows, inner)).astype(np.float32)
        wide, narrow = products(tf.constant(dy), tf.constant(w))
        same.append(np.array_equal(wide.numpy(), narrow.numpy()))
    assert len(set(same)) == 1
    assert tf_column_product_matches(batch, inner, rows, columns) == same[0]


def test_the_weight_decay_penalty_is_autodiffs_value_and_gradient_bit_for_bit():
    """weight_decay_penalty writes its gradient out (no broadcast of the upstream scalar): the value and every
    kernel's gradient equal those of differentiating (decay / 2) * sum ||W||^2, under a loss that scales it."""
    from keras import ops

    from replicate_suite.autodiff import gradients
    from replicate_suite.rl.agents.ddpg import weight_decay_penalty

    rng = np.random.default_rng(3)
    kernels = [rng.uniform(-0.3, 0.3, shape).astype(np.float32) for shape in [(17, 400), (406, 300), (300, 1)]]
    data = rng.standard_normal(5).astype(np.float32)

    def plain(weights):
        penalty = 0.5 * 1e-2 * sum(ops.sum(ops.square(w)) for w in weights)
        return (ops.mean(ops.square(data)) + penalty) * 1.7

    def ours(weights):
        return (ops.mean(ops.square(data)) + weight_decay_penalty(weights, 1e-2)) * 1.7

    value, grads = gradients(plain, kernels)
    value_ours, grads_ours = gradients(ours, kernels)
    assert float(value_ours) == float(value)
    for g, g_ours in zip(grads, grads_ours, strict=True):
        np.testing.assert_array_equal(np.asarray(g_ours), np.asarray(g))
    np.testing.assert_allclose(np.asarray(grads_ours[1]), 1.7 * 1e-2 * kernels[1], rtol=1e-6)


@pytest.mark.parametrize("action_dim,batch_norm", [(6, False), (6, True), (1, False)])
def test_ddpg_updates_are_bit_identical_to_the_plain_critic_and_penalty(action_dim, batch_norm, monkeypatch):
    """The narrow action gradient and the written-out weight-decay gradient change no number: 30 updates (each also
    acting, as the loop does) at the paper's sizes give the same losses, actions, weights, target weights, Adam
    slots and batch-norm statistics as an agent with the plain critic (Concatenate + Dense) and the plain penalty
    (benchmarks/ddpg_update_formulations.py, which times the two).
    With one action dimension the narrow product is not used (tf_column_product_matches)."""
    pytest.importorskip("tensorflow")
    import sys
    from pathlib import Path

    from keras import ops

    from replicate_suite.environment import tensorflow_kernels
    from replicate_suite.models.actor_critic import build_actor, build_critic
    from replicate_suite.rl.agents import ddpg
    from replicate_suite.rl.agents.compiled import tf_column_product_matches
    from replicate_suite.seeding import seed_everything

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from ddpg_update_formulations import plain_critic, plain_learner

    PlainPenalty = plain_learner()

    def agent(plain):
        seed_everything(0)
        low, high = -np.ones(action_dim), np.ones(action_dim)
        cfg = ddpg.DDPGConfig(0.99, 0.001, 1e-4, 1e-3, 1e-2, [400, 300], 3e-3, batch_norm=batch_norm)
        if plain:
            critic = lambda: plain_critic(17, action_dim, batch_norm)  # noqa: E731
        else:
            critic = lambda: build_critic(17, action_dim, batch_norm=batch_norm)  # noqa: E731
        monkeypatch.setattr(ddpg, "DDPGLearner", PlainPenalty if plain else LEARNER)
        made = ddpg.DDPGAgent(lambda: build_actor(17, low, high, batch_norm=batch_norm), critic, low, high, cfg)
        monkeypatch.setattr(ddpg, "DDPGLearner", LEARNER)
        return made

    LEARNER = ddpg.DDPGLearner
    ours, plain = agent(plain=False), agent(plain=True)
    assert [w.shape for w in ours.learner.critic.weights] == [w.shape for w in plain.learner.critic.weights]
    rng = np.random.default_rng(7)
    for step in range(30):
        obs, next_obs = rng.standard_normal((64, 17)), rng.standard_normal((64, 17))
        actions, rewards, terminals = rng.uniform(-1, 1, (64, action_dim)), rng.standard_normal(64), rng.random(64)
        batch = (obs, actions, rewards, next_obs, (terminals < 0.05) * 1.0)
        state = rng.standard_normal(17).astype(np.float32)
        assert ours.update(*batch, act_on=state) == plain.update(*batch, act_on=state), step
        np.testing.assert_array_equal(ours.act(state), plain.act(state))
    ours_state, plain_state = ours.state_arrays(), plain.state_arrays()
    assert sorted(ours_state) == sorted(plain_state)
    for key in ours_state:
        np.testing.assert_array_equal(ours_state[key], plain_state[key], err_msg=key)
    narrow = ours.learner.narrow_action_gradient(ops.zeros((64, 17)))
    eigen = tensorflow_kernels() == "eigen"
    assert narrow == (eigen and tf_column_product_matches(64, 300, 400 + action_dim, action_dim))
    assert narrow == (eigen and action_dim == 6)  # on this machine (the check's docstring); never with oneDNN


def test_ddpg_exactness_claims_hold_with_onednn_kernels():
    """TensorFlow takes oneDNN's kernels by default on AVX-512 VNNI CPUs and Eigen's elsewhere
    (`environment.tensorflow_kernels`). DDPG's two exactness claims (the narrow action gradient changes no number;
    acting inside the update gives the separate forward pass's bits) must hold under either, or be off: this runs
    their tests in a child process with oneDNN's kernels forced (TF_ENABLE_ONEDNN_OPTS=1). Without the Eigen-only
    condition in DDPGLearner.narrow_action_gradient both fail on the AVX2 EPYC of 2026-12-05 (the narrow product
    differs under oneDNN, and acting inside such an update differs too)."""
    import os
    import subprocess
    import sys

    pytest.importorskip("tensorflow")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", "TF_ENABLE_ONEDNN_OPTS": "1"}
    probe = "from replicate_suite.environment import tensorflow_kernels; print(tensorflow_kernels())"
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    assert done.stdout.split() == ["onednn"], done.stderr[-2000:]
    tests = "bit_identical_to_the_plain_critic or acting_from_inside_the_update"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", tests],
                          env=env, capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0 and "5 passed" in done.stdout, done.stdout[-4000:]


def test_action_gradient_only_restores_each_layers_mode_and_the_layer_takes_two_inputs():
    """Leaving a block (nested, or by an exception) restores the mode the layers had; one input is a clear error."""
    import keras

    from replicate_suite.models.actor_critic import DenseWithAction, action_gradient_only, build_critic

    critic = build_critic(3, 2, (8, 6))
    join = critic.get_layer("fc2")
    with action_gradient_only(critic):
        with action_gradient_only(critic, enabled=False):
            assert not join.action_gradient_only
        assert join.action_gradient_only
    assert not join.action_gradient_only
    with pytest.raises(RuntimeError), action_gradient_only(critic):
        raise RuntimeError("inside")
    assert not join.action_gradient_only
    with pytest.raises(ValueError, match=r"two inputs \[h, action\]"):
        DenseWithAction(4)(keras.ops.zeros((2, 5)))
