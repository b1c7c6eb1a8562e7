"""Smoke test of lenet5_mnist: the smoke profile through the real runner and loader, on tiny IDX files."""

from __future__ import annotations

import json

from replicate_suite.results import read_runs
from replicate_suite.runner import run_replication


def test_smoke_run_writes_valid_files(tiny_mnist, tmp_path):
    folder = run_replication("lenet5_mnist", "smoke", 0, results_root=tmp_path / "results")
    assert folder == tmp_path / "results" / "lenet5_mnist" / "smoke" / "seed_0"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics) == {
        "test_error",
        "train_error",
        "updates",
        "epochs",
        "trainable_params",
        "paper_layers_trainable_params",
    }
    assert 0.0 <= metrics["test_error"] <= 1.0 and metrics["updates"] == 8  # 256 images / batch 32
    assert metrics["paper_layers_trainable_params"] == 60_000
    meta = json.loads((folder / "run_meta.json").read_text())
    assert meta["status"] == "ok" and meta["profile"] == "smoke" and meta["seed"] == 0
    assert meta["data"]["mnist"]["variant"] == "synthetic test fixture"
    assert meta["config"]["train"]["batch_size"] == 32 and meta["wall_seconds"] > 0
    assert {"commit", "dirty"} <= set(meta["git"]) and "keras" in meta["versions"]
    (run,) = read_runs(tmp_path / "results", "lenet5_mnist", "smoke")
    curves = run.read_curves()
    assert {row["metric"] for row in curves} == {"train_loss", "train_error", "test_error"}
    assert {row["step"] for row in curves} == {8}
    assert not [p for p in (tmp_path / "results").rglob(".*")]  # no temporary folder left behind


def test_same_seed_gives_identical_metrics(tiny_mnist, tmp_path):
    first = run_replication("lenet5_mnist", "smoke", 3, results_root=tmp_path / "a")
    second = run_replication("lenet5_mnist", "smoke", 3, results_root=tmp_path / "b")
    assert (first / "metrics.json").read_text() == (second / "metrics.json").read_text()
    assert (first / "curves.csv").read_text() == (second / "curves.csv").read_text()
    other = run_replication("lenet5_mnist", "smoke", 4, results_root=tmp_path / "c")
    assert (other / "curves.csv").read_text() != (first / "curves.csv").read_text()
