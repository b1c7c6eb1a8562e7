"""DDPG (Lillicrap et al. 2016, Algorithm 1): deterministic actor mu, critic Q, target copies mu', Q'.

One update on a minibatch of N transitions (s_i, a_i, r_i, s_{i+1}), in the paper's order:

    (1) critic target   y_i = r_i + gamma Q'(s_{i+1}, mu'(s_{i+1}))        (gamma -> 0 where s_{i+1} is terminal)
    (2) critic loss     L = 1/N sum_i (y_i - Q(s_i, a_i))^2 + (lambda / 2) ||W_Q||^2       (Sec. 7: lambda = 1e-2)
    (3) actor gradient  grad_theta_mu J = 1/N sum_i grad_a Q(s_i, a)|_{a = mu(s_i)} grad_theta_mu mu(s_i)
    (4) soft update     theta' <- tau theta + (1 - tau) theta'                       (both targets; tau = 1e-3)

`DDPGLearner` has one method per equation, in that order (`critic_targets`, `critic_loss`, `actor_loss`,
`soft_update_targets`), and one Keras model holds the four networks and one optimizer, so Keras compiles the whole
update (tf.function / jax.jit) with no backend-specific code. Its `compute_loss` returns L plus the actor's loss
-1/N sum_i Q(s_i, mu(s_i)) computed with the critic's weights behind stop_gradient, whose gradient is (3) and
which moves only the actor; Adam then takes one step on both (actor and critic learning rates 1e-4 and 1e-3
through per-variable factors on one Adam, `ScaledAdam`).

The soft update (4) is an assignment inside the compiled step, before the gradient step; so `compute_loss` runs
the previous update's (4) first, i.e. right after the previous gradient step: the paper's sequence at every update
but the last (whose soft update is never used). Reading weights that the same step also writes needs an ordering
that TensorFlow does not give by itself: `after_reads` (below) is the one place that handles it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

import keras
import numpy as np
from keras import ops

from replicate_suite.config import POSITIVE, Range
from replicate_suite.environment import tensorflow_kernels
from replicate_suite.models.actor_critic import action_gradient_only, action_joins
from replicate_suite.rl.agents.compiled import (
    DirectTrainStep,
    TrainThenForward,
    compiled_forward,
    tf_column_product_matches,
    tf_graph_without_xla,
)
from replicate_suite.rl.agents.state import from_numbered, named_arrays, restore_named
from replicate_suite.rl.replay import transition_columns, transition_width


@dataclass(frozen=True)
class DDPGConfig:
    """The agent's hyperparameters (Lillicrap et al. 2016, Sec. 7)."""

    gamma: Annotated[float, Range(0, 1)]
    """Discount (paper: 0.99)."""
    tau: Annotated[float, Range(0, 1, low_open=True)]
    """Soft target update rate (paper: 0.001)."""
    actor_learning_rate: Annotated[float, POSITIVE]
    """Paper: 1e-4."""
    critic_learning_rate: Annotated[float, POSITIVE]
    """Paper: 1e-3."""
    critic_weight_decay: Annotated[float, Range(0, None)]
    """L2 weight decay on the critic's weights (paper: 1e-2), as a penalty (decay / 2) * ||W||^2 on its kernels."""
    hidden: list[int]
    """Hidden widths of actor and critic (paper: 400, 300)."""
    final_init: Annotated[float, POSITIVE]
    """Final layers uniform in +-final_init (paper: 3e-3)."""
    batch_norm: bool
    """Batch normalisation of the state input and hidden layers (paper: yes, low-dimensional case)."""
    adam_epsilon: Annotated[float, POSITIVE] = 1e-8
    xla: bool = False
    """XLA-compile the update on TensorFlow (jit_compile=True). Fused kernels round differently, so a seed's
    numbers change: off by default (then Keras's "auto": XLA on a GPU, not on a CPU). JAX always uses XLA. Keras
    turns it off while TensorFlow's op determinism is on (every `replicate run` without --no-determinism)."""


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


def after_reads(loss, *reads):
    """`loss` (a scalar tensor), with a zero-valued data dependency on every tensor in `reads` (lists of tensors):
    loss * (1 + 0 * sum(reads[0]) + 0 * sum(reads[1]) + ...), equal to loss in value and gradient.

    Why: the compiled step reads weights that its own optimizer step then writes (the soft update reads the online
    weights; the actor's loss reads the critic's). TensorFlow orders a read before a later write of the same
    variable only when something depends on the read; the actor's gradient does not depend on the targets, nor
    the critic's gradient on the critic read for the actor, so without this dependency TensorFlow may do the read
    after the write (seen as runs of one seed differing by ~1e-5 after a few updates). Making the loss depend on
    the reads makes every gradient, and hence every optimizer write, wait for them. JAX's compiled step is
    functional and needs none of this; the factor is exactly 1 there too."""
    factor = 1.0
    for tensors in reads:
        factor = factor + 0.0 * sum(ops.sum(t) for t in tensors)
    return loss * factor


def weight_decay_penalty(kernels, decay: float):
    """(decay / 2) * sum_W ||W||^2 over `kernels` (tensors of any shape; Lillicrap et al. 2016, Sec. 7: "L2 weight
    decay of 10^-2" on Q), a scalar, with the gradient decay * W written out: for upstream gradient g, each kernel's
    gradient is (g * (decay / 2)) * (W * 2), the very float operations automatic differentiation does for this
    value (the Mul's gradient, then Square's gradient 2W times the incoming gradient), but with that incoming
    gradient as a scalar instead of broadcast to the kernel's shape first (Sum's gradient, a Tile the size of the
    kernel: 406 x 300 floats a step at the paper's sizes). Bit-identical values and gradients (tests/test_ddpg.py)."""
    scale = 0.5 * decay

    @ops.custom_gradient
    def penalty(*weights):
        def gradient(upstream):
            g = ops.multiply(upstream, scale)
            return tuple(ops.multiply(g, ops.multiply(w, 2.0)) for w in weights)

        return scale * sum(ops.sum(ops.square(w)) for w in weights), gradient

    return penalty(*kernels)


class DDPGLearner(keras.Model):
    """Actor, critic and their targets, trained on a minibatch x in one of two forms:

    - packed: one float32 array (B, 2 obs_dim + action_dim + 2) with columns [obs | actions | reward | next_obs |
      terminal] (`pack`, `unpack`; terminal 1 where the transition ended the episode by termination, else 0), the
      layout TransitionReplay stores; the step computes discount = gamma (1 - terminal). DDPGAgent uses it on
      TensorFlow without XLA, where each input of a compiled call costs a tensor conversion and a copy to the
      device (~13 us each here) and the slices give the very same numbers as five arrays;
    - five arrays: (obs (B, obs_dim), actions (B, action_dim), rewards (B,), next_obs (B, obs_dim), discounts (B,) =
      gamma where the transition did not terminate, else 0). DDPGAgent uses it under XLA (JAX; TensorFlow with
      DDPGConfig.xla), which fuses the slicing of a packed array into its consumers and then rounds some sums
      differently (seen at batch 24 and 32, not at 64)."""

    def __init__(self, actor, critic, target_actor, target_critic, cfg: DDPGConfig, **kwargs):
        super().__init__(**kwargs)
        self.actor, self.critic, self.cfg = actor, critic, cfg
        self.target_actor, self.target_critic = target_actor, target_critic
        for target, online in ((target_actor, actor), (target_critic, critic)):
            target.trainable = False
            target.set_weights(online.get_weights())
        self.obs_dim, self.action_dim = int(actor.inputs[0].shape[-1]), int(actor.outputs[0].shape[-1])

    def pack(self, obs, actions, rewards, next_obs, terminals) -> np.ndarray:
        """The minibatch as one float32 array (B, 2 obs_dim + action_dim + 2): [obs | actions | reward | next_obs |
        terminal], each cast to float32 as np.asarray(., np.float32) would. Raises ValueError unless obs and next_obs
        are (B, obs_dim), actions (B, action_dim) (or (B,) with one action dimension), rewards and terminals (B,)."""
        o, a = self.obs_dim, self.action_dim
        n = len(rewards) if np.ndim(rewards) == 1 else -1
        if a == 1 and np.shape(actions) == (n,):
            actions = np.reshape(actions, (n, 1))
        expected = ((n, o), (n, a), (n,), (n, o), (n,))
        shapes = tuple(np.shape(v) for v in (obs, actions, rewards, next_obs, terminals))
        if shapes != expected:
            raise ValueError(f"a DDPG minibatch (obs, actions, rewards, next_obs, terminals) needs shapes (B, {o}), "
                             f"(B, {a}), (B,), (B, {o}), (B,); got {shapes}")  # fmt: skip
        batch = np.empty((n, transition_width(o, a)), np.float32)
        for column, values in zip(self.unpack(batch), (obs, actions, rewards, next_obs, terminals), strict=True):
            column[...] = values
        return batch

    def unpack(self, batch):
        """pack's inverse (also inside the compiled step): (obs, actions, rewards, next_obs, terminals) as column
        slices (replicate_suite.rl.replay.transition_columns)."""
        return transition_columns(batch, self.obs_dim, self.action_dim)

    def call(self, inputs, training=False):
        """mu(s) of a minibatch in either form (or of observations alone: obs are the first obs_dim columns)."""
        obs = inputs[0] if isinstance(inputs, (tuple, list)) else inputs[:, : self.obs_dim]
        return self.actor(obs, training=training)

    def critic_targets(self, rewards, next_obs, discounts):
        """(1) y = r + gamma Q'(s', mu'(s')), shape (B,): target actor and target critic."""
        next_actions = self.target_actor(next_obs, training=False)
        return rewards + discounts * self.target_critic([next_obs, next_actions], training=False)[:, 0]

    def critic_loss(self, obs, actions, targets, training):
        """(2) mean (y - Q(s, a))^2 + (decay / 2) * sum of the squared critic kernels (the paper's L2 weight decay on
        the critic's weights, Sec. 7; biases and BN parameters are not decayed); a scalar."""
        q = self.critic([obs, actions], training=training)[:, 0]
        td_loss = ops.mean(ops.square(q - targets))
        kernels = [w.value for w in self.critic.trainable_weights if w.path.endswith("kernel")]
        return td_loss + weight_decay_penalty(kernels, self.cfg.critic_weight_decay)

    def actor_loss(self, obs, actions):
        """(3) -mean Q(s, mu(s)) with `actions` = mu(s) and the critic's weights held fixed (a stateless call behind
        stop_gradient), so its gradient is the paper's actor gradient and it moves the actor only. Returns the loss
        and the critic weights it read (for after_reads).

        Where it gives the same numbers (`narrow_action_gradient`), the critic's layer where the action joins takes
        dQ/da through the action's rows of its kernel alone (DenseWithAction, action_gradient_only): 6 columns of
        the product instead of 406 at the paper's sizes, about 15 of the update's 162 MFLOP."""
        frozen = [ops.stop_gradient(v.value) for v in self.critic.trainable_variables]
        fixed = [v.value for v in self.critic.non_trainable_variables]
        with action_gradient_only(self.critic, self.narrow_action_gradient(obs)):
            q_policy, _ = self.critic.stateless_call(frozen, fixed, [obs, actions], training=False)
        return -ops.mean(q_policy), frozen + fixed

    def narrow_action_gradient(self, obs) -> bool:
        """Whether actor_loss takes dQ/da through the action's kernel rows alone for a minibatch of obs: only where
        that gives bit-identical numbers, i.e. in a TensorFlow graph without XLA (XLA plans its own products), with
        the batch size known when the step is traced, with TensorFlow's Eigen kernels, and where
        tf_column_product_matches shows this machine's matrix product giving the same sums for these shapes (not
        with one action dimension, for one). Not with oneDNN's kernels (`environment.tensorflow_kernels`;
        TensorFlow's default on AVX-512 VNNI CPUs): on the AVX2 EPYC of 2026-12-05 with TF_ENABLE_ONEDNN_OPTS=1 the
        check passed for the paper's shapes and the updates still differed from the plain critic's, as oneDNN's
        graph rewrite gives the update's products other kernels than the check's."""
        batch = obs.shape[0]
        joins = action_joins(self.critic)
        if len(joins) != 1 or batch is None or not tf_graph_without_xla(self) or tensorflow_kernels() != "eigen":
            return False
        kernel = joins[0].kernel
        return tf_column_product_matches(int(batch), int(kernel.shape[1]), int(kernel.shape[0]), joins[0].action_dim)

    def soft_update_targets(self):
        """(4) theta' <- tau theta + (1 - tau) theta' on every weight of both target nets (assignments inside the
        compiled step); returns the values assigned (for after_reads)."""
        tau, assigned = self.cfg.tau, []
        for target, online in ((self.target_actor, self.actor), (self.target_critic, self.critic)):
            for t, o in zip(target.weights, online.weights, strict=True):
                value = ops.stop_gradient(tau * o.value + (1.0 - tau) * t.value)
                t.assign(value)
                assigned.append(value)
        return assigned

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The loss whose gradient step is one DDPG update; y_pred = mu(s) (Keras's forward pass, `call`)."""
        if isinstance(x, (tuple, list)):
            obs, actions, rewards, next_obs, discounts = x
        else:
            obs, actions, rewards, next_obs, terminals = self.unpack(x)
            discounts = self.cfg.gamma * (1.0 - terminals)  # float32, as DDPGAgent's NumPy float32 arithmetic
        soft_updated = self.soft_update_targets()  # (4) of the previous update: see the module docstring
        targets = ops.stop_gradient(self.critic_targets(rewards, next_obs, discounts))  # (1)
        critic_loss = self.critic_loss(obs, actions, targets, training)  # (2)
        actor_loss, critic_read = self.actor_loss(obs, y_pred)  # (3)
        return after_reads(critic_loss + actor_loss, soft_updated, critic_read)


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
        self.learner.compile(optimizer=optimizer, jit_compile=True if cfg.xla else "auto")
        self.learner.optimizer.build(self.learner.trainable_variables)
        self._forward = compiled_forward(self.learner.actor)
        self._train_step = DirectTrainStep(self.learner)
        self._train_then_act = TrainThenForward(self._train_step, self.learner.actor, self._forward)
        self._next_policy: tuple[np.ndarray, int, np.ndarray] | None = None  # (obs, updates, mu(obs)) of update()
        self.updates = 0

    @property
    def _packed(self) -> bool:
        """Whether the learner takes the packed minibatch: where it gives the same numbers as five arrays
        (DDPGLearner's docstring), TensorFlow without XLA (TrainThenForward's condition for its single call)."""
        return tf_graph_without_xla(self.learner)

    def policy(self, obs: np.ndarray) -> np.ndarray:
        """mu(s) for a batch of observations (obs_dim per row): one compiled forward pass of the actor."""
        return self._forward(np.asarray(obs, np.float32))

    def act(self, obs: np.ndarray, noise: np.ndarray | None = None) -> np.ndarray:
        """mu(s) + noise for one observation (obs_dim,), clipped to the action bounds: (action_dim,) float32.
        If the last update was asked to act on this very observation (update's `act_on`) and no update came since,
        its mu(s) is used: the same numbers, computed inside that update's compiled call."""
        cached = self._next_policy
        if cached is not None and cached[1] == self.updates and np.array_equal(cached[0], obs):
            action = cached[2]
        else:
            action = self.policy(obs[None])[0]
        if noise is not None:
            action = action + noise
        return np.clip(action, self.low, self.high)

    def q_values(self, obs: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Q(s, a) of the online critic: obs (B, obs_dim), actions (B, action_dim) -> (B,)."""
        return np.asarray(self.learner.critic([np.asarray(obs, np.float32), np.asarray(actions, np.float32)]))[:, 0]

    def update(self, obs, actions, rewards, next_obs, terminals, act_on: np.ndarray | None = None) -> float:
        """One compiled update on a minibatch (obs (B, obs_dim), actions (B, action_dim), rewards (B,), next_obs
        (B, obs_dim), terminals (B,) in {0, 1}); returns the mean loss over the updates since the last multiple of
        LOSS_WINDOW.

        With `act_on` (one observation, (obs_dim,)), the same compiled call also computes mu(act_on) with the
        updated weights, which the next act(act_on) uses (`TrainThenForward`: one TensorFlow call per step instead
        of two, ~0.3 ms less per step at the paper's sizes on 2 cores; bit-identical actions and weights,
        tests/test_ddpg.py).

        The learner's train_step (the function Keras compiles for fit) is called directly (`DirectTrainStep`):
        Keras's train_on_batch adds its data handling and resets the loss metric with eager assignments on every
        call (~0.8 ms, about 15 % of a whole DDPG step on 2 cores on TensorFlow). The metric is reset every
        LOSS_WINDOW updates instead, and its running sum and count are part of the checkpoint, so a resumed run logs
        the same loss.
        """
        return self.update_rows(self.learner.pack(obs, actions, rewards, next_obs, terminals), act_on)

    def update_rows(self, rows: np.ndarray, act_on: np.ndarray | None = None) -> float:
        """`update` on a minibatch already packed as rows (B, 2 obs_dim + action_dim + 2), [obs | actions | reward |
        next_obs | terminal] float32 (DDPGLearner.pack, TransitionReplay.sample_rows). Raises ValueError for another
        width."""
        x = np.asarray(rows, np.float32)
        width = transition_width(self.learner.obs_dim, self.learner.action_dim)
        if x.ndim != 2 or x.shape[1] != width:
            raise ValueError(f"DDPG minibatch rows must be (B, {width}), got {x.shape}")
        if not self._packed:  # five arrays, as the step takes them under XLA (DDPGLearner's docstring)
            obs, actions, rewards, next_obs, terminals = self.learner.unpack(x)
            discounts = (self.cfg.gamma * (1.0 - terminals)).astype(np.float32)
            x = tuple(np.ascontiguousarray(c) for c in (obs, actions, rewards, next_obs)) + (discounts,)
        if self.updates % LOSS_WINDOW == 0:
            self.learner.reset_metrics()
        if act_on is None:
            loss = self._train_step(x)
        else:
            acting = np.array(act_on, np.float32)
            loss, policy = self._train_then_act(x, acting[None])
            self._next_policy = (acting, self.updates + 1, policy[0])
        self.updates += 1
        return loss

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
        """Everything an update depends on, keyed by variable path (replicate_suite.rl.agents.state),
        and the update count."""
        return {**named_arrays(self.variable_groups()), "updates": np.array(self.updates, np.int64)}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore what state_arrays() saved; a missing, extra or differently shaped array is a ReplicateError."""
        restore_named(self.variable_groups(), arrays)
        self.updates = int(arrays["updates"])
        self._next_policy = None

    def migrate_numbered(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Checkpoint format 2's positional arrays (actor_0, ...) renamed to this agent's keys; a format-2 checkpoint
        written before the loss window was saved keeps the window as it is (as format 2's loader did)."""
        migrated = from_numbered(self.variable_groups(), arrays, optional=("loss_metric",))
        if not any(key.startswith("loss_metric/") for key in migrated):
            migrated.update(named_arrays({"loss_metric": self.learner.metrics_variables}))
        return migrated
