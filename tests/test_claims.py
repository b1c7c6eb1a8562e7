"""Verdict logic: each rule kind, over all seeds, with not_run when there is nothing to judge."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.claims import Target, evaluate_target, load_claim, overall_verdict
from shared.errors import ReplicateError
from shared.results import CurveLog, RunRecord


def runs(*metric_dicts, curves=None, tmp_path: Path | None = None) -> list[RunRecord]:
    records = []
    for seed, metrics in enumerate(metric_dicts):
        path = Path(".")
        if curves is not None:
            path = tmp_path / f"seed_{seed}"
            path.mkdir()
            log = CurveLog()
            for step, value in curves[seed]:
                log.add(step, loss=value)
            log.write(path)
        records.append(RunRecord(path=path, seed=seed, metrics=metrics, meta={"status": "ok"}))
    return records


def target(rule, metric="err", paper=None, binds=("cpu",), held=None) -> Target:
    return Target(metric=metric, rule=rule, binds=binds, paper=paper, held=held)


def test_within_uses_the_mean_over_seeds():
    t = target({"kind": "within", "abs": 0.002}, paper=0.0095)
    assert evaluate_target(t, runs({"err": 0.010}, {"err": 0.011}), "cpu").verdict == "reproduced"  # mean 0.0105
    assert evaluate_target(t, runs({"err": 0.010}, {"err": 0.014}), "cpu").verdict == "not_reproduced"  # 0.012
    result = evaluate_target(t, runs({"err": 0.010}, {"err": 0.011}), "cpu")
    assert result.summaries["err"].n == 2 and result.summaries["err"].mean == pytest.approx(0.0105)


def test_relative_tolerance():
    t = target({"kind": "within", "rel": 0.1}, paper=100.0)
    assert evaluate_target(t, runs({"err": 109.0}), "cpu").verdict == "reproduced"
    assert evaluate_target(t, runs({"err": 111.0}), "cpu").verdict == "not_reproduced"


def test_bounds_are_consistent_at_reduced_scale_and_reproduced_at_paper_scale():
    below = target({"kind": "below", "bound": 0.011}, binds=("cpu", "paper"))
    assert evaluate_target(below, runs({"err": 0.0105}), "cpu").verdict == "consistent"
    assert evaluate_target(below, runs({"err": 0.0105}), "paper").verdict == "reproduced"
    assert evaluate_target(below, runs({"err": 0.0115}), "cpu").verdict == "not_reproduced"
    above = target({"kind": "above", "bound": 950}, held="reproduced")
    assert evaluate_target(above, runs({"err": 960}), "cpu").verdict == "reproduced"


def test_ordering():
    t = target({"kind": "ordering", "metrics": ["a", "b", "c"], "order": "decreasing"}, metric="a,b,c")
    good = runs({"a": 3, "b": 2, "c": 1}, {"a": 3.2, "b": 2.5, "c": 0.5})
    bad = runs({"a": 3, "b": 2, "c": 2.5})
    assert evaluate_target(t, good, "cpu").verdict == "consistent"
    assert evaluate_target(t, bad, "cpu").verdict == "not_reproduced"


def test_trend_reads_curves(tmp_path):
    t = target({"kind": "trend", "direction": "decreasing", "min_change": 0.5}, metric="loss")
    falling = runs({}, {}, curves=[[(0, 2.0), (10, 1.0)], [(0, 2.0), (10, 1.2)]], tmp_path=tmp_path)
    assert evaluate_target(t, falling, "cpu").verdict == "consistent"
    t_strict = target({"kind": "trend", "direction": "decreasing", "min_change": 1.0}, metric="loss")
    assert evaluate_target(t_strict, falling, "cpu").verdict == "not_reproduced"


def test_not_run_without_results_or_binding():
    t = target({"kind": "below", "bound": 1.0})
    assert evaluate_target(t, [], "cpu").verdict == "not_run"
    assert evaluate_target(t, runs({"other": 0.5}), "cpu").verdict == "not_run"
    assert evaluate_target(t, runs({"err": 0.5}), "paper").verdict == "not_run"


def test_overall_verdict():
    def r(v):
        return type("R", (), {"verdict": v})()

    assert overall_verdict([]) == "not_run"
    assert overall_verdict([r("not_run")]) == "not_run"
    assert overall_verdict([r("reproduced"), r("not_run")]) == "reproduced"
    assert overall_verdict([r("reproduced"), r("consistent")]) == "consistent"
    assert overall_verdict([r("reproduced"), r("not_reproduced")]) == "not_reproduced"


@pytest.mark.parametrize(
    "target_yaml, message",
    [
        ("{metric: e, rule: {kind: near}, binds: [cpu]}", "needs kind"),
        ("{metric: e, rule: {kind: within, abs: 1}, binds: [cpu]}", "needs a paper value"),
        ("{metric: e, rule: {kind: below, bound: 1}, binds: [laptop]}", "binds"),
        ("{metric: e, rule: {kind: below, bound: 1, slack: 2}, binds: [cpu]}", "unknown key"),
        ("{metric: e, rule: {kind: ordering, metrics: [a], order: increasing}, binds: [cpu]}", "ordering needs"),
    ],
)
def test_bad_claim_yaml(tmp_path, target_yaml, message):
    path = tmp_path / "claim.yaml"
    path.write_text(f"title: t\nclaim: c\nsource: {{paper: p}}\ntargets:\n  - {target_yaml}\n")
    with pytest.raises(ReplicateError, match=message):
        load_claim(path)


def test_every_replication_claim_parses():
    from shared.runner import known_replications, replication_path

    for rep_id in known_replications():
        claim = load_claim(replication_path(rep_id) / "claim.yaml")
        assert claim.targets and claim.deviations, rep_id
