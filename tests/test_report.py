"""Reports: comparison.md, claims.json and figures from run folders; the README's table matches the results."""

from __future__ import annotations

import json

from shared.cli import main
from shared.paths import PROJECT_ROOT, results_dir
from shared.report import README_BEGIN, README_END, evaluate, readme_table


def test_report_from_smoke_runs(tiny_mnist, tmp_path):
    results, reports = tmp_path / "results", tmp_path / "reports"
    assert main(["run", "lenet5_mnist", "--profile", "smoke", "--seeds", "0-1", "--out", str(results)]) == 0
    assert main(["report", "--profile", "smoke", "--results", str(results), "--reports", str(reports)]) == 0
    md = (reports / "smoke" / "comparison.md").read_text()
    assert "| lenet5_mnist | trainable parameters of C1..F6 | 60,000 | 60,000 ± 0 (n=2, range 60,000–60,000)" in md
    assert "**reproduced**" in md and "synthetic test fixture" in md
    claims = json.loads((reports / "smoke" / "claims.json").read_text())
    rep = next(r for r in claims["replications"] if r["id"] == "lenet5_mnist")
    assert rep["verdict"] == "reproduced" and [r["seed"] for r in rep["runs"]] == [0, 1]
    assert (reports / "smoke" / "figures" / "lenet5_mnist_curves.png").stat().st_size > 10_000


def test_readme_claims_table_matches_committed_results():
    text = (PROJECT_ROOT / "README.md").read_text()
    block = text.split(README_BEGIN, 1)[1].split(README_END, 1)[0].strip()
    expected = readme_table("cpu", evaluate("cpu", results_dir())).strip()
    assert block == expected, "README claims table is stale: run `replicate report --profile cpu --readme README.md`"
