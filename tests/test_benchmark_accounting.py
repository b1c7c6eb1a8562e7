"""The SB3 benchmarks' bookkeeping (benchmarks/sb3_compare.py and the two scripts), without running a benchmark:
the analytic FLOP counts match the networks the agents build, and the comparison keeps every pairwise ratio."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))


def _layer_macs(model) -> list[int]:
    """Per-sample multiply-accumulates of each Conv2D / Dense layer, read from the built Keras model."""
    import keras

    macs = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            _, height, width, channels = layer.output.shape
            kh, kw, cin, _ = layer.kernel.shape
            macs.append(height * width * channels * kh * kw * cin)
        elif isinstance(layer, keras.layers.Dense):
            macs.append(int(layer.kernel.shape[0] * layer.kernel.shape[1]))
    return macs


def test_flop_counts_match_the_networks():
    import ddpg_throughput
    import dqn_throughput
    import numpy as np

    from replicate_suite.models.actor_critic import build_actor, build_critic
    from replicate_suite.models.qnets import build_atari_cnn

    assert _layer_macs(build_atari_cnn(6, "nature")) == dqn_throughput.nature_cnn_macs(6)
    actor, critic = ddpg_throughput.network_macs()
    bounds = np.ones(ddpg_throughput.ACTION_DIM)
    assert _layer_macs(build_actor(ddpg_throughput.OBS_DIM, -bounds, bounds)) == actor
    assert _layer_macs(build_critic(ddpg_throughput.OBS_DIM, ddpg_throughput.ACTION_DIM)) == critic
    # forward + backward is about 3x the forward work; the DDPG update is ~147 MFLOP (the actor's gradient through the
    # critic needs 64 x 300 x (1 + 6) products into the action, not the 64 x 300 x 406 into the whole second layer's
    # input: ~162 MFLOP with those), DQN's ~2.2 GFLOP
    assert 145e6 < ddpg_throughput.flops_per_update()["flops"] < 150e6
    assert 2.1e9 < dqn_throughput.flops_per_update()["flops"] < 2.3e9


def _run(rate: float, pid: int, foreign=()) -> dict:
    return {"steps_per_second": rate, "steady_steps_per_second": rate * 1.1, "update_ms": 1000 / rate,
            "matmul_peak_gflops": 100.0, "pid": pid, "foreign_frameworks_imported": list(foreign),
            "versions": {"torch": "x"}}  # fmt: skip


@pytest.mark.parametrize("foreign", [(), ("torch",)])
def test_comparison_keeps_every_pairwise_ratio(foreign):
    from sb3_compare import _comparison

    runs = {"ours": [_run(100, 1), _run(120, 2, foreign)], "sb3": [_run(50, 3), _run(60, 4), _run(40, 5)]}
    args = SimpleNamespace(steps=2000, backend="tensorflow", xla=False, torch_threads=2)
    result = _comparison("task", args, runs, {"flops": 1e9}, {"learning_starts": 1000})
    ratios = result["pairwise_ratios_ours_over_sb3"]["steps_per_second"]
    assert sorted(ratios) == sorted(a / b for a in (100, 120) for b in (50, 60, 40))
    assert result["ratio_steps_per_second"] == {"median": sorted(ratios)[2] / 2 + sorted(ratios)[3] / 2,
                                               "min": min(ratios), "max": max(ratios)}  # fmt: skip
    assert result["each_side_own_process"] is (not foreign)
    assert result["repeats"]["ours"][0]["update_gflops"] == pytest.approx(100.0)  # 1 GFLOP in 10 ms
    assert result["repeats"]["ours"][0]["fraction_of_matmul_peak"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "xla, threads, registered, expected",
    [
        (False, 1, 1, "default float32"),
        (False, None, None, "default float32"),
        (False, 1, None, "may differ from the replication's (1 intra-op threads, not the replication's default"),
        (True, 1, 1, "may differ from the replication's (XLA fusion)"),
        ("jax", None, None, "default float32"),  # no thread count applies on JAX, as in the runner
        ("jax-threads", None, None, "may differ from the replication's (--intra-op-threads ignored on jax)"),
    ],
)
def test_comparison_says_when_ours_numerics_may_differ(xla, threads, registered, expected):
    """A thread count other than the replication's own, or XLA, is labelled as possibly changing the numerics."""
    from sb3_compare import _comparison

    ours = {**_run(100, 1), "intra_op_threads": threads, "replication_intra_op_threads": registered}
    backend = "jax" if isinstance(xla, str) else "tensorflow"
    asked = 2 if xla == "jax-threads" else threads
    args = SimpleNamespace(steps=2000, backend=backend, xla=xla is True, torch_threads=2, intra_op_threads=asked)
    result = _comparison("task", args, {"ours": [ours], "sb3": [_run(50, 2)]}, {"flops": 1e9}, {})
    assert result["numerics"].startswith(expected) and result["ours_intra_op_threads"] == threads


@pytest.mark.parametrize(
    "requested, default, used, expected",
    [
        ("default", None, "eigen", "default float32"),
        (
            "onednn",
            "eigen",
            "onednn",
            "may differ from the replication's (TensorFlow's onednn kernels "
            "(--tensorflow-kernels onednn), not the eigen kernels a replication run in this environment",
        ),
        ("onednn", "onednn", "onednn", "default float32"),  # what a replication run here takes anyway
        ("eigen", "onednn", "eigen", "may differ from the replication's (TensorFlow's eigen kernels"),
    ],
)
def test_comparison_says_when_ours_kernels_are_not_the_replications(requested, default, used, expected):
    """--tensorflow-kernels forcing a library other than the one a replication run in that environment takes is
    labelled as possibly changing the numerics (another order of sums); the record names what was used."""
    from sb3_compare import _comparison

    ours = {**_run(100, 1), "intra_op_threads": None, "replication_intra_op_threads": None,
            "tensorflow_kernels": used}  # fmt: skip
    args = SimpleNamespace(steps=2000, backend="tensorflow", xla=False, torch_threads=2, intra_op_threads=None,
                           tensorflow_kernels=requested, default_kernels=default)  # fmt: skip
    result = _comparison("task", args, {"ours": [ours], "sb3": [_run(50, 2)]}, {"flops": 1e9}, {})
    assert result["numerics"].startswith(expected)
    assert (result["ours_tensorflow_kernels"], result["ours_tensorflow_kernels_requested"]) == (used, requested)


def test_the_kernel_switch_reaches_a_fresh_process():
    """What --tensorflow-kernels sets (TF_ENABLE_ONEDNN_OPTS) is what a fresh TensorFlow process reports taking."""
    import os

    import sb3_compare

    pytest.importorskip("tensorflow")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    for kernels, value in sb3_compare.KERNEL_SWITCH.items():
        assert sb3_compare._kernels_in({**env, "TF_ENABLE_ONEDNN_OPTS": value}) == kernels


@pytest.mark.parametrize(
    "differences, verdict",
    [
        ([0.0004, -0.0002, 0.0001], "equivalent at this margin"),  # interval ~[-0.0005, 0.0007]
        ([0.004, 0.005, 0.0045], "not equivalent"),  # interval entirely above 0.002
        ([0.003, -0.003, 0.001], "not shown"),  # straddles the margin
        ([0.001], "not shown (fewer than 2 seeds)"),
    ],
)
def test_bf16_parity_rule(differences, verdict):
    """bf16_parity's rule: the 90 % t interval of the mean paired difference against +-margin."""
    from bf16_parity import equivalence

    result = equivalence(differences, 0.002)
    assert result["verdict"] == verdict


def test_sb3_acts_through_its_policy_from_the_first_step():
    """The warm-up is the same on both sides: SB3's _sample_action is asked with learning_starts 0 (no uniformly
    random actions before learning starts), everything else passed through; SB3 itself is not needed."""
    import sb3_compare

    class FakeAlgorithm:
        def __init__(self, learning_starts):
            self.learning_starts, self.asked = learning_starts, []

        def _sample_action(self, learning_starts, action_noise=None, n_envs=1):
            self.asked.append((learning_starts, action_noise, n_envs))
            return "action", "buffer action"

    model = sb3_compare.policy_from_first_step(FakeAlgorithm)(1000)
    assert model._sample_action(model.learning_starts, "noise", 1) == ("action", "buffer action")
    assert model.asked == [(0, "noise", 1)]
    assert model.learning_starts == 1000  # training still starts there
    assert isinstance(model, FakeAlgorithm)


@pytest.mark.parametrize("script", ["ddpg_throughput.py", "dqn_throughput.py"])
def test_xla_is_refused_where_op_determinism_would_turn_it_off(script):
    """Ours runs with TensorFlow's op determinism, under which Keras silently drops jit_compile: a run with --xla
    would be recorded as XLA while running without it. One error line, exit status 1, before any run starts."""
    import os
    import subprocess

    path = Path(__file__).resolve().parent.parent / "benchmarks" / script
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run([sys.executable, str(path), "--xla"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: --xla has no effect here: ours runs with TensorFlow's op determinism (as `replicate run` does), "
        "under which Keras turns jit_compile off"
    ]


def test_ours_update_compute_times_the_method_the_loop_calls():
    """update_compute_ms times the agent method that the loop really calls once per update (DDPG's loop calls
    update_rows, not update): a run of ddpg_throughput's ours side counts one timed call per update and a positive
    time; timing a method the loop does not call is an error, not a 0 ms record."""
    import ddpg_throughput
    import sb3_compare

    measured = ddpg_throughput.run_ours(ddpg_throughput.LEARNING_STARTS + 100, seed=0)
    assert measured["updates"] == 101 and measured["update_compute_ms"] > 0

    class Loop:
        def train(self, step):
            return agent.update_rows()

    class Agent:
        def update(self):
            return 0.0

        def update_rows(self):
            return 0.0

        def policy(self):
            return None

    agent, clock = Agent(), sb3_compare.StepClock(1)

    def train():
        clock.count = 1
        Loop().train(0)

    with pytest.raises(RuntimeError, match="agent.update ran 0 times for 1 updates"):
        sb3_compare.run_our_side(train, 1, clock, (Loop, "train"), agent, "policy")
    agent = Agent()  # a fresh agent: run_our_side wrapped the first one's methods
    measured = sb3_compare.run_our_side(train, 1, clock, (Loop, "train"), agent, "policy", update="update_rows")
    assert measured["updates"] == 1 and measured["update_compute_ms"] >= 0


@pytest.mark.parametrize("text", ["0", "-5", "1.5", "x"])
def test_benchmark_counts_must_be_whole_numbers_from_one(text):
    # found by a new-user review: --batches 0, --images 0, --iterations 0 gave tracebacks or started a real run
    import argparse

    from record import positive_int

    with pytest.raises(argparse.ArgumentTypeError):
        positive_int(text)
    assert positive_int("3") == 3


@pytest.mark.parametrize("text", ["0", "-1", "nan", "inf", "x"])
def test_benchmark_seconds_and_margins_must_be_finite_and_positive(text):
    import argparse

    from record import positive_float

    with pytest.raises(argparse.ArgumentTypeError):
        positive_float(text)
    assert positive_float("0.5") == 0.5


def test_an_sb3_comparison_checks_both_interpreters_before_any_run(capsys):
    # found by a new-user review: a missing SB3 interpreter or package showed only after ours' first repeat
    from sb3_compare import _check_sides

    with pytest.raises(SystemExit) as exit_:
        _check_sides(SimpleNamespace(backend="tensorflow", sb3_python="/nonexistent/python"))
    assert "the sb3 side's interpreter /nonexistent/python does not exist" in str(exit_.value.code)
    with pytest.raises(SystemExit) as exit_:
        _check_sides(SimpleNamespace(backend="no_such_backend_module", sb3_python=sys.executable))
    assert "cannot import no_such_backend_module" in str(exit_.value.code)


def test_the_floor_benchmarks_patches_are_conv1s_im2col():
    """dqn_update_floor's transposed im2col: row (kh, kw, c), column (b, oh, ow) holds states[b, 4 oh + kh, 4 ow + kw,
    c], so its product with the upstream gradient is conv1's filter gradient."""
    import numpy as np
    from dqn_update_floor import patches_first

    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(0)
    states = rng.integers(0, 256, (3, 84, 84, 4), dtype=np.uint8)
    patches = patches_first(states)
    assert patches.shape == (256, 3 * 400) and patches.flags.c_contiguous
    assert patches[(5 * 8 + 6) * 4 + 2, (1 * 20 + 7) * 20 + 11] == states[1, 4 * 7 + 5, 4 * 11 + 6, 2]
    upstream = rng.standard_normal((3, 20, 20, 32)).astype(np.float32)
    direct = tf.raw_ops.Conv2DBackpropFilter(
        input=states.astype(np.float32), filter_sizes=[8, 8, 4, 32], out_backprop=upstream, strides=[1, 4, 4, 1],
        padding="VALID",
    )  # fmt: skip
    product = (patches.astype(np.float64) @ upstream.reshape(-1, 32).astype(np.float64)).reshape(8, 8, 4, 32)
    np.testing.assert_allclose(product, direct.numpy(), rtol=1e-4, atol=1e-2)
