"""ResNet-20 training throughput on CIFAR-sized inputs, with and without the augmentation pipeline.

Trains ResNet-20 (batch 128, SGD momentum 0.9, the replication's compile settings) through
`replicate_suite.training.train_steps` for a fixed number of iterations on random 32x32x3 images, once with the random
pad-crop-flip transform running one chunk ahead in the input thread and once without it. If the two rates are close,
the input pipeline is not the bottleneck and both cores are spent on training. Also times the transform alone.

    python benchmarks/resnet_throughput.py [--iterations 200] [--out benchmarks/results/resnet_throughput.json]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from record import positive_int, record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=positive_int, default=200)
    parser.add_argument("--out", default="benchmarks/results/resnet_throughput.json")
    args = parser.parse_args()
    from replicate_suite.backend import import_backend_quietly

    import_backend_quietly()
    import keras

    from replicate_suite.images import pad_crop_flip
    from replicate_suite.models.resnet import build_cifar_resnet
    from replicate_suite.training import train_steps

    rng = np.random.default_rng(0)
    x = rng.normal(size=(12_800, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, len(x)).astype("int32")
    results = {}
    for name, transform in (("no_augmentation", None), ("pad_crop_flip", "on")):
        keras.utils.set_random_seed(0)
        model = build_cifar_resnet(20, "residual")
        model.compile(keras.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy",
                      metrics=["accuracy"], steps_per_execution=10)  # fmt: skip
        augment_rng = np.random.default_rng(1)
        fn = (lambda b, rng=augment_rng: pad_crop_flip(b, rng)) if transform else None
        train_steps(model, x, y, 20, 128, np.random.default_rng(0), every=10, transform=fn)  # compile + warm up
        started = time.perf_counter()
        train_steps(model, x, y, args.iterations, 128, np.random.default_rng(0), every=50, transform=fn)
        seconds = time.perf_counter() - started
        results[name] = {"images_per_second": args.iterations * 128 / seconds, "seconds": seconds}
        print(name, results[name], flush=True)
    batch = x[:6400]
    started = time.perf_counter()
    pad_crop_flip(batch, np.random.default_rng(2))
    transform_rate = len(batch) / (time.perf_counter() - started)
    result = {
        "model": "ResNet-20 (269,722 parameters), batch 128, float32",
        "iterations": args.iterations,
        **results,
        "transform_only_images_per_second": transform_rate,
        "augmented_over_plain": results["pad_crop_flip"]["images_per_second"]
        / results["no_augmentation"]["images_per_second"],
    }
    record(result, args.out)


if __name__ == "__main__":
    main()
