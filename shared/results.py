"""One run's files: metrics.json (flat, finite numbers), curves.csv (long format step,metric,value), run_meta.json."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.errors import ReplicateError

METRICS_FILE = "metrics.json"
CURVES_FILE = "curves.csv"
META_FILE = "run_meta.json"
RUN_FILES = (METRICS_FILE, CURVES_FILE, META_FILE)
CURVE_COLUMNS = ("step", "metric", "value")


@dataclass
class CurveLog:
    """Learning curves collected during a run, one (step, metric, value) row per point."""

    rows: list[tuple[int, str, float]] = field(default_factory=list)

    def add(self, step: int, **values: float) -> None:
        """Record one or more metrics at a training step (steps count parameter updates)."""
        for name, value in values.items():
            self.rows.append((int(step), name, float(value)))

    def write(self, folder: Path) -> None:
        """Write curves.csv in long format."""
        with open(folder / CURVES_FILE, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(CURVE_COLUMNS)
            writer.writerows((s, m, repr(v)) for s, m, v in self.rows)


def check_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Metrics are flat names to finite plain numbers; anything else is a bug in the replication."""
    clean = {}
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
            raise ReplicateError(f"metric {name!r} is not a number: {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise ReplicateError(f"metric {name!r} is not finite: {number}")
        clean[name] = int(value) if isinstance(value, int) else number
    return clean


def write_json(path: Path, payload: Any) -> None:
    """JSON with sorted keys and no NaN (NaN would be invalid JSON)."""
    with open(path, "w") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True, allow_nan=False)
        handle.write("\n")


def read_json(path: Path) -> Any:
    """Read a JSON file."""
    with open(path) as handle:
        return json.load(handle)


@dataclass(frozen=True)
class RunRecord:
    """A completed run folder as read back: its metrics, meta and path."""

    path: Path
    seed: int
    metrics: dict[str, float]
    meta: dict[str, Any]

    @property
    def status(self) -> str:
        return self.meta.get("status", "unknown")

    def read_curves(self) -> list[dict[str, Any]]:
        """curves.csv rows as dicts with step (int), metric (str), value (float)."""
        with open(self.path / CURVES_FILE, newline="") as handle:
            return [
                {"step": int(r["step"]), "metric": r["metric"], "value": float(r["value"])}
                for r in csv.DictReader(handle)
            ]


def run_folder(results_root: Path, replication_id: str, profile: str, seed: int) -> Path:
    """results/<id>/<profile>/seed_<n>/."""
    return results_root / replication_id / profile / f"seed_{seed}"


def read_runs(results_root: Path, replication_id: str, profile: str) -> list[RunRecord]:
    """Every complete run folder (all three files present) for a replication and profile, by seed."""
    folder = results_root / replication_id / profile
    records = []
    for path in sorted(folder.glob("seed_*")):
        if not all((path / name).is_file() for name in RUN_FILES):
            continue
        records.append(
            RunRecord(
                path=path,
                seed=int(path.name.removeprefix("seed_")),
                metrics=read_json(path / METRICS_FILE),
                meta=read_json(path / META_FILE),
            )
        )
    return sorted(records, key=lambda r: r.seed)
