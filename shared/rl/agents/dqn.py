"""DQN (Mnih et al. 2013, 2015) with the options later papers vary: target network period (0 = none, as in 2013),
Double DQN targets (van Hasselt et al. 2016), Huber or squared loss, RMSProp or Adam.

The update is a Keras model whose `compute_loss` builds the TD error, so Keras compiles the whole step
(tf.function on TensorFlow, jax.jit on JAX) and there is no backend-specific gradient code here at all; the agent
calls that step and the online net's forward pass directly as compiled functions (`replicate_suite.rl.agents.compiled`),
not through Keras's per-call trainer machinery; no `model.predict` in the loop.

DeepMind's RMSProp (the Lua `NeuralQLearner:qLearnMinibatch` of the Nature 2015 code: the centered RMSProp of
Graves 2013, arXiv:1308.0850 Sec. 4, without momentum) is `loss_reduction="sum"` with the centered RMSprop below:
with d = minus the gradient of the clipped-TD loss SUMMED over the minibatch,

    g = 0.95 g + 0.05 d;   g2 = 0.95 g2 + 0.05 d^2;   w += lr * d / sqrt(g2 - g^2 + 0.01).

Keras 3's `RMSprop(rho=0.95, epsilon=0.01, centered=True, momentum=0)` is exactly this rule (both moments start at
zero, epsilon inside the square root, the squared mean subtracted); tests/test_rl_core.py checks it against NumPy on
TensorFlow and JAX. With a mean loss over 32 transitions the gradient is 1/32 as large, so epsilon weighs 32^2 times
more against the gradient statistics, and where those are small (early Atari training) steps are up to 32 times
smaller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Literal

import keras
import numpy as np
from keras import ops

from replicate_suite.config import POSITIVE, Range
from replicate_suite.models.qnets import frames_last_body
from replicate_suite.rl.agents.compiled import DirectTrainStep, compiled_forward
from replicate_suite.rl.agents.state import from_numbered, named_arrays, restore_named
from replicate_suite.rl.replay import Batch


@dataclass(frozen=True)
class DQNConfig:
    """The agent's hyperparameters (Mnih et al. 2013 Sec. 5; Nature 2015 Extended Data Table 1)."""

    gamma: Annotated[float, Range(0, 1)]
    """Discount factor (Nature 2015: 0.99; the 2013 paper gives none)."""
    learning_rate: Annotated[float, POSITIVE]
    optimizer: Literal["rmsprop", "adam"]
    loss: Literal["huber", "squared"]
    """huber = the TD error clipped to [-1, 1] in the gradient (Nature 2015); squared = plain 0.5 * error^2."""
    target_period: Annotated[int, Range(0, None)]
    """Copy the online net into the target net every this many updates; 0 = no target network (Mnih 2013)."""
    double: bool = False
    """Double DQN target: the online net picks the next action, the target net values it."""
    loss_reduction: Literal["mean", "sum"] = "mean"
    """How the per-transition losses of a minibatch are combined: sum = DeepMind's convention (qLearnMinibatch
    back-propagates the clipped TD errors of the batch without dividing by its size), which the RMSProp epsilon
    0.01 of the Nature paper assumes; mean = the usual Keras / Stable-Baselines3 / Dopamine convention."""
    rmsprop_rho: Annotated[float, Range(0, 1, high_open=True)] = 0.95
    rmsprop_momentum: Annotated[float, Range(0, 1, high_open=True)] = 0.0
    rmsprop_epsilon: Annotated[float, POSITIVE] = 0.01
    """Inside the square root, as in DeepMind's rule (Keras 3's RMSprop puts it there too)."""
    rmsprop_centered: bool = True
    """Subtract the squared running mean gradient from the running mean square (DeepMind's variant)."""
    adam_epsilon: Annotated[float, POSITIVE] = 1e-7
    max_grad_norm: Annotated[float, POSITIVE] | None = None
    """Clip the gradient's global norm (Stable-Baselines3 uses 10); None = no clipping."""
    xla: bool = False
    """XLA-compile the update on TensorFlow (jit_compile=True). Fused kernels round differently, so a seed's
    numbers change: off by default (then Keras's "auto": XLA on a GPU, not on a CPU). JAX always uses XLA. Keras
    turns it off while TensorFlow's op determinism is on (every `replicate run` without --no-determinism)."""


def td_targets(rewards, discounts, next_q_target, next_q_online=None):
    """r + discount * Q_target(s', a*), with a* = argmax Q_target(s') (DQN) or argmax Q_online(s') (Double DQN).

    `discounts` is gamma where the episode goes on and 0 where the transition ended the game. keras.ops only.
    """
    if next_q_online is None:
        value = ops.max(next_q_target, axis=1)
    else:
        choice = ops.expand_dims(ops.argmax(next_q_online, axis=1), 1)
        value = ops.take_along_axis(next_q_target, ops.cast(choice, "int32"), axis=1)[:, 0]
    return rewards + discounts * value


def td_loss(q_taken, targets, kind: str, reduction: str = "mean"):
    """Loss of a minibatch (scalar) from Q(s, a) and the TD targets, both (batch,): per transition 0.5 * error^2
    (squared), or its Huber version whose gradient is the error clipped to [-1, 1] (huber); then the mean or the
    sum over the minibatch (`reduction`). The targets are held constant (stop_gradient)."""
    error = q_taken - ops.stop_gradient(targets)
    if kind == "huber":
        absolute = ops.abs(error)
        quadratic = ops.minimum(absolute, 1.0)
        per_transition = 0.5 * ops.square(quadratic) + (absolute - quadratic)
    else:
        per_transition = 0.5 * ops.square(error)
    if reduction == "sum":
        return ops.sum(per_transition)
    if reduction == "mean":
        return ops.mean(per_transition)
    raise ValueError(f"unknown loss reduction {reduction!r} (mean or sum)")


class _Nets:
    """The networks a QLearner's forward passes go through: the online and target nets, or their frames-last bodies
    (models.qnets.frames_last_body). A plain holder, so Keras does not track the bodies as sub-layers of the
    learner (their weights are the nets' own)."""

    def __init__(self, online: keras.Model, target: keras.Model | None):
        self.online, self.target = online, target


class QLearner(keras.Model):
    """Online net (+ optional target net); trained on x = (states, actions, rewards, next_states, discounts).

    frames_last=True: states and next_states come channels-last, (B, size, size, stack), and go through the nets'
    bodies after their channels_last Permute (models.qnets.frames_last_body: same weights, bit-identical numbers);
    the nets must be Atari CNNs (build_atari_cnn), else ValueError. None: that where every net has a body, else the
    nets' own layout (self.frames_last says which). With frames_last the learner's own call (learner(x),
    predict_on_batch) takes channels-last states too; acting goes through the online net itself, which keeps its
    input layout."""

    def __init__(
        self,
        online: keras.Model,
        target: keras.Model | None,
        cfg: DQNConfig,
        frames_last: bool | None = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.online, self.target, self.cfg = online, target, cfg
        if target is not None:
            target.trainable = False
            target.set_weights(online.get_weights())
        self.frames_last = False
        self._nets = _Nets(online, target)
        if frames_last is not False:
            bodies = [frames_last_body(online), None if target is None else frames_last_body(target)]
            usable = bodies[0] is not None and (target is None or bodies[1] is not None)
            if frames_last and not usable:
                raise ValueError("frames_last needs Atari CNNs (build_atari_cnn): see models.qnets.frames_last_body")
            if usable:
                self.frames_last, self._nets = True, _Nets(*bodies)

    def call(self, inputs, training=False):
        states = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
        return self._nets.online(states, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        _, actions, rewards, next_states, discounts = x
        online, target = self._nets.online, self._nets.target
        # Q_online(s') only where it is used (no target net, or Double DQN's argmax): one forward pass fewer per
        # update for DQN with a target net.
        next_online = None
        if target is None or self.cfg.double:
            next_online = online(next_states, training=False)
        next_target = next_online if target is None else target(next_states, training=False)
        targets = td_targets(rewards, discounts, next_target, next_online if self.cfg.double else None)
        taken = ops.take_along_axis(y_pred, ops.expand_dims(ops.cast(actions, "int32"), 1), axis=1)[:, 0]
        return td_loss(taken, targets, self.cfg.loss, self.cfg.loss_reduction)


def make_optimizer(cfg: DQNConfig) -> keras.optimizers.Optimizer:
    """DeepMind's centered RMSProp (module docstring) or Adam, with optional global-norm gradient clipping."""
    clip = {"global_clipnorm": cfg.max_grad_norm} if cfg.max_grad_norm else {}
    if cfg.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(
            cfg.learning_rate,
            rho=cfg.rmsprop_rho,
            momentum=cfg.rmsprop_momentum,
            epsilon=cfg.rmsprop_epsilon,
            centered=cfg.rmsprop_centered,
            **clip,
        )
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(cfg.learning_rate, epsilon=cfg.adam_epsilon, **clip)
    raise ValueError(f"unknown optimizer {cfg.optimizer!r} (rmsprop or adam)")


class DQNAgent:
    """Acting (epsilon-greedy), updating from replay batches, target syncs, and state for checkpoints."""

    def __init__(self, build_q: Callable[[], keras.Model], num_actions: int, cfg: DQNConfig):
        self.cfg, self.num_actions = cfg, int(num_actions)
        online = build_q()
        target = build_q() if cfg.target_period > 0 else None
        # Updates take channels-last frame stacks where the net is an Atari CNN: the replay gathers them that way
        # for about the cost of the usual layout, and the update skips two transposes (models.qnets.frames_last_body).
        self.learner = QLearner(online, target, cfg, frames_last=None)
        self.frames_last = self.learner.frames_last
        self.learner.compile(optimizer=make_optimizer(cfg), jit_compile=True if cfg.xla else "auto")
        self.learner.optimizer.build(self.learner.online.trainable_variables)
        self._forward = compiled_forward(self.learner.online)
        self._train_step = DirectTrainStep(self.learner)
        self.updates = 0

    def q_values(self, states: np.ndarray) -> np.ndarray:
        """Q(s, .) of the online net: states (B, *obs_shape) -> (B, num_actions) float32 (one compiled call)."""
        return self._forward(np.asarray(states))

    def act(self, state: np.ndarray, epsilon: float, rng: np.random.Generator) -> int:
        """Random with probability epsilon (the greedy action is then not computed), else argmax Q."""
        if rng.random() < epsilon:
            return int(rng.integers(self.num_actions))
        return int(np.argmax(self.q_values(state[None])[0]))

    def update(self, batch: Batch) -> float:
        """One gradient step on a replay minibatch (Mnih et al. 2013, Alg. 1), then a target sync every
        target_period updates; returns the minibatch's loss (td_loss). The batch's states may come in either layout
        (Batch.frames_last); the numbers do not depend on it."""
        discounts = (self.cfg.gamma * (1.0 - batch.terminals)).astype(np.float32)
        states, next_states = (self._layout(s, batch.frames_last) for s in (batch.states, batch.next_states))
        x = (states, batch.actions, batch.rewards.astype(np.float32), next_states, discounts)
        self.learner.reset_metrics()  # the loss returned is this minibatch's
        loss = self._train_step(x)
        self.updates += 1
        if self.cfg.target_period and self.updates % self.cfg.target_period == 0:
            self.sync_target()
        return float(loss)

    def _layout(self, states: np.ndarray, frames_last: bool) -> np.ndarray:
        """states in the layout the update takes (self.frames_last): a batch in the other one is transposed here
        (a copy; ReplayBuffer.sample(frames_last=agent.frames_last) gives the update's own layout directly)."""
        if frames_last == self.frames_last:
            return states
        return np.ascontiguousarray(np.moveaxis(states, *((1, -1) if self.frames_last else (-1, 1))))

    def sync_target(self) -> None:
        """Copy the online net into the target net (Nature 2015: every C updates)."""
        if self.learner.target is not None:
            self.learner.target.set_weights(self.learner.online.get_weights())

    # --- checkpoints -------------------------------------------------------------------------------------------
    def variable_groups(self) -> dict[str, list]:
        """The variables a checkpoint holds, by group: online net, target net (if any), the optimizer's slots."""
        groups = {"online": self.learner.online.weights}
        if self.learner.target is not None:
            groups["target"] = self.learner.target.weights
        groups["optimizer"] = self.learner.optimizer.variables
        return groups

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Everything an update depends on, keyed by variable path (replicate_suite.rl.agents.state),
        and the update count."""
        return {**named_arrays(self.variable_groups()), "updates": np.array(self.updates, np.int64)}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what state_arrays() saved; a missing, extra or differently shaped array is a ReplicateError."""
        restore_named(self.variable_groups(), arrays)
        self.updates = int(arrays["updates"])

    def migrate_numbered(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Checkpoint format 2's positional arrays (online_0, ...) renamed to this agent's keys."""
        return from_numbered(self.variable_groups(), arrays)
