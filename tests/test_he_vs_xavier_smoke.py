"""Smoke test of he_vs_xavier_init, plus the variance argument it checks, on a small exact case."""

from __future__ import annotations

import json

import numpy as np

from replicate_suite.results import read_runs
from replicate_suite.runner import load_module, run_replication


def test_smoke_run_writes_all_four_nets(tiny_mnist, tmp_path):
    folder = run_replication("he_vs_xavier_init", "smoke", 0, results_root=tmp_path)
    metrics = json.loads((folder / "metrics.json").read_text())
    for tag in ("xavier_d4", "he_d4", "xavier_d6", "he_d6"):
        assert metrics[f"initial_loss_{tag}"] > 0 and metrics[f"final_loss_{tag}"] > 0
        assert np.isfinite(metrics[f"activation_variance_log2_slope_{tag}"])
    (run,) = read_runs(tmp_path, "he_vs_xavier_init", "smoke")
    by_layer = [r for r in run.read_curves() if r["metric"] == "activation_variance_d6_by_layer/he"]
    assert [r["step"] for r in by_layer] == [1, 2, 3, 4, 5]


def test_slope_of_halving_is_minus_one():
    module = load_module("he_vs_xavier_init")
    assert abs(module.slope_log2([8.0, 4.0, 2.0, 1.0]) + 1.0) < 1e-12
    assert abs(module.slope_log2([3.0, 3.0, 3.0])) < 1e-12
