"""What the first convolution's filter gradient costs in DQN's update, and how much of it a bit-identical
reformulation wins back: the floor analysis behind the DQN goal of issue #23 on a CPU where TensorFlow uses its
Eigen kernels.

Three agents in one process, alternating blocks of updates on the same minibatches (benchmarks/dqn_throughput.py's
settings: Nature CNN, 6 actions, batch 32, Adam lr 1e-4, Huber loss, gradient-norm clip 10, channels-last
minibatches as the replay gives them):
- committed: the update as the replications run it.
- transposed_im2col: conv1's filter gradient computed as one matrix product (256 x 12,800) @ (12,800 x 32) whose
  left factor, the minibatch's patches with the patch element first, numpy builds from the uint8 frames before each
  update (a tf.Variable carries it in); the forward pass and every other gradient unchanged. Whether its numbers
  equal the committed agent's is checked: every update's loss, and every variable (nets, target net, Adam's slots)
  at the end (on TensorFlow 2.21's Eigen kernels the sums come out bit-identical; on oneDNN's they need not).
- free_conv1_filter_gradient: conv1's filter gradient replaced by zeros. Not a valid update: it bounds from below
  what any formulation of that one gradient can reach (its weights drift from the others by construction).
Recorded: ms per update of each block, the per-block ratios against the committed agent (below 1 is faster), their
medians, and the bit-identity check. One process: the three share the machine's state at each moment.

    python benchmarks/dqn_update_floor.py [--updates 20] [--blocks 12]
                                          [--out benchmarks/results/dqn_update_floor.json]
"""

from __future__ import annotations

import os
import time

from record import block_arguments, record

ACTIONS, BATCH, STACK, SIZE = 6, 32, 4, 84
KERNEL, STRIDE, FILTERS = 8, 4, 32  # the Nature CNN's conv1
OUT = (SIZE - KERNEL) // STRIDE + 1  # 20


def patches_first(states):
    """uint8 (B, 84, 84, 4) channels-last stacks -> (8 * 8 * 4, B * 20 * 20) uint8: row (kh, kw, c), column
    (b, oh, ow) holds states[b, 4 oh + kh, 4 ow + kw, c] (conv1's im2col, patch element first)."""
    import numpy as np
    from numpy.lib.stride_tricks import as_strided

    b, _, _, c = states.shape
    s = states.strides
    view = as_strided(states, (KERNEL, KERNEL, c, b, OUT, OUT), (s[1], s[2], s[3], s[0], STRIDE * s[1], STRIDE * s[2]))
    return np.ascontiguousarray(view).reshape(KERNEL * KERNEL * c, b * OUT * OUT)


def make_agent(variant: str):
    """A DQN agent of the benchmark's settings, seeded identically; for the two variants, conv1 of the online net
    gets a custom gradient (its forward op unchanged). Returns (agent, per-update hook or None)."""
    import keras
    import tensorflow as tf

    from replicate_suite.models.qnets import build_atari_cnn
    from replicate_suite.rl.agents.dqn import DQNAgent, DQNConfig

    keras.utils.set_random_seed(0)
    cfg = DQNConfig(
        gamma=0.99, learning_rate=1e-4, optimizer="adam", loss="huber", target_period=250, max_grad_norm=10.0
    )
    agent = DQNAgent(lambda: build_atari_cnn(ACTIONS, "nature"), ACTIONS, cfg)
    if variant == "committed":
        return agent, None
    conv1 = agent.learner.online.get_layer("conv1")
    forward = conv1.convolution_op
    carried = tf.Variable(tf.zeros((KERNEL * KERNEL * STACK, BATCH * OUT * OUT), tf.uint8), trainable=False)
    scale = agent.learner.online.get_layer("scale")

    @tf.custom_gradient
    def convolution(inputs, kernel):
        def gradient(upstream):
            if variant == "free_conv1_filter_gradient":
                return None, tf.zeros_like(kernel)
            patches = scale(carried)  # the same Rescaling op on the same uint8 values as the forward pass's input
            flat = tf.reshape(upstream, (-1, FILTERS))
            return None, tf.reshape(tf.matmul(patches, flat), kernel.shape)

        return forward(inputs, kernel), gradient

    conv1.convolution_op = lambda inputs, kernel: convolution(inputs, tf.convert_to_tensor(kernel))
    return agent, (lambda batch: carried.assign(patches_first(batch.states)))


def main() -> None:
    args = block_arguments(__doc__, updates=20, blocks=12, out="benchmarks/results/dqn_update_floor.json")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import numpy as np

    from replicate_suite.rl.replay import Batch

    rng = np.random.default_rng(1)
    batches = [
        Batch(
            states=rng.integers(0, 256, (BATCH, SIZE, SIZE, STACK), dtype=np.uint8),
            actions=rng.integers(0, ACTIONS, BATCH).astype(np.int64),
            rewards=rng.choice(np.float32([-1, 0, 1]), BATCH),
            next_states=rng.integers(0, 256, (BATCH, SIZE, SIZE, STACK), dtype=np.uint8),
            terminals=(rng.random(BATCH) < 0.01).astype(np.float32),
            indices=np.arange(BATCH),
            frames_last=True,
        )
        for _ in range(args.updates)
    ]
    names = ("committed", "transposed_im2col", "free_conv1_filter_gradient")
    agents = {name: make_agent(name) for name in names}
    if not all(agent.frames_last for agent, _ in agents.values()):
        raise SystemExit("error: the agents do not take channels-last minibatches; this benchmark needs them")

    def update(name, batch):
        agent, hook = agents[name]
        if hook is not None:
            hook(batch)
        return agent.update(batch)

    def state(name):
        agent = agents[name][0]
        return [v.numpy() for group in agent.variable_groups().values() for v in group]

    losses = {name: [update(name, batches[0])] for name in names}  # tracing, outside the clock
    ms = {name: [] for name in names}
    for block in range(args.blocks):
        order = names[block % len(names) :] + names[: block % len(names)]
        for name in order:
            started = time.perf_counter()
            for batch in batches:
                losses[name].append(update(name, batch))
            ms[name].append((time.perf_counter() - started) / args.updates * 1e3)
    reference = state("committed")
    identical = losses["transposed_im2col"] == losses["committed"] and all(
        np.array_equal(a, b) for a, b in zip(state("transposed_im2col"), reference, strict=True)
    )
    ratios = {name: [t / c for t, c in zip(ms[name], ms["committed"], strict=True)] for name in names[1:]}
    record(
        {
            "what": "ms per DQN update (Nature CNN, batch 32, Adam, clip 10, channels-last minibatches), the "
            "committed update against conv1's filter gradient as a transposed-im2col product and against that "
            "gradient left out (a lower bound, not a valid update); one process, alternating blocks",
            "updates_per_block": args.updates,
            "blocks": args.blocks,
            "update_ms": ms,
            "median_update_ms": {name: float(np.median(values)) for name, values in ms.items()},
            "ratios_over_committed": ratios,
            "median_ratio_over_committed": {name: float(np.median(r)) for name, r in ratios.items()},
            "transposed_im2col_bit_identical": bool(identical),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
