"""Learning parity of Keras's mixed_bfloat16 policy against float32 on a replication's own training path: does the
faster path (benchmarks/results/image_throughput.json: the 3x1024 MLP 1.66x on this AVX512-BF16 CPU) learn the same?

One net of dropout_mnist's cpu profile (default: dropout_relu_3x1024 at its registered rate 0.01, momentum 0.95,
decay 0.95 per pass) trains `--passes` passes on training images 0-49,999 and is scored on validation images
50,000-59,999 (`data.validation_holdout`, the suite's tuning path: the test set is never evaluated, and a run that
reported a test value would be an error), once per seed in each precision, each run in its own process (the dtype
policy is process-global), precisions alternating. Seeds are the benchmark's own (0, 1, 2 by default), not a
registration's.
Under mixed_bfloat16 the hidden layers compute in bfloat16 and the output layer (softmax) and the loss in float32
(shared/models/mlp.py sets the output layer's dtype, Keras's mixed-precision guidance; fixed after a review and
before the first run: a bfloat16 softmax rounds probabilities above ~0.998 to 1, and the loss then loses its logits
path, so the check would have measured that instead of bfloat16 compute).

The rule, fixed before any run: per seed the paired difference d = (bf16 validation error) - (fp32 validation error);
bfloat16 is "equivalent at this margin" when the two-sided 90 % Student-t interval of mean(d) lies inside
[-margin, +margin] (the suite's `within` rule, TOST at 5 % each side; default margin 0.002, i.e. 0.2 points of
validation error), "not equivalent" when it lies outside, else "not shown". Equivalence at 0.002 does not license
bfloat16 for a claim that turns on smaller differences (dropout_mnist's ordering: 0.1-0.2 points): such a
replication needs its own check at its own margin and budget. No replication uses bfloat16.

    python benchmarks/bf16_parity.py [--net dropout_relu_3x1024] [--passes 10] [--seeds 0 1 2] [--margin 0.002]
                                     [--out benchmarks/results/bf16_parity.json]

Not run by pytest (minutes of training); tests/test_benchmark_accounting.py checks the rule on made-up numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from record import positive_float, positive_int, record

REPLICATION, PROFILE, HOLDOUT = "dropout_mnist", "cpu", 10_000
PRECISIONS = ("float32", "mixed_bfloat16")


def equivalence(differences: list[float], margin: float) -> dict:
    """The rule (module docstring) on per-seed paired differences: the 90 % two-sided t interval of their mean
    against [-margin, margin]."""
    from replicate_suite.stats import t_interval

    interval = t_interval(differences, 0.90)
    if interval is None:
        verdict = "not shown (fewer than 2 seeds)"
    elif -margin <= interval[0] and interval[1] <= margin:
        verdict = "equivalent at this margin"
    elif interval[0] > margin or interval[1] < -margin:
        verdict = "not equivalent"
    else:
        verdict = "not shown"
    return {"differences": differences, "mean": sum(differences) / len(differences), "interval_90": interval,
            "margin": margin, "verdict": verdict}  # fmt: skip


def train_once(net: str, passes: int, seed: int, precision: str) -> dict:
    """One run in this process: the net alone, `passes` passes, validation holdout; returns its validation error."""
    from replicate_suite.backend import import_backend_quietly

    import_backend_quietly()
    import keras

    keras.mixed_precision.set_dtype_policy(precision)
    from replicate_suite.runner import RunContext, check_tuning_outputs, load_module, resolve_config
    from replicate_suite.seeding import seed_everything

    nets = {n["name"]: n for n in resolve_config(REPLICATION, PROFILE).values["nets"]}
    if net not in nets:
        raise SystemExit(f"error: unknown net {net!r} (the {PROFILE} profile's: {', '.join(nets)})")
    overrides = {"nets": [nets[net]], "train": {"epochs": passes}, "eval_every_epochs": passes,
                 "data": {"validation_holdout": HOLDOUT}}  # fmt: skip
    params = resolve_config(REPLICATION, PROFILE, overrides).params
    seed_everything(seed)
    started = time.perf_counter()
    module = load_module(REPLICATION)
    layer_dtypes: dict[str, str] = {}
    build = module.build_mlp

    def recording_build(*args, **kwargs):  # the net the run trains, as built: which layers compute in what
        model = build(*args, **kwargs)
        layer_dtypes.update({layer.name: layer.compute_dtype for layer in model.layers})
        return model

    module.build_mlp = recording_build
    with tempfile.TemporaryDirectory() as scratch:
        ctx = RunContext(out_dir=scratch)
        metrics = module.run(params, seed, ctx)
    check_tuning_outputs(REPLICATION, metrics, ctx.curves)
    return {
        "val_error": metrics[f"val_error_{net}"],
        "train_error": metrics[f"train_error_{net}"],
        "wall_seconds": time.perf_counter() - started,
        "dtype_policy": keras.mixed_precision.dtype_policy().name,
        "layer_compute_dtypes": layer_dtypes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--net", default="dropout_relu_3x1024")
    parser.add_argument("--passes", type=positive_int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--margin", type=positive_float, default=0.002)
    parser.add_argument("--out", default="benchmarks/results/bf16_parity.json")
    parser.add_argument("--one", nargs=2, metavar=("SEED", "PRECISION"), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.passes < 1 or args.margin <= 0 or any(s < 0 for s in args.seeds):
        sys.exit("error: --passes must be >= 1, --margin > 0 and seeds >= 0")
    if not args.one:  # a bad --net fails here, before any child process starts
        from replicate_suite.runner import resolve_config

        nets = [n["name"] for n in resolve_config(REPLICATION, PROFILE).values["nets"]]
        if args.net not in nets:
            sys.exit(f"error: unknown net {args.net!r} (the {PROFILE} profile's: {', '.join(nets)})")
    if args.one:
        Path(args.result).write_text(json.dumps(train_once(args.net, args.passes, int(args.one[0]), args.one[1])))
        return
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    runs: dict[str, dict[str, dict]] = {precision: {} for precision in PRECISIONS}
    for i, seed in enumerate(args.seeds):
        for precision in PRECISIONS if i % 2 == 0 else PRECISIONS[::-1]:  # neither precision always runs first
            with tempfile.TemporaryDirectory() as folder:
                out = Path(folder) / "run.json"
                command = [sys.executable, __file__, "--one", str(seed), precision, "--result", str(out)]
                command += ["--net", args.net, "--passes", str(args.passes)]
                done = subprocess.run(command, env=env)
                if done.returncode != 0:
                    sys.exit(f"error: the {precision} run of seed {seed} exited with {done.returncode}")
                runs[precision][str(seed)] = json.loads(out.read_text())
            print(f"seed {seed} {precision:<15} {runs[precision][str(seed)]}", flush=True)
    differences = [
        runs["mixed_bfloat16"][str(s)]["val_error"] - runs["float32"][str(s)]["val_error"] for s in args.seeds
    ]
    speed = [
        runs["float32"][str(s)]["wall_seconds"] / runs["mixed_bfloat16"][str(s)]["wall_seconds"] for s in args.seeds
    ]
    record(
        {
            "what": f"{REPLICATION} {PROFILE} net {args.net}: validation error after {args.passes} passes, float32 vs "
            "mixed_bfloat16, paired per seed (validation images 50,000-59,999; the test set is not evaluated)",
            "rule": "bf16 - fp32 per seed; 90 % two-sided t interval of the mean inside [-margin, margin]",
            "runs": runs,
            "parity": equivalence(differences, args.margin),
            "wall_fp32_over_bf16": speed,
            "each_run_own_process": True,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
