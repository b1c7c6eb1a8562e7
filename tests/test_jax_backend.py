"""Every replication's smoke run on the JAX backend with TensorFlow made unimportable: the GPU machines this suite
runs on have JAX but no TensorFlow, so no input path or training loop may need it. Tiny synthetic datasets are
served through the real loaders from a temporary mirror. Skipped where JAX is not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import write_cifar_archive, write_tiny_mnist

from replicate_suite.data.files import sha256_of

pytest.importorskip("jax")

_CHILD = """
import importlib.abc, sys

class _NoTensorFlow(importlib.abc.MetaPathFinder):  # as on a machine without it: the import fails
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("TensorFlow is not installed here (blocked by the test)")

sys.meta_path.insert(0, _NoTensorFlow())
from replicate_suite.data import cifar10, mnist
from replicate_suite.data.files import DatasetSpec

mnist.MNIST = DatasetSpec("mnist", "synthetic test fixture", "mnist", MNIST_SHA)
cifar10.VARIANTS["auto"] = (DatasetSpec("cifar10", "synthetic test fixture", "cifar10", CIFAR_SHA),)
cifar10.EXPECTED_SIZES = (400, 100)
from replicate_suite.runner import run_replication
print(run_replication(RID, "smoke", 0, results_root=ROOT))
import jax
print("matmul precision:", jax.config.jax_default_matmul_precision)  # full float32 on GPUs (seed_everything)
"""


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    root = tmp_path_factory.mktemp("jax-mirror")
    mnist_sha = write_tiny_mnist(root / "mnist", train=600, test=200)
    (root / "cifar10").mkdir()
    write_cifar_archive(root / "cifar10" / "cifar-10-python.tar.gz", train_per_batch=80, test=100)
    return root, {
        "MNIST_SHA": mnist_sha,
        "CIFAR_SHA": {"cifar-10-python.tar.gz": sha256_of(root / "cifar10" / "cifar-10-python.tar.gz")},
    }


@pytest.mark.parametrize(
    "replication",
    [
        "lecture_examples",
        "lenet5_mnist",
        "batchnorm_mnist",
        "he_vs_xavier_init",
        "dropout_mnist",
        "resnet_depth_cifar10",
        "dqn_atari2013",
        "double_dqn_overestimation",
        "ddpg_continuous",
    ],
)
def test_smoke_run_on_jax_without_tensorflow(replication, mirror, tmp_path):
    folder, digests = mirror
    values = {**digests, "RID": replication, "ROOT": str(tmp_path / "results")}
    script = "".join(f"{k} = {v!r}\n" for k, v in values.items()) + _CHILD
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "REPLICATE_DATA_DIR": str(tmp_path / "cache"),
        "REPLICATE_DATA_MIRROR": str(folder),
        "REPLICATE_OFFLINE": "1",
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "matmul precision: highest" in done.stdout
    meta = json.loads((tmp_path / "results" / replication / "smoke" / "seed_0" / "run_meta.json").read_text())
    assert meta["backend"] == "jax" and meta["status"] == "ok"
