"""The files dvc.yaml's top-level `metrics:` and `plots:` read, written by `replicate report` beside comparison.md:

- reports/<profile>/metrics/<id>.json: how many runs count and how many targets got each verdict (flat, so
  `dvc metrics show` is one row per replication and `dvc metrics diff` names a verdict count that moved);
- reports/<profile>/curves/<id>.csv: the curves the figures draw (ReplicationReport.drawn_runs: counted runs, less
  the parts a fix of ours left out) in long format, `run,step,metric,value` (run: the run folder's name), drawn by
  .dvc/plots/long_curves.json as one panel per metric and one line per run.

Run folders are stage outputs already, and DVC reads no globs, so the views are collected here, per profile.
"""

from __future__ import annotations

import csv
from pathlib import Path

from replicate_suite.claims import VERDICTS, counted_runs
from replicate_suite.results import CURVES_FILE, read_curve_file, write_json

METRICS_DIR = "metrics"
CURVES_DIR = "curves"
CURVE_COLUMNS = ("run", "step", "metric", "value")


def write_dvc_views(reports: list, folder: Path) -> None:
    """Write metrics/<id>.json and curves/<id>.csv into folder (a report being built) for each ReplicationReport;
    a replication without runs gets its metrics file (zero runs) and no curves file."""
    (folder / METRICS_DIR).mkdir()
    (folder / CURVES_DIR).mkdir()
    for rep in reports:
        rid = rep.claim.replication
        counts = {v: sum(r.verdict == v for r in rep.targets) for v in VERDICTS}
        counted = counted_runs(rep.runs)  # not a failed, diverged or tuning run
        write_json(folder / METRICS_DIR / f"{rid}.json", {"runs": len(counted), **counts})
        rows = []
        for run in rep.drawn_runs():  # as the figures: nor a part whose code a fix of ours left out
            stopped = run.meta.get("diverged_parts") or {}  # a diverged part's curve is no evidence
            for part in (p for p in run.parts if p.name not in stopped) if run.parts else (run.path,):
                points = read_curve_file(part / CURVES_FILE)[0] if run.parts else run.read_curves()
                rows += [(part.name, p["step"], p["metric"], repr(p["value"])) for p in points]
        if rows:
            with open(folder / CURVES_DIR / f"{rid}.csv", "w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(CURVE_COLUMNS)
                writer.writerows(rows)
