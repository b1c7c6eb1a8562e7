"""The side-by-side driver of the Stable-Baselines3 comparisons (dqn_throughput.py, ddpg_throughput.py).

Each training run is its own Python process: the parent (which imports neither TensorFlow, JAX nor torch) starts
the benchmark script again with `--side ours` or `--side sb3` for each repeat, alternating the two sides, and reads
the child's JSON. Ours never imports torch and SB3's never imports TensorFlow, Keras or JAX; each child checks this
at its end and records it. Why separate processes: a CUDA build of torch imported into a process that already holds
TensorFlow dies with a segmentation fault, and two frameworks' thread pools in one process slow each other.

What a child measures (the same way on both sides):
- steps_per_second: agent (environment) steps taken over the whole `learn` call; the
  networks are built before the clock starts on both sides, and the first update's compile (ours: tf.function
  tracing or jax.jit; SB3: none) is inside it.
- steady_steps_per_second: the same from step `learning_starts + WARM_UP_STEPS` to the last step (a clock
  wrapper on the training environment), i.e. after the compile and once updates run.
- update_ms: mean wall time of one update including its replay sampling (SB3: `train(gradient_steps=1)`, which
  samples and updates; ours: the loop's `train` hook on the steps that update). Ours also records
  update_compute_ms: the agent's update method that the loop calls (DQN `update`, DDPG `update_rows`) alone,
  without sampling.
- action_ms: mean wall time of one greedy forward pass for acting (SB3: `policy.predict`; ours: the agent's
  compiled forward), random epsilon actions excluded on both sides. Ours' DDPG computes the action that follows an
  update inside that update's compiled call (DDPGAgent.update's `act_on`): those count in update_ms and
  update_compute_ms, and greedy_actions counts only the separate forward passes (before learning_starts and at
  episode starts).
- matmul_peak_gflops: the best rate of a 1024 x 1024 x 1024 float32 matmul in that side's framework, measured in
  the child before training under that side's own thread settings (ours: intra_op_threads; SB3: torch_threads), so
  that FLOPs per update / update time can be stated as a fraction of what that process can reach.
- intra_op_threads (ours): TensorFlow's intra-op thread count in effect, by default the benchmarked replication's
  own setting (its run.py's INTRA_OP_THREADS, as `replicate run` applies it; None: one per core); `--intra-op-threads
  N` asks for another, and the record then says the numerics may differ from the replication's.
- tensorflow_kernels (ours): where TensorFlow's matrix-product and convolution kernels came from, "onednn" or
  "eigen" (`replicate_suite.environment.tensorflow_kernels`: TensorFlow's default is oneDNN on AVX-512 VNNI CPUs,
  Eigen elsewhere, unless TF_ENABLE_ONEDNN_OPTS says otherwise; the parent's value of that variable is recorded).
  `--tensorflow-kernels onednn|eigen` forces one on ours' side; where that is not what a replication run in the same
  environment takes, the record says the numerics may differ (the libraries sum in other orders): a separate row,
  as XLA is.

Acting before learning_starts is the same on both sides: the exploration policy from the first step (DQN: epsilon-
greedy on the shared epsilon schedule; DDPG: mu(s) plus Ornstein-Uhlenbeck noise), as the replications act. SB3
would otherwise act uniformly at random until learning_starts (its default warm-up, a different algorithm for those
steps, and fewer forward passes: 1,000 in DDPG, ~650 in DQN); `policy_from_first_step` turns that off on SB3's
side. Updates start at learning_starts on both sides.

The parent writes every repeat of both sides, every pairwise ratio ours_i / sb3_j of steps/s (and their median,
min and max), versions from each side's own process, and `each_side_own_process: true`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from record import positive_int, record

WARM_UP_STEPS = 500
"""Steps after learning_starts excluded from steady_steps_per_second (compile, first updates)."""

PEAK_SIZE = 1024

WARM_UP_ACTIONS = (
    "both sides act through their exploration policy from the first step (DQN: epsilon-greedy on the shared "
    "schedule; DDPG: mu(s) + Ornstein-Uhlenbeck noise); SB3's uniformly random warm-up before learning_starts is "
    "turned off (sb3_compare.policy_from_first_step); updates start at learning_starts on both sides"
)


def policy_from_first_step(algorithm: type) -> type:
    """A subclass of an SB3 off-policy algorithm (DQN, DDPG) that acts through its exploration policy from the first
    step instead of uniformly at random before learning_starts, as the replications' agents do. SB3's
    `_sample_action(learning_starts, ...)` (stable_baselines3/common/off_policy_algorithm.py) takes the random branch
    while num_timesteps < learning_starts; it is handed 0 here. When training starts is unchanged (SB3's `learn`
    checks self.learning_starts itself)."""

    class PolicyFromFirstStep(algorithm):
        def _sample_action(self, learning_starts, action_noise=None, n_envs=1):
            return super()._sample_action(0, action_noise, n_envs)

    PolicyFromFirstStep.__name__ = f"{algorithm.__name__}PolicyFromFirstStep"
    return PolicyFromFirstStep


def timed(obj, name: str, counts: Callable[[Any], bool] | None = None) -> dict[str, float]:
    """Replace obj.<name> by a wrapper that adds each call's seconds to the returned tally (and counts the calls);
    with `counts`, only calls whose result satisfies counts(result) are tallied (e.g. a hook that returns None on
    steps without an update)."""
    tally = {"seconds": 0.0, "calls": 0}
    real = getattr(obj, name)

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        result = real(*args, **kwargs)
        if counts is None or counts(result):
            tally["seconds"] += time.perf_counter() - started
            tally["calls"] += 1
        return result

    setattr(obj, name, wrapper)
    return tally


def mean_ms(tally: dict[str, float]) -> float | None:
    """Mean milliseconds per tallied call; None when there was none."""
    return 1000 * tally["seconds"] / tally["calls"] if tally["calls"] else None


class StepClock:
    """Times the training environment's steps: wrap(env) returns a gymnasium wrapper that notes the wall time of
    step `mark` and of the last step it sees."""

    def __init__(self, mark: int):
        self.mark, self.count = mark, 0
        self.first: float | None = None
        self.at_mark: float | None = None
        self.last: float | None = None

    def wrap(self, env):
        import gymnasium as gym

        clock = self

        class _Clocked(gym.Wrapper):
            def step(self, action):
                out = self.env.step(action)
                clock.count += 1
                clock.last = time.perf_counter()
                if clock.count == 1:
                    clock.first = clock.last
                if clock.count == clock.mark:
                    clock.at_mark = clock.last
                return out

        return _Clocked(env)

    def steady_rate(self) -> float | None:
        if self.at_mark is None or self.last is None or self.count <= self.mark:
            return None
        return (self.count - self.mark) / (self.last - self.at_mark)


def run_side(
    train: Callable[[], object], steps: int, clock: StepClock, updates: dict, actions: dict, **extra
) -> dict[str, Any]:
    """Run train() (at least `steps` environment steps, as counted by `clock`) and collect the child's
    measurements (module docstring)."""
    started = time.perf_counter()
    train()
    wall = time.perf_counter() - started
    if clock.count < steps:
        raise RuntimeError(f"the clock saw {clock.count} training steps, expected {steps}")
    return {
        "steps_per_second": clock.count / wall,
        "steps_taken": clock.count,  # SB3 ends on a whole rollout (train_freq steps), so it may take a few more
        "steady_steps_per_second": clock.steady_rate(),
        "steady_from_step": clock.mark,
        "update_ms": mean_ms(updates),
        "updates": updates["calls"],
        "action_ms": mean_ms(actions),
        "greedy_actions": actions["calls"],
        "wall_seconds": wall,
        **extra,
    }


def run_our_side(
    train: Callable[[], object],
    steps: int,
    clock: StepClock,
    loop_hook: tuple[object, str],
    agent,
    action: str,
    update: str = "update",
) -> dict[str, Any]:
    """run_side for our agents: the loop's training hook `loop_hook` = (loop class, method name), which returns None
    on steps without an update, times sampling + update as SB3's `train` does; the agent's method `update` (the one
    the loop calls: DQN `update`, DDPG `update_rows`) alone is update_compute_ms; the agent's method `action` is the
    greedy forward pass. Raises RuntimeError if that method was not called once per update (a benchmark timing a
    method the loop no longer calls would otherwise record 0 ms)."""
    updates = timed(*loop_hook, counts=lambda loss: loss is not None)
    compute = timed(agent, update)
    actions = timed(agent, action)
    measured = run_side(train, steps, clock, updates, actions)
    if compute["calls"] != updates["calls"]:
        raise RuntimeError(f"agent.{update} ran {compute['calls']} times for {updates['calls']} updates")
    measured["update_compute_ms"] = mean_ms(compute)
    return measured


def matmul_peak_gflops(matmul: Callable[[], object], repeats: int = 10) -> float:
    """Best GFLOP/s of `matmul` (one PEAK_SIZE^3 float32 product that returns only when done) over `repeats`."""
    matmul()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        matmul()
        best = min(best, time.perf_counter() - started)
    return 2 * PEAK_SIZE**3 / best / 1e9


def keras_matmul_peak() -> float:
    """matmul_peak_gflops with keras.ops (ours: the active Keras backend)."""
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (keras.ops.convert_to_tensor(rng.normal(size=(PEAK_SIZE, PEAK_SIZE)).astype("float32")) for _ in "ab")
    return matmul_peak_gflops(lambda: keras.ops.convert_to_numpy(keras.ops.matmul(a, b)))


def torch_matmul_peak() -> float:
    """matmul_peak_gflops with torch (SB3's side)."""
    import torch

    a, b = torch.randn(PEAK_SIZE, PEAK_SIZE), torch.randn(PEAK_SIZE, PEAK_SIZE)
    return matmul_peak_gflops(lambda: torch.mm(a, b))


def _versions(names: tuple[str, ...]) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": sys.version.split()[0]}
    for name in names:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


FOREIGN = {"ours": ("torch", "stable_baselines3"), "sb3": ("tensorflow", "keras", "jax")}

KERNEL_SWITCH = {"onednn": "1", "eigen": "0"}
"""--tensorflow-kernels: the TF_ENABLE_ONEDNN_OPTS value that makes TensorFlow take each library's kernels."""


def _kernels_in(env: dict) -> str | None:
    """The TensorFlow kernels (environment.tensorflow_kernels) a fresh process with `env` takes."""
    probe = "from replicate_suite.environment import tensorflow_kernels; print(tensorflow_kernels())"
    try:
        done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return None
    found = done.stdout.split()
    return found[-1] if done.returncode == 0 and found and found[-1] != "None" else None


def _child(args, run_ours: Callable, run_sb3: Callable, replication: str) -> None:
    """One side's run in this process; writes its measurements as JSON to args.result."""
    if args.side == "ours":
        from replicate_suite.backend import import_backend_quietly, use_intra_op_threads

        import_backend_quietly()
        from keras.backend import backend as env_backend

        from replicate_suite.environment import environment
        from replicate_suite.runner import load_module
        from replicate_suite.seeding import seed_everything

        registered = getattr(load_module(replication), "INTRA_OP_THREADS", None)  # what `replicate run` applies
        threads = use_intra_op_threads(registered if args.intra_op_threads is None else args.intra_op_threads)
        if env_backend() != "tensorflow":
            registered = None  # the runner applies no thread count on other backends
        seed_everything(args.seed, deterministic=True)  # as `replicate run` does (TensorFlow's op determinism)
        peak = keras_matmul_peak()
        measured = run_ours(args.steps, args.seed, args.xla)
        env = environment()
        measured.update(
            matmul_peak_gflops=peak,
            matmul_peak_threads=f"TensorFlow intra-op threads: {threads or 'default (one per core)'}",
            op_determinism=env_backend() == "tensorflow",
            intra_op_threads=threads,
            replication_intra_op_threads=registered,
            tensorflow_kernels=env["tensorflow_kernels"],
            backend=env["backend"],
            environment=env,
        )
    else:
        import torch

        torch.set_num_threads(args.torch_threads)
        peak = torch_matmul_peak()
        measured = run_sb3(args.steps, args.seed)
        measured.update(
            matmul_peak_gflops=peak,
            matmul_peak_threads=f"torch threads: {torch.get_num_threads()}",
            torch_threads=torch.get_num_threads(),
            versions=_versions(("stable-baselines3", "torch", "numpy", "gymnasium", "ale-py", "mujoco")),
        )
    loaded = [name for name in FOREIGN[args.side] if name in sys.modules]
    if loaded:
        raise RuntimeError(f"the {args.side} side imported {loaded}: the sides must not share frameworks")
    measured["pid"] = os.getpid()
    measured["foreign_frameworks_imported"] = loaded
    Path(args.result).write_text(json.dumps(measured))


def _launch(script: str, python: str, side: str, seed: int, args, env: dict) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        result = Path(folder) / "side.json"
        command = [python, script, "--side", side, "--seed", str(seed), "--steps", str(args.steps)]
        command += ["--torch-threads", str(args.torch_threads), "--result", str(result)] + ["--xla"] * args.xla
        if args.intra_op_threads is not None:
            command += ["--intra-op-threads", str(args.intra_op_threads)]
        done = subprocess.run(command, env=env)
        if done.returncode != 0:
            sys.exit(f"error: the {side} side (repeat {seed}) exited with {done.returncode}")
        return json.loads(result.read_text())


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _check_sides(args: argparse.Namespace, sb3_imports: tuple[str, ...] = ()) -> None:
    """Before any run: each side's interpreter exists and imports what its side needs (ours: the backend; SB3:
    stable_baselines3, torch and the benchmark's `sb3_imports`), so a missing piece is one `error:` line, not a
    failure after ours' first repeat."""
    sb3_needs = ["torch", "stable_baselines3", *sb3_imports]
    needs = {"ours": (sys.executable, [args.backend]), "sb3": (args.sb3_python, sb3_needs)}
    for side, (python, modules) in needs.items():
        if not Path(python).is_file():
            sys.exit(f"error: the {side} side's interpreter {python} does not exist")
        probe = (
            "import importlib.util, sys; missing = [m for m in sys.argv[1:] if not importlib.util.find_spec(m)]; "
            "sys.exit(', '.join(missing)) if missing else print('imports ok')"
        )
        try:
            done = subprocess.run([python, "-c", probe, *modules], capture_output=True, text=True, timeout=120)
        except OSError as exc:  # not an executable
            sys.exit(f"error: the {side} side's interpreter {python} cannot run ({exc.strerror})")
        missing = (done.stderr.strip().splitlines() or [""])[-1] if done.returncode else ""
        if done.returncode == 0 and done.stdout.strip() != "imports ok":  # e.g. /bin/true: not a Python
            sys.exit(f"error: the {side} side's interpreter {python} is not a Python interpreter")
        if done.returncode:
            extra = ""
            if side == "sb3":
                hints = ['pip install -e ".[bench]"; see the README for a CPU-only torch']
                if "replicate_suite" in missing.split(", "):  # another environment: the project without its deps
                    hints.append("or pip install --no-deps -e . there, for our environment wrappers")
                extra = f" ({'; '.join(hints)})"
            sys.exit(
                f"error: the {side} side's interpreter {python} cannot import {missing or ', '.join(modules)}{extra}"
            )


def compare(
    doc: str,
    task: str,
    steps: int,
    out: str,
    run_ours: Callable[[int, int, bool], dict],
    run_sb3: Callable[[int, int], dict],
    flops_per_update: dict[str, Any],
    replication: str,
    sb3_imports: tuple[str, ...] = (),
    **extra,
) -> None:
    """The benchmark's command line: as parent, alternate the two sides `--repeats` times in child processes and
    record the comparison (module docstring); as child (`--side`), run one side once. run_ours(steps, seed, xla)
    and run_sb3(steps, seed) train once and return run_side's measurements; `replication` is the replication whose
    agent ours benchmarks (its INTRA_OP_THREADS is ours' default thread count); `sb3_imports` the modules SB3's side
    imports beyond torch and stable_baselines3, checked before any run."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=positive_int, default=steps)
    parser.add_argument("--repeats", type=positive_int, default=3, help="runs of each side, alternating ours and SB3")
    parser.add_argument("--out", default=out)
    parser.add_argument(
        "--backend", choices=["tensorflow", "jax"], default=os.environ.get("KERAS_BACKEND", "tensorflow"),
        help="ours' Keras backend",
    )  # fmt: skip
    xla_help = "ours' update XLA-compiled (numerics change); refused on TensorFlow, whose op determinism turns it off"
    parser.add_argument("--xla", action="store_true", help=xla_help)
    parser.add_argument("--torch-threads", type=positive_int, default=2, help="torch.set_num_threads on SB3's side")
    threads_help = f"TensorFlow intra-op threads on ours' side (default: {replication}'s own setting)"
    parser.add_argument("--intra-op-threads", type=positive_int, default=None, help=threads_help)
    kernels_help = ("TensorFlow's kernels on ours' side, set by TF_ENABLE_ONEDNN_OPTS (default: what a replication run "
                    "in this environment takes: the variable if set, else the CPU's default)")  # fmt: skip
    parser.add_argument("--tensorflow-kernels", choices=["default", *KERNEL_SWITCH], default="default",
                        help=kernels_help)  # fmt: skip
    parser.add_argument("--sb3-python", default=sys.executable, help="interpreter for SB3's side (its own venv)")
    parser.add_argument("--side", choices=["ours", "sb3"], help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.steps <= extra.get("learning_starts", 0) + WARM_UP_STEPS or args.repeats < 1:
        sys.exit(f"error: --steps must exceed learning_starts + {WARM_UP_STEPS} and --repeats be >= 1")
    if args.torch_threads < 1 or (args.intra_op_threads is not None and args.intra_op_threads < 1):
        sys.exit("error: --torch-threads and --intra-op-threads must be >= 1")
    if args.xla and args.backend == "tensorflow":  # Keras's Trainer.model_supports_jit: False under op determinism
        sys.exit(
            "error: --xla has no effect here: ours runs with TensorFlow's op determinism (as `replicate run` does), "
            "under which Keras turns jit_compile off"
        )
    if args.tensorflow_kernels != "default" and args.backend != "tensorflow":
        sys.exit(f"error: --tensorflow-kernels applies to the tensorflow backend, not {args.backend}")
    if args.side:
        _child(args, run_ours, run_sb3, replication)
        return
    _check_sides(args, sb3_imports)
    script = str(Path(sys.argv[0]).resolve())
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "KERAS_BACKEND": args.backend, "PYTHONPATH": os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p)}  # fmt: skip
    args.default_kernels = None
    if args.tensorflow_kernels != "default":  # what a replication run in this environment takes, for the record
        args.default_kernels = _kernels_in(env)
        env_ours = {**env, "TF_ENABLE_ONEDNN_OPTS": KERNEL_SWITCH[args.tensorflow_kernels]}
    else:
        env_ours = env
    runs: dict[str, list[dict]] = {"ours": [], "sb3": []}
    for repeat in range(args.repeats):
        order = ("ours", "sb3") if repeat % 2 == 0 else ("sb3", "ours")  # neither side always runs first
        for side in order:
            python = sys.executable if side == "ours" else args.sb3_python
            runs[side].append(_launch(script, python, side, repeat, args, env_ours if side == "ours" else env))
            shown = {k: v for k, v in runs[side][-1].items() if k not in ("environment", "versions")}
            print(f"{side:<4} repeat {repeat}: {shown}", flush=True)
    result = _comparison(task, args, runs, flops_per_update, extra)
    ours_env = runs["ours"][0].pop("environment")
    for run in runs["ours"][1:]:
        run.pop("environment")
    rate = result["ratio_steps_per_second"]
    print(f"steps/s ours/SB3: median {rate['median']:.3f} (min {rate['min']:.3f}, max {rate['max']:.3f})")
    record(result, args.out, echo=False, environment=ours_env)


def _comparison(task: str, args, runs: dict, flops: dict[str, Any], extra: dict) -> dict[str, Any]:
    """The recorded comparison: every repeat, every pairwise ratio, and the FLOP accounting."""
    ours, sb3 = runs["ours"], runs["sb3"]
    ratios = {
        "steps_per_second": [a["steps_per_second"] / b["steps_per_second"] for a in ours for b in sb3],
        "steady_steps_per_second": [
            a["steady_steps_per_second"] / b["steady_steps_per_second"]
            for a in ours
            for b in sb3
            if a["steady_steps_per_second"] and b["steady_steps_per_second"]
        ],
        "update_speed": [
            b["update_ms"] / a["update_ms"] for a in ours for b in sb3 if a["update_ms"] and b["update_ms"]
        ],
    }
    for run in ours + sb3:
        if run["update_ms"]:
            rate = flops["flops"] / (run["update_ms"] / 1000) / 1e9
            run["update_gflops"] = rate
            run["fraction_of_matmul_peak"] = rate / run["matmul_peak_gflops"]
    return {
        "task": task,
        "steps": args.steps,
        **extra,
        "backend": args.backend,
        "ours_xla": args.xla,
        "numerics": _numerics(args, ours[0]),
        "ours_intra_op_threads": ours[0].get("intra_op_threads"),
        "ours_tensorflow_kernels": ours[0].get("tensorflow_kernels"),
        "ours_tensorflow_kernels_requested": getattr(args, "tensorflow_kernels", "default"),
        "environment_TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),  # the parent's, None: unset
        "sb3_torch_threads": args.torch_threads,
        "warm_up": (
            "networks built before the clock on both sides; steps_per_second includes the first update's compile "
            f"(ours) and everything else; steady_steps_per_second starts at step learning_starts + {WARM_UP_STEPS}"
        ),
        "warm_up_actions": WARM_UP_ACTIONS,
        "each_side_own_process": len({run["pid"] for run in ours + sb3}) == len(ours) + len(sb3)
        and not any(run["foreign_frameworks_imported"] for run in ours + sb3),
        "flops_per_update": flops,
        "peak_note": "each side's matmul peak (and so fraction_of_matmul_peak) is measured under that side's own "
        "thread count (matmul_peak_threads): the fraction says how much of what its own threads can reach a side uses",
        "pairwise_ratios_ours_over_sb3": ratios,
        "ratio_steps_per_second": _summary(ratios["steps_per_second"]),
        "ratio_steady_steps_per_second": _summary(ratios["steady_steps_per_second"])
        if ratios["steady_steps_per_second"]
        else None,
        "ratio_update_speed": _summary(ratios["update_speed"]) if ratios["update_speed"] else None,
        "repeats": {"ours": ours, "sb3": sb3},
        "sb3_versions": sb3[0]["versions"],
    }


def _numerics(args, ours: dict) -> str:
    """What ours' numerics are relative to the replication's runs: XLA fusion, a thread count other than the
    replication's own, and TensorFlow kernels other than the ones a replication run here takes may change the order
    of floating-point reductions."""
    changes = ["XLA fusion"] * (args.xla and args.backend == "tensorflow")
    requested = getattr(args, "tensorflow_kernels", "default")
    if requested != "default" and ours.get("tensorflow_kernels") != getattr(args, "default_kernels", None):
        used, default = ours.get("tensorflow_kernels"), getattr(args, "default_kernels", None) or "unknown"
        changes.append(f"TensorFlow's {used} kernels (--tensorflow-kernels {requested}), not the {default} kernels "
                       "a replication run in this environment takes")  # fmt: skip
    if args.backend != "tensorflow" and getattr(args, "intra_op_threads", None) is not None:
        changes.append(f"--intra-op-threads ignored on {args.backend}")
    elif ours.get("intra_op_threads") != ours.get("replication_intra_op_threads", ours.get("intra_op_threads")):
        changes.append(f"{ours['intra_op_threads']} intra-op threads, not the replication's "
                       f"{ours['replication_intra_op_threads'] or 'default (one per core)'}")  # fmt: skip
    return f"may differ from the replication's ({'; '.join(changes)})" if changes else "default float32"


def dense_macs(sizes: list[int]) -> list[int]:
    """Multiply-accumulates per sample of each layer of an MLP with the given widths (inputs first)."""
    return [a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False)]


def training_flops(layer_macs: list[int], first_input: int) -> int:
    """FLOPs per sample of forward + backward through a net whose layers have `layer_macs` (2 FLOPs per MAC):
    forward 1x, weight gradients 1x, input gradients 1x for every layer but the first (its input gradient,
    `first_input` MACs = that layer's MACs, is not needed)."""
    macs = sum(layer_macs)
    return 2 * (3 * macs - first_input)
