"""DDPG's update as committed against the plain formulation it replaced, in one process, alternating blocks: what
the narrow action gradient (DenseWithAction, `action_gradient_only`) and the written-out weight-decay gradient
(`weight_decay_penalty`) save, and a check that they change no number.

Both agents: HalfCheetah's sizes (17 observations, 6 actions), 400-300 actor and critic, batch 64, the paper's
hyperparameters, no batch normalisation, one TensorFlow intra-op thread and op determinism (as ddpg_continuous
runs), each update also acting on one state (as the loop does), the same seed and the same minibatches. The plain
agent's critic is Concatenate + Dense and its loss differentiates (decay / 2) sum ||W||^2 directly, as the code before
2026-12-05 did. Recorded: ms per update of each block, every per-pair ratio (committed / plain: below 1 is faster),
their median, whether the committed agent used the narrow product (tf_column_product_matches), and whether both
agents' whole state (weights, targets, Adam slots, loss window) is bit-identical after every block.
One process: both share the machine's state at each moment, so the ratio is less noisy than two processes' rates.

    python benchmarks/ddpg_update_formulations.py [--updates 300] [--blocks 20]
                                                  [--out benchmarks/results/ddpg_update_formulations.json]
"""

from __future__ import annotations

import os
import time

from record import block_arguments, record

OBS_DIM, ACTION_DIM, BATCH, HIDDEN = 17, 6, 64, (400, 300)


def plain_critic(obs_dim: int, action_dim: int, batch_norm: bool = False):
    """The critic as built before 2026-12-05: Concatenate, then a Dense layer, with the initialisers drawn in the
    same order as build_critic's (so one seed gives the same weights). Also tests/test_ddpg.py's reference."""
    import keras
    from keras import layers

    from replicate_suite.models import actor_critic

    obs, action = keras.Input((obs_dim,)), keras.Input((action_dim,))
    x = layers.BatchNormalization(name="obs_bn")(obs) if batch_norm else obs
    x = actor_critic._dense(HIDDEN[0], obs_dim, "fc1")(x)
    if batch_norm:
        x = layers.BatchNormalization(name="fc1_bn")(x)
    x = layers.Activation("relu")(x)
    x = layers.Concatenate()([x, action])
    x = actor_critic._dense(HIDDEN[1], HIDDEN[0] + action_dim, "fc2", activation="relu")(x)
    return keras.Model([obs, action], actor_critic._final(1, 3e-3, "q")(x), name="critic")


def plain_learner():
    """DDPGLearner as before 2026-12-05: the critic's loss differentiates (decay / 2) sum ||W||^2 directly."""
    from keras import ops

    from replicate_suite.rl.agents import ddpg

    class PlainPenalty(ddpg.DDPGLearner):
        def critic_loss(self, obs, actions, targets, training):
            q = self.critic([obs, actions], training=training)[:, 0]
            kernels = [w for w in self.critic.trainable_weights if w.path.endswith("kernel")]
            penalty = 0.5 * self.cfg.critic_weight_decay * sum(ops.sum(ops.square(w.value)) for w in kernels)
            return ops.mean(ops.square(q - targets)) + penalty

    return PlainPenalty


def plain_agent():
    """The DDPG agent as built before 2026-12-05 (plain_critic, plain_learner)."""
    return _agent(lambda: plain_critic(OBS_DIM, ACTION_DIM), plain_learner())


def _agent(build_critic, learner_class):
    import numpy as np

    from replicate_suite.models.actor_critic import build_actor
    from replicate_suite.rl.agents import ddpg
    from replicate_suite.seeding import seed_everything

    seed_everything(0)
    low, high = -np.ones(ACTION_DIM), np.ones(ACTION_DIM)
    cfg = ddpg.DDPGConfig(0.99, 0.001, 1e-4, 1e-3, 1e-2, list(HIDDEN), 3e-3, batch_norm=False)
    committed, ddpg.DDPGLearner = ddpg.DDPGLearner, learner_class
    try:
        return ddpg.DDPGAgent(lambda: build_actor(OBS_DIM, low, high), build_critic, low, high, cfg)
    finally:
        ddpg.DDPGLearner = committed


def main() -> None:
    args = block_arguments(__doc__, updates=300, blocks=20, out="benchmarks/results/ddpg_update_formulations.json")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import numpy as np
    import tensorflow as tf
    from keras import ops

    from replicate_suite.models.actor_critic import build_critic
    from replicate_suite.rl.agents import ddpg

    tf.config.threading.set_intra_op_parallelism_threads(1)
    agents = {"plain": plain_agent(), "committed": _agent(lambda: build_critic(OBS_DIM, ACTION_DIM), ddpg.DDPGLearner)}
    rng = np.random.default_rng(1)
    width = 2 * OBS_DIM + ACTION_DIM + 2
    rows = rng.standard_normal((args.updates, BATCH, width)).astype(np.float32)
    rows[:, :, -1] = rng.random((args.updates, BATCH)) < 0.01  # terminal flags
    acting = rng.standard_normal((args.updates, OBS_DIM)).astype(np.float32)
    for agent in agents.values():  # tracing and the first graph optimisation, outside the clock
        agent.update_rows(rows[0], acting[0])
    ms = {name: [] for name in agents}
    identical = True
    for block in range(args.blocks):
        order = ("plain", "committed") if block % 2 == 0 else ("committed", "plain")
        for name in order:
            agent = agents[name]
            started = time.perf_counter()
            for i in range(args.updates):
                agent.update_rows(rows[i], acting[i])
            ms[name].append((time.perf_counter() - started) / args.updates * 1e3)
        states = [agents[name].state_arrays() for name in ("plain", "committed")]
        identical &= all(np.array_equal(states[0][key], states[1][key]) for key in states[0])
    ratios = [c / p for c, p in zip(ms["committed"], ms["plain"], strict=True)]
    narrow = agents["committed"].learner.narrow_action_gradient(ops.zeros((BATCH, OBS_DIM)))
    record(
        {
            "what": "ms per DDPG update (HalfCheetah sizes, batch 64, acting inside each update), committed code "
            "against the plain formulation, one process, alternating blocks",
            "updates_per_block": args.updates,
            "blocks": args.blocks,
            "intra_op_threads": 1,
            "op_determinism": True,
            "update_ms": ms,
            "median_update_ms": {name: float(np.median(values)) for name, values in ms.items()},
            "ratios_committed_over_plain": ratios,
            "median_ratio_committed_over_plain": float(np.median(ratios)),
            "narrow_action_gradient": bool(narrow),
            "state_bit_identical_after_every_block": bool(identical),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
