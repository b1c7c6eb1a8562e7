"""Verdict logic: intervals over seeds, three-way rules, paired orderings, determinism, budgets, registration."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from replicate_suite.claims import Target, counts_text, evaluate_claim, evaluate_target, load_claim
from replicate_suite.errors import ReplicateError
from replicate_suite.registration import AFTER_RESULTS, UNVERIFIABLE, registration_flag
from replicate_suite.results import CurveLog, RunRecord
from replicate_suite.stats import seeds_needed, summarize, t_interval


def runs(*metric_dicts, curves=None, tmp_path: Path | None = None, commit="abc", first_seed=0) -> list[RunRecord]:
    records = []
    for seed, metrics in enumerate(metric_dicts, start=first_seed):
        path = Path(".")
        if curves is not None:
            path = tmp_path / f"seed_{seed}"
            path.mkdir()
            log = CurveLog()
            for name, points in curves[seed].items():
                for step, value in points:
                    log.add(step, **{name: value})
            log.write(path)
        meta = {"status": "ok", "git": {"commit": commit}}
        records.append(RunRecord(path=path, seed=seed, metrics=metrics, meta=meta))
    return records


def target(rule, metric="err", paper=None, binds=("cpu",), held=None, **extra) -> Target:
    return Target(metric=metric, rule=rule, binds=binds, paper=paper, held=held, **extra)


def verdict(t: Target, records, profile="cpu") -> str:
    return evaluate_target(t, records, profile).verdict


# --- intervals ---------------------------------------------------------------------------------------------------


def test_t_interval_of_two_values_by_hand():
    # mean 1.0, s = 0.1414, s/sqrt(2) = 0.1, t_{0.975, 1} = 12.7062
    low, high = t_interval([0.9, 1.1])
    assert low == pytest.approx(-0.2706, abs=1e-4) and high == pytest.approx(2.2706, abs=1e-4)
    s = summarize([0.9, 1.1])
    assert (s.ci_low, s.ci_high) == (low, high) and (s.min, s.max) == (0.9, 1.1)


def test_one_seed_has_no_interval_and_three_seeds_a_t_interval():
    assert summarize([1.0]).ci_low is None and summarize([1.0]).ci_high is None
    low, high = t_interval([1.0, 2.0, 3.0])  # s/sqrt(3) = 0.57735, t_{0.975, 2} = 4.3027
    assert low == pytest.approx(2.0 - 2.4841, abs=1e-4) and high == pytest.approx(2.0 + 2.4841, abs=1e-4)
    assert summarize([1.0, 2.0, 3.0, 100.0]).iqm == pytest.approx(2.5)


def test_seeds_needed_is_planning_arithmetic():
    # t_{0.95, n-1} * 1 / sqrt(n) < 1.0 first at n = 5 (2.132 / 2.236 = 0.953; n = 4: 2.353 / 2 = 1.18)
    assert seeds_needed(1.0, 1.0) == 5
    assert seeds_needed(1.0, 0.0) is None


# --- above / below / within --------------------------------------------------------------------------------------


def test_one_stochastic_seed_is_inconclusive():
    t = target({"kind": "below", "bound": 0.011})
    result = evaluate_target(t, runs({"err": 0.0105}), "cpu")
    assert result.verdict == "inconclusive" and "min_seeds" in result.detail


def test_below_decides_on_the_one_sided_bound():
    t = target({"kind": "below", "bound": 1.0})
    assert verdict(t, runs({"err": 0.5}, {"err": 0.6}, {"err": 0.55})) == "consistent"
    assert verdict(t, runs({"err": 0.5}, {"err": 1.4}, {"err": 0.9})) == "inconclusive"  # mean 0.93, wide
    assert verdict(t, runs({"err": 1.5}, {"err": 1.6}, {"err": 1.55})) == "not_reproduced"
    at_paper = target({"kind": "below", "bound": 1.0}, binds=("paper",))
    assert verdict(at_paper, runs({"err": 0.5}, {"err": 0.6}, {"err": 0.55}), "paper") == "reproduced"


def test_above_with_held_and_planning():
    t = target({"kind": "above", "bound": 950}, held="reproduced")
    assert verdict(t, runs({"err": 1000}, {"err": 990}, {"err": 995})) == "reproduced"
    result = evaluate_target(t, runs({"err": 1000}, {"err": 46}, {"err": 1000}), "cpu")
    assert result.verdict == "inconclusive" and "seeds would decide" in result.planning


def test_within_is_an_equivalence_test():
    t = target({"kind": "within", "abs": 0.002}, paper=0.0095)
    assert verdict(t, runs({"err": 0.0095}, {"err": 0.0096}, {"err": 0.0094})) == "reproduced"
    # mean 0.0110, 90 % CI about [0.0098, 0.0122]: it straddles the band's upper edge 0.0115 -> inconclusive
    straddle = runs({"err": 0.0105}, {"err": 0.0110}, {"err": 0.0115})
    result = evaluate_target(t, straddle, "cpu")
    assert result.verdict == "inconclusive" and "90 % CI" in result.detail
    assert verdict(t, runs({"err": 0.020}, {"err": 0.021}, {"err": 0.022})) == "not_reproduced"


def test_relative_tolerance():
    t = target({"kind": "within", "rel": 0.1}, paper=100.0)
    assert verdict(t, runs({"err": 101.0}, {"err": 99.0}, {"err": 100.0})) == "reproduced"
    assert verdict(t, runs({"err": 130.0}, {"err": 131.0}, {"err": 132.0})) == "not_reproduced"


def test_identical_values_are_deterministic_and_judged_exactly():
    t = target({"kind": "within", "abs": 0}, paper=60000)
    result = evaluate_target(t, runs({"err": 60000}, {"err": 60000}), "cpu")
    assert result.verdict == "reproduced" and "deterministic" in result.detail
    assert verdict(t, runs({"err": 60001}, {"err": 60001})) == "not_reproduced"
    assert verdict(t, runs({"err": 60000}, {"err": 60001})) == "inconclusive"  # not identical: stochastic, n=2 < 3


def test_all_seeds_fails_on_one_seed_over_the_bound():
    t = target({"kind": "below", "bound": 2.0, "all_seeds": True})
    values = runs({"err": 1.95}, {"err": 2.01}, {"err": 2.02})
    result = evaluate_target(t, values, "cpu")
    assert result.verdict == "not_reproduced" and "[1, 2]" in result.detail
    assert verdict(t, runs({"err": 1.9}, {"err": 1.95}, {"err": 1.99})) == "consistent"
    assert verdict(target({"kind": "below", "bound": 2.0}), values) == "inconclusive"  # the mean alone passes


# --- orderings ---------------------------------------------------------------------------------------------------


def _paired(diffs_pp):
    rule = {"kind": "ordering", "metrics": ["base", "bn"], "order": "increasing"}
    t = target(rule, metric="acc")
    return t, runs(*({"base": 0.97, "bn": 0.97 + d / 100} for d in diffs_pp))


def test_ordering_on_paired_differences():
    t, records = _paired([-0.13, 0.06, 0.29])
    result = evaluate_target(t, records, "cpu")
    assert result.verdict == "inconclusive"
    (diff,) = result.differences.values()
    assert diff.mean == pytest.approx(0.0007333, abs=1e-6) and diff.n == 3
    t, records = _paired([0.10, 0.12, 0.14])
    assert evaluate_target(t, records, "cpu").verdict == "consistent"
    t, records = _paired([-0.10, -0.12, -0.14])
    assert evaluate_target(t, records, "cpu").verdict == "not_reproduced"


def test_ordering_min_effect_and_decreasing_chains():
    rule = {"kind": "ordering", "metrics": ["a", "b", "c"], "order": "decreasing", "min_effect": 0.5}
    t = target(rule, metric="a,b,c")
    good = runs({"a": 3, "b": 2, "c": 1}, {"a": 3.2, "b": 2.1, "c": 0.9}, {"a": 3.1, "b": 2.05, "c": 1.0})
    assert verdict(t, good) == "consistent"
    small = runs({"a": 3, "b": 2.8, "c": 1}, {"a": 3.2, "b": 3.0, "c": 0.9}, {"a": 3.1, "b": 2.85, "c": 1.0})
    assert verdict(t, small) == "inconclusive"  # a - b is about 0.2 > 0 but not above min_effect 0.5


def test_ordering_pairs_by_seed_not_by_mean():
    # Means say b > a, but the seeds are unpaired noise: seed 2 reverses the order.
    rule = {"kind": "ordering", "metrics": ["a", "b"], "order": "increasing"}
    t = target(rule, metric="a,b")
    records = runs({"a": 1.0, "b": 1.5}, {"a": 2.0, "b": 2.6}, {"a": 3.0, "b": 2.95})
    assert verdict(t, records) == "inconclusive"


def test_holm_adjusted_p_values_by_hand():
    from replicate_suite.stats import holm

    # sorted 0.01, 0.03, 0.04 -> 3 x 0.01 = 0.03, 2 x 0.03 = 0.06, max(0.06, 1 x 0.04) = 0.06; back in input order
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.02, 0.5]) == pytest.approx([0.04, 0.5])
    assert holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # 2 x 0.6 capped at 1, then the running maximum
    assert holm([0.2]) == [0.2] and holm([]) == []


def _chain(second_steps: list[float]) -> list[RunRecord]:
    """Three seeds of metrics a < b (by about 1) and c = b + the given step."""
    ups = [1.0, 1.1, 0.9]
    return runs(*({"a": 0.0, "b": up, "c": up + step} for up, step in zip(ups, second_steps, strict=True)))


def test_a_chain_of_steps_is_not_reproduced_only_when_holm_rejects_a_step():
    from replicate_suite.stats import p_mean_below_zero

    rule = {"kind": "ordering", "metrics": ["a", "b", "c"], "order": "increasing"}
    t = target(rule, metric="a,b,c")
    # a -> b: clearly up; b -> c: down by [-0.3, -0.1, -0.2], one-sided p = 0.0371 (t = -3.46, 2 df): below 5 % on its
    # own (upper 95 % bound < 0), but with two steps Holm doubles the smallest p: 0.0742 -> inconclusive.
    mild = _chain([-0.3, -0.1, -0.2])
    assert p_mean_below_zero([-0.3, -0.1, -0.2]) == pytest.approx(0.03709, abs=1e-5)
    result = evaluate_target(t, mild, "cpu")
    assert result.verdict == "inconclusive" and "Holm-adjusted over 2 steps 0.0742" in result.detail
    # A step reversed in every seed by far more than its spread is rejected after the correction too.
    clear = _chain([-0.3, -0.28, -0.32])
    assert verdict(t, clear) == "not_reproduced"
    # One step (two metrics) is its own family: the uncorrected one-sided bound, as before.
    pair = target({"kind": "ordering", "metrics": ["b", "c"], "order": "increasing"}, metric="b,c")
    assert verdict(pair, mild) == "not_reproduced"
    # Holding needs every step to hold (an intersection-union test): no correction, each step at 95 %.
    assert verdict(t, _chain([0.3, 0.1, 0.2])) == "consistent"


# --- RL evaluations, trends, budgets -----------------------------------------------------------------------------


def test_last_k_averages_each_seeds_last_evaluations(tmp_path):
    t = target({"kind": "above", "bound": 10.0}, metric="eval_return_Breakout", curves=("eval_return/Breakout",))
    t = Target(**{**t.__dict__, "last_k": 3})
    curves = [{"eval_return/Breakout": [(1, 0.0), (2, 30.0), (3, 12.0), (4, 12.0)]}] * 3
    records = runs(*([{"eval_return_Breakout": 99.0}] * 3), curves=curves, tmp_path=tmp_path)
    result = evaluate_target(t, records, "cpu")
    assert result.per_seed["eval_return_Breakout"] == {0: 18.0, 1: 18.0, 2: 18.0}  # (30 + 12 + 12) / 3
    assert result.verdict == "consistent"


def test_trend_reads_curves(tmp_path):
    t = target({"kind": "trend", "direction": "decreasing", "min_change": 0.5}, metric="loss")
    curves = [{"loss": [(0, 2.0), (10, 1.0)]}, {"loss": [(0, 2.0), (10, 1.2)]}, {"loss": [(0, 2.0), (10, 1.1)]}]
    falling = runs({}, {}, {}, curves=curves, tmp_path=tmp_path)
    assert evaluate_target(t, falling, "cpu").verdict == "consistent"
    t_strict = target({"kind": "trend", "direction": "decreasing", "min_change": 1.5}, metric="loss")
    assert evaluate_target(t_strict, falling, "cpu").verdict == "not_reproduced"


def test_not_run_without_results_or_binding_keeps_the_reason_and_what_the_runs_give():
    reason = "budget too small: 64,000 iterations"
    t = target({"kind": "below", "bound": 1.0}, not_run=(("paper", reason),))
    assert verdict(t, []) == "not_run"
    assert verdict(t, runs({"other": 0.5})) == "not_run"
    result = evaluate_target(t, runs({"err": 1.5}, {"err": 1.6}, {"err": 1.55}), "paper")
    assert result.verdict == "not_run" and result.detail == reason and result.budget_result == "not_reproduced"


def test_a_metric_no_run_reports_is_not_read_as_runs_still_to_do(tmp_path):
    """Runs exist but none reports the target's name (misspelt, or its part has not run): not_run with a detail
    naming the name, the runs and the closest names they report, counted apart from "no runs"; without any run of
    the target's seeds it stays "no runs"."""
    t = target({"kind": "below", "bound": 1.0}, metric="test_eror")
    records = runs({"test_error": 0.5}, {"test_error": 0.6}, {"test_error": 0.4, "train_error": 0.1})
    result = evaluate_target(t, records, "cpu")
    assert result.verdict == "not_run"
    assert result.detail == (
        "metric absent: test_eror in the metrics.json of none of the 3 completed run(s) (seeds 0, 1, 2); closest "
        "names there: test_error, train_error; check the name, or whether the part that reports it has run"
    )
    assert counts_text([result]) == "1 not run (metric absent)"
    nothing = evaluate_target(t, [], "cpu")
    assert (nothing.detail, counts_text([nothing])) == ("no completed run has this metric", "1 not run (no runs)")
    seeded = Target(**{**t.__dict__, "seeds": (("cpu", (7, 8)),)})
    assert evaluate_target(seeded, records, "cpu").detail == "no completed run has this metric"  # not its seeds
    # a curve target names the curve it reads, and the names come from curves.csv
    curved = Target(**{**target({"kind": "above", "bound": 1.0}, metric="ret").__dict__, "curves": ("eval/Breakot",)})
    with_curves = runs({}, {}, curves=[{"eval/Breakout": [(1, 2.0)]}] * 2, tmp_path=tmp_path)
    assert evaluate_target(curved, with_curves, "cpu").detail.startswith(
        "metric absent: eval/Breakot in the curves.csv of none of the 2 completed run(s) (seeds 0, 1); closest "
        "names there: eval/Breakout;"
    )


def test_a_curve_absent_from_every_run_is_not_read_as_a_short_curve(tmp_path):
    """An ordering over curves with one misspelt curve is metric absent even though the other curve is there (not
    "inconclusive: curve ... has 0 point(s)"); a short curve is still inconclusive, but only when judged on the
    target's own seeds: runs of other seeds say nothing about it."""
    rule = {"kind": "ordering", "order": "increasing", "metrics": ["x", "y"]}
    ordering = Target(**{**target(rule, metric="x").__dict__, "curves": ("eval/A", "eval/Bx"), "last_k": 2})
    points = {"eval/A": [(1, 1.0), (2, 2.0), (3, 3.0), (4, 4.0)], "eval/B": [(1, 5.0), (2, 6.0), (3, 7.0), (4, 8.0)]}
    records = runs({}, {}, {}, curves=[points] * 3, tmp_path=tmp_path)
    result = evaluate_target(ordering, records, "cpu")
    assert (result.verdict, counts_text([result])) == ("not_run", "1 not run (metric absent)")
    assert result.detail.startswith("metric absent: eval/Bx in the curves.csv of none of the 3 completed run(s)")
    short = Target(**{**target({"kind": "above", "bound": 1.0}, metric="r").__dict__, "curves": ("eval/A",),
                      "last_k": 5})  # fmt: skip
    assert evaluate_target(short, records, "cpu").detail == "curve eval/A has 4 point(s) at most, needs 5"
    other_seeds = Target(**{**short.__dict__, "seeds": (("cpu", (7, 8)),)})
    assert evaluate_target(other_seeds, records, "cpu").detail == "no completed run has this metric"


def test_an_ordering_no_seed_can_pair_is_counted_as_unpaired():
    t = target({"kind": "ordering", "order": "increasing", "metrics": ["a", "b"]}, metric="a")
    result = evaluate_target(t, runs({"a": 1.0}, {"b": 2.0}, {"a": 1.5}), "cpu")
    assert (result.verdict, result.detail) == ("not_run", "no seed has every metric of the ordering")
    assert counts_text([result]) == "1 not run (unpaired)"


def test_counts_show_the_mix():
    class R:
        def __init__(self, verdict, detail=""):
            self.verdict, self.detail = verdict, detail

    results = [R("reproduced"), R("inconclusive"), R("inconclusive"), R("not_reproduced")]
    results += [R("not_run", "budget too small: x"), R("not_run", "not applicable: y")]
    assert counts_text(results) == (
        "1 reproduced, 2 inconclusive, 1 not reproduced, 1 not run (budget too small), 1 not applicable"
    )


# --- claim.yaml validation ---------------------------------------------------------------------------------------

REASONS = "not_run: {smoke: 'not applicable: pipeline check', paper: 'budget too small: 1M steps'}\n"


@pytest.mark.parametrize(
    "target_yaml, message",
    [
        ("{metric: e, rule: {kind: near}, binds: [cpu]}", "needs kind"),
        ("{metric: e, rule: {kind: within, abs: 1}, binds: [cpu]}", "needs a paper value"),
        ("{metric: e, rule: {kind: below, bound: 1}, binds: [laptop]}", "binds"),
        ("{metric: e, rule: {kind: below, bound: 1, slack: 2}, binds: [cpu]}", "unknown key"),
        ("{metric: e, rule: {kind: ordering, metrics: [a], order: increasing}, binds: [cpu]}", "ordering needs"),
        ("{metric: e, paper: 1, rule: {kind: within, abs: .nan}, binds: [cpu]}", "finite number"),
        ("{metric: e, paper: 1, rule: {kind: within, rel: -1}, binds: [cpu]}", "> 0"),
        ("{metric: e, paper: 1, rule: {kind: within, abs: zero}, binds: [cpu]}", "finite number"),
        ("{metric: e, paper: sixty thousand, rule: {kind: within, abs: 1}, binds: [cpu]}", "paper: expected a finite"),
        ("{metric: e, rule: {kind: trend, direction: increasing, min_change: x}, binds: [cpu]}", "finite number"),
        ("{metric: e, rule: {kind: below, bound: 1}, binds: [cpu], last_k: 3}", "needs the curve"),
        ("{metric: e, rule: {kind: below, bound: 1}, binds: [cpu], min_seeds: 1}", "min_seeds"),
        ("{metric: e, rule: {kind: below, bound: 1, all_seeds: yes please}, binds: [cpu]}", "all_seeds"),
        ("{metric: e, rule: {kind: below, bound: 1}, binds: [cpu], not_run: {paper: 'too slow'}}", "a reason reads"),
    ],
)
def test_bad_claim_yaml(tmp_path, target_yaml, message):
    path = tmp_path / "claim.yaml"
    path.write_text(f"title: t\nclaim: c\nsource: {{paper: p}}\n{REASONS}targets:\n  - {target_yaml}\n")
    with pytest.raises(ReplicateError, match=message):
        load_claim(path)


@pytest.mark.parametrize(
    "target_yaml, message",
    [
        ("{metric: e, paper: 1, rule: {kind: within, abs: 0.1, rel: 0.1}, binds: [cpu]}", "abs or rel, not both"),
        ("{metric: e, rule: {kind: below, bound: 1}, binds: [cpu, cpu]}", "binds: 'cpu' is listed twice"),
        (
            "{metric: e, rule: {kind: ordering, metrics: [a, b, a], order: increasing}, binds: [cpu]}",
            "rule.metrics: 'a' is listed twice",
        ),
        ("{metric: e, rule: {kind: below, bound: 1}, binds: [cpu], seeds: [0, 4294967296]}", "seeds: expected a list"),
        ("{metric: e, rule: {kind: below, bound: 1}, binds: [cpu], seeds: [-1]}", "integers 0 to 4294967295"),
        ("{metric: e, rule: {kind: below, bound: 1}, binds: [cpu], seeds: {cpu: [3, 3]}}", "seeds: 3 is listed twice"),
        ("{metric: e, rule: {kind: below, bound: 1, bound: 2}, binds: [cpu]}", "line 6: duplicate key 'bound'"),
    ],
)
def test_bad_claim_yaml_found_by_a_break_test(tmp_path, target_yaml, message):
    path = tmp_path / "claim.yaml"
    path.write_text(f"title: t\nclaim: c\nsource: {{paper: p}}\n{REASONS}targets:\n  - {target_yaml}\n")
    with pytest.raises(ReplicateError, match=message):
        load_claim(path)


TARGET = "  - {metric: e, rule: {kind: below, bound: 1}, binds: [cpu]}\n"


@pytest.mark.parametrize(
    "head, message",
    [
        ("title: ''\nclaim: c\nsource: {paper: p}\n", "title: expected a non-empty text"),
        ("title: t\nclaim: '  '\nsource: {paper: p}\n", "claim: expected a non-empty text"),
        ("title: [t]\nclaim: c\nsource: {paper: p}\n", "title: expected a non-empty text"),
        ("title: t\nclaim: c\nsource: {paper: p}\ndeviations: abc\n", "deviations: expected a list of texts"),
        ("title: t\nclaim: c\nsource: {paper: p}\ndeviations: [a, [b]]\n", "deviations: expected a list of texts"),
        ("title: t\nclaim: c\nsource: {paper: p}\ntargetz: []\nnotes: x\n", "unknown top-level key(s) notes, targetz"),
        ("title: t\nclaim: c\ntitle: u\nsource: {paper: p}\n", "line 3: duplicate key 'title'"),
    ],
)
def test_bad_claim_yaml_top_level(tmp_path, head, message):
    path = tmp_path / "claim.yaml"
    path.write_text(f"{head}{REASONS}targets:\n{TARGET}")
    with pytest.raises(ReplicateError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_claim(path)


def test_exponent_numbers_in_claim_yaml_are_numbers(tmp_path):
    path = tmp_path / "claim.yaml"
    path.write_text(f"title: t\nclaim: c\nsource: {{paper: p}}\n{REASONS}targets:\n"
                    "  - {metric: e, paper: 5e-3, rule: {kind: within, abs: 1e-3}, binds: [cpu]}\n")  # fmt: skip
    (loaded,) = load_claim(path).targets
    assert loaded.paper == 0.005 and loaded.tolerance() == 0.001


def test_a_profile_outside_binds_needs_a_reason(tmp_path):
    path = tmp_path / "claim.yaml"
    path.write_text("title: t\nclaim: c\nsource: {paper: p}\ntargets:\n  - {metric: e, rule: {kind: below, bound: 1}, "
                    "binds: [cpu]}\n")  # fmt: skip
    with pytest.raises(ReplicateError, match="no reason for not running on \\['smoke', 'paper'\\]"):
        load_claim(path)


def test_every_replication_claim_parses():
    from replicate_suite.runner import known_replications, replication_path

    for rep_id in known_replications():
        claim = load_claim(replication_path(rep_id) / "claim.yaml")
        assert claim.targets and claim.deviations, rep_id


def test_evaluate_claim_returns_every_target(tmp_path):
    path = tmp_path / "claim.yaml"
    path.write_text(
        f"title: t\nclaim: c\nsource: {{paper: p}}\n{REASONS}targets:\n"
        "  - {label: cpu only, metric: e, rule: {kind: below, bound: 1}, binds: [cpu]}\n"
        "  - {label: every profile, metric: e, rule: {kind: below, bound: 1}, binds: [smoke, cpu, paper]}\n"
    )
    results = evaluate_claim(load_claim(path), runs({"e": 0.5}, {"e": 0.5}), "smoke")
    assert [r.verdict for r in results] == ["not_run", "consistent"]
    assert results[0].detail == "not applicable: pipeline check"


# --- pre-registration --------------------------------------------------------------------------------------------


def _git(root: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def _init_repo(root: Path) -> None:
    """An empty git repository with a committer identity, for registration and fix checks."""
    _git(root, "init", "-q")
    _git(root, "config", "user.email", "t@t")
    _git(root, "config", "user.name", "t")


def _buggy_then_fixed(root: Path, code: Path) -> tuple[str, str]:
    """A new repository at root with two commits of `code`: a buggy one, then its fix; their full ids."""
    _init_repo(root)
    code.write_text("buggy\n")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "buggy code")
    buggy = _git(root, "rev-parse", "HEAD")
    code.write_text("fixed\n")
    _git(root, "commit", "-qam", "the fix")
    return buggy, _git(root, "rev-parse", "HEAD")


def test_a_rule_edited_after_its_runs_commit_is_flagged(tmp_path):
    claim_dir = tmp_path / "replications" / "demo"
    claim_dir.mkdir(parents=True)
    _init_repo(tmp_path)
    head = f"title: t\nclaim: c\nsource: {{paper: p}}\n{REASONS}targets:\n"
    (claim_dir / "claim.yaml").write_text(head + "  - {metric: e, rule: {kind: below, bound: 1.0}, binds: [cpu]}\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "register")
    first = _git(tmp_path, "rev-parse", "HEAD")
    (claim_dir / "claim.yaml").write_text(head + "  - {metric: e, rule: {kind: below, bound: 2.0}, binds: [cpu]}\n")
    _git(tmp_path, "commit", "-qam", "loosen the bound after seeing results")

    registered = load_claim(claim_dir / "claim.yaml").targets[0]
    records = runs({"e": 1.5}, {"e": 1.6}, {"e": 1.4}, commit=first)
    flag = registration_flag("demo", registered, "cpu", records, root=tmp_path)
    assert flag.startswith(AFTER_RESULTS) and first[:10] in flag
    # The rule as it stood at the runs' commit (1 == 1.0) is registered; a run from an unknown commit is unverifiable.
    original = Target(metric="e", rule={"kind": "below", "bound": 1}, binds=("cpu",))
    assert registration_flag("demo", original, "cpu", records, root=tmp_path) == ""
    assert registration_flag("demo", original, "paper", records, root=tmp_path).startswith(AFTER_RESULTS)
    # A run resumed across commits is checked at every segment's commit: here its last segment started after the edit.
    second = _git(tmp_path, "rev-parse", "HEAD")
    resumed = runs({"e": 1.5}, commit=second)
    resumed[0].meta["segments"] = [{"commit": first}, {"commit": second}]
    assert registration_flag("demo", registered, "cpu", resumed, root=tmp_path).startswith(AFTER_RESULTS)
    unknown = runs({"e": 1.5}, commit="0" * 40)
    assert registration_flag("demo", original, "cpu", unknown, root=tmp_path).startswith(UNVERIFIABLE)


def test_registration_reads_past_claims_with_the_same_yaml_rules(tmp_path):
    # 1e-3 is a number in today's claim.yaml; the claim.yaml at the runs' commit must read it the same way.
    claim_dir = tmp_path / "replications" / "demo"
    claim_dir.mkdir(parents=True)
    _init_repo(tmp_path)
    head = f"title: t\nclaim: c\nsource: {{paper: p}}\n{REASONS}targets:\n"
    (claim_dir / "claim.yaml").write_text(head + "  - {metric: e, rule: {kind: below, bound: 1e-3}, binds: [cpu]}\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "register")
    registered = load_claim(claim_dir / "claim.yaml").targets[0]
    records = runs({"e": 1e-4}, {"e": 2e-4}, commit=_git(tmp_path, "rev-parse", "HEAD"))
    assert registration_flag("demo", registered, "cpu", records, root=tmp_path) == ""


def _registered_then_edited(tmp_path: Path, before: str, after: str) -> str:
    """A demo claim.yaml committed with target line `before`, then edited to `after`; returns the first commit."""
    return _edited_twice(tmp_path, [f"  - {before}\n", f"  - {after}\n"])[0]


@pytest.mark.parametrize(
    "after",
    [
        "{metric: r, curve: eval/r, last_k: 5, rule: {kind: above, bound: 0}, binds: [cpu]}",  # other last_k
        "{metric: r, curve: eval/q, last_k: 3, rule: {kind: above, bound: 0}, binds: [cpu]}",  # another curve
        "{metric: r, rule: {kind: above, bound: 0}, binds: [cpu]}",  # the final value instead of the last 3
        "{metric: r, curve: eval/r, last_k: 3, min_seeds: 2, rule: {kind: above, bound: 0}, binds: [cpu]}",
        "{metric: r, curve: eval/r, last_k: 3, rule: {kind: above, bound: 0}, binds: [cpu], held: reproduced}",
    ],
)
def test_how_a_target_is_read_and_labelled_is_part_of_its_registration(tmp_path, after):
    before = "{metric: r, curve: eval/r, last_k: 3, rule: {kind: above, bound: 0}, binds: [cpu]}"
    first = _registered_then_edited(tmp_path, before, after)
    edited = load_claim(tmp_path / "replications" / "demo" / "claim.yaml").targets[0]
    records = runs({"r": 1.0}, {"r": 2.0}, {"r": 3.0}, commit=first)
    flag = registration_flag("demo", edited, "cpu", records, root=tmp_path)
    assert flag.startswith(AFTER_RESULTS) and first[:10] in flag
    # the target as registered passes; text (label, caveat) is not compared
    unchanged = _registered_then_edited(tmp_path / "b", before, before[:-1] + ", label: renamed, caveat: x}")
    again = load_claim(tmp_path / "b" / "replications" / "demo" / "claim.yaml").targets[0]
    assert registration_flag("demo", again, "cpu", runs({"r": 1.0}, commit=unchanged), root=tmp_path / "b") == ""


def test_removing_held_reproduced_after_results_is_not_flagged(tmp_path):
    # only raising a verdict above the default can fit results; lowering it cannot
    first = _registered_then_edited(
        tmp_path,
        "{metric: r, rule: {kind: above, bound: 0}, binds: [cpu], held: reproduced}",
        "{metric: r, rule: {kind: above, bound: 0}, binds: [cpu]}",
    )
    lowered = load_claim(tmp_path / "replications" / "demo" / "claim.yaml").targets[0]
    assert registration_flag("demo", lowered, "cpu", runs({"r": 1.0}, commit=first), root=tmp_path) == ""


def _judged(tmp_path: Path, records: list, profile: str = "cpu"):
    """The report's results for the demo claim as report.evaluate makes them (the registration check, then bindings
    removed after results judged as registered)."""
    from replicate_suite import report

    claim = load_claim(tmp_path / "replications" / "demo" / "claim.yaml")
    results = evaluate_claim(claim, records, profile)
    for result in results:
        if result.verdict != "not_run":
            result.registration = registration_flag("demo", result.target, profile, records, root=tmp_path)
    report._judge_unbound("demo", claim, results, records, profile, root=tmp_path)
    return results


def test_a_binding_removed_after_results_is_judged_as_registered_and_flagged(tmp_path):
    first = _registered_then_edited(
        tmp_path,
        "{metric: e, rule: {kind: below, bound: 1}, binds: [cpu, paper]}",
        "{metric: e, rule: {kind: below, bound: 1}, binds: [paper], not_run: {cpu: 'budget too small: 10x'}}",
    )
    records = runs({"e": 1.5}, {"e": 1.6}, {"e": 1.7}, commit=first)
    assert evaluate_claim(load_claim(tmp_path / "replications/demo/claim.yaml"), records, "cpu")[0].verdict == "not_run"
    (judged,) = _judged(tmp_path, records)
    assert judged.verdict == "not_reproduced"
    assert judged.registration.startswith(AFTER_RESULTS) and first[:10] in judged.registration
    assert "budget too small: 10x" in judged.registration
    # runs that started after the binding was removed: not_run stands
    later = runs({"e": 1.5}, {"e": 1.6}, {"e": 1.7}, commit=_git(tmp_path, "rev-parse", "HEAD"))
    (kept,) = _judged(tmp_path, later)
    assert kept.verdict == "not_run" and not kept.registration


def test_an_unbound_target_is_judged_with_its_registered_reading_and_held(tmp_path):
    # found by a break-test: unbinding a target and raising its held label in one edit gave reproduced
    first = _registered_then_edited(
        tmp_path,
        "{metric: e, rule: {kind: below, bound: 1}, binds: [cpu, paper]}",
        "{metric: e, rule: {kind: below, bound: 1}, binds: [paper], held: reproduced, "
        "not_run: {cpu: 'budget too small: x'}}",
    )
    (judged,) = _judged(tmp_path, runs({"e": 0.5}, {"e": 0.6}, {"e": 0.7}, commit=first))
    assert judged.verdict == "consistent" and judged.registration.startswith(AFTER_RESULTS)


def test_an_unbound_copy_of_a_target_still_bound_is_not_judged_twice(tmp_path):
    # found by a break-test: a copy with binds [paper] (or a split by profile) was counted a second time
    first = _registered_then_edited(
        tmp_path,
        "{metric: e, rule: {kind: below, bound: 1}, binds: [cpu, paper]}",
        "{metric: e, rule: {kind: below, bound: 1}, binds: [cpu]}\n"
        "  - {label: copy, metric: e, rule: {kind: below, bound: 1}, binds: [paper], "
        "not_run: {cpu: 'not applicable: x'}}",
    )
    results = _judged(tmp_path, runs({"e": 0.5}, {"e": 0.6}, {"e": 0.7}, commit=first))
    assert [r.verdict for r in results] == ["consistent", "not_run"]
    assert not results[1].registration


def test_an_unbound_target_is_judged_on_the_seeds_that_ran_while_it_was_bound(tmp_path):
    # found by a break-test: with a second registration's seeds on the profile, the older seeds' runs were not checked
    first, second = _edited_twice(
        tmp_path,
        [
            "  - {metric: e, rule: {kind: below, bound: 1}, binds: [cpu]}\n",
            "  - {metric: e, rule: {kind: below, bound: 1}, binds: [paper], not_run: {cpu: 'not applicable: x'}}\n"
            "  - {label: revised, metric: e, rule: {kind: below, bound: 2}, binds: [cpu], seeds: [10, 11, 12]}\n",
        ],
    )
    records = [*runs({"e": 1.5}, {"e": 1.6}, {"e": 1.7}, commit=first), *runs({"e": 0.5}, {"e": 0.6}, {"e": 0.7},
               commit=second, first_seed=10)]  # fmt: skip
    unbound, revised = _judged(tmp_path, records)
    assert unbound.verdict == "not_reproduced" and sorted(next(iter(unbound.per_seed.values()))) == [0, 1, 2]
    assert unbound.registration.startswith(AFTER_RESULTS) and revised.verdict == "consistent"


def _edited_twice(tmp_path: Path, lines: list[str]) -> list[str]:
    """A demo claim.yaml committed once per entry of `lines` (each the targets' lines); returns the commits."""
    claim_dir = tmp_path / "replications" / "demo"
    claim_dir.mkdir(parents=True)
    _init_repo(tmp_path)
    head = f"title: t\nclaim: c\nsource: {{paper: p}}\n{REASONS}targets:\n"
    commits = []
    for index, targets in enumerate(lines):
        (claim_dir / "claim.yaml").write_text(head + targets)
        _git(tmp_path, "add", ".")
        _git(tmp_path, "commit", "-qm", f"edit {index}")
        commits.append(_git(tmp_path, "rev-parse", "HEAD"))
    return commits


A = "  - {metric: r, rule: {kind: below, bound: 1}, binds: [cpu]}\n"
A_UNBOUND = "  - {metric: r, rule: {kind: below, bound: 1}, binds: [paper], not_run: {cpu: 'not applicable: x'}}\n"


def test_a_copy_that_cannot_be_judged_does_not_hide_an_unbound_target(tmp_path):
    # found by a second break-test: a copy binding cpu that reads a curve no run has was taken as covering A
    copy = "  - {label: copy, metric: r, curve: eval/none, rule: {kind: below, bound: 1}, binds: [cpu]}\n"
    first, _ = _edited_twice(tmp_path, [A, A_UNBOUND + copy])
    (tmp_path / "runs").mkdir()
    records = runs({"r": 2.0}, {"r": 2.1}, {"r": 2.2}, commit=first, curves=[{}] * 3, tmp_path=tmp_path / "runs")
    results = _judged(tmp_path, records)
    assert [r.verdict for r in results] == ["not_reproduced", "not_run"]
    assert results[0].registration.startswith(AFTER_RESULTS)


def test_two_unbound_copies_are_judged_once(tmp_path):
    copy = A_UNBOUND.replace("{metric: r,", "{label: two, metric: r,")
    first, _ = _edited_twice(tmp_path, [A, A_UNBOUND + copy])
    results = _judged(tmp_path, runs({"r": 2.0}, {"r": 2.1}, {"r": 2.2}, commit=first))
    assert [r.verdict for r in results] == ["not_reproduced", "not_run"]


def test_a_new_target_never_bound_is_not_judged_on_seeds_another_target_judges(tmp_path):
    first_target = (
        "  - {label: first, metric: r, rule: {kind: below, bound: 9}, binds: [cpu], seeds: {cpu: [0, 1, 2]}}\n"
    )
    new = (
        "  - {label: C, metric: r, rule: {kind: below, bound: 9}, binds: [paper], "
        "not_run: {cpu: 'not applicable: x'}}\n"
    )
    first, _ = _edited_twice(tmp_path, [first_target, first_target + new])
    records = runs(*[{"r": 1.0 + i / 10} for i in range(6)], commit=first)
    judged_first, c = _judged(tmp_path, records)
    assert judged_first.verdict == "consistent" and c.verdict == "not_run" and not c.registration


def test_an_unbound_target_is_judged_as_first_registered(tmp_path):
    # found by a second break-test: the commit chosen was the first in seed order, not the earliest
    raised = A.replace("binds: [cpu]}", "binds: [cpu], held: reproduced}")
    c0, c1, _ = _edited_twice(tmp_path, [A, raised, A_UNBOUND])
    for commits in ([c1, c0, c0], [c0, c0, c1]):
        records = [run for i, c in enumerate(commits) for run in runs({"r": 0.4 + i / 10}, commit=c, first_seed=i)]
        (judged,) = _judged(tmp_path, records)
        assert judged.verdict == "consistent" and c0[:10] in judged.registration


def test_a_target_read_another_way_does_not_cover_an_unbound_one(tmp_path):
    # found by a third break-test: covering matched the statement only, so unbinding B hid its verdict behind A's
    a = "  - {label: A, metric: r, curve: eval/r, last_k: 1, rule: {kind: below, bound: 1}, binds: [cpu]}\n"
    b = "  - {label: B, metric: r, rule: {kind: below, bound: 1}, binds: [cpu]}\n"
    b_unbound = (
        "  - {label: B, metric: r, rule: {kind: below, bound: 1}, binds: [paper], "
        "not_run: {cpu: 'not applicable: x'}}\n"
    )
    first, _ = _edited_twice(tmp_path, [a + b, a + b_unbound])
    (tmp_path / "runs").mkdir()
    curves = [{"eval/r": [(1, 0.5)]}] * 3
    records = runs({"r": 2.0}, {"r": 2.1}, {"r": 2.2}, commit=first, curves=curves, tmp_path=tmp_path / "runs")
    judged_a, judged_b = _judged(tmp_path, records)
    assert judged_a.verdict == "consistent" and not judged_a.registration
    assert judged_b.verdict == "not_reproduced" and judged_b.registration.startswith(AFTER_RESULTS)


def test_an_unbound_target_is_judged_on_its_first_registrations_seeds_only(tmp_path):
    # found by a third break-test: the seeds were gathered over every registration, then judged under the first's
    c0, c1, _ = _edited_twice(
        tmp_path,
        [
            "  - {metric: r, rule: {kind: below, bound: 1}, binds: [cpu], seeds: {cpu: [0, 1, 2]}}\n",
            "  - {metric: r, rule: {kind: below, bound: 1}, binds: [cpu], seeds: {cpu: [3, 4, 5]}}\n",
            A_UNBOUND,
        ],
    )
    records = [*runs({"r": 2.0}, {"r": 2.1}, {"r": 2.2}, commit=c0),
               *runs({"r": 0.1}, {"r": 0.2}, {"r": 0.3}, commit=c1, first_seed=3)]  # fmt: skip
    (judged,) = _judged(tmp_path, records)
    assert judged.verdict == "not_reproduced" and sorted(next(iter(judged.per_seed.values()))) == [0, 1, 2]
    assert "seed(s) 0, 1, 2 started" in judged.registration


def test_a_reading_rewritten_after_results_does_not_replace_the_first_registration(tmp_path):
    # found by a fifth review: read the final value at c0 (bad seeds 0-2), rewritten to a curve at c1 (good seeds 3-5),
    # then unbound: the c0 registration's not_reproduced vanished behind the rewrite's consistent
    curve = "  - {metric: r, curve: eval/r, last_k: 1, rule: {kind: below, bound: 1}, binds: [cpu]}\n"
    unbound = (
        "  - {metric: r, curve: eval/r, last_k: 1, rule: {kind: below, bound: 1}, binds: [paper], "
        "not_run: {cpu: 'not applicable: x'}}\n"
    )
    c0, c1, _ = _edited_twice(tmp_path, [A, curve, unbound])
    (tmp_path / "runs").mkdir()
    records = [
        *runs({"r": 2.0}, {"r": 2.1}, {"r": 2.2}, commit=c0, curves=[{"eval/r": [(1, 0.5)]}] * 3,
              tmp_path=tmp_path / "runs"),
        *runs({"r": 0.1}, {"r": 0.2}, {"r": 0.3}, commit=c1, first_seed=3, curves=[{"eval/r": [(1, 0.5)]}] * 6,
              tmp_path=tmp_path / "runs"),
    ]  # fmt: skip
    (judged,) = _judged(tmp_path, records)
    assert judged.verdict == "not_reproduced" and sorted(next(iter(judged.per_seed.values()))) == [0, 1, 2]
    assert c0[:10] in judged.registration


def test_a_past_target_todays_schema_cannot_read_is_skipped_not_a_crash(tmp_path):
    # found by a third break-test: binds: [[cpu]] in an old claim.yaml raised TypeError (unhashable list)
    first, _ = _edited_twice(tmp_path, [A + "  - {metric: q, rule: {kind: below, bound: 1}, binds: [[cpu]]}\n", A])
    claim = load_claim(tmp_path / "replications" / "demo" / "claim.yaml")
    assert registration_flag("demo", claim.targets[0], "cpu", runs({"r": 0.5}, commit=first), root=tmp_path) == ""
    head = f"title: t\nclaim: c\nsource: {{paper: p}}\n{REASONS}targets:\n"
    (tmp_path / "bad.yaml").write_text(head + "  - {metric: q, rule: {kind: [1]}, binds: [cpu]}\n")
    with pytest.raises(ReplicateError, match="needs kind"):
        load_claim(tmp_path / "bad.yaml")


@pytest.mark.parametrize(
    "before, after",
    [
        ("{metric: e, rule: {kind: below, bound: 1}, binds: [cpu]}",
         "{metric: e, rule: {kind: below, bound: 1, all_seeds: false}, binds: [cpu]}"),
        ("{metric: e, rule: {kind: below, bound: 1}, binds: [cpu]}",
         "{metric: e, last_k: 1, rule: {kind: below, bound: 1}, binds: [cpu]}"),
        ("{metric: e, curve: c, rule: {kind: below, bound: 1}, binds: [cpu]}",
         "{metric: e, curve: c, last_k: 1, rule: {kind: below, bound: 1}, binds: [cpu]}"),
        ("{metric: e, rule: {kind: below, bound: 1}, binds: [cpu]}",
         "{metric: e, min_seeds: 3, rule: {kind: below, bound: 1}, binds: [cpu]}"),
    ],
)  # fmt: skip
def test_writing_out_a_default_is_not_an_edit(tmp_path, before, after):
    first = _registered_then_edited(tmp_path, before, after)
    edited = load_claim(tmp_path / "replications" / "demo" / "claim.yaml").targets[0]
    assert registration_flag("demo", edited, "cpu", runs({"e": 0.5}, commit=first), root=tmp_path) == ""


@pytest.mark.parametrize(
    "before, after, profile",
    [
        ("{metric: r, paper: 2, rule: {kind: within, abs: 5}, binds: [cpu], held: consistent}",
         "{metric: r, paper: 2, rule: {kind: within, abs: 5}, binds: [cpu]}", "cpu"),
        ("{metric: r, rule: {kind: above, bound: 0}, binds: [cpu, paper], held: consistent}",
         "{metric: r, rule: {kind: above, bound: 0}, binds: [cpu, paper]}", "paper"),
    ],
)  # fmt: skip
def test_removing_held_consistent_after_results_is_flagged(tmp_path, before, after, profile):
    # found by a break-test: the default is reproduced for within and at paper, so removing held: consistent raises
    first = _registered_then_edited(tmp_path, before, after)
    edited = load_claim(tmp_path / "replications" / "demo" / "claim.yaml").targets[0]
    flag = registration_flag("demo", edited, profile, runs({"r": 1.0}, commit=first), root=tmp_path)
    assert flag.startswith(AFTER_RESULTS)


# --- found by a break-test ---------------------------------------------------------------------------------------


def test_an_ordering_is_deterministic_only_when_its_metrics_are():
    rule = {"kind": "ordering", "metrics": ["a", "b"], "order": "increasing"}
    t = target(rule, metric="a,b")
    shifted = runs({"a": 1.0, "b": 2.0}, {"a": 1.1, "b": 2.1})  # identical differences, different metrics
    assert verdict(t, shifted) == "inconclusive"
    assert verdict(t, runs({"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 2.0})) == "consistent"


def test_a_flat_curve_is_not_a_trend(tmp_path):
    t = target({"kind": "trend", "direction": "increasing"}, metric="loss")
    flat = runs({}, {}, {}, curves=[{"loss": [(0, 1.0), (5, 1.0), (9, 1.0)]}] * 3, tmp_path=tmp_path)
    assert verdict(t, flat) == "not_reproduced"


def test_a_curve_too_short_is_inconclusive_not_missing(tmp_path):
    t = target({"kind": "above", "bound": 0.0}, metric="r", curves=("eval/r",), last_k=3)
    short = runs({}, {}, {}, curves=[{"eval/r": [(1, 5.0), (2, 6.0)]}] * 3, tmp_path=tmp_path)
    result = evaluate_target(t, short, "cpu")
    assert result.verdict == "inconclusive" and "needs 3" in result.detail


def test_exact_tolerances_allow_float_rounding():
    t = target({"kind": "within", "abs": 0.1}, paper=1.0)
    assert verdict(t, runs({"err": 1.1}, {"err": 1.1})) == "reproduced"  # |1.1 - 1.0| = 0.10000000000000009
    assert verdict(t, runs({"err": 1.1001}, {"err": 1.1001})) == "not_reproduced"


def test_huge_values_are_inconclusive_not_a_crash():
    t = target({"kind": "below", "bound": 1.0})
    result = evaluate_target(t, runs({"err": 1e308}, {"err": 1.7e308}, {"err": 1.5e308}), "cpu")
    assert result.verdict == "inconclusive" and "too large" in result.detail


def test_no_planning_on_a_target_outside_its_binds_and_none_that_cannot_decide():
    t = target({"kind": "within", "abs": 0.005}, paper=0.0875, not_run=(("cpu", "budget too small: 64k its"),))
    t = Target(**{**t.__dict__, "binds": ("paper",)})
    result = evaluate_target(t, runs({"err": 0.56}, {"err": 0.49}), "cpu")
    assert result.verdict == "not_run" and result.planning == ""
    rule = {"kind": "ordering", "metrics": ["a", "b"], "order": "increasing", "min_effect": 0.5}
    records = runs({"a": 0.0, "b": 0.19}, {"a": 0.0, "b": 0.20}, {"a": 0.0, "b": 0.21})
    assert "no number of seeds" in evaluate_target(target(rule, metric="a,b"), records, "cpu").planning


def test_two_targets_with_one_name_are_an_error(tmp_path):
    path = tmp_path / "claim.yaml"
    row = "  - {metric: e, rule: {kind: below, bound: 1}, binds: [cpu]}\n"
    path.write_text(f"title: t\nclaim: c\nsource: {{paper: p}}\n{REASONS}targets:\n{row}{row}")
    with pytest.raises(ReplicateError, match="share the name"):
        load_claim(path)


def test_a_run_without_a_commit_id_is_unverifiable():
    original = Target(metric="e", rule={"kind": "below", "bound": 1}, binds=("cpu",))
    for commit in (None, "HEAD"):
        records = runs({"e": 0.5}, commit=commit)
        assert registration_flag("demo", original, "cpu", records).startswith(UNVERIFIABLE)


# --- fixes of our code -------------------------------------------------------------------------------------------


def test_runs_from_code_before_a_fix_do_not_count_for_the_targets_it_touched(tmp_path):
    from replicate_suite.report import _evaluate_with_fixes, claims_json, history_rows

    claim_dir = tmp_path / "replications" / "demo"
    claim_dir.mkdir(parents=True)
    buggy, fixed = _buggy_then_fixed(tmp_path, claim_dir / "code.py")
    targets = (
        "  - {metric: err, rule: {kind: below, bound: 1.0}, binds: [cpu]}\n"
        "  - {metric: rand, rule: {kind: below, bound: 1.0}, binds: [cpu]}\n"
    )
    fixes = f"fixes:\n  - {{commit: '{fixed[:7]}', issue: '#1', what: off by one, metrics: ['er*']}}\n"
    head = f"title: t\nclaim: c\nsource: {{paper: p}}\n{REASONS}"
    (claim_dir / "claim.yaml").write_text(f"{head}{fixes}targets:\n{targets}")
    claim = load_claim(claim_dir / "claim.yaml")
    assert claim.fixes[0].commit == fixed[:7] and claim.fixes[0].metrics == ("er*",)

    before = [
        RunRecord(path=Path(f"seed_{r.seed}"), seed=r.seed, metrics=r.metrics, meta=r.meta)
        for r in runs(*[{"err": 5.0, "rand": 0.5}] * 3, commit=buggy)
    ]
    after = runs(*[{"err": 0.5, "rand": 0.5}] * 3, commit=fixed)
    for i, run in enumerate(after):  # seeds 3-5
        after[i] = RunRecord(path=Path(f"seed_{i + 3}"), seed=i + 3, metrics=run.metrics, meta=run.meta)
    unknown = RunRecord(path=Path("seed_9"), seed=9, metrics={"err": 0.5, "rand": 0.5}, meta={
        "status": "ok", "git": {"commit": "f" * 40}})  # fmt: skip
    results, out = _evaluate_with_fixes(claim, before + after + [unknown], "cpu", root=tmp_path)
    err, rand = results
    assert err.verdict == "consistent" and sorted(err.per_seed["err"]) == [3, 4, 5, 9]  # the buggy seeds left out
    assert sorted(rand.per_seed["rand"]) == [0, 1, 2, 3, 4, 5, 9]  # a target the fix did not touch keeps them all
    left = sorted((f.run.seed, f.unknown, tuple(f.targets)) for f in out)
    assert left == [(0, False, ("err",)), (1, False, ("err",)), (2, False, ("err",)), (9, True, ("err",))]
    assert "from code before fix" in out[0].why and "#1: off by one" in out[0].why
    assert f"3 run(s) from code before fix {fixed[:7]} (#1) not counted" in err.detail and "fix" not in rand.detail
    # Without the fix entry the buggy seeds decide it: the verdict the fix entry prevents.
    plain, _ = _evaluate_with_fixes(load_claim_without_fixes(claim), before + after, "cpu", root=tmp_path)
    assert plain[0].verdict != "consistent"

    # claims.json names the left-out runs; the verdict history says why the verdict changed.
    from replicate_suite.report import ReplicationReport, untouched_by_fix

    counted_anyway = untouched_by_fix(claim, before + after + [unknown], results, "cpu", root=tmp_path)
    now = claims_json("cpu", [ReplicationReport(claim, before + after + [unknown], results, [], out, counted_anyway)])
    listed = now["replications"][0]["not_counted"]
    assert [n["seed"] for n in listed] == [0, 1, 2] and all(n["fix"]["commit"] == fixed[:7] for n in listed)
    assert [u["path"].rsplit("/", 1)[1] for u in now["replications"][0]["fix_unverified"]] == ["seed_9"]
    # The buggy seeds still count for the target the fix does not touch: claims.json and the report say so.
    counted = now["replications"][0]["counted_before_fix"]
    assert [(c["seed"], c["targets"]) for c in counted] == [(0, ["rand"]), (1, ["rand"]), (2, ["rand"])]
    assert all(c["fix"]["commit"] == fixed[:7] for c in counted)
    from replicate_suite.report import _fixed_out_lines

    report = ReplicationReport(claim, before + after + [unknown], results, [], out, counted_anyway)
    text = "\n".join(_fixed_out_lines(report, "cpu"))
    assert "**Counted: runs from code before a fix of ours that does not touch their targets.**" in text
    assert (
        f"fix {fixed[:7]} (#1: off by one); it touches er* only; counted for the one judged target it does not touch"
        in text
    )
    assert f"  - seed_0 {buggy[:10]}" in text and "seed_3" not in text.split("**Counted")[1]
    was = claims_json("cpu", [ReplicationReport(load_claim_without_fixes(claim), before + after, plain, [], [])])
    (row,) = [r for r in history_rows(was, now, "2026-11-29") if r["target"].endswith("err")]
    assert row["why"] == f"runs from before fix {fixed[:7]} not counted"


def load_claim_without_fixes(claim):
    import dataclasses

    return dataclasses.replace(claim, fixes=())


def test_a_metric_absent_from_the_runs_a_fix_leaves_stays_metric_absent(monkeypatch):
    """With runs left out for a fix, a target whose name the remaining runs do not report is still metric absent
    (its detail then also says what the fix left out), not "no counted run"."""
    from replicate_suite import report
    from replicate_suite.claim_schema import Claim, Fix
    from replicate_suite.claims import not_run_kind

    monkeypatch.setattr(report, "commit_known", lambda commit, root=None: "yes")
    monkeypatch.setattr(
        report, "fix_state", lambda run, commit, names, root=None: ("no" if run.seed == 0 else "yes", [])
    )
    t = target(
        {"kind": "ordering", "order": "increasing", "metrics": ["train_error", "test_eror"]}, metric="train_error"
    )
    records = runs(*[{"train_error": 0.1, "test_error": 0.5}] * 3)
    claim = Claim("x", "x", "x", {}, (t,), (), (Fix(commit="abcdef1", issue="#1", what="a fault"),))
    (result,), _ = report._evaluate_with_fixes(claim, records, "cpu")
    assert result.verdict == "not_run" and not_run_kind(result) == "metric absent"
    assert "of none of the 2 completed run(s) (seeds 1, 2)" in result.detail
    assert result.detail.endswith("1 run(s) from code before fix abcdef1 (#1) not counted")


def test_an_unpaired_ordering_stays_unpaired_when_a_fix_leaves_runs_out(monkeypatch):
    """The same for an ordering whose metrics no seed of the runs a fix leaves shares: it stays "unpaired" (the
    fix's note appended), not "no counted run"."""
    from replicate_suite import report
    from replicate_suite.claim_schema import Claim, Fix
    from replicate_suite.claims import not_run_kind

    monkeypatch.setattr(report, "commit_known", lambda commit, root=None: "yes")
    monkeypatch.setattr(
        report, "fix_state", lambda run, commit, names, root=None: ("no" if run.seed == 0 else "yes", [])
    )
    t = target({"kind": "ordering", "order": "increasing", "metrics": ["a", "b"]}, metric="a")
    claim = Claim("x", "x", "x", {}, (t,), (), (Fix(commit="abcdef1", issue="#1", what="a fault"),))
    (result,), _ = report._evaluate_with_fixes(claim, runs({"a": 1.0, "b": 2.0}, {"a": 1.0}, {"b": 2.0}), "cpu")
    assert result.verdict == "not_run" and not_run_kind(result) == "unpaired"
    assert (
        result.detail
        == "no seed has every metric of the ordering; 1 run(s) from code before fix abcdef1 (#1) not counted"
    )


@pytest.mark.parametrize(
    "fixes, message",
    [
        ("fixes: {commit: abc1234}\n", "fixes: expected a list"),
        ("fixes:\n  - {commit: XYZ, issue: '#1', what: w}\n", "fixes[0].commit: expected 7 to 40 lowercase hex"),
        ("fixes:\n  - {commit: abc1234, issue: '#1'}\n", "fixes[0].what: expected a non-empty text"),
        ("fixes:\n  - {commit: abc1234, issue: '#1', what: w, when: now}\n", "fixes[0]: unknown key(s) when"),
        ("fixes:\n  - {commit: abc1234, issue: '#1', what: w, metrics: x}\n", "fixes[0].metrics: expected a list"),
        ("fixes:\n  - {commit: abc1234, issue: '#1', what: w, metrics: []}\n", "fixes[0].metrics: empty"),
        ("fixes:\n  - {commit: abc1234, issue: '#1', what: w, metrics: [x*]}\n", "'x*' matches no target's metric"),
        ("fixes:\n  - {commit: 7297161, issue: '#1', what: w}\n", "YAML read it as the number 7297161: quote"),
    ],
)
def test_a_bad_fixes_entry_is_one_error_naming_it(tmp_path, fixes, message):
    path = tmp_path / "demo" / "claim.yaml"
    path.parent.mkdir()
    path.write_text(f"title: t\nclaim: c\nsource: {{paper: p}}\n{REASONS}{fixes}targets:\n"
                    "  - {metric: e, rule: {kind: below, bound: 1.0}, binds: [cpu]}\n")  # fmt: skip
    with pytest.raises(ReplicateError, match=re.escape(message)):
        load_claim(path)


def test_fixes_with_a_commit_missing_from_the_history_or_a_part_without_a_commit(tmp_path):
    """A fix commit a full history lacks is an error (a typo); a part that records no commit is counted, flagged."""
    from replicate_suite.report import _evaluate_with_fixes
    from replicate_suite.results import CurveLog, write_json

    _init_repo(tmp_path)
    (tmp_path / "f").write_text("x")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "fix")
    fixed = _git(tmp_path, "rev-parse", "HEAD")
    head = f"title: t\nclaim: c\nsource: {{paper: p}}\n{REASONS}"
    rule = "  - {metric: d, rule: {kind: ordering, metrics: [a, b], order: increasing}, binds: [cpu]}\n"
    path = tmp_path / "demo" / "claim.yaml"
    path.parent.mkdir()
    path.write_text(f"{head}fixes:\n  - {{commit: '{'0' * 40}', issue: '#2', what: w}}\ntargets:\n{rule}")
    with pytest.raises(ReplicateError, match="is not a commit in this git history"):
        _evaluate_with_fixes(load_claim(path), [], "cpu", root=tmp_path)

    path.write_text(f"{head}fixes:\n  - {{commit: '{fixed[:7]}', issue: '#2', what: w}}\ntargets:\n{rule}")
    records = []
    for seed, commits in enumerate([(fixed, fixed), (fixed, None), (fixed, fixed), (fixed, fixed)]):
        folders = []
        for part, metric, commit in zip(("pa", "pb"), ("a", "b"), commits, strict=True):
            folder = tmp_path / "r" / f"seed_{seed}@{part}"
            folder.mkdir(parents=True)
            write_json(folder / "metrics.json", {metric: 1.0 + seed + (metric == "b")})
            CurveLog().write(folder)
            write_json(folder / "run_meta.json", {"status": "ok", "git": {"commit": commit}})
            folders.append(folder)
        records.append(RunRecord(path=folders[0], seed=seed, metrics={"a": 1.0 + seed, "b": 2.0 + seed},
                                 meta={"status": "ok", "git": {"commit": fixed}}, parts=tuple(folders)))  # fmt: skip
    (result,), out = _evaluate_with_fixes(load_claim(path), records, "cpu", root=tmp_path)
    assert sorted(result.per_seed["a"]) == [0, 1, 2, 3]  # the part without a commit is counted ...
    (flagged,) = out  # ... and flagged, naming the part that has none
    assert flagged.unknown and flagged.run.seed == 1 and "seed_1@pb no commit" in flagged.label


def test_a_target_outside_its_binds_is_shown_on_the_newest_registrations_seeds_only():
    """Two registrations at cpu (seeds 0-1 at one budget, 10-12 at another): a paper-only target without its own
    seeds gives 'the runs at this budget' from seeds 10-12, never from all five pooled."""
    from replicate_suite.claims import Claim

    first = target({"kind": "above", "bound": 0.0}, seeds=(("cpu", (0, 1)),))
    second = target({"kind": "above", "bound": 0.0}, metric="err2", seeds=(("cpu", (10, 11, 12)),))
    paper_only = target({"kind": "above", "bound": 100.0}, binds=("paper",), not_run=(("cpu", "budget too small: 1M"),))
    records = runs(*({"err": v, "err2": v} for v in (1.0, 2.0)))
    for seed, value in zip((10, 11, 12), (50.0, 51.0, 52.0), strict=True):
        records.append(RunRecord(path=Path("."), seed=seed, metrics={"err": value, "err2": value},
                                 meta={"status": "ok", "git": {"commit": "a" * 40}}))  # fmt: skip
    claim = Claim("demo", "t", "c", {"paper": "p"}, (first, second, paper_only), ())
    result = evaluate_claim(claim, records, "cpu")[2]
    assert result.verdict == "not_run" and set(result.per_seed["err"]) == {10, 11, 12}
    assert result.budget_result == "not_reproduced (the newest registration's seeds 10, 11, 12)"
    alone = Claim("demo", "t", "c", {"paper": "p"}, (paper_only,), ())
    assert set(evaluate_claim(alone, records, "cpu")[0].per_seed["err"]) == {0, 1, 10, 11, 12}


def test_registration_groups_split_runs_by_the_seed_sets_targets_name():
    """Reports never pool two registrations: runs split by each target's `seeds` at the runs' profile, in claim.yaml
    order, then the seeds no registration names; one group when no target names seeds."""
    from replicate_suite.claims import Claim, registration_groups

    first = target({"kind": "above", "bound": 0.0}, seeds=(("cpu", (0, 1)),))
    again = target({"kind": "above", "bound": 1.0}, metric="err2", seeds=(("cpu", (0, 1)),))
    second = target({"kind": "above", "bound": 0.0}, metric="err2", seeds=(("cpu", (10, 11)),))
    records = runs(*({"err": v} for v in (1.0, 2.0, 3.0)))
    for seed in (11, 10):
        records.append(RunRecord(path=Path("."), seed=seed, metrics={}, meta={"status": "ok", "profile": "cpu"}))
    groups = registration_groups(Claim("demo", "t", "c", {"paper": "p"}, (first, again, second), ()), records)
    assert [(title, [r.seed for r in group]) for title, group in groups] == [
        ("first registration (seeds 0, 1)", [0, 1]),
        ("second registration (seeds 10, 11)", [11, 10]),
        ("seeds outside the registrations (2)", [2]),
    ]
    plain = registration_groups(
        Claim("demo", "t", "c", {"paper": "p"}, (target({"kind": "above", "bound": 0.0}),), ()), records
    )
    assert [(title, len(group)) for title, group in plain] == [("all runs", 5)]


# --- audit of 2026-12-06: fewer data never strengthen a verdict ----------------------------------------------------


def test_an_all_seeds_ordering_on_too_few_seeds_with_equal_differences_is_inconclusive():
    # the metrics differ between seeds; only their differences happen to match, which is no sign of determinism
    rule = {"kind": "ordering", "metrics": ["a", "b"], "order": "increasing", "all_seeds": True}
    result = evaluate_target(target(rule), runs({"a": 0.5, "b": 1.0}, {"a": 0.75, "b": 1.25}), "cpu")
    assert result.verdict == "inconclusive" and "fewer than min_seeds 3" in result.detail
    same = runs({"a": 0.5, "b": 1.0}, {"a": 0.5, "b": 1.0})  # truly deterministic: exact
    assert verdict(target(rule), same) == "consistent"


def test_an_ordering_step_left_short_of_seeds_stays_in_the_holm_family():
    rule = {"kind": "ordering", "metrics": ["a", "b", "c"], "order": "increasing"}
    a = [5.1, 5.2, 5.3]
    b = [x + d for x, d in zip(a, [-1.0, -1.5, -0.6], strict=True)]  # b - a reversed, raw p = 0.029
    full = runs(*({"a": a[s], "b": b[s], "c": b[s] + 1 + 0.1 * s} for s in range(3)))
    part = runs(*({"a": a[s], "b": b[s], **({"c": b[s] + 1 + 0.1 * s} if s < 2 else {})} for s in range(3)))
    assert verdict(target(rule), full) == "inconclusive"  # Holm over 2 steps: 0.058
    result = evaluate_target(target(rule), part, "cpu")  # less data: c - b has 2 seeds
    assert result.verdict == "inconclusive" and "Holm-adjusted over 2 steps" in result.detail


def test_a_curve_mean_that_overflows_is_inconclusive_not_a_crash(tmp_path):
    points = {"c": [(1, 1.5e308), (2, 1.6e308)]}
    records = runs({}, {}, {}, curves=[points] * 3, tmp_path=tmp_path)
    t = target({"kind": "above", "bound": 1.0}, metric="m", curves=("c",))
    result = evaluate_target(Target(**{**t.__dict__, "last_k": 2}), records, "cpu")
    assert result.verdict == "inconclusive" and "too large" in result.detail
    assert all(not v for v in result.per_seed.values())  # nothing non-finite reaches claims.json


def _diverged_run(root: Path, seed: int, step: int, variant: str | None = None, rep: str = "r") -> Path:
    from replicate_suite.results import run_folder, write_json

    folder = run_folder(root, rep, "cpu", seed, variant)
    folder.mkdir(parents=True)
    write_json(folder / "metrics.json", {"diverged_step": step})
    (folder / "curves.csv").write_text("step,metric,value\n")
    meta = {"replication": rep, "profile": "cpu", "seed": seed, "variant": variant, "status": "diverged"}
    write_json(folder / "run_meta.json", {**meta, "git": {"commit": "abc"}})
    return folder


def _ok_run(root: Path, seed: int, metrics: dict, variant: str | None = None, rep: str = "r") -> Path:
    from replicate_suite.results import run_folder, write_json

    folder = run_folder(root, rep, "cpu", seed, variant)
    folder.mkdir(parents=True)
    write_json(folder / "metrics.json", metrics)
    (folder / "curves.csv").write_text("step,metric,value\n")
    meta = {"replication": rep, "profile": "cpu", "seed": seed, "variant": variant, "status": "ok"}
    write_json(folder / "run_meta.json", {**meta, "git": {"commit": "abc"}})
    return folder


def test_diverged_seeds_are_named_and_a_verdict_on_the_survivors_does_not_hold(tmp_path):
    from replicate_suite.claims import Claim
    from replicate_suite.results import read_runs

    for seed, value in enumerate([0.1, 0.12, 0.11]):
        _ok_run(tmp_path, seed, {"he": value})
    _diverged_run(tmp_path, 3, 17)
    _diverged_run(tmp_path, 4, 5)
    claim = Claim("r", "t", "c", {}, (target({"kind": "below", "bound": 0.5}, "he"),), ())
    (result,) = evaluate_claim(claim, read_runs(tmp_path, "r", "cpu"), "cpu")
    assert result.verdict == "inconclusive"  # consistent on the 3 that did not diverge
    assert "seed(s) [3, 4] diverged (seed_3 at step 17; seed_4 at step 5)" in result.detail
    assert "would overstate" in result.detail


def test_a_diverged_part_leaves_the_seeds_other_parts_counted_and_two_never_conflict(tmp_path):
    from replicate_suite.claims import Claim
    from replicate_suite.results import read_runs

    for seed in range(3):
        _ok_run(tmp_path, seed, {"a": 0.1 + seed / 100}, variant="A")
        _diverged_run(tmp_path, seed, 17 + seed, variant="B")
        _diverged_run(tmp_path, seed, 5, variant="C")  # two diverged parts at other steps: no conflict
    records = read_runs(tmp_path, "r", "cpu")
    assert [r.status for r in records] == ["ok"] * 3
    assert records[0].meta["diverged_parts"] == {"seed_0@B": 17, "seed_0@C": 5}
    targets = [target({"kind": "below", "bound": 0.5}, "a"), target({"kind": "below", "bound": 0.5}, "b")]
    claim = Claim("r", "t", "c", {}, tuple(targets), ())
    on_a, on_b = evaluate_claim(claim, records, "cpu")
    assert on_a.verdict == "consistent" and on_a.summaries["a"].n == 3  # A's metrics still count
    assert on_b.verdict == "inconclusive" and "seed(s) [0, 1, 2] diverged" in on_b.detail  # not 'not run'
    _diverged_run(tmp_path, 5, 9, variant="B")
    _diverged_run(tmp_path, 5, 4, variant="C")
    both = [r for r in read_runs(tmp_path, "r", "cpu") if r.seed == 5]
    assert both[0].status == "diverged" and both[0].metrics == {"diverged_step": 4}


def test_a_run_filed_under_another_profile_or_replication_is_an_error(tmp_path):
    import json

    from replicate_suite.results import read_runs

    folder = _ok_run(tmp_path, 0, {"a": 1.0})
    meta = json.loads((folder / "run_meta.json").read_text())
    (folder / "run_meta.json").write_text(json.dumps({**meta, "profile": "smoke"}))
    with pytest.raises(ReplicateError, match="profile 'smoke' is not the folder's \\(cpu\\)"):
        read_runs(tmp_path, "r", "cpu")
    (folder / "run_meta.json").write_text(json.dumps({**meta, "replication": "other"}))
    with pytest.raises(ReplicateError, match="replication 'other' is not the folder's \\(r\\)"):
        read_runs(tmp_path, "r", "cpu")


def _curve_run(root: Path, seed: int, variant: str, status: str, metrics: dict, curve: dict | None = None) -> None:
    from replicate_suite.results import CurveLog, run_folder, write_json

    folder = run_folder(root, "r", "cpu", seed, variant)
    folder.mkdir(parents=True)
    write_json(folder / "metrics.json", metrics)
    log = CurveLog()
    for name, points in (curve or {}).items():
        for step, value in points:
            log.add(step, **{name: value})
    log.write(folder)
    meta = {"replication": "r", "profile": "cpu", "seed": seed, "variant": variant, "status": status}
    write_json(folder / "run_meta.json", {**meta, "git": {"commit": "abc"}})


def _evaluate(root: Path, *targets: Target, profile: str = "cpu"):
    from replicate_suite.claims import Claim
    from replicate_suite.results import read_runs

    return evaluate_claim(Claim("r", "t", "c", {}, tuple(targets), ()), read_runs(root, "r", profile), profile)


def test_a_diverged_parts_curve_logged_before_it_stopped_is_no_evidence(tmp_path):
    for seed in range(3):
        _curve_run(tmp_path, seed, "A", "ok", {"a": 0.1})
        _curve_run(tmp_path, seed, "B", "diverged", {"diverged_step": 30}, {"loss_B": [(1, 1.0), (2, 0.5), (3, 0.2)]})
    (result,) = _evaluate(tmp_path, target({"kind": "trend", "direction": "decreasing"}, "loss_B"))
    assert result.verdict == "inconclusive" and "seed(s) [0, 1, 2] diverged (seed_0@B at step 30" in result.detail


def test_a_divergence_in_one_variant_does_not_hold_back_a_target_of_another(tmp_path):
    for seed in range(3):
        _curve_run(tmp_path, seed, "A", "ok", {"a": 0.1})
        _curve_run(tmp_path, seed, "B", "ok", {"b": 0.1 + seed / 100})
    _curve_run(tmp_path, 3, "A", "diverged", {"diverged_step": 4})  # seed 3 never ran B
    on_b, on_a = _evaluate(
        tmp_path, target({"kind": "below", "bound": 0.5}, "b"), target({"kind": "below", "bound": 0.5}, "a")
    )
    assert on_b.verdict == "consistent" and "diverged" not in on_b.detail
    assert on_a.verdict == "inconclusive" and "seed(s) [3] diverged (seed_3@A at step 4)" in on_a.detail


def test_a_divergence_leaves_an_absent_metric_absent_and_a_budget_result_says_it(tmp_path):
    for seed in range(3):
        _ok_run(tmp_path, seed, {"test_error": 0.1 + seed / 100})
    _diverged_run(tmp_path, 3, 7)
    typo, unbound = _evaluate(
        tmp_path,
        target({"kind": "below", "bound": 0.5}, "test_eror"),
        target({"kind": "below", "bound": 0.5}, "test_error", binds=("paper",), not_run={"cpu": "budget too small: x"}),
    )
    assert typo.verdict == "not_run" and typo.detail.startswith("metric absent")
    assert (
        unbound.verdict == "not_run"
        and unbound.budget_result == "inconclusive (seed(s) [3] diverged before reporting it)"
    )


def test_a_failed_part_is_not_hidden_behind_a_diverged_one_and_overflowing_differences_do_not_crash(tmp_path):
    from replicate_suite.results import read_runs

    _curve_run(tmp_path, 0, "A", "ok", {"a": 0.1})
    _curve_run(tmp_path, 0, "B", "diverged", {})  # no step recorded
    _curve_run(tmp_path, 0, "C", "failed", {})
    (record,) = read_runs(tmp_path, "r", "cpu")
    assert record.status == "failed" and record.meta["diverged_parts"] == {"seed_0@B": None}
    rule = {"kind": "ordering", "metrics": ["a", "b"], "order": "increasing"}
    result = evaluate_target(target(rule), runs(*[{"a": -1e308, "b": 1e308}] * 3), "cpu")
    assert result.verdict == "inconclusive" and "too large" in result.detail


def test_a_diverged_run_from_code_before_a_fix_of_its_target_does_not_hold_the_target_back(tmp_path):
    """A divergence is evidence only from code that a fix of the target did not replace: one from before the fix
    (git ancestry) is dropped as an ok run from then would be, one from after it holds the verdict back."""
    from replicate_suite.claim_schema import Fix
    from replicate_suite.claims import Claim
    from replicate_suite.report import _evaluate_with_fixes
    from replicate_suite.results import read_runs, write_json

    repo = tmp_path / "repo"
    repo.mkdir()
    buggy, fixed = _buggy_then_fixed(repo, repo / "code.py")

    results = tmp_path / "results"
    for seed, value in enumerate([0.1, 0.12, 0.11]):
        write_json(_ok_run(results, seed, {"he": value}) / "run_meta.json", {
            "replication": "r", "profile": "cpu", "seed": seed, "status": "ok", "git": {"commit": fixed}})  # fmt: skip
    stopped = _diverged_run(results, 3, 17)
    claim = Claim("r", "t", "c", {}, (target({"kind": "below", "bound": 0.5}, "he"),), (), (Fix(fixed, "#1", "w"),))

    def judged(commit: str):
        meta = {"replication": "r", "profile": "cpu", "seed": 3, "status": "diverged", "git": {"commit": commit}}
        write_json(stopped / "run_meta.json", meta)
        (result,), _ = _evaluate_with_fixes(claim, read_runs(results, "r", "cpu"), "cpu", root=repo)
        return result

    before = judged(buggy)
    assert before.verdict == "consistent" and "diverged" not in before.detail
    after = judged(fixed)
    assert after.verdict == "inconclusive" and "seed(s) [3] diverged (seed_3 at step 17)" in after.detail
