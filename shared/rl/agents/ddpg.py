"""DDPG (Lillicrap et al. 2016): deterministic actor, Q critic, target copies of both with soft updates.

One Keras model (`DDPGLearner`) holds the four networks and one optimizer, so Keras compiles the whole update
(tf.function / jax.jit) with no backend-specific code:
- its `compute_loss` first applies the soft target update theta' <- tau theta + (1 - tau) theta' (to every weight of
  both target nets, as assignments inside the compiled step), then builds the critic's TD loss on the target actor
  and target critic, plus the critic's L2 weight decay, plus the actor's loss -Q(s, mu(s)) evaluated with the
  critic's weights behind stop_gradient (a stateless call), so each loss moves only its own network;
- the soft update runs before the losses, i.e. right after the previous step's gradient step: the same sequence as
  the paper's Algorithm 1 (update, then soft-update) at every step but the last;
- every read of a weight that the step also writes feeds the loss through a zero (`anchor`), so that the
  optimizer's writes wait for it: TensorFlow does not order such a read before a later write when nothing
  depends on the read (the cause of runs of one seed differing); JAX's compiled step is functional anyway;
- actor and critic learning rates differ (1e-4, 1e-3) through per-variable factors on one Adam (`ScaledAdam`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from shared.rl.agents.state import from_numbered, named_arrays, restore_named


@dataclass(frozen=True)
class DDPGConfig:
    gamma: float
    """Discount (paper: 0.99)."""
    tau: float
    """Soft target update rate (paper: 0.001)."""
    actor_learning_rate: float
    """Paper: 1e-4."""
    critic_learning_rate: float
    """Paper: 1e-3."""
    critic_weight_decay: float
    """L2 weight decay on the critic's weights (paper: 1e-2), as a penalty (decay / 2) * ||W||^2 on its kernels."""
    hidden: list[int]
    """Hidden widths of actor and critic (paper: 400, 300)."""
    final_init: float
    """Final layers uniform in +-final_init (paper: 3e-3)."""
    batch_norm: bool
    """Batch normalisation of the state input and hidden layers (paper: yes, low-dimensional case)."""
    adam_epsilon: float = 1e-8


def soft_update(target: np.ndarray, online: np.ndarray, tau: float) -> np.ndarray:
    """The reference formula: tau * online + (1 - tau) * target."""
    return tau * online + (1.0 - tau) * target


class ScaledAdam(keras.optimizers.Adam):
    """Adam whose learning rate is multiplied by a per-variable factor (the actor's 1e-4 next to the critic's 1e-3)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._factors: dict[int, float] = {}

    def set_factor(self, variables, factor: float) -> None:
        for variable in variables:
            self._factors[id(variable)] = float(factor)
            if keras.backend.backend() == "tensorflow":  # TF's update step is handed the tf.Variable underneath
                self._factors[id(variable.value)] = float(factor)

    def update_step(self, gradient, variable, learning_rate):
        factor = self._factors.get(id(variable), 1.0)
        return super().update_step(gradient, variable, learning_rate * factor)


LOSS_WINDOW = 100
"""Updates over which the returned loss is averaged (the loss metric's reset period)."""


class DDPGLearner(keras.Model):
    """Actor, critic and their targets; trained on x = (obs, actions, rewards, next_obs, discounts)."""

    def __init__(self, actor, critic, target_actor, target_critic, cfg: DDPGConfig, **kwargs):
        super().__init__(**kwargs)
        self.actor, self.critic, self.cfg = actor, critic, cfg
        self.target_actor, self.target_critic = target_actor, target_critic
        for target, online in ((target_actor, actor), (target_critic, critic)):
            target.trainable = False
            target.set_weights(online.get_weights())

    def call(self, inputs, training=False):
        obs = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
        return self.actor(obs, training=training)

    def soft_update_targets(self):
        """Assign theta' <- tau theta + (1 - tau) theta'; returns a zero that depends on the values assigned. The
        loss is multiplied by (1 + that zero), so every gradient, and hence every optimizer write, depends on the
        online weights having been read for the assignment: without it TensorFlow may read the actor's weights
        after the optimizer has written them (the actor's gradient does not otherwise depend on the targets).
        JAX has no such hazard."""
        tau, anchor = self.cfg.tau, 0.0
        for target, online in ((self.target_actor, self.actor), (self.target_critic, self.critic)):
            for t, o in zip(target.weights, online.weights, strict=True):
                value = ops.stop_gradient(tau * o.value + (1.0 - tau) * t.value)
                t.assign(value)
                anchor = anchor + ops.sum(value)
        return 0.0 * anchor

    def critic_targets(self, rewards, next_obs, discounts):
        """y = r + gamma Q'(s', mu'(s')): target actor and target critic."""
        next_actions = self.target_actor(next_obs, training=False)
        return rewards + discounts * self.target_critic([next_obs, next_actions], training=False)[:, 0]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        obs, actions, rewards, next_obs, discounts = x
        anchor = self.soft_update_targets()
        targets = ops.stop_gradient(self.critic_targets(rewards, next_obs, discounts))
        q = self.critic([obs, actions], training=training)[:, 0]
        critic_loss = ops.mean(ops.square(q - targets))
        kernels = [w for w in self.critic.trainable_weights if w.path.endswith("kernel")]
        decay = 0.5 * self.cfg.critic_weight_decay * sum(ops.sum(ops.square(w.value)) for w in kernels)
        frozen = [ops.stop_gradient(v.value) for v in self.critic.trainable_variables]
        fixed = [v.value for v in self.critic.non_trainable_variables]
        q_policy, _ = self.critic.stateless_call(frozen, fixed, [obs, y_pred], training=False)
        actor_loss = -ops.mean(q_policy)
        # The same zero-valued anchor for the critic's weights read for the actor's loss: only the actor's gradient
        # depends on them, so without it TensorFlow may read them after the optimizer has written the critic's
        # (seen as actor weights differing by ~1e-5 between runs of one seed after a few updates).
        read = 0.0 * sum(ops.sum(v) for v in frozen + fixed)
        return (critic_loss + decay + actor_loss) * (1.0 + anchor + read)


class DDPGAgent:
    """Acting (mu(s) plus optional noise, clipped to the bounds), updates, and state for checkpoints."""

    def __init__(
        self,
        build_actor: Callable[[], keras.Model],
        build_critic: Callable[[], keras.Model],
        action_low: np.ndarray,
        action_high: np.ndarray,
        cfg: DDPGConfig,
    ):
        self.cfg = cfg
        self.low, self.high = np.asarray(action_low, np.float32), np.asarray(action_high, np.float32)
        self.learner = DDPGLearner(build_actor(), build_critic(), build_actor(), build_critic(), cfg)
        optimizer = ScaledAdam(cfg.critic_learning_rate, epsilon=cfg.adam_epsilon)
        optimizer.set_factor(self.learner.actor.trainable_variables, cfg.actor_learning_rate / cfg.critic_learning_rate)
        self.learner.compile(optimizer=optimizer)
        self.learner.optimizer.build(self.learner.trainable_variables)
        self.updates = 0

    def policy(self, obs: np.ndarray) -> np.ndarray:
        """mu(s) for a batch of observations (the compiled predict step, no model.predict)."""
        return np.asarray(self.learner.predict_on_batch(np.asarray(obs, np.float32)))

    def act(self, obs: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
        action = self.policy(obs[None])[0]
        if noise is not None:
            action = action + noise
        return np.clip(action, self.low, self.high)

    def q_values(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        return np.asarray(self.learner.critic([np.asarray(obs, np.float32), np.asarray(actions, np.float32)]))[:, 0]

    def update(self, obs, actions, rewards, next_obs, terminals) -> float:
        """One compiled update on a minibatch (obs (B, obs_dim), actions (B, action_dim), rewards (B,), next_obs
        (B, obs_dim), terminals (B,) in {0, 1}); returns the loss (on TensorFlow: the mean over the updates since the
        last multiple of LOSS_WINDOW).

        On TensorFlow the compiled train function is built once and called directly, because Keras's
        train_on_batch resets its loss metric with eager variable assignments on every call (~0.8 ms, about 15 %
        of a whole DDPG step on 2 cores); the metric is reset every LOSS_WINDOW updates instead, and its running
        sum and count are part of the checkpoint, so a resumed run logs the same loss. The compiled step is the
        same function either way. Other backends use train_on_batch (the loss is that batch's).
        """
        discounts = (self.cfg.gamma * (1.0 - terminals)).astype(np.float32)
        x = tuple(np.asarray(a, np.float32) for a in (obs, actions, rewards, next_obs)) + (discounts,)
        if keras.backend.backend() == "tensorflow":
            if self.learner.train_function is None:
                self.learner.make_train_function()
            if self.updates % LOSS_WINDOW == 0:
                self.learner.reset_metrics()
            loss = self.learner.train_function(iter([(x, None, None)]))["loss"]
        else:
            loss = self.learner.train_on_batch(x)
        self.updates += 1
        return float(loss)

    # --- checkpoints -------------------------------------------------------------------------------------------
    def variable_groups(self) -> dict[str, list]:
        """The variables a checkpoint holds, by group: the four networks, Adam's slots and step, the loss window's
        sum and count."""
        learner = self.learner
        return {
            "actor": learner.actor.weights,
            "critic": learner.critic.weights,
            "target_actor": learner.target_actor.weights,
            "target_critic": learner.target_critic.weights,
            "optimizer": learner.optimizer.variables,
            "loss_metric": learner.metrics_variables,
        }

    def state_arrays(self) -> dict[str, np.ndarray]:
        """Everything an update depends on, keyed by variable path (shared.rl.agents.state), and the update count."""
        return {**named_arrays(self.variable_groups()), "updates": np.array(self.updates, np.int64)}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what state_arrays() saved; a missing, extra or differently shaped array is a ReplicateError."""
        restore_named(self.variable_groups(), arrays)
        self.updates = int(arrays["updates"])

    def migrate_numbered(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Checkpoint format 2's positional arrays (actor_0, ...) renamed to this agent's keys; a format-2 checkpoint
        written before the loss window was saved keeps the window as it is (as format 2's loader did)."""
        migrated = from_numbered(self.variable_groups(), arrays, optional=("loss_metric",))
        if not any(key.startswith("loss_metric/") for key in migrated):
            migrated.update(named_arrays({"loss_metric": self.learner.metrics_variables}))
        return migrated
