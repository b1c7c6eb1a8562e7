"""Smoke test of dropout_mnist: three small nets through the real runner and loader on tiny IDX files."""

from __future__ import annotations

import json

from replicate_suite.results import read_runs
from replicate_suite.runner import run_replication

NETS = ("standard_relu_3x1024", "dropout_relu_3x1024", "dropout_maxnorm_relu_3x1024")


def test_smoke_run_writes_every_net(tiny_mnist, tmp_path):
    folder = run_replication("dropout_mnist", "smoke", 0, results_root=tmp_path)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics) == {"epochs", *(f"{kind}_error_{net}" for net in NETS for kind in ("test", "train"))}
    (run,) = read_runs(tmp_path, "dropout_mnist", "smoke")
    curves = run.read_curves()
    assert {row["metric"] for row in curves} == {f"test_error/{net}" for net in NETS}
    assert sorted({row["step"] for row in curves}) == [0, 16, 32]  # 256 images / batch 16 = 16 updates a pass
