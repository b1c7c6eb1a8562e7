"""Reports: comparison.md, claims.json, verdict history and figures from run folders, written atomically; the
README's table matches the committed results."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from replicate_suite import report as report_module
from replicate_suite.cli import main
from replicate_suite.paths import PROJECT_ROOT, results_dir
from replicate_suite.report import README_BEGIN, README_END, evaluate, history_rows, readme_table


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    """Two smoke seeds of lenet5_mnist on tiny synthetic MNIST, run once for the module's tests."""
    from conftest import write_tiny_mnist

    from replicate_suite.data import mnist
    from replicate_suite.data.files import DatasetSpec

    root = tmp_path_factory.mktemp("report")
    sha = write_tiny_mnist(root / "mirror" / "mnist", 256, 128)
    spec = DatasetSpec("mnist", "synthetic test fixture", "mnist", sha, ())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(mnist, "MNIST", spec)
        patch.setenv("REPLICATE_DATA_DIR", str(root / "cache"))
        patch.setenv("REPLICATE_DATA_MIRROR", str(root / "mirror"))
        patch.setenv("REPLICATE_OFFLINE", "1")
        results = root / "results"
        assert main(["run", "lenet5_mnist", "--profile", "smoke", "--seeds", "0-1", "--out", str(results)]) == 0
    return results


def test_report_from_smoke_runs(smoke_results, tmp_path):
    reports = tmp_path / "reports"
    assert main(["report", "--profile", "smoke", "--results", str(smoke_results), "--reports", str(reports)]) == 0
    md = (reports / "smoke" / "comparison.md").read_text()
    # The parameter count is identical in both seeds: deterministic, judged exactly; no interval is needed.
    assert "| lenet5_mnist | trainable parameters of C1..F6 | 60,000 | 60,000 ± 0 (n=2, range 60,000–60,000)" in md
    assert "**reproduced**" in md and "synthetic test fixture" in md
    assert "**Targets (smoke).** 1 reproduced, 1 not applicable" in md
    assert "bootstrap CI" not in md and "percentile bootstrap" not in md
    claims = json.loads((reports / "smoke" / "claims.json").read_text())
    rep = next(r for r in claims["replications"] if r["id"] == "lenet5_mnist")
    assert rep["counts"] == {"reproduced": 1, "not_run": 1} and [r["seed"] for r in rep["runs"]] == [0, 1]
    test_error = next(t for t in rep["targets"] if t["metric"] == "test_error")
    assert test_error["verdict"] == "not_run" and test_error["detail"].startswith("not applicable")
    assert (reports / "smoke" / "figures" / "lenet5_mnist_curves.png").stat().st_size > 10_000
    assert not [p for p in reports.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_list_marks_targets_that_do_not_apply(smoke_results, capsys):
    assert main(["list", "--profile", "smoke", "--results", str(smoke_results), "--targets"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("lenet5_mnist"))
    assert "1 reproduced, 1 not applicable" in line
    assert "not_run" in out and "[not applicable:" in out


def test_a_failing_report_leaves_the_previous_one_intact(smoke_results, tmp_path, monkeypatch):
    reports = tmp_path / "reports"
    assert main(["report", "--profile", "smoke", "--results", str(smoke_results), "--reports", str(reports)]) == 0
    before = {p.name: p.read_bytes() for p in (reports / "smoke").iterdir() if p.is_file()}

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report_module, "write_json", disk_full)
    with pytest.raises(OSError):
        report_module.write_report("smoke", smoke_results, reports, figures=False)
    after = {p.name: p.read_bytes() for p in (reports / "smoke").iterdir() if p.is_file()}
    assert after == before
    assert not [p for p in reports.iterdir() if p.name.startswith(".")]


def test_verdict_history_records_changes_with_their_reason(smoke_results, tmp_path):
    reports = tmp_path / "reports"
    results = tmp_path / "results"
    shutil.copytree(smoke_results, results)
    args = ["report", "--profile", "smoke", "--results", str(results), "--reports", str(reports), "--no-figures"]
    assert main(args) == 0
    with open(reports / "smoke" / "verdict_history.csv") as handle:
        first = list(csv.DictReader(handle))
    assert first and all(r["old"] == "—" and r["why"] == "first report" for r in first)
    shutil.rmtree(results / "lenet5_mnist" / "smoke" / "seed_1")  # one seed left: no longer deterministic
    assert main(args) == 0
    with open(reports / "smoke" / "verdict_history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[: len(first)] == first
    (change,) = [r for r in rows[len(first) :] if r["target"] == "lenet5_mnist: trainable parameters of C1..F6"]
    assert (change["old"], change["new"], change["why"]) == ("reproduced", "inconclusive", "new runs")


def test_history_says_rule_engine_when_only_the_engine_changed():
    target = {"key": "x: t", "verdict": "inconclusive", "fingerprint": "f", "runs": ["r@c"]}
    previous = {"replications": [{"id": "x", "targets": [{"label": "t", "verdict": "consistent"}]}]}
    current = {"replications": [{"id": "x", "targets": [target]}]}
    (row,) = history_rows(previous, current, "2026-11-29")
    assert row["old"] == "consistent" and row["new"] == "inconclusive" and row["why"].startswith("rule engine")


REGISTRATION_EDITS = [
    ("binds", ["paper"], ["cpu", "paper"]),
    ("held", "reproduced", None),
    ("last_k", None, 3),
    ("curves", [], ["eval/r"]),
    ("min_seeds", 3, 2),
]


@pytest.mark.parametrize("key, before, after", REGISTRATION_EDITS)
def test_history_says_registered_change_when_a_binding_reading_or_held_label_changed(key, before, after):
    old = {"key": "x: t", "verdict": "not_run", "fingerprint": "f", "runs": ["r@c"], key: before}
    new = {**old, "verdict": "not_reproduced", key: after}
    (row,) = history_rows(_claims(old), _claims(new), "2026-12-05")
    assert row["why"] == "registered change"


@pytest.mark.parametrize("edit", [{"last_k": 1}, {"held": "consistent"}, {"rule": {"kind": "below", "bound": 1,
                                                                                  "all_seeds": False}}])  # fmt: skip
def test_history_treats_defaults_written_out_as_no_registered_change(edit):
    # found by a second break-test: the registration check ignores these; the history said "registered change"
    old = {"key": "x: t", "verdict": "consistent", "fingerprint": "f", "runs": ["r@c"], "binds": ["cpu"],
           "metric": "e", "paper": None, "rule": {"kind": "below", "bound": 1}, "curves": [], "last_k": None,
           "min_seeds": 3, "held": None}  # fmt: skip
    new = {**old, "verdict": "inconclusive", "runs": ["s@d"], "fingerprint": "g", **edit}
    (row,) = history_rows(_claims(old), _claims(new), "2026-12-05")
    assert row["why"] == "new runs"


def test_history_ignores_binds_order_and_other_profiles():
    old = {"key": "x: t", "verdict": "consistent", "fingerprint": "f", "runs": ["r@c"], "binds": ["cpu", "paper"]}
    new = {**old, "verdict": "inconclusive", "runs": ["s@d"], "binds": ["paper", "cpu"]}
    (row,) = history_rows(_claims(old), _claims(new), "2026-12-05")
    assert row["why"] == "new runs"
    (row,) = history_rows(_claims(old), _claims({**new, "binds": ["cpu"]}), "2026-12-05")
    assert row["why"] == "new runs"


def _claims(*targets: dict) -> dict:
    return {
        "engine": report_module.ENGINE_VERSION,
        "profile": "cpu",
        "replications": [{"id": "x", "targets": list(targets)}],
    }


def test_a_label_only_edit_keeps_the_targets_history():
    old = {"key": "x: old name", "label": "old name", "verdict": "consistent", "fingerprint": "f1", "runs": ["r@c"]}
    other = {"key": "x: other", "verdict": "inconclusive", "fingerprint": "f2", "runs": ["r@c"]}
    renamed = {**old, "key": "x: new name", "label": "new name"}
    (row,) = history_rows(_claims(old, other), _claims(renamed, other), "2026-11-29")
    assert row == {"date": "2026-11-29", "target": "x: new name", "old": "consistent", "new": "consistent",
                   "why": "label changed (was 'x: old name')"}  # fmt: skip
    (row,) = history_rows(_claims(old, other), _claims({**renamed, "verdict": "inconclusive", "runs": ["s@d"]}, other),
                          "2026-11-29")  # fmt: skip
    assert (row["old"], row["new"], row["why"]) == ("consistent", "inconclusive", "label changed (was 'x: old name'); "
                                                    "new runs")  # fmt: skip
    # A new target with a rule already held by another target is new, not a rename: the rename must be unambiguous.
    twin = {**renamed, "key": "x: twin", "label": "twin"}
    rows = history_rows(_claims(old, other), _claims(old, other, twin), "2026-11-29")
    assert [(r["target"], r["why"]) for r in rows] == [("x: twin", "registered change (new target)")]
    # A target deleted from claim.yaml (or renamed and restated at once) ends with a row, not in silence.
    (row,) = history_rows(_claims(old, other), _claims(other), "2026-11-29")
    assert (row["target"], row["old"], row["new"]) == ("x: old name", "consistent", "—")
    assert row["why"] == "target removed (not in claim.yaml any more)"


def test_readme_claims_table_matches_committed_results():
    text = (PROJECT_ROOT / "README.md").read_text()
    block = text.split(README_BEGIN, 1)[1].split(README_END, 1)[0].strip()
    expected = readme_table("cpu", evaluate("cpu", results_dir())).strip()
    assert block == expected, "README claims table is stale: run `replicate report --profile cpu --readme README.md`"


def test_committed_reports_follow_the_verdict_rules():
    """Every shown interval of n >= 2 is Student-t; no ordering held on a paired lower bound <= 0; no stochastic
    target held on one seed."""
    import math

    from scipy.stats import t as scipy_t

    from replicate_suite.stats import t_interval

    for profile in ("cpu", "paper"):
        claims = json.loads((PROJECT_ROOT / "reports" / profile / "claims.json").read_text())
        for rep in claims["replications"]:
            for t in rep["targets"]:
                for name, s in t["summaries"].items():
                    values = list(t["per_seed"][name].values())
                    if s["n"] >= 2:
                        low, high = t_interval(values)
                        assert s["ci_low"] == pytest.approx(low) and s["ci_high"] == pytest.approx(high)
                    else:
                        assert s["ci_low"] is None
                if t["verdict"] in ("reproduced", "consistent"):
                    ns = {s["n"] for s in t["summaries"].values()}
                    deterministic = all(s["min"] == s["max"] for s in t["summaries"].values())
                    assert min(ns) >= 2 and (deterministic or min(ns) >= t["min_seeds"]), t["key"]
                    for d in t["paired_differences"].values():
                        if d["min"] != d["max"]:  # stochastic: the one-sided 95 % lower bound must be above 0
                            low = d["mean"] - scipy_t.ppf(0.95, d["n"] - 1) * d["std"] / math.sqrt(d["n"])
                            assert low > 0, t["key"]
                        else:
                            assert d["min"] > 0, t["key"]


def test_a_failed_swap_puts_the_previous_report_back(smoke_results, tmp_path, monkeypatch):
    reports = tmp_path / "reports"
    assert main(["report", "--profile", "smoke", "--results", str(smoke_results), "--reports", str(reports)]) == 0
    before = (reports / "smoke" / "claims.json").read_bytes()
    real, calls = report_module.os.replace, {"n": 0}

    def second_replace_fails(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:  # old report moved aside, new one about to move in
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(report_module.os, "replace", second_replace_fails)
    with pytest.raises(OSError):
        report_module.write_report("smoke", smoke_results, reports, figures=False)
    monkeypatch.undo()
    assert (reports / "smoke" / "claims.json").read_bytes() == before
    assert oct((reports / "smoke").stat().st_mode & 0o777) == "0o755"


def test_a_caveat_is_shown_beside_its_verdict():
    """LeNet-5's test-error caveat (test error seen between tuning rounds) reaches the report's row for that target,
    in the notes cell next to the verdict, and the target's line in the replication's section."""
    from replicate_suite.claims import evaluate_claim, load_claim
    from replicate_suite.report import ReplicationReport, comparison_markdown
    from replicate_suite.results import RunRecord
    from replicate_suite.runner import replication_path

    claim = load_claim(replication_path("lenet5_mnist") / "claim.yaml")
    caveat = next(t.caveat for t in claim.targets if t.metric == "test_error")
    assert "rounds 2-4 were each started after seeing the previous round's test error" in caveat
    runs = [RunRecord(PROJECT_ROOT, s, {"test_error": e}, {"status": "ok"}) for s, e in enumerate((0.009, 0.01, 0.011))]
    report = ReplicationReport(claim, runs, evaluate_claim(claim, runs, "cpu"))
    md = comparison_markdown("cpu", [report], {}, "results/")
    row = next(line for line in md.splitlines() if line.startswith("| lenet5_mnist | test error |"))
    verdict_cell, notes_cell = row.split(" | ")[-2:]
    decided = "decided on: test_error: 90 % CI [0.008314, 0.01169] vs band [0.008, 0.011]"
    assert verdict_cell == "**inconclusive**" and notes_cell.startswith(f"{decided}; caveat: {caveat}")
    line = next(line for line in md.splitlines() if line.startswith("- **inconclusive**: test error:"))
    assert f"caveat: {caveat}" in line


def test_a_run_with_overrides_never_counts(smoke_results, tmp_path, capsys):
    """`run --set` records its overrides; list, comparison.md and claims.json show the run apart and no verdict
    uses it; it never replaces a registered run, even with --force."""
    results = tmp_path / "results"
    shutil.copytree(smoke_results, results)
    args = ["run", "lenet5_mnist", "--profile", "smoke", "--results", str(results)]
    assert main([*args, "--seed", "2", "--set", "data.train_limit=128", "--set", "train.batch_size=16"]) == 0
    meta = json.loads((results / "lenet5_mnist" / "smoke" / "seed_2" / "run_meta.json").read_text())
    assert meta["overrides"] == {"data.train_limit": 128, "train.batch_size": 16}
    assert meta["config"]["data"]["train_limit"] == 128
    capsys.readouterr()
    assert main([*args, "--seed", "0", "--force", "--set", "data.train_limit=128"]) == 1
    assert "holds a run of the registered protocol" in capsys.readouterr().err
    assert "overrides" not in json.loads((results / "lenet5_mnist" / "smoke" / "seed_0" / "run_meta.json").read_text())

    reports = tmp_path / "reports"
    assert (
        main(["report", "--profile", "smoke", "--results", str(results), "--reports", str(reports), "--no-figures"])
        == 0
    )
    claims = json.loads((reports / "smoke" / "claims.json").read_text())
    rep = next(r for r in claims["replications"] if r["id"] == "lenet5_mnist")
    assert [r["seed"] for r in rep["runs"]] == [0, 1]
    assert [(r["seed"], r["overrides"]) for r in rep["not_counted"]] == [(2, meta["overrides"])]
    assert all(set(vals) <= {"0", "1"} for t in rep["targets"] for vals in t["per_seed"].values())
    md = (reports / "smoke" / "comparison.md").read_text()
    assert "**Not counted: runs with `--set` overrides**" in md
    assert "- seed_2: data.train_limit=128, train.batch_size=16" in md
    assert json.loads((reports / "smoke" / "metrics" / "lenet5_mnist.json").read_text())["runs"] == 2
    with open(reports / "smoke" / "curves" / "lenet5_mnist.csv") as handle:
        assert {row["run"] for row in csv.DictReader(handle)} == {"seed_0", "seed_1"}
    capsys.readouterr()
    assert main(["list", "--profile", "smoke", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "not counted: seed_2 ran with --set data.train_limit=128" in out
    assert next(x for x in out.splitlines() if x.startswith("lenet5_mnist")).split()[1] == "2"


def test_the_header_names_the_results_root_read(smoke_results, tmp_path):
    reports = tmp_path / "reports"
    assert (
        main(
            ["report", "--profile", "smoke", "--results", str(smoke_results), "--reports", str(reports), "--no-figures"]
        )
        == 0
    )
    md = " ".join((reports / "smoke" / "comparison.md").read_text().split())
    assert f"from the run folders in `{smoke_results}/*/smoke/`" in md


def _record(name: str, seed: int, wall: float, metrics: dict | None = None, parts: dict | None = None):
    from pathlib import Path

    from replicate_suite.results import RunRecord

    meta = {"wall_seconds": wall, "budget": "62.5k updates"}
    if parts:
        meta["part_wall_seconds"] = parts
    return RunRecord(Path("/r") / name, seed, metrics or {}, meta)


def test_wall_time_is_shown_per_part_never_averaged_across_parts():
    three_hours = {"seed_0@exact": 6.0, "seed_0@dqn_Asterix": 10_800.0}
    runs = [_record("seed_0@exact", 0, 10_806.0, parts=three_hours), _record("seed_1@exact", 1, 6.0)]
    text = report_module._wall(runs)
    assert "per part: dqn_Asterix 180.0 min/seed (n=1); exact 0.1 min/seed (n=2)" in text
    assert "min/seed (n=2)" in report_module._wall([_record("seed_0", 0, 60.0), _record("seed_1", 1, 120.0)])


def test_budget_text_is_shown_beside_the_counted_updates():
    runs = [_record("seed_0", 0, 1.0, {"updates_dqn_Asterix": 57_501, "test_error": 0.1})]
    assert report_module._budget(runs) == "62.5k updates (counted by the runs: updates_dqn_Asterix 57,501)"


def test_committed_dvc_views_match_the_committed_results():
    """reports/cpu/metrics/<id>.json (what `dvc metrics show` reads) is current: the committed runs give its counts."""
    from replicate_suite.claims import VERDICTS

    for rep in evaluate("cpu", results_dir()):
        path = PROJECT_ROOT / "reports" / "cpu" / "metrics" / f"{rep.claim.replication}.json"
        expected = {"runs": len(rep.runs), **{v: sum(r.verdict == v for r in rep.targets) for v in VERDICTS}}
        assert path.is_file() and json.loads(path.read_text()) == expected, (
            f"{path} is stale: run `replicate report --profile cpu --readme README.md`"
        )


def test_rl_learning_curves_show_every_seed(tmp_path):
    """#19: the DQN reports draw each seed's evaluation-return and probe-state max-Q curve (thin lines) beside their
    mean, from the runs' curves only; a metric no run logged draws nothing."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from replicate_suite.figures import plot_per_seed
    from replicate_suite.results import CurveLog, RunRecord
    from replicate_suite.runner import load_script

    rows = [(seed, step, 1.0 + seed + step / 100) for seed in (0, 1) for step in (100, 200, 300)]
    data = pd.DataFrame({"seed": [r[0] for r in rows], "step": [r[1] for r in rows], "value": [r[2] for r in rows]})
    data["metric"] = "eval_return/Breakout"
    fig, ax = plt.subplots()
    assert plot_per_seed(ax, data, "eval_return/Breakout", "C0", "DQN")
    thin, mean = ax.lines[:2], ax.lines[2]
    assert [list(line.get_ydata()) for line in thin] == [[2.0, 3.0, 4.0], [3.0, 4.0, 5.0]]
    assert list(mean.get_ydata()) == [2.5, 3.5, 4.5] and mean.get_label() == "DQN (mean of 2)"
    assert not plot_per_seed(ax, data, "avg_max_q/Breakout", "C1", "DQN")
    plt.close(fig)

    runs = []
    for seed in (0, 1):
        folder = tmp_path / f"seed_{seed}"
        folder.mkdir()
        log = CurveLog()
        for step in range(1, 21):
            log.add(step * 35_000, **{"eval_return/Breakout": seed + step, "avg_max_q/Breakout": 0.1 * step})
        log.write(folder)
        runs.append(RunRecord(folder, seed, {}, {}))
    report = load_script("dqn_atari2013", "report")
    assert report.figures(runs, tmp_path / "figures") == [
        ("Fig. 2 (evaluation return and average max Q on probe states, per seed)", "dqn_fig2.png")
    ]
    assert (tmp_path / "figures" / "dqn_fig2.png").stat().st_size > 0
    assert report.figures(runs[:0], tmp_path / "none") == []


def test_wall_time_splits_a_part_by_config_names_devices_and_marks_lower_bounds():
    from pathlib import Path

    from replicate_suite.results import RunRecord

    def run(seed, seconds, config, device, complete=True, commits=("c1",)):
        info = {"wall_seconds": seconds, "wall_complete": complete, "commits": list(commits), "device": device,
                "config_key": config}  # fmt: skip
        return RunRecord(Path(f"/r/seed_{seed}@Hopper"), seed, {}, {"part_info": {f"seed_{seed}@Hopper": info}})

    runs = [run(0, 600, "a", "cpu: X"), run(1, 600, "a", "cpu: X"), run(10, 3600, "b", "cpu: Y"),
            run(11, 1800, "b", "cpu: Y", complete=False, commits=("c2", "c3"))]  # fmt: skip
    text = report_module._wall(runs)
    assert text.startswith("≥ 110.0 min total (summed over parts") and "; 1 resumed part(s) recorded only" in text
    assert "Hopper 10.0 min/seed (n=2; seeds 0, 1; cpu: X)" in text
    assert "Hopper ≥ 45.0 min/seed (n=2; seeds 10, 11; cpu: Y)" in text
    assert report_module._run_wall(runs[3]) == "≥ 1800" and report_module._run_commits(runs[3]) == "c2, c3"
    assert report_module._run_devices(runs[3]) == "cpu: Y"
    assert report_module._seed_list([14, 0, 1, 10, 11, 12, 13, 3]) == "0, 1, 3, 10-14"


def test_a_not_run_targets_numbers_say_they_come_from_another_budget():
    from replicate_suite.claims import Target, TargetResult
    from replicate_suite.stats import summarize

    target = Target(metric="r", rule={"kind": "above", "bound": 1.0}, binds=("paper",))
    shown = TargetResult(target, "not_run", {"r": summarize([1.0, 2.0, 3.0])})
    assert report_module._at_this_budget(shown, report_module._ours(shown), "cpu").startswith(
        "runs at this budget, not the target's: 2 ± 1 (n=3"
    )
    # a target that binds the profile but whose seeds lack a metric (parts still running): incomplete, not "budget"
    assert report_module._at_this_budget(shown, "x", "paper") == "incomplete seeds (a metric missing), not judged: x"
    assert report_module._at_this_budget(TargetResult(target, "not_run"), "—", "cpu") == "—"
    judged = TargetResult(target, "inconclusive", {"r": summarize([1.0, 2.0, 3.0])})
    assert report_module._at_this_budget(judged, "x", "cpu") == "x"


def test_generic_curves_are_drawn_per_registration_never_pooled(smoke_results, tmp_path):
    """When the claim's targets name two seed sets for a profile (two registrations, e.g. different budgets), the
    generic learning-curve figure is drawn once per registration; with one seed set (or none) it stays one figure."""
    import dataclasses

    from replicate_suite.claims import load_claim
    from replicate_suite.paths import replications_dir
    from replicate_suite.report import ReplicationReport
    from replicate_suite.results import read_runs

    claim = load_claim(replications_dir() / "lenet5_mnist" / "claim.yaml")
    runs = read_runs(smoke_results, "lenet5_mnist", "smoke")
    first, second, *rest = claim.targets
    split = dataclasses.replace(
        claim,
        targets=(
            dataclasses.replace(first, seeds=(("smoke", (0,)),)),
            dataclasses.replace(second, seeds=(("smoke", (1,)),)),
            *rest,
        ),
    )
    made = report_module._draw_figures([ReplicationReport(split, runs, [])], tmp_path / "a")
    assert made["lenet5_mnist"] == [
        ("learning curves, first registration (seeds 0)", "figures/lenet5_mnist_curves_1.png"),
        ("learning curves, second registration (seeds 1)", "figures/lenet5_mnist_curves_2.png"),
    ]
    assert all((tmp_path / "a" / rel).is_file() for _, rel in made["lenet5_mnist"])
    one = report_module._draw_figures([ReplicationReport(claim, runs, [])], tmp_path / "b")
    assert one["lenet5_mnist"] == [("learning curves", "figures/lenet5_mnist_curves.png")]


def test_a_verdict_counting_runs_from_uncommitted_code_says_so(tmp_path):
    """A counted run whose tracked code differed from its commit (run_meta git `dirty`) is named beside every verdict
    that counts it, in the table's notes and claims.json, with the changed files where the run recorded them; a part
    of the same seed that reports none of the target's names does not mark it."""
    from replicate_suite.claim_schema import Claim, Target
    from replicate_suite.claims import evaluate_claim
    from replicate_suite.report import ReplicationReport, claims_json, comparison_markdown, uncommitted_text
    from replicate_suite.results import read_runs, write_json

    def write(folder: str, seed: int, metrics: dict, git: dict) -> None:
        path = tmp_path / "demo" / "cpu" / folder
        path.mkdir(parents=True)
        meta = {"replication": "demo", "profile": "cpu", "seed": seed, "status": "ok", "git": git, "wall_seconds": 1.0}
        write_json(path / "run_meta.json", meta)
        write_json(path / "metrics.json", metrics)
        (path / "curves.csv").write_text("step,metric,value\n")

    clean = {"commit": "a" * 40, "dirty": False}
    write("seed_0", 0, {"err": 0.1}, clean)
    write("seed_1", 1, {"err": 0.2}, {"commit": "b" * 40, "dirty": True, "dirty_files": ["shared/training.py"]})
    write("seed_2@a", 2, {"err": 0.3}, clean)
    write("seed_2@b", 2, {"other": 1.0}, {"commit": "c" * 40, "dirty": True})  # reports no name of the target
    runs = read_runs(tmp_path, "demo", "cpu")
    targets = (Target(metric="err", rule={"kind": "below", "bound": 1.0}, binds=("cpu",)),)
    claim = Claim("demo", "t", "c", {"paper": "p"}, targets, ())
    (result,) = evaluate_claim(claim, runs, "cpu")
    result.uncommitted = uncommitted_text(result, runs)
    assert result.uncommitted == (
        "uncommitted code: 1 run folder(s) behind this verdict ran from a working tree whose tracked files differed "
        "from their commit, so no commit holds the code that made them: seed_1 bbbbbbbbbb+dirty (shared/training.py)"
    )
    report = ReplicationReport(claim, runs, [result])
    row = next(line for line in comparison_markdown("cpu", [report], {}, "r/").splitlines() if "| demo | err" in line)
    assert f"⚠ {result.uncommitted}" in row
    assert claims_json("cpu", [report])["replications"][0]["targets"][0]["uncommitted"] == result.uncommitted
    assert uncommitted_text(result, [r for r in runs if r.seed != 1]) == ""
    # A diverged part from a dirty tree that holds the verdict back is named too (it decides the verdict).
    stopped = tmp_path / "demo" / "cpu" / "seed_3"
    stopped.mkdir()
    meta = {"replication": "demo", "profile": "cpu", "seed": 3, "status": "diverged", "wall_seconds": 1.0,
            "git": {"commit": "d" * 40, "dirty": True}}  # fmt: skip
    write_json(stopped / "run_meta.json", meta)
    write_json(stopped / "metrics.json", {"diverged_step": 7})
    (stopped / "curves.csv").write_text("step,metric,value\n")
    runs = read_runs(tmp_path, "demo", "cpu")
    (result,) = evaluate_claim(claim, runs, "cpu")
    assert result.verdict == "inconclusive" and "seed(s) [3] diverged" in result.detail
    assert "seed_3 dddddddddd+dirty (diverged)" in uncommitted_text(result, runs)


def test_a_run_records_which_tracked_files_differ_from_its_commit(tmp_path, monkeypatch):
    import subprocess

    from replicate_suite import environment

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@t")
    git("config", "user.name", "t")
    (tmp_path / "shared").mkdir()
    (tmp_path / "results").mkdir()
    for name in ("shared/code.py", "results/r.json", "notes.txt"):
        (tmp_path / name).write_text("1\n")
    git("add", ".")
    git("commit", "-qm", "c")
    monkeypatch.setattr(environment, "PROJECT_ROOT", tmp_path)
    assert environment.git_state()["dirty"] is False and "dirty_files" not in environment.git_state()
    (tmp_path / "results" / "r.json").write_text("2\n")  # what a pipeline run rewrites is not dirty
    (tmp_path / "untracked.py").write_text("2\n")
    assert environment.git_state()["dirty"] is False
    (tmp_path / "shared" / "code.py").write_text("2\n")
    (tmp_path / "notes.txt").write_text("2\n")
    state = environment.git_state()
    assert state["dirty"] is True and state["dirty_files"] == ["notes.txt", "shared/code.py"]


def test_the_notes_say_what_decided_a_verdict_that_the_95_interval_shown_seems_to_contradict():
    """A reader saw 'above 10' with the 95 % CI [-1.67, 11.45] straddling 10 beside 'not_reproduced': the rule reads
    the one-sided bounds (upper 9.34 < 10). The notes now begin with that decision."""
    from replicate_suite.claim_schema import Target
    from replicate_suite.claims import evaluate_target
    from replicate_suite.report import _notes
    from replicate_suite.results import RunRecord

    t = Target(metric="ret", rule={"kind": "above", "bound": 10.0}, binds=("cpu",))
    runs = [RunRecord(PROJECT_ROOT, s, {"ret": v}, {"status": "ok"}) for s, v in enumerate((4.789, 2.3, 7.578))]
    result = evaluate_target(t, runs, "cpu")
    assert result.verdict == "not_reproduced"
    assert _notes(result).startswith("decided on: ret: one-sided 95 % bounds [0.4376, 9.34] vs bound 10")


def test_the_clips_hint_names_the_folders_a_scratch_report_uses(tmp_path):
    """A report written with --reports DIR said 'No clips yet: replicate clips --profile cpu', which writes to the
    project's reports/ folder, not DIR: the hint names the folders that are not the defaults."""
    from replicate_suite.paths import reports_dir, results_dir
    from replicate_suite.report import clips_command

    assert clips_command("cpu", results_dir(), reports_dir()) == "replicate clips --profile cpu"
    scratch = clips_command("cpu", tmp_path / "runs", tmp_path / "my reports")
    assert (
        scratch == f"replicate clips --profile cpu --results {tmp_path / 'runs'} --reports '{tmp_path / 'my reports'}'"
    )


def test_claims_json_names_where_a_run_from_another_results_root_is(tmp_path):
    """claims.json wrote results/<id>/... for every run, also for runs read with --results /tmp/elsewhere."""
    from replicate_suite.report import _run_path
    from replicate_suite.results import RunRecord

    elsewhere = RunRecord(tmp_path / "demo" / "cpu" / "seed_0", 0, {}, {})
    here = RunRecord(PROJECT_ROOT / "results" / "demo" / "cpu" / "seed_0@a", 0, {}, {})
    assert _run_path(elsewhere, "demo", "cpu") == str(tmp_path / "demo" / "cpu" / "seed_0")
    assert _run_path(here, "demo", "cpu") == "results/demo/cpu/seed_0@a"
