"""Training throughput of LeNet-5 (seconds per 60k-image pass) at several batch sizes, and the cpu profile's stage.

    python benchmarks/lenet5_throughput.py [--batches 1 16 32 64] [--images 6000] [--output rbf|softmax]
                                           [--out benchmarks/results/lenet5_throughput.json]

Times the model replications/lenet5_mnist/run.py compiles (run.compiled_model: model, loss, the cpu profile's
optimizer, updates per compiled call) on random inputs. From the pass time at the cpu profile's batch size it
estimates the lenet5_mnist dvc stage (3 seeds x the profile's passes, training only) against the 15-minute goal of
issue #3; the runs' own wall times, evaluation included, are in results/lenet5_mnist/cpu/seed_*/run_meta.json.
Not run by pytest: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from record import positive_int, record

from replicate_suite.backend import import_backend_quietly

import_backend_quietly()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from replicate_suite.config import load_config  # noqa: E402
from replicate_suite.runner import load_module, replication_path  # noqa: E402

STAGE_SEEDS = 3
STAGE_GOAL_SECONDS = 15 * 60


def pass_seconds(module, cfg, images: int) -> float:
    """Seconds per 60k-image pass of run.py's compiled model at cfg's batch size (compiled outside the timing)."""
    batch = cfg.train.batch_size
    rng = np.random.default_rng(0)
    x = rng.normal(size=(images, cfg.data.pad_to, cfg.data.pad_to, 1)).astype("float32")
    y = rng.integers(0, 10, images).astype("int32")
    keras.utils.set_random_seed(0)
    model = module.compiled_model(cfg, steps_per_epoch=-(-60_000 // batch))
    warm_up = batch * 2 * module.STEPS_PER_EXECUTION
    model.fit(x[:warm_up], y[:warm_up], batch_size=batch, verbose=0)
    n = min(images, max(batch * 400, 2000))
    started = time.perf_counter()
    model.fit(x[:n], y[:n], batch_size=batch, epochs=1, verbose=0)
    return 60_000 * (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=positive_int, nargs="+", default=[1, 16, 32, 64])
    parser.add_argument("--images", type=positive_int, default=12_000, help="most images per timed pass")
    parser.add_argument("--output", choices=["rbf", "softmax"], default="rbf", help="output layer (paper: rbf)")
    parser.add_argument("--out", default="benchmarks/results/lenet5_throughput.json")
    args = parser.parse_args()
    module = load_module("lenet5_mnist")
    cfg = load_config(replication_path("lenet5_mnist") / "config.yaml", "cpu", module.Config).params
    cfg = replace(cfg, model=replace(cfg.model, output=args.output))
    cpu = cfg.train
    per_pass = {}
    for batch in sorted(set(args.batches) | {cpu.batch_size}):
        per_pass[batch] = pass_seconds(module, replace(cfg, train=replace(cpu, batch_size=batch)), args.images)
        print(f"batch {batch:>4}: {per_pass[batch]:7.1f} s per 60k pass", flush=True)
    stage = STAGE_SEEDS * cpu.epochs * per_pass[cpu.batch_size]
    record(
        {
            "model": f"LeNet-5, {args.output} output, the cpu profile's optimizer at each batch size, random inputs",
            "steps_per_execution": module.STEPS_PER_EXECUTION,
            "seconds_per_60k_pass": {str(b): round(s, 2) for b, s in per_pass.items()},
            "cpu_profile": {"batch_size": cpu.batch_size, "passes": cpu.epochs, "seeds": STAGE_SEEDS},
            "cpu_stage_training_seconds_estimate": round(stage, 1),
            "goal_seconds": STAGE_GOAL_SECONDS,
            "meets_goal": bool(stage <= STAGE_GOAL_SECONDS),
        },
        args.out,
    )


if __name__ == "__main__":
    main()
