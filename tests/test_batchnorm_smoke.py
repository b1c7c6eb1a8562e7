"""Smoke test of batchnorm_mnist: both nets of both parts through the real runner and loader on tiny IDX files."""

from __future__ import annotations

import json

from replicate_suite.results import read_runs
from replicate_suite.runner import run_replication

NETS = ("baseline", "batchnorm")


def metric_names(tag: str) -> set[str]:
    kinds = (
        "test_accuracy",
        "test_accuracy_early",
        *(f"sigmoid_input_{k}" for k in ("drift", "movement", "unit_shift")),
    )
    return {f"{kind}_{tag}" for kind in kinds}


def curve_names(tag: str) -> set[str]:
    percentiles = [f"sigmoid_input_{tag}/p{p}" for p in (15, 50, 85)]
    if tag.startswith("batchnorm"):  # the BN input with the probe images' batch statistics (the paper's view)
        percentiles += [f"sigmoid_input_{tag}_batch_stats/p{p}" for p in (15, 50, 85)]
    return {f"test_accuracy/{tag}", *percentiles}


def test_smoke_run_writes_both_nets_of_both_parts(tiny_mnist, tmp_path):
    folder = run_replication("batchnorm_mnist", "smoke", 0, results_root=tmp_path)
    metrics = json.loads((folder / "metrics.json").read_text())
    tags = [*NETS, *(f"{net}_own_lr" for net in NETS)]
    assert set(metrics) == {"steps", *(name for tag in tags for name in metric_names(tag))}
    for tag in tags:
        assert 0.0 <= metrics[f"test_accuracy_{tag}"] <= 1.0
        assert 0.0 <= metrics[f"test_accuracy_early_{tag}"] <= 1.0
        for kind in ("drift", "movement", "unit_shift"):
            assert metrics[f"sigmoid_input_{kind}_{tag}"] >= 0.0
    assert metrics["steps"] == 60
    (run,) = read_runs(tmp_path, "batchnorm_mnist", "smoke")
    curves = run.read_curves()
    assert {row["metric"] for row in curves} == set().union(*(curve_names(tag) for tag in tags))
    assert sorted({row["step"] for row in curves}) == [0, 20, 40, 60]


def test_own_lr_part_runs_alone_as_a_variant(tiny_mnist, tmp_path):
    """The revised targets' seeds run only the own_lr part (seed_<n>@own_lr), so they never feed the registered
    targets' metrics."""
    folder = run_replication("batchnorm_mnist", "smoke", 10, results_root=tmp_path, variant="own_lr")
    assert folder.name == "seed_10@own_lr"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics) == {"steps", *(name for net in NETS for name in metric_names(f"{net}_own_lr"))}
    meta = json.loads((folder / "run_meta.json").read_text())
    assert meta["config"]["parts"] == ["own_lr"]
