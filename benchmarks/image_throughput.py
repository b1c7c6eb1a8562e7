"""Training images per second of the suite's image models in float32 and in Keras's mixed_bfloat16 policy.

Models (random inputs and labels; SGD with momentum 0.9, sparse cross-entropy, `--steps-per-execution` updates per
compiled call): LeNet-5 (softmax output, 32x32x1, batch 64), the 3x1024 ReLU MLP of the dropout and batch-norm
replications (784 inputs, batch 128) and ResNet-20 (32x32x3, batch 128). Each (model, precision) row runs in its
own process: the dtype policy is process-global, and a fresh process keeps one row's compiled graphs and thread
pools out of the next one's timing.

mixed_bfloat16 keeps the variables in float32 and computes in bfloat16; on CPUs with AMX or AVX512-BF16 (listed
under `cpu_flags`) its matmuls and convolutions can be several times faster, elsewhere they are emulated and often
slower. It changes the numerics, so no replication uses it by default; this benchmark says what it would buy.

    python benchmarks/image_throughput.py [--models lenet5 mlp resnet20] [--precisions float32 mixed_bfloat16]
                                          [--seconds 20] [--out benchmarks/results/image_throughput.json]

Not run by pytest: numbers depend on the machine.
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

MODELS = {
    "lenet5": {"batch": 64, "input": (32, 32, 1), "describe": "LeNet-5, softmax output"},
    "mlp": {"batch": 128, "input": (784,), "describe": "MLP 784-1024-1024-1024-10, ReLU"},
    "resnet20": {"batch": 128, "input": (32, 32, 3), "describe": "ResNet-20, residual"},
}
PRECISIONS = ("float32", "mixed_bfloat16")
BF16_FLAGS = ("amx_bf16", "amx_tile", "avx512_bf16")


def build(name: str):
    """The model `name` (MODELS) under the current dtype policy."""
    if name == "lenet5":
        from replicate_suite.models.lenet5 import build_lenet5

        return build_lenet5(10, 32, output="softmax")
    if name == "mlp":
        from replicate_suite.models.mlp import MLPSpec, build_mlp

        return build_mlp(784, 10, MLPSpec(hidden=(1024, 1024, 1024)))
    from replicate_suite.models.resnet import build_cifar_resnet

    return build_cifar_resnet(20, "residual")


def measure(name: str, precision: str, seconds: float, steps_per_execution: int) -> dict:
    """Images per second of training `name` under `precision` for about `seconds` after a compile-and-warm-up
    pass (this process only)."""
    from replicate_suite.backend import import_backend_quietly

    import_backend_quietly()
    import keras
    import numpy as np

    keras.mixed_precision.set_dtype_policy(precision)
    keras.utils.set_random_seed(0)
    spec = MODELS[name]
    batch = spec["batch"]
    model = build(name)
    model.compile(
        keras.optimizers.SGD(0.01, momentum=0.9),
        "sparse_categorical_crossentropy",
        steps_per_execution=steps_per_execution,
    )
    rng = np.random.default_rng(0)
    chunk = batch * steps_per_execution
    x = rng.normal(size=(chunk, *spec["input"])).astype("float32")
    y = rng.integers(0, 10, chunk).astype("int32")
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # compile and warm up
    images, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        images += chunk
    elapsed = time.perf_counter() - started
    return {
        "images_per_second": images / elapsed,
        "images": images,
        "seconds": elapsed,
        "batch": batch,
        "parameters": model.count_params(),
        "dtype_policy": keras.mixed_precision.dtype_policy().name,
        "compute_dtype": model.layers[-1].compute_dtype,  # the output layer's: float32 under either policy
    }


def cpu_flags() -> list[str]:
    """The bfloat16-relevant flags of this CPU (/proc/cpuinfo); empty where unknown."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return sorted(set(line.split(":", 1)[1].split()) & set(BF16_FLAGS))
    except OSError:
        pass
    return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS))
    parser.add_argument("--seconds", type=positive_float, default=20.0, help="timed training per row, after warm-up")
    parser.add_argument("--steps-per-execution", type=positive_int, default=10)
    parser.add_argument("--out", default="benchmarks/results/image_throughput.json")
    parser.add_argument("--row", nargs=2, metavar=("MODEL", "PRECISION"), help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seconds <= 0 or args.steps_per_execution < 1:
        sys.exit("error: --seconds must be > 0 and --steps-per-execution >= 1")
    if args.row:
        result = measure(*args.row, args.seconds, args.steps_per_execution)
        Path(args.result).write_text(json.dumps(result))
        return
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    rows: dict[str, dict[str, dict]] = {}
    for name in args.models:
        for precision in args.precisions:
            with tempfile.TemporaryDirectory() as folder:
                out = Path(folder) / "row.json"
                command = [sys.executable, __file__, "--row", name, precision, "--result", str(out)]
                command += ["--seconds", str(args.seconds), "--steps-per-execution", str(args.steps_per_execution)]
                done = subprocess.run(command, env=env, capture_output=True, text=True)
                if done.returncode == 0:
                    row = json.loads(out.read_text())
                else:  # recorded, not hidden: a model that cannot run in bfloat16 is a finding
                    row = {"error": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]}
            rows.setdefault(name, {})[precision] = row
            print(f"{name:<9} {precision:<15} {row}", flush=True)
    for by_precision in rows.values():
        fp32, bf16 = by_precision.get("float32", {}), by_precision.get("mixed_bfloat16", {})
        if "images_per_second" in fp32 and "images_per_second" in bf16:
            by_precision["bf16_over_fp32"] = bf16["images_per_second"] / fp32["images_per_second"]
    record(
        {
            "what": "training images per second on random inputs, SGD momentum 0.9, sparse cross-entropy",
            "models": {name: MODELS[name]["describe"] for name in args.models},
            "steps_per_execution": args.steps_per_execution,
            "seconds_per_row": args.seconds,
            "cpu_flags": cpu_flags(),
            "rows": rows,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
