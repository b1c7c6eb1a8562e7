"""The runner writes a run folder only on success; divergence is a recorded result; reruns replace atomically."""

from __future__ import annotations

import json

import pytest

from shared.errors import Diverged
from shared.runner import load_module, run_replication


def test_failed_run_leaves_no_result_folder(tiny_mnist, tmp_path, monkeypatch):
    def boom(cfg, seed, ctx):
        (ctx.out_dir / "metrics.json").write_text("{}")  # a partial file that must not survive
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(load_module("lenet5_mnist"), "run", boom)
    root = tmp_path / "results"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_replication("lenet5_mnist", "smoke", 0, results_root=root)
    assert not root.exists()
    (root / "keep").mkdir(parents=True)
    with pytest.raises(RuntimeError):
        run_replication("lenet5_mnist", "smoke", 0, results_root=root)
    assert [p.name for p in root.iterdir()] == ["keep"]


def test_divergence_is_recorded_not_crashed(tiny_mnist, tmp_path, monkeypatch):
    def diverge(cfg, seed, ctx):
        ctx.curves.add(10, train_loss=1.5)
        raise Diverged(17)

    monkeypatch.setattr(load_module("lenet5_mnist"), "run", diverge)
    folder = run_replication("lenet5_mnist", "smoke", 0, results_root=tmp_path)
    meta = json.loads((folder / "run_meta.json").read_text())
    assert meta["status"] == "diverged" and meta["diverged_step"] == 17
    assert json.loads((folder / "metrics.json").read_text()) == {"diverged_step": 17}
    assert "10,train_loss,1.5" in (folder / "curves.csv").read_text()


def test_nan_metric_is_rejected(tiny_mnist, tmp_path, monkeypatch):
    monkeypatch.setattr(load_module("lenet5_mnist"), "run", lambda cfg, seed, ctx: {"test_error": float("nan")})
    with pytest.raises(Exception, match="not finite"):
        run_replication("lenet5_mnist", "smoke", 0, results_root=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_rerun_replaces_the_folder(tiny_mnist, tmp_path, monkeypatch):
    module = load_module("lenet5_mnist")
    monkeypatch.setattr(module, "run", lambda cfg, seed, ctx: {"x": 1})
    folder = run_replication("lenet5_mnist", "smoke", 0, results_root=tmp_path)
    (folder / "stale.txt").write_text("from the old run")
    monkeypatch.setattr(module, "run", lambda cfg, seed, ctx: {"x": 2})
    assert run_replication("lenet5_mnist", "smoke", 0, results_root=tmp_path) == folder
    assert json.loads((folder / "metrics.json").read_text()) == {"x": 2}
    assert not (folder / "stale.txt").exists()
    assert sorted(p.name for p in folder.parent.iterdir()) == ["seed_0"]
