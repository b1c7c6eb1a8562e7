"""Training throughput of LeNet-5 (images/s and seconds per 60k-image pass) at several batch sizes.

    python benchmarks/lenet5_throughput.py [--batches 1 32 64] [--images 6000] [--output rbf|softmax]

Not run by pytest: numbers depend on the machine. Prints one line per batch size with the backend and device.
"""

from __future__ import annotations

import argparse
import time

from shared.backend import import_backend_quietly

import_backend_quietly()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from shared.environment import device_description  # noqa: E402
from shared.models.lenet5 import MAPLoss, build_lenet5  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 32, 64, 128])
    parser.add_argument("--images", type=int, default=6000, help="images per timed pass")
    parser.add_argument("--output", choices=["rbf", "softmax"], default="rbf", help="output layer (paper: rbf)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.images, 32, 32, 1)).astype("float32")
    y = rng.integers(0, 10, args.images).astype("int32")
    print(f"backend {keras.backend.backend()}, device {device_description()}, output {args.output}")
    loss = MAPLoss(10.0) if args.output == "rbf" else "sparse_categorical_crossentropy"
    for batch in args.batches:
        keras.utils.set_random_seed(0)
        model = build_lenet5(output=args.output)
        model.compile(keras.optimizers.SGD(0.001), loss)
        n = min(args.images, max(batch * 200, 2000))
        model.fit(x[: batch * 4], y[: batch * 4], batch_size=batch, verbose=0)  # compile outside the timing
        started = time.perf_counter()
        model.fit(x[:n], y[:n], batch_size=batch, epochs=1, verbose=0)
        rate = n / (time.perf_counter() - started)
        print(f"batch {batch:>4}: {rate:8.0f} images/s, {60000 / rate:7.1f} s per 60k pass")


if __name__ == "__main__":
    main()
