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
    """A completed run of one seed as read back: its metrics, meta and folder. A seed run as separate variant runs
    (`seed_<n>@<variant>` folders, e.g. one Atari game each) is read back as one record: metrics united, curves
    concatenated, `parts` listing the folders."""

    path: Path
    seed: int
    metrics: dict[str, float]
    meta: dict[str, Any]
    parts: tuple[Path, ...] = ()

    @property
    def status(self) -> str:
        return self.meta.get("status", "unknown")

    def read_curves(self) -> list[dict[str, Any]]:
        """curves.csv rows as dicts with step (int), metric (str), value (float)."""
        rows = []
        for folder in self.parts or (self.path,):
            with open(folder / CURVES_FILE, newline="") as handle:
                rows += [
                    {"step": int(r["step"]), "metric": r["metric"], "value": float(r["value"])}
                    for r in csv.DictReader(handle)
                ]
        return rows


def run_folder(results_root: Path, replication_id: str, profile: str, seed: int, variant: str | None = None) -> Path:
    """results/<id>/<profile>/seed_<n>/, or seed_<n>@<variant>/ for a run of one variant."""
    return results_root / replication_id / profile / (f"seed_{seed}@{variant}" if variant else f"seed_{seed}")


def _merge(seed: int, folders: list[Path]) -> RunRecord:
    """One record from the variant folders of a seed; a metric measured twice must agree (e.g. a Random row that
    every game's run computes with the same seed)."""
    metrics: dict[str, float] = {}
    metas = [read_json(f / META_FILE) for f in folders]
    for folder in folders:
        for name, value in read_json(folder / METRICS_FILE).items():
            if name in metrics and metrics[name] != value:
                raise ReplicateError(f"{folder}: metric {name} = {value} conflicts with another part of seed {seed}")
            metrics[name] = value
    statuses = {m.get("status") for m in metas}
    meta = {
        **metas[0],
        "status": "ok" if statuses == {"ok"} else sorted(statuses - {"ok"})[0],
        "wall_seconds": sum(m.get("wall_seconds", 0.0) for m in metas),
        "variants": [m.get("variant") for m in metas],
        "parts": [f.name for f in folders],
    }
    return RunRecord(path=folders[0], seed=seed, metrics=metrics, meta=meta, parts=tuple(folders))


def read_runs(results_root: Path, replication_id: str, profile: str) -> list[RunRecord]:
    """Every complete run folder (all three files present) for a replication and profile, by seed."""
    folder = results_root / replication_id / profile
    by_seed: dict[int, list[Path]] = {}
    for path in sorted(folder.glob("seed_*")):
        seed_text = path.name.removeprefix("seed_").split("@", 1)[0]
        if not seed_text.isdigit() or not all((path / name).is_file() for name in RUN_FILES):
            continue
        by_seed.setdefault(int(seed_text), []).append(path)
    records = []
    for seed, paths in sorted(by_seed.items()):
        if len(paths) == 1:
            path = paths[0]
            records.append(RunRecord(path, seed, read_json(path / METRICS_FILE), read_json(path / META_FILE)))
        else:
            records.append(_merge(seed, paths))
    return records
