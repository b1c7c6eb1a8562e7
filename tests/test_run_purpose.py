"""run_meta's `purpose`: a final run may evaluate the test set and counts toward verdicts; a tuning run (data.
validation_holdout > 0) scores held-out training data only, never reports a test-set value, and never counts toward a
verdict or a report's verdict. The field is validated when read, like the other run_meta fields."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from replicate_suite.errors import ReplicateError
from replicate_suite.paths import PROJECT_ROOT
from replicate_suite.results import read_runs
from replicate_suite.runner import load_module, run_replication


@pytest.fixture
def tuning_profile(monkeypatch):
    """Every config the runner resolves holds out 64 training images for validation: the replications' tuning mode."""
    from replicate_suite import runner

    real = runner.resolve_config
    holdout = {"data": {"validation_holdout": 64}}
    monkeypatch.setattr(runner, "resolve_config", lambda rid, profile, overrides=None: real(rid, profile, holdout))


def test_run_meta_records_a_final_run(tiny_mnist, tmp_path, monkeypatch):
    monkeypatch.setattr(load_module("lenet5_mnist"), "run", lambda cfg, seed, ctx: {"test_error": 0.1})
    folder = run_replication("lenet5_mnist", "smoke", 0, results_root=tmp_path)
    assert json.loads((folder / "run_meta.json").read_text())["purpose"] == "final"


def test_a_tuning_run_scores_validation_data_only_and_never_counts(tiny_mnist, tmp_path, tuning_profile):
    """The real LeNet-5 smoke run in tuning mode: run_meta says tuning, every metric and curve is named for the
    validation split, and the report's verdicts ignore the run (the test-error target has no runs)."""
    from replicate_suite.claims import evaluate_claim, load_claim
    from replicate_suite.results import names_on_test_set, read_runs
    from replicate_suite.runner import replication_path

    folder = run_replication("lenet5_mnist", "smoke", 0, results_root=tmp_path)
    meta = json.loads((folder / "run_meta.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text())
    assert meta["purpose"] == "tuning" and meta["config"]["data"]["validation_holdout"] == 64
    assert "val_error" in metrics and names_on_test_set(metrics) == []
    curves = (folder / "curves.csv").read_text()
    assert "val_error" in curves and "test_error" not in curves
    (run,) = read_runs(tmp_path, "lenet5_mnist", "smoke")
    assert run.purpose == "tuning" and run.status == "ok"
    claim = load_claim(replication_path("lenet5_mnist") / "claim.yaml")
    name = "paper_layers_trainable_params"
    (params,) = (r for r in evaluate_claim(claim, [run], "smoke") if r.target.metric == name)
    assert params.verdict == "not_run" and not params.per_seed.get(name)
    final = dataclasses.replace(run, meta={**run.meta, "purpose": "final"})  # the same run, were it final, counts
    (counted,) = (r for r in evaluate_claim(claim, [final], "smoke") if r.target.metric == name)
    assert counted.per_seed[name] == {0: 60_000}


def test_a_tuning_run_that_reports_a_test_set_value_leaves_no_result(tiny_mnist, tmp_path, monkeypatch, tuning_profile):
    def peeks(cfg, seed, ctx):
        ctx.curves.add(1, **{"test_accuracy/baseline": 0.5})
        return {"val_error": 0.1}

    monkeypatch.setattr(load_module("lenet5_mnist"), "run", peeks)
    with pytest.raises(ReplicateError, match=r"tuning run .* reported test-set values \(test_accuracy/baseline\)"):
        run_replication("lenet5_mnist", "smoke", 0, results_root=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_tuning_candidates_must_hold_out_validation_data():
    from replicate_suite.tuning import check_candidates, tune

    check_candidates("lenet5_mnist", "smoke", {"ok": {"data": {"validation_holdout": 64}}})
    with pytest.raises(ReplicateError, match="candidate 'peeks' of lenet5_mnist would evaluate the test set"):
        tune("lenet5_mnist", "smoke", {"ok": {"data": {"validation_holdout": 64}}, "peeks": {}}, seeds=[0])


def test_run_purpose_comes_from_the_config():
    from replicate_suite.runner import run_purpose

    assert run_purpose({"data": {"validation_holdout": 10_000}}) == "tuning"
    assert run_purpose({"data": {"validation_holdout": 0}}) == "final"
    assert run_purpose({"data": {"validation": 5000}}) == "final"  # ResNet's split: it also reads the test set
    assert run_purpose({}) == "final"


# --- read side: purpose validated like the other run_meta fields; the report never counts a tuning run ----------------


def write_run(root: Path, seed: int, metrics: dict, purpose=None, name: str | None = None) -> Path:
    folder = root / "lenet5_mnist" / "cpu" / (name or f"seed_{seed}")
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "curves.csv").write_text("step,metric,value\n1,loss,0.5\n")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout
    meta = {"status": "ok", "git": {"commit": commit.strip(), "dirty": False}, "budget": "b", "wall_seconds": 1.0}
    if purpose is not None:
        meta["purpose"] = purpose
    (folder / "run_meta.json").write_text(json.dumps(meta))
    return folder


@pytest.mark.parametrize(
    "purpose, metrics, message",
    [
        ("practice", {"val_error": 0.1}, "run_meta.json: purpose is not one of final, tuning: 'practice'"),
        (["tuning"], {"val_error": 0.1}, "run_meta.json: purpose is not a str"),
        ("tuning", {"val_error": 0.1, "test_error": 0.1}, "a tuning run holds test-set values (test_error)"),
    ],
)
def test_a_bad_purpose_is_one_error_naming_the_run(tmp_path, purpose, metrics, message):
    folder = write_run(tmp_path, 0, metrics, purpose)
    with pytest.raises(ReplicateError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        read_runs(tmp_path, "lenet5_mnist", "cpu")
    assert str(folder) in str(error.value) and "\n" not in str(error.value)


def test_a_run_without_purpose_is_final_and_a_seed_cannot_mix_purposes(tmp_path):
    write_run(tmp_path, 0, {"test_error": 0.01})
    assert [r.purpose for r in read_runs(tmp_path, "lenet5_mnist", "cpu")] == ["final"]
    write_run(tmp_path, 1, {"x": 1}, "final", name="seed_1@a")
    write_run(tmp_path, 1, {"y": 1}, "tuning", name="seed_1@b")
    with pytest.raises(ReplicateError, match="seed 1 mixes final and tuning parts"):
        read_runs(tmp_path, "lenet5_mnist", "cpu")


def test_the_report_never_counts_a_tuning_run(tmp_path):
    """Three final seeds give the parameter count exactly; a tuning seed with another count would break the exact
    match if it were counted. It is listed in the runs table with its purpose, and in claims.json."""
    from replicate_suite.report import write_report

    results = tmp_path / "results"
    for seed in range(3):
        write_run(results, seed, {"test_error": 0.0095, "paper_layers_trainable_params": 60_000}, "final")
    write_run(results, 3, {"val_error": 0.5, "paper_layers_trainable_params": 12_345}, "tuning")
    out = write_report("cpu", results, tmp_path / "reports", figures=False)
    claims = json.loads((out / "claims.json").read_text())
    rep = next(r for r in claims["replications"] if r["id"] == "lenet5_mnist")
    params = next(t for t in rep["targets"] if t["metric"] == "paper_layers_trainable_params")
    assert params["verdict"] == "reproduced" and params["per_seed"] == {
        "paper_layers_trainable_params": {"0": 60_000, "1": 60_000, "2": 60_000}
    }
    assert [(r["seed"], r["purpose"]) for r in rep["runs"]] == [(0, "final"), (1, "final"), (2, "final"), (3, "tuning")]
    md = (out / "comparison.md").read_text()
    assert "| purpose | final | final | final | tuning |" in md
    assert "60,000 ± 0 (n=3, range 60,000–60,000)" in md
