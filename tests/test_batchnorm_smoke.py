"""Smoke test of batchnorm_mnist: both nets through the real runner and loader on tiny IDX files."""

from __future__ import annotations

import json

from shared.results import read_runs
from shared.runner import run_replication


def test_smoke_run_writes_both_nets(tiny_mnist, tmp_path):
    folder = run_replication("batchnorm_mnist", "smoke", 0, results_root=tmp_path)
    metrics = json.loads((folder / "metrics.json").read_text())
    for net in ("baseline", "batchnorm"):
        assert 0.0 <= metrics[f"test_accuracy_{net}"] <= 1.0
        assert 0.0 <= metrics[f"test_accuracy_early_{net}"] <= 1.0
        assert metrics[f"sigmoid_input_drift_{net}"] >= 0.0
    assert metrics["steps"] == 60
    (run,) = read_runs(tmp_path, "batchnorm_mnist", "smoke")
    curves = run.read_curves()
    names = {row["metric"] for row in curves}
    assert names == {
        "test_accuracy/baseline",
        "test_accuracy/batchnorm",
        *(f"sigmoid_input_{net}/p{p}" for net in ("baseline", "batchnorm") for p in (15, 50, 85)),
    }
    assert sorted({row["step"] for row in curves}) == [0, 20, 40, 60]
