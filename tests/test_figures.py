"""The report's figures say what they show: which line a paper value belongs to, how many seeds a line averages,
a line's colour by its name, a zoom where lines end close (log axes too), and only runs a verdict may use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from replicate_suite import figures
from replicate_suite.claim_schema import Target
from replicate_suite.results import RunRecord


def _run(seed: int, rows: list[tuple[int, str, float]], **meta) -> RunRecord:
    curves = tuple({"step": s, "metric": m, "value": v} for s, m, v in rows)
    return RunRecord(Path(f"/r/seed_{seed}"), seed, {}, {"status": "ok", **meta}, (), (), curves)


@pytest.fixture
def drawn(monkeypatch):
    """The figures plot_curves would save, kept open for inspection."""
    kept = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: kept.append(fig))
    return kept


def test_a_paper_value_names_its_line_and_whether_it_is_judged_at_this_budget():
    t = Target(metric="test_error_dropout", rule={"kind": "below", "bound": 1.0}, binds=("paper",), paper=0.0125)
    refs = figures.references_for([t], ["test_error"], {"test_error": ["dropout", "standard"]}, frozenset([t.name]))
    assert [r.label for r in refs] == ["paper 0.0125 (dropout; not judged at this budget)"]
    assert [r.label for r in figures.references_for([t], ["test_error"], {"test_error": ["dropout"]})] == [
        "paper 0.0125 (dropout)"
    ]


def test_a_line_keeps_its_colour_whatever_order_the_runs_list_it(drawn, tmp_path):
    def colour_of(rows_order):
        rows = [(step, f"err/{name}", value) for name, value in rows_order for step in (1, 2)]
        runs = [_run(s, rows) for s in (0, 1)]
        assert figures.plot_curves("t", runs, [], tmp_path / "f.png")
        ax = drawn[-1].axes[0]
        return {tuple(line.get_ydata()): line.get_color() for line in ax.get_lines() if len(line.get_ydata()) == 2}

    assert colour_of([("a", 1.0), ("b", 5.0)]) == colour_of([("b", 5.0), ("a", 1.0)])


def test_lines_that_end_close_get_a_zoom_also_on_a_log_axis(drawn, tmp_path):
    steps = range(0, 100, 10)
    runs = [
        _run(s, [(k, f"err/{name}", 1.0 / (1 + k) + end) for k in steps for name, end in (("a", 0.010), ("b", 0.011))])
        for s in (0, 1)
    ]
    assert figures.plot_curves("t", runs, [], tmp_path / "f.png")
    ax = drawn[-1].axes[0]
    assert ax.get_yscale() == "log"
    assert any(child.get_title() == "last third, zoomed" for child in ax.child_axes)


def test_the_title_counts_the_seeds_of_each_line(drawn, tmp_path):
    runs = [_run(s, [(1, "acc/first", 0.5), (2, "acc/first", 0.6)]) for s in (0, 1, 2)]
    runs += [_run(s, [(1, "acc/second", 0.5), (2, "acc/second", 0.6)]) for s in (10, 11, 12)]
    assert figures.plot_curves("t", runs, [], tmp_path / "f.png")
    assert "(3 seeds per line;" in drawn[-1]._suptitle.get_text()
    assert figures.plot_curves("t", runs[:3], [], tmp_path / "f.png")
    assert "(3 seeds;" in drawn[-1]._suptitle.get_text()


def test_figures_draw_only_the_runs_a_verdict_may_use(monkeypatch, tmp_path):
    from replicate_suite import report
    from replicate_suite.claim_schema import Claim
    from replicate_suite.report import ReplicationReport

    seen = []
    monkeypatch.setattr(report, "plot_curves", lambda title, runs, *a, **k: seen.append(sorted(r.seed for r in runs)))
    rows = [(1, "err", 0.5), (2, "err", 0.4)]
    runs = [_run(0, rows), _run(1, rows, status="diverged"), _run(2, rows, purpose="tuning"), _run(3, rows)]
    claim = Claim("lenet5_mnist", "t", "c", {"paper": "p"}, (), ())
    report._draw_figures([ReplicationReport(claim, runs, [])], tmp_path)
    assert seen == [[0, 3]]


def test_fig2_of_double_dqn_averages_only_the_seeds_that_ran_it(drawn, monkeypatch, tmp_path):
    """Seeds 3-4 ran only the Asterix parts: the legend's 'ours' read +nan when they were averaged in."""
    from replicate_suite.paths import results_dir
    from replicate_suite.report import _replication_report_module
    from replicate_suite.results import read_runs

    module = _replication_report_module("double_dqn_overestimation")
    monkeypatch.setattr(module, "save_figure", lambda fig, path: drawn.append(fig))
    runs = read_runs(results_dir(), "double_dqn_overestimation", "cpu")
    assert {r.seed for r in runs if "fig2_single_bias_sin_d6" not in r.metrics}  # the case: some seeds lack it
    module.figures(runs, tmp_path)
    labels = [t.get_text() for fig in drawn for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    ours = [label for label in labels if "ours" in label]
    assert ours and not any("nan" in label for label in ours)
    expected = np.mean([r.metrics["fig2_single_bias_sin_d6"] for r in runs if "fig2_single_bias_sin_d6" in r.metrics])
    assert f"max: ours {expected:+.2f}" in ours[0]


def test_a_part_a_fix_of_ours_leaves_out_is_not_drawn(tmp_path):
    """At 992a448 batchnorm's own_lr part (code before fix d5baa0d) counted for no target its fix touched, yet its
    faulty batch-statistics curves were drawn and in the DVC curves view. A left-out part is not drawn now; the
    seed's other parts are, with their own metrics."""
    from replicate_suite.claim_schema import Claim, Fix
    from replicate_suite.report import FixedOut, ReplicationReport
    from replicate_suite.results import read_runs, write_json

    for variant, name in (("a", "fixed_metric"), ("b", "other_metric")):
        folder = tmp_path / "demo" / "cpu" / f"seed_0@{variant}"
        folder.mkdir(parents=True)
        meta = {"replication": "demo", "profile": "cpu", "seed": 0, "variant": variant, "status": "ok",
                "git": {"commit": "a" * 40}}  # fmt: skip
        write_json(folder / "run_meta.json", meta)
        write_json(folder / "metrics.json", {name: 1.0})
        (folder / "curves.csv").write_text(f"step,metric,value\n1,{name},0.5\n2,{name},0.4\n")
    (run,) = read_runs(tmp_path, "demo", "cpu")
    fix = Fix("b" * 7, "#1", "w", ("fixed_*",))
    claim = Claim("demo", "t", "c", {"paper": "p"}, (), (), (fix,))
    out = FixedOut(run, fix, ["fixed"], parts=[f"seed_0@a {'a' * 10}"])
    (drawn,) = ReplicationReport(claim, [run], [], [], [out]).drawn_runs()
    assert [p.name for p in drawn.parts] == ["seed_0@b"] and set(drawn.metrics) == {"other_metric"}
    assert {row["metric"] for row in drawn.read_curves()} == {"other_metric"}
    assert ReplicationReport(claim, [run], [], [], [FixedOut(run, fix, ["x"], unknown=True)]).drawn_runs() == [run]


def test_the_inset_and_the_legend_keep_each_lines_panel_colour(drawn, tmp_path):
    """A line that ends before the last third is not in the inset; the lines after it kept shifting one colour (c in
    b's orange). Beyond 10 lines the legend cycled the default palette while seaborn drew husl."""
    steps = range(0, 100, 10)
    rows = [(k, "err/a", 1.0 / (1 + k) + 0.010) for k in steps] + [(k, "err/c", 1.0 / (1 + k) + 0.011) for k in steps]
    rows += [(k, "err/b", 0.0215) for k in range(0, 40, 10)]  # b ends early (and close to a and c)
    assert figures.plot_curves("t", [_run(s, rows) for s in (0, 1)], [], tmp_path / "f.png")
    ax = drawn[-1].axes[0]
    (inset,) = ax.child_axes

    def colour_of(axes, last):
        return next(line.get_color() for line in axes.get_lines() if len(line.get_ydata()) and
                    abs(line.get_ydata()[-1] - last) < 1e-9)  # fmt: skip

    assert colour_of(inset, 1.0 / 91 + 0.011) == colour_of(ax, 1.0 / 91 + 0.011)  # c: one colour in inset and panel
    many = [_run(0, [(k, f"m/l{i:02d}", float(i)) for i in range(12) for k in (1, 2)])]
    assert figures.plot_curves("t", many, [], tmp_path / "g.png")
    legend = drawn[-1].axes[0].get_legend()
    drawn_colours = {tuple(line.get_color()) for line in drawn[-1].axes[0].get_lines() if len(line.get_ydata()) == 2}
    assert {tuple(handle.get_color()) for handle in legend.legend_handles[:12]} == drawn_colours
