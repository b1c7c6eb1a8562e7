"""Training throughput of LeNet-5 (seconds per 60k-image pass) at several batch sizes, and the cpu profile's stage.

    python benchmarks/lenet5_throughput.py [--batches 1 16 32 64] [--images 6000] [--output rbf|softmax]
                                           [--out benchmarks/results/lenet5_throughput.json]

Trains exactly as replications/lenet5_mnist/run.py does (same model, loss and updates per compiled call) on random
inputs. From the pass time at the cpu profile's batch size it estimates the lenet5_mnist dvc stage (3 seeds x the
profile's passes, training only) against the 15-minute goal of issue #3; the runs' own wall times, evaluation
included, are in results/lenet5_mnist/cpu/seed_*/run_meta.json. Not run by pytest: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import time

from record import record

from shared.backend import import_backend_quietly

import_backend_quietly()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from shared.config import load_config  # noqa: E402
from shared.models.lenet5 import MAPLoss, build_lenet5  # noqa: E402
from shared.runner import load_module, replication_path  # noqa: E402

STAGE_SEEDS = 3
STAGE_GOAL_SECONDS = 15 * 60


def pass_seconds(batch: int, images: int, output: str, steps_per_execution: int) -> float:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(images, 32, 32, 1)).astype("float32")
    y = rng.integers(0, 10, images).astype("int32")
    keras.utils.set_random_seed(0)
    model = build_lenet5(output=output)
    loss = MAPLoss(10.0) if output == "rbf" else "sparse_categorical_crossentropy"
    model.compile(
        keras.optimizers.SGD(0.001, momentum=0.9), loss, metrics=["accuracy"], steps_per_execution=steps_per_execution
    )
    n = min(images, max(batch * 400, 2000))
    model.fit(x[: batch * 2 * steps_per_execution], y[: batch * 2 * steps_per_execution], batch_size=batch, verbose=0)
    started = time.perf_counter()  # compiled above, outside the timing
    model.fit(x[:n], y[:n], batch_size=batch, epochs=1, verbose=0)
    return 60_000 * (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 32, 64])
    parser.add_argument("--images", type=int, default=12_000, help="most images per timed pass")
    parser.add_argument("--output", choices=["rbf", "softmax"], default="rbf", help="output layer (paper: rbf)")
    parser.add_argument("--out", default="benchmarks/results/lenet5_throughput.json")
    args = parser.parse_args()
    module = load_module("lenet5_mnist")
    cpu = load_config(replication_path("lenet5_mnist") / "config.yaml", "cpu", module.Config).params.train
    batches = sorted(set(args.batches) | {cpu.batch_size})
    per_pass = {}
    for batch in batches:
        per_pass[batch] = pass_seconds(batch, args.images, args.output, module.STEPS_PER_EXECUTION)
        print(f"batch {batch:>4}: {per_pass[batch]:7.1f} s per 60k pass", flush=True)
    stage = STAGE_SEEDS * cpu.epochs * per_pass[cpu.batch_size]
    record(
        {
            "model": f"LeNet-5, {args.output} output, SGD momentum 0.9, float32, random inputs",
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
