"""The agents' direct compiled calls (replicate_suite.rl.agents.compiled) compute exactly what Keras's predict_on_batch
and train_on_batch compute, on TensorFlow and JAX: same outputs, same weights after updates, same losses."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_CHILD = """
import json
import keras
import numpy as np

from replicate_suite.models.actor_critic import build_actor, build_critic
from replicate_suite.rl.agents.compiled import DirectTrainStep, compiled_forward
from replicate_suite.rl.agents.ddpg import DDPGAgent, DDPGConfig
from replicate_suite.rl.agents.dqn import DQNConfig, QLearner, make_optimizer

report = {}
rng = np.random.default_rng(0)

# DQN's learner on a small MLP Q-net: Keras's train_on_batch against the direct step, from the same weights.
def q_net():
    inputs = keras.Input((5,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3)(hidden))

cfg = DQNConfig(gamma=0.9, learning_rate=1e-3, optimizer="adam", loss="huber", target_period=2, max_grad_norm=10.0)
learners = []
for _ in range(2):
    keras.utils.set_random_seed(3)
    learner = QLearner(q_net(), q_net(), cfg)
    learner.compile(optimizer=make_optimizer(cfg))
    learner.optimizer.build(learner.online.trainable_variables)
    learners.append(learner)
direct = DirectTrainStep(learners[1])
losses = [[], []]
for step in range(3):
    x = (rng.normal(size=(8, 5)).astype("float32"), rng.integers(0, 3, 8).astype("int32"),
         rng.normal(size=8).astype("float32"), rng.normal(size=(8, 5)).astype("float32"),
         np.full(8, 0.9, "float32"))
    losses[0].append(float(learners[0].train_on_batch(x)))
    learners[1].reset_metrics()
    losses[1].append(direct(x))
report["dqn_losses_equal"] = losses[0] == losses[1]
report["dqn_weights_equal"] = all(
    np.array_equal(a, b) for a, b in zip(learners[0].online.get_weights(), learners[1].online.get_weights())
)
report["dqn_weights_moved"] = not all(
    np.array_equal(a, b) for a, b in zip(learners[1].online.get_weights(), learners[1].target.get_weights())
)
states = rng.normal(size=(4, 5)).astype("float32")
forward = compiled_forward(learners[1].online)
report["forward_equal"] = np.array_equal(forward(states), np.asarray(learners[1].predict_on_batch(states)))
report["forward_one_state_equal"] = np.array_equal(
    forward(states[:1]), np.asarray(learners[1].predict_on_batch(states[:1]))
)
learners[1].online.set_weights([w + 1.0 for w in learners[1].online.get_weights()])
# The Nature CNN's action path: one state at a time (TensorFlow: a trace with every shape known) gives exactly
# Keras's outputs, and so does a batch after it (the free-batch trace).
from replicate_suite.models.qnets import build_atari_cnn

keras.utils.set_random_seed(7)
cnn = build_atari_cnn(6)
frames = rng.integers(0, 256, (12, 4, 84, 84)).astype("uint8")
cnn_forward = compiled_forward(cnn)
report["cnn_one_state_equal"] = all(
    np.array_equal(cnn_forward(frames[i : i + 1]), np.asarray(cnn.predict_on_batch(frames[i : i + 1])))
    for i in range(10)
)
report["cnn_batch_equal"] = np.array_equal(cnn_forward(frames), np.asarray(cnn.predict_on_batch(frames)))
report["forward_sees_new_weights"] = np.array_equal(
    forward(states), np.asarray(learners[1].predict_on_batch(states))
)

# DDPG with batch normalisation (moving statistics are state the step must carry): the policy's forward pass.
keras.utils.set_random_seed(5)
low, high = np.array([-2.0, -1.0]), np.array([2.0, 1.0])
dcfg = DDPGConfig(0.99, 0.1, 1e-4, 1e-3, 1e-2, [16, 12], 3e-3, batch_norm=True)
agent = DDPGAgent(lambda: build_actor(3, low, high, (16, 12), batch_norm=True),
                  lambda: build_critic(3, 2, (16, 12), batch_norm=True), low, high, dcfg)
batch = (rng.normal(size=(8, 3)), rng.uniform(-1, 1, (8, 2)), rng.normal(size=8), rng.normal(size=(8, 3)),
         np.zeros(8))
moving = agent.learner.actor.non_trainable_weights[0]
before = np.array(moving)
for _ in range(2):
    agent.update(*batch)
obs = rng.normal(size=(4, 3)).astype("float32")
report["ddpg_bn_stats_moved"] = not np.array_equal(before, np.array(moving))
report["ddpg_policy_equal"] = np.array_equal(agent.policy(obs), np.asarray(agent.learner.predict_on_batch(obs)))

# The XLA option (off by default) compiles the same update: the same loss up to float rounding.
losses = []
for xla in (False, True):
    keras.utils.set_random_seed(5)
    fused = DDPGAgent(lambda: build_actor(3, low, high, (16, 12)), lambda: build_critic(3, 2, (16, 12)), low, high,
                      DDPGConfig(0.99, 0.1, 1e-4, 1e-3, 1e-2, [16, 12], 3e-3, batch_norm=False, xla=xla))
    losses.append([fused.update(*batch) for _ in range(3)])
report["xla_same_update"] = bool(np.allclose(losses[0], losses[1], rtol=1e-4))
print("RESULT" + json.dumps(report))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_direct_calls_match_kerass_batch_methods(backend):
    if backend == "jax":
        pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.split("RESULT")[-1])
    assert report == {key: True for key in report}, report
    assert len(report) == 11


_FLAT_CHILD = """
import collections.abc
import json
import numpy as np
import tensorflow as tf

from replicate_suite.rl.agents import compiled

report = {}
weight = tf.Variable(np.arange(12, dtype="float32").reshape(3, 4) / 7.0)

def fn(data):
    (a, b), extra = data["pair"], data["extra"]
    return {"product": tf.matmul(a * b, weight), "total": tf.reduce_sum(extra)}

data = {"pair": (np.full((2, 3), 0.3, "float32"), np.linspace(0, 1, 6, dtype="float32").reshape(2, 3)),
        "extra": np.ones(5, "float64")}
lean = compiled._TFConcrete(fn, jit_compile=False)
plain = tf.function(fn, autograph=False)
got, want = lean(data), plain(data)
report["structured_output"] = sorted(got) == ["product", "total"] and got["total"].dtype == tf.float64
report["flat_equals_call"] = all(np.array_equal(got[k].numpy(), want[k].numpy()) for k in want)
report["one_trace_per_structure"] = len(lean._calls) == 1
lean({"pair": list(data["pair"]), "extra": data["extra"]})  # a list, not a tuple: its own trace
report["list_is_another_structure"] = len(lean._calls) == 2
weight.assign(weight * 2.0)  # the captured variable is read at each call
report["reads_current_weights"] = np.array_equal(lean(data)["product"].numpy(), plain(data)["product"].numpy())
with tf.GradientTape() as tape:  # a watching tape sees through the flat call, as through the concrete function
    out = lean(data)["product"]
product = data["pair"][0] * data["pair"][1]
expected = np.sum(product, 0)[:, None] * np.ones((1, 4))  # d sum(out) / d weight
report["gradient_flows"] = np.allclose(tape.gradient(out, weight).numpy(), expected)

# Leaves of one shape must reach the graph in their own order (the function is not symmetric in them).
ordered = compiled._TFConcrete(lambda d: d[0] - 2.0 * d[1] + 3.0 * d[2], jit_compile=False)
trio = tuple(np.arange(6, dtype="float32").reshape(2, 3) * k + k for k in (1.0, 5.0, 11.0))
report["leaf_order_kept"] = np.array_equal(ordered(trio).numpy(), (trio[0] - 2.0 * trio[1] + 3.0 * trio[2]))

# any_batch: a batch of one, other batch sizes, one again, NumPy and tensors mixed: always the plain call's outputs.
pair_fn = lambda d: tf.matmul(d[0], weight) - d[1]
free = compiled._TFConcrete(pair_fn, jit_compile=False, any_batch=True)
plain_pair = tf.function(pair_fn, autograph=False)
rng = np.random.default_rng(0)
same = []
for batch, as_tensor in ((1, False), (8, False), (1, True), (5, True), (1, False), (3, False)):
    a, b = rng.normal(size=(batch, 3)).astype("float32"), rng.normal(size=(batch, 4)).astype("float32")
    inputs = (tf.constant(a), b) if as_tensor else (a, b)
    same.append(np.array_equal(free(inputs).numpy(), plain_pair((a, b)).numpy()))
report["any_batch_equal"] = all(same)

# A mapping of another type and a bare array never share a trace (nor mappings with other keys).
class Frozen(collections.abc.Mapping):
    def __init__(self, items):
        self._items = dict(items)
    def __getitem__(self, key):
        return self._items[key]
    def __iter__(self):
        return iter(self._items)
    def __len__(self):
        return len(self._items)

picky = compiled._TFConcrete(lambda d: d["a"] * 1.0 if isinstance(d, collections.abc.Mapping) else d * 2.0, False)
x = np.ones((2, 3), "float32")
first, second = picky(Frozen({"a": x})), picky(x)
keys = compiled._TFConcrete(lambda d: d[sorted(d)[0]] * (1.0 if "a" in d else 3.0), False)
keys(Frozen({"a": x}))
report["mapping_and_array_apart"] = float(first[0, 0]) == 1.0 and float(second[0, 0]) == 2.0
report["mapping_keys_apart"] = float(keys(Frozen({"b": x}))[0, 0]) == 3.0

class NoFlat:  # a TensorFlow whose concrete functions lack _call_flat: the usual call, same outputs
    def __init__(self, concrete):
        self.concrete = concrete
    def __call__(self, *args):
        return self.concrete(*args)

concrete = plain.get_concrete_function(tf.nest.map_structure(lambda a: tf.TensorSpec(a.shape, a.dtype), data))
fallback = compiled._flat_caller(NoFlat(concrete), data)
leaves = [tf.constant(leaf) for leaf in tf.nest.flatten(data)]
report["fallback_equal"] = np.array_equal(fallback(leaves)["product"].numpy(), plain(data)["product"].numpy())
print("RESULT" + json.dumps(report))
"""


def test_flat_call_path_equals_the_concrete_functions_call():
    """TensorFlow: _TFConcrete's flat call (the concrete function's _call_flat, skipping argument matching) gives
    the structured outputs of a plain tf.function call, bit for bit, with same-shaped leaves kept in order and with
    any_batch over batch sizes 1, n, 1 and NumPy / tensor inputs mixed; nesting (container types, mapping keys) is
    part of the trace key; variables are read at each call; a gradient tape still records; without _call_flat the
    usual call is made."""
    pytest.importorskip("tensorflow")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", _FLAT_CHILD], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.split("RESULT")[-1])
    assert report == {key: True for key in report}, report
    assert len(report) == 11
