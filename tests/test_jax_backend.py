"""The same replications on the JAX backend with TensorFlow made unimportable: the GPU machines this suite is run on
have JAX but no TensorFlow, so no input path or training loop may need it. Skipped where JAX is not installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("jax")

# Runs one smoke run in a fresh interpreter where `import tensorflow` fails.
_SCRIPT = """
import importlib.abc, sys
class _NoTensorFlow(importlib.abc.MetaPathFinder):  # as on a machine without it: the import fails
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("TensorFlow is not installed here (blocked by the test)")
sys.meta_path.insert(0, _NoTensorFlow())
from shared.runner import run_replication
folder = run_replication({rid!r}, "smoke", 0, results_root={root!r})
print(folder)
"""


@pytest.mark.parametrize(
    "replication",
    ["lecture_examples", "lenet5_mnist", "batchnorm_mnist", "he_vs_xavier_init", "dropout_mnist", "dqn_atari2013"],
)
def test_smoke_run_on_jax_without_tensorflow(replication, tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    script = _SCRIPT.format(rid=replication, root=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    meta = json.loads((tmp_path / replication / "smoke" / "seed_0" / "run_meta.json").read_text())
    assert meta["backend"] == "jax"


def test_resnet_smoke_on_jax_without_tensorflow(tmp_path):
    """ResNet with a tiny CIFAR archive in a mirror (the real one takes ~20 s to decompress)."""
    from conftest import write_cifar_archive

    from shared.data.files import sha256_of

    mirror = tmp_path / "mirror" / "cifar10"
    mirror.mkdir(parents=True)
    write_cifar_archive(mirror / "cifar-10-python.tar.gz", train_per_batch=80, test=100)
    digest = sha256_of(mirror / "cifar-10-python.tar.gz")
    script = f"""
import importlib.abc, sys
class _NoTensorFlow(importlib.abc.MetaPathFinder):  # as on a machine without it: the import fails
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("TensorFlow is not installed here (blocked by the test)")
sys.meta_path.insert(0, _NoTensorFlow())
from shared.data import cifar10
from shared.data.files import DatasetSpec
spec = DatasetSpec("cifar10", "synthetic test fixture", "cifar10", {{"cifar-10-python.tar.gz": {digest!r}}})
cifar10.VARIANTS["auto"] = (spec,)
cifar10.EXPECTED_SIZES = (400, 100)
from shared.runner import run_replication
print(run_replication("resnet_depth_cifar10", "smoke", 0, results_root={str(tmp_path / "results")!r}))
"""
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "JAX_PLATFORMS": "cpu",
        "REPLICATE_DATA_DIR": str(tmp_path / "cache"),
        "REPLICATE_DATA_MIRROR": str(tmp_path / "mirror"),
        "REPLICATE_OFFLINE": "1",
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads(
        (tmp_path / "results" / "resnet_depth_cifar10" / "smoke" / "seed_0" / "metrics.json").read_text()
    )
    assert 0.0 <= metrics["test_error_resnet8"] <= 1.0
