"""One run's files: metrics.json (flat, finite numbers), curves.csv (long format step,metric,value), run_meta.json."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from replicate_suite.errors import ReplicateError, brief

METRICS_FILE = "metrics.json"
CURVES_FILE = "curves.csv"
META_FILE = "run_meta.json"
RUN_FILES = (METRICS_FILE, CURVES_FILE, META_FILE)
CURVE_COLUMNS = ("step", "metric", "value")
TIMING = re.compile(r"(^|_)(seconds|per_second)(_|$)")
"""Metric names that are wall-clock measurements (train_seconds_Pong, train_images_per_second_resnet20): they differ
between two runs of the same seed, so they are kept in run_meta's `measured`, never in metrics.json."""
PURPOSES = ("final", "tuning")
"""run_meta's `purpose`: a `final` run may evaluate the test set and counts toward verdicts; a `tuning` run (a config
with data.validation_holdout > 0) scores held-out training data only, never evaluates the test set and never counts
toward a verdict. A run_meta without the field predates it and is `final` (tuning runs were then never written to
results/)."""
TEST_SET_NAME = re.compile(r"(^|[_/])test($|[_/])")
"""Metric and curve names that report on the test set (test_error, test_accuracy/baseline, sigmoid_input_test_...)."""


def names_on_test_set(names: Iterable[str]) -> list[str]:
    """The names among `names` that report on the test set, sorted (a tuning run must have none)."""
    return sorted({name for name in names if TEST_SET_NAME.search(name)})


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


def split_timings(metrics: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metrics without wall-clock timings, the timings), so metrics.json is byte-identical for the same seed."""
    timings = {name: value for name, value in metrics.items() if TIMING.search(name)}
    return {name: value for name, value in metrics.items() if name not in timings}, timings


def write_json(path: Path, payload: Any) -> None:
    """JSON with sorted keys and no NaN (NaN would be invalid JSON)."""
    with open(path, "w") as handle:
        json.dump(payload, handle, indent=2, sort_keys=True, allow_nan=False)
        handle.write("\n")


def read_json(path: Path) -> Any:
    """Read a JSON file; a file that cannot be read or parsed is a ReplicateError naming it and the problem."""
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise ReplicateError(f"{path}: damaged (not UTF-8 text)") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        problem = "empty" if not text.strip() else f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        raise ReplicateError(f"{path}: {problem}; restore it from git or run that seed again") from None


def read_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold an object (metrics.json, run_meta.json)."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise ReplicateError(f"{path}: expected a JSON object, got {type(data).__name__} {brief(data)}")
    return data


def read_metrics(path: Path) -> tuple[dict[str, float], list[str]]:
    """metrics.json as (the finite metrics, problems): a value that is not a number is an error; a NaN or infinite
    one is left out and named in the problems (the run then reads as `invalid`, never a NaN in a report)."""
    metrics, problems = {}, []
    for name, value in read_object(path).items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ReplicateError(f"{path}: metric {name!r} is not a number: {brief(value)}")
        if math.isfinite(value):
            metrics[name] = value
        else:
            problems.append(f"{path.name}: {name} is {value}")
    return metrics, problems


def read_curve_file(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """curves.csv as (rows with step (int), metric (str), value (float), problems): a malformed row is an error
    naming the line; a non-finite value is left out and named in the problems."""
    rows, problems = [], []
    try:
        with open(path, newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or tuple(header) != CURVE_COLUMNS:
                raise ReplicateError(f"{path}: header {brief(header)} is not {','.join(CURVE_COLUMNS)}")
            for row in reader:
                try:
                    step, metric, text = row
                    value = float(text)
                    rows.append({"step": int(step), "metric": metric, "value": value})
                except ValueError:
                    raise ReplicateError(
                        f"{path}: line {reader.line_num}: expected step,metric,value, got {brief(','.join(row))}"
                    ) from None
                if not math.isfinite(value):
                    rows.pop()
                    problems.append(f"{path.name}: line {reader.line_num}: {metric} is {value}")
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ReplicateError(f"{path}: damaged ({exc})") from None
    return rows, problems


@dataclass(frozen=True)
class RunRecord:
    """A completed run of one seed as read back: its metrics, meta and folder. A seed run as separate variant runs
    (`seed_<n>@<variant>` folders, e.g. one Atari game each) is read back as one record: metrics united, curves
    concatenated, `parts` listing the folders. `problems` names non-finite values found on reading (left out of
    metrics and curves); a run with problems reads as status `invalid` and takes no part in a verdict."""

    path: Path
    seed: int
    metrics: dict[str, float]
    meta: dict[str, Any]
    parts: tuple[Path, ...] = ()
    problems: tuple[str, ...] = ()
    curves: tuple[dict[str, Any], ...] | None = field(default=None, repr=False, compare=False)

    @property
    def purpose(self) -> str:
        """`final` or `tuning` (PURPOSES); validated on reading."""
        return str(self.meta.get("purpose") or "final")

    @property
    def status(self) -> str:
        status = str(self.meta.get("status", "unknown"))
        return "invalid" if self.problems and status == "ok" else status

    def read_curves(self) -> list[dict[str, Any]]:
        """curves.csv rows as dicts with step (int), metric (str), value (float)."""
        if self.curves is not None:
            return [dict(row) for row in self.curves]
        rows = []
        for folder in self.parts or (self.path,):
            rows += read_curve_file(folder / CURVES_FILE)[0]
        return rows


def run_folder(results_root: Path, replication_id: str, profile: str, seed: int, variant: str | None = None) -> Path:
    """results/<id>/<profile>/seed_<n>/, or seed_<n>@<variant>/ for a run of one variant."""
    return results_root / replication_id / profile / (f"seed_{seed}@{variant}" if variant else f"seed_{seed}")


def has_run_files(folder: Path) -> bool:
    """A run folder holding all three files (the runner only renames complete folders into place)."""
    return all((folder / name).is_file() for name in RUN_FILES)


_META_TYPES: dict[str, tuple[type, ...]] = {
    "status": (str,),
    "budget": (str,),
    "git": (dict,),
    "data": (dict,),
    "wall_seconds": (int, float),
    "measured": (dict,),
    "segments": (list,),
    "started": (str,),
    "purpose": (str,),
    "overrides": (dict,),
}


RUN_STATUSES = ("ok", "diverged", "failed")
"""A run folder's status: ok and diverged are what the runner writes; failed is DESIGN.md's third (a run that
raises leaves no folder here, but one recorded elsewhere as failed is read as such and never counted)."""


def _check_meta(meta: dict[str, Any], path: Path) -> None:
    """The run_meta fields reports read have the types the runner writes, a status it writes, and the seed of the
    folder's name; anything else is one error naming it (a run_meta without its status would drop the seed from
    every verdict without a word)."""
    for key, types in _META_TYPES.items():
        value = meta.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
            raise ReplicateError(f"{path}: {key} is not a {types[0].__name__}: {brief(value)}")
    if meta.get("status") not in RUN_STATUSES:
        raise ReplicateError(
            f"{path}: status is {brief(meta.get('status'))}, not one of {', '.join(RUN_STATUSES)}: the file is "
            "damaged: restore it from git, or delete the folder and run that seed again"
        )
    wall = meta.get("wall_seconds")
    if wall is not None and not math.isfinite(wall):
        raise ReplicateError(f"{path}: wall_seconds is not a finite number: {brief(wall)}")
    seed = path.parent.name.removeprefix("seed_").split("@", 1)[0]
    if "seed" in meta and (type(meta["seed"]) is not int or meta["seed"] != (int(seed) if seed.isdigit() else seed)):
        raise ReplicateError(f"{path}: seed {brief(meta['seed'])} is not the folder's ({path.parent.name})")
    # results/<id>/<profile>/seed_<n>/: a run filed under another profile or replication would count there
    for key, folder in (("profile", path.parent.parent), ("replication", path.parent.parent.parent)):
        if key in meta and meta[key] != folder.name:
            raise ReplicateError(
                f"{path}: {key} {brief(meta[key])} is not the folder's ({folder.name}): the run belongs elsewhere; "
                "move it to its own folder or delete it"
            )
    git, data = meta.get("git") or {}, meta.get("data") or {}
    if not isinstance(git.get("commit", ""), str | None):
        raise ReplicateError(f"{path}: git.commit is not a string: {brief(git['commit'])}")
    for name, entry in data.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("variant", ""), str):
            raise ReplicateError(f"{path}: data.{name} is not a mapping with a variant: {brief(entry)}")
    if meta.get("purpose") is not None and meta["purpose"] not in PURPOSES:
        raise ReplicateError(f"{path}: purpose is not one of {', '.join(PURPOSES)}: {brief(meta['purpose'])}")


def _read_part(folder: Path) -> tuple[dict[str, float], dict[str, Any], list[dict[str, Any]], list[str]]:
    """One run folder, validated: (metrics, meta, curves, problems). Timings in an older metrics.json move to meta."""
    metrics, problems = read_metrics(folder / METRICS_FILE)
    meta = read_object(folder / META_FILE)
    _check_meta(meta, folder / META_FILE)
    curves, curve_problems = read_curve_file(folder / CURVES_FILE)
    if meta.get("purpose") == "tuning":
        leaked = names_on_test_set([*metrics, *(row["metric"] for row in curves)])
        if leaked:
            raise ReplicateError(
                f"{folder}: a tuning run holds test-set values ({', '.join(leaked[:5])}); a tuning run never "
                "evaluates the test set: delete this folder"
            )
    metrics, timings = split_timings(metrics)
    if timings:
        meta = {**meta, "measured": {**meta.get("measured", {}), **timings}}
    return metrics, meta, curves, [f"{folder.name}/{p}" for p in problems + curve_problems]


def total_wall_seconds(meta: dict[str, Any]) -> tuple[float, bool]:
    """(the run's wall seconds over all its segments, whether that is complete). Since 2026-12-04 every segment
    records its own duration and `wall_seconds` is their sum; a resumed run from before then (or one whose earlier
    segment was killed outright) knows only its last segment: the total is then a lower bound (False)."""
    wall = float(meta.get("wall_seconds") or 0.0)
    segments = meta.get("segments") or []
    earlier = segments[:-1]
    return wall, all(isinstance(s, dict) and "wall_seconds" in s for s in earlier)


def commit_text(git: dict[str, Any]) -> str:
    """A run_meta `git` entry (or a segment) as "<first 10 hex digits>[+dirty]"."""
    return str(git.get("commit", "?"))[:10] + ("+dirty" if git.get("dirty") else "")


def part_info(meta: dict[str, Any]) -> dict[str, Any]:
    """What a report needs of one run folder's meta: wall seconds over its segments and whether that total is
    complete (total_wall_seconds), every commit its segments ran (in order, without repeats), its device and platform
    (two machines with one CPU model differ there), and
    a key of its resolved config (parts of one seed, or seeds of two registrations, can differ in budget)."""
    wall, complete = total_wall_seconds(meta)
    gits = [s for s in meta.get("segments") or [] if isinstance(s, dict)] or [meta.get("git") or {}]
    commits = list(dict.fromkeys(commit_text(git) for git in gits))  # in order, without repeats
    dirty_files = sorted({str(f) for git in gits for f in git.get("dirty_files") or []})
    config = json.dumps(meta.get("config"), sort_keys=True, default=str)
    return {
        "wall_seconds": wall,
        "wall_complete": complete,
        "commits": commits,
        "dirty_files": dirty_files,
        "device": str(meta.get("device", "?")),
        "platform": str(meta.get("platform", "?")),
        "config_key": hashlib.sha256(config.encode()).hexdigest()[:12],
    }


def diverged_text(folder: str, step: int | None) -> str:
    """A diverged part as reports name it: "seed_3@xavier_d30 at step 17" (step None: not recorded)."""
    return f"{folder} at step {step}" if step is not None else f"{folder} at an unknown step"


def _reported(metrics: dict[str, float], curves: list[dict[str, Any]]) -> list[str]:
    """The metric and curve names a run folder reported (meta part_names: which part reports what)."""
    return sorted(set(metrics) | {row["metric"] for row in curves})


def _merge(seed: int, folders: list[Path]) -> RunRecord:
    """One record from the variant folders of a seed; a metric measured twice must agree (e.g. a Random row that
    every game's run computes with the same seed). meta["part_info"] holds each folder's part_info."""
    if len(folders) == 1:
        metrics, meta, curves, problems = _read_part(folders[0])
        names = {folders[0].name: _reported(metrics, curves)} if meta.get("status") == "ok" else {}
        meta = {**meta, "part_info": {folders[0].name: part_info(meta)}, "part_names": names}
        return RunRecord(folders[0], seed, metrics, meta, (), tuple(problems), tuple(curves))
    metrics: dict[str, float] = {}
    metas, curves, problems = [], [], []
    diverged: dict[str, int | None] = {}  # part folder -> the step its run diverged at (None: not recorded)
    part_names: dict[str, list[str]] = {}  # finished part folder -> the metric and curve names it reported
    for folder in folders:
        part_metrics, meta, part_curves, part_problems = _read_part(folder)
        if meta.get("status") == "diverged":  # where it stopped, kept per part; its values never count
            step = part_metrics.get("diverged_step", meta.get("diverged_step"))
            diverged[folder.name] = None if step is None else int(step)
            part_metrics, part_curves = {}, []  # a curve logged before the divergence is no evidence either
        elif meta.get("status") == "ok":
            part_names[folder.name] = _reported(part_metrics, part_curves)
        for name, value in part_metrics.items():
            if name in metrics and metrics[name] != value:
                raise ReplicateError(f"{folder}: metric {name} = {value} conflicts with another part of seed {seed}")
            metrics[name] = value
        metas.append(meta)
        curves += part_curves
        problems += part_problems
    purposes = {m.get("purpose") or "final" for m in metas}
    if len(purposes) > 1:
        names = ", ".join(f.name for f in folders)
        raise ReplicateError(f"{folders[0].parent}: seed {seed} mixes final and tuning parts ({names})")
    statuses = {m.get("status") for m in metas}
    overrides = {key: value for m in metas for key, value in (m.get("overrides") or {}).items()}
    # A diverged part is a result of its own: the seed's other parts still count (status ok, with diverged_parts
    # saying which part stopped where); a seed whose parts all diverged is diverged, at its earliest step.
    # A failed part (or any other) is never hidden behind a diverged one.
    status = (
        "ok"
        if statuses <= {"ok", "diverged"} and "ok" in statuses
        else sorted(statuses - {"ok", "diverged"} or statuses - {"ok"})[0]
    )
    if status == "diverged":
        steps = [step for step in diverged.values() if step is not None]
        metrics = {"diverged_step": min(steps)} if steps else {}
    meta = {
        **metas[0],
        "status": status,
        **({"diverged_parts": diverged} if diverged else {}),
        "part_names": part_names,
        "wall_seconds": sum(m.get("wall_seconds", 0.0) for m in metas),
        "part_wall_seconds": {f.name: m.get("wall_seconds", 0.0) for f, m in zip(folders, metas, strict=True)},
        "part_info": {f.name: part_info(m) for f, m in zip(folders, metas, strict=True)},
        "variants": [m.get("variant") for m in metas],
        "parts": [f.name for f in folders],
        **({"overrides": overrides} if overrides else {}),
    }
    return RunRecord(folders[0], seed, metrics, meta, tuple(folders), tuple(problems), tuple(curves))


def has_overrides(meta: dict[str, Any]) -> bool:
    """A run made with `replicate run --set`: not the registered protocol, so it never counts toward a verdict."""
    return bool(meta.get("overrides"))


def read_runs(results_root: Path, replication_id: str, profile: str) -> list[RunRecord]:
    """Every run folder for a replication and profile, by seed, validated as it is read: a damaged file (missing,
    truncated, not JSON, a metric that is not a number) is a ReplicateError naming the file and the problem. A seed's
    folders made with `--set` overrides form a record of their own (has_overrides), apart from its registered ones."""
    folder = results_root / replication_id / profile
    by_seed: dict[tuple[int, bool], list[Path]] = {}
    for path in sorted(folder.glob("seed_*")):
        seed_text = path.name.removeprefix("seed_").split("@", 1)[0]
        if not seed_text.isdigit() or not path.is_dir():
            continue
        missing = [name for name in RUN_FILES if not (path / name).is_file()]
        if missing:
            raise ReplicateError(
                f"{path}: incomplete run folder (no {', '.join(missing)}); the runner never leaves one, so it was "
                "damaged: restore it from git, or delete it and run that seed again"
            )
        overridden = has_overrides(read_object(path / META_FILE))
        by_seed.setdefault((int(seed_text), overridden), []).append(path)
    return [_merge(seed, paths) for (seed, _), paths in sorted(by_seed.items())]
