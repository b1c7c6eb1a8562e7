"""Neural TD (semi-gradient TD(0) with a Keras value network, the target held constant) on a random walk whose V_pi is
known exactly, linear TD with fixed features as its special case, and the chain rule behind DDPG's actor update.

Source: ../shared/sources/course-notes.md: "OK, now let's come back to RL. The last thing we did was try to approximate
the state by a linear function V ~ Phi theta", "We evaluate V_target = V_theta(s') ... for the purpose of computing the
gradient, we treat V_target as a constant ... This is called Neural TD", and, for DDPG, "Can use chain rule:
grad_{theta_mu} Q(s, mu(s)) = grad_a Q(s, a) grad_{theta_mu} mu(s)".

The MDP is the 5-state random walk (Sutton & Barto, Example 6.2; not in the notes, chosen because V_pi is exact):
states 1..5, start in the middle, step left or right with probability 1/2, reward 1 on leaving to the right,
gamma = 1, so V_pi(s) = s / 6.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers, ops

from replicate_suite.autodiff import gradients


@dataclass(frozen=True)
class TDConfig:
    states: int
    """Non-terminal states of the random walk; V_pi(s) = s / (states + 1)."""
    hidden: int
    """ReLU units of the neural value network (input: the one-hot state)."""
    learning_rate: float
    """alpha_0 of the step sizes alpha_t = alpha_0 / (1 + t / decay_steps) (the notes write alpha_t)."""
    decay_steps: int
    """Updates over which alpha_t halves; decaying steps let the estimate settle instead of jittering around V_pi."""
    walkers: int
    """b: independent walks stepped together; each update averages the notes' update over their b transitions
    (the batch form the notes give for deep Q-learning). b = 1 is the single-transition update."""
    steps: int
    """Updates."""
    record_every: int
    """Updates between points of the error curve."""


@dataclass(frozen=True)
class ChainRuleConfig:
    state_dim: int
    action_dim: int
    hidden: int
    states: int
    """States in the batch the actor gradient sums over."""


class SemiGradientTD(keras.Model):
    """Trains value_net by the notes' Neural TD: loss (1/2)(r + gamma V(s') - V(s))^2 with V(s') held constant, so
    one SGD step is theta + alpha (r + gamma V(s') - V(s)) grad V(s). x = (states, rewards, next_states, continues)."""

    def __init__(self, value_net: keras.Model, gamma: float, **kwargs):
        super().__init__(**kwargs)
        self.value_net, self.gamma = value_net, gamma

    def call(self, inputs, training=False):
        states = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
        return self.value_net(states, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        states, rewards, next_states, continues = x
        target = rewards + self.gamma * continues * ops.stop_gradient(self.value_net(next_states)[:, 0])
        return ops.mean(0.5 * ops.square(target - self.value_net(states)[:, 0]))


def _one_hot(cfg: TDConfig):
    return lambda s: np.eye(cfg.states + 2, dtype="float32")[s][:, 1:-1]


def _position(cfg: TDConfig):
    """The fixed feature of linear TD: the position scaled to [-1, 1] (with the bias: V = theta_0 + theta_1 phi)."""
    middle = (cfg.states + 1) / 2
    return lambda s: ((np.asarray(s, "float32") - middle) / (middle - 1))[:, None]


def _neural_net(cfg: TDConfig, seed: int) -> keras.Model:
    inputs = keras.Input((cfg.states,))
    hidden = layers.Dense(cfg.hidden, activation="relu", kernel_initializer=keras.initializers.HeNormal(seed=seed))
    output = layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1))
    return keras.Model(inputs, output(hidden(inputs)))


def _linear_net() -> keras.Model:
    inputs = keras.Input((1,))
    return keras.Model(inputs, layers.Dense(1, kernel_initializer="zeros")(inputs))


def _train(cfg: TDConfig, net: keras.Model, features, rng: np.random.Generator, name: str, ctx) -> np.ndarray:
    """Run the walks and the updates; record the RMS error against V_pi; return the final V over the states."""
    learner = SemiGradientTD(net, gamma=1.0)
    schedule = keras.optimizers.schedules.InverseTimeDecay(cfg.learning_rate, cfg.decay_steps, 1.0)
    learner.compile(optimizer=keras.optimizers.SGD(schedule))
    all_states = np.arange(1, cfg.states + 1)
    truth = all_states / (cfg.states + 1)
    start = (cfg.states + 1) // 2
    s = np.full(cfg.walkers, start)
    for step in range(cfg.steps + 1):
        if step % cfg.record_every == 0 or step == cfg.steps:
            values = np.asarray(net(features(all_states)))[:, 0].astype("float64")
            ctx.curves.add(step, **{f"td_rms_error/{name}": float(np.sqrt(np.mean((values - truth) ** 2)))})
        if step == cfg.steps:
            return values
        s_next = s + rng.choice([-1, 1], cfg.walkers)
        rewards = (s_next == cfg.states + 1).astype("float32")
        continues = ((s_next > 0) & (s_next <= cfg.states)).astype("float32")
        learner.train_on_batch((features(s), rewards, features(np.clip(s_next, 0, cfg.states + 1)), continues))
        s = np.where(continues > 0, s_next, start)


def semi_gradient_check(cfg: TDConfig, seed: int) -> dict[str, float]:
    """One compiled update on one transition against the notes' formula, and against the full (residual) gradient."""
    net = _neural_net(cfg, seed)
    features = _one_hot(cfg)
    s, s_next = np.array([2]), np.array([3])
    params = [np.asarray(w).astype("float64") for w in net.trainable_weights]

    def value_grad(states):
        return gradients(lambda p: ops.sum(net.stateless_call(p, [], features(states))[0]), params)

    v_s, grad_s = value_grad(s)
    v_next, grad_next = value_grad(s_next)
    td_error = 0.0 + 1.0 * v_next - v_s
    notes = [p + cfg.learning_rate * td_error * g for p, g in zip(params, grad_s, strict=True)]
    residual = [p + cfg.learning_rate * td_error * (g - gn) for p, g, gn in zip(params, grad_s, grad_next, strict=True)]
    learner = SemiGradientTD(net, gamma=1.0)
    learner.compile(optimizer=keras.optimizers.SGD(cfg.learning_rate))
    learner.train_on_batch((features(s), np.zeros(1, "float32"), features(s_next), np.ones(1, "float32")))
    updated = [np.asarray(w).astype("float64") for w in net.trainable_weights]
    return {
        "td_semi_gradient_step_vs_formula_max_abs_diff": max(
            float(np.max(np.abs(u - n))) for u, n in zip(updated, notes, strict=True)
        ),
        "td_residual_vs_semi_gradient_step_max_abs_diff": max(
            float(np.max(np.abs(r - n))) for r, n in zip(residual, notes, strict=True)
        ),
    }


def td_examples(cfg: TDConfig, rng: np.random.Generator, seed: int, ctx) -> dict[str, float]:
    """Neural TD and linear TD on the random walk: the error of V_theta against V_pi after cfg.steps updates."""
    truth = np.arange(1, cfg.states + 1) / (cfg.states + 1)
    metrics = {}
    for name, net, features in (
        ("neural", _neural_net(cfg, seed), _one_hot(cfg)),
        ("linear", _linear_net(), _position(cfg)),
    ):
        values = _train(cfg, net, features, rng, name, ctx)
        for state, value in enumerate(values, start=1):
            ctx.curves.add(state, **{f"td_value/{name}": float(value), "td_value/truth": float(truth[state - 1])})
        metrics[f"td_{name}_rms_error"] = float(np.sqrt(np.mean((values - truth) ** 2)))
        metrics[f"td_{name}_max_abs_error"] = float(np.max(np.abs(values - truth)))
    return metrics


def chain_rule_example(cfg: ChainRuleConfig, rng: np.random.Generator, seed: int) -> dict[str, float]:
    """grad_theta sum_s Q(s, mu_theta(s)) by autodiff through critic and actor, against the notes' chain rule
    sum_s sum_j dQ/da_j(s, mu(s)) grad_theta mu_j(s) (the critic's action gradient computed separately, then held
    fixed)."""
    state_in = keras.Input((cfg.state_dim,))
    init = keras.initializers.GlorotUniform
    hidden = layers.Dense(cfg.hidden, activation="tanh", kernel_initializer=init(seed=seed))(state_in)
    actor = keras.Model(
        state_in, layers.Dense(cfg.action_dim, activation="tanh", kernel_initializer=init(seed=seed + 1))(hidden)
    )
    critic_state, critic_action = keras.Input((cfg.state_dim,)), keras.Input((cfg.action_dim,))
    joined = layers.Concatenate()([critic_state, critic_action])
    h = layers.Dense(
        cfg.hidden,
        activation="relu",
        kernel_initializer=init(seed=seed + 2),
        bias_initializer=keras.initializers.RandomNormal(stddev=0.1, seed=seed + 3),
    )(joined)
    critic = keras.Model([critic_state, critic_action], layers.Dense(1, kernel_initializer=init(seed=seed + 4))(h))
    states = rng.standard_normal((cfg.states, cfg.state_dim)).astype("float32")
    theta = [np.asarray(w) for w in actor.trainable_weights]
    critic_params = [np.asarray(w) for w in critic.trainable_weights]

    def objective(p):
        actions = actor.stateless_call(p, [], states)[0]
        return ops.sum(critic.stateless_call(critic_params, [], [states, actions])[0])

    _, direct = gradients(objective, theta)
    actions = np.asarray(actor(states))
    _, (dq_da,) = gradients(lambda a: ops.sum(critic.stateless_call(critic_params, [], [states, a[0]])[0]), [actions])
    _, chained = gradients(lambda p: ops.sum(actor.stateless_call(p, [], states)[0] * dq_da), theta)
    return {
        "ddpg_chain_rule_max_abs_diff": max(float(np.max(np.abs(d - c))) for d, c in zip(direct, chained, strict=True)),
        "ddpg_actor_gradient_max_abs": max(float(np.max(np.abs(d))) for d in direct),
    }
