"""Run one replication for one profile and seed, writing its folder atomically (temp folder, then rename)."""

from __future__ import annotations

import ast
import dataclasses
import glob
import hashlib
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

from replicate_suite.config import ResolvedConfig, load_config, nest_overrides, read_yaml, resolve
from replicate_suite.errors import Diverged, ReplicateError, brief
from replicate_suite.locks import exclusive
from replicate_suite.paths import artifacts_dir, folder_mode, replications_dir, results_dir, tensorboard_dir
from replicate_suite.results import (
    META_FILE,
    METRICS_FILE,
    CurveLog,
    check_metrics,
    has_overrides,
    has_run_files,
    names_on_test_set,
    read_json,
    read_object,
    run_folder,
    split_timings,
    write_json,
)

MAX_SEED = 2**32 - 1
AGENTS_STAGING = ".agents"
"""In a run's temporary folder: its trained agents until the run succeeds (then moved to agents_folder)."""
RUN_FILE = "run.json"
SEGMENTS_FILE = "segments.json"
"""In a run's checkpoint folder: the commit and start of every process that worked on the run (a resumed run may
span commits); run_meta's `segments`."""


@dataclass
class RunContext:
    """What a replication's run() gets besides its config and seed: a scratch folder, curves, data provenance."""

    out_dir: Path
    curves: CurveLog = field(default_factory=CurveLog)
    data: dict[str, Any] = field(default_factory=dict)
    checkpoint_dir: Path | None = None
    """Where a long run keeps its checkpoints (outside out_dir, so they survive a kill); None = none."""
    resume: bool = False
    """Continue from the checkpoint in checkpoint_dir if there is one (`replicate run --resume`)."""
    measured: dict[str, Any] = field(default_factory=dict)
    """Facts about this execution, not results (wall seconds of a part, the steps a run resumed at): written to
    run_meta.json under `measured`, never to metrics.json, so that two runs of one seed give identical metrics."""
    log_dir: Path | None = None
    """Where an RL run writes TensorBoard logs, one sub-folder per training loop (kept after the run); None = none."""
    agents_dir: Path | None = None
    """Where an RL run saves its trained agents, one sub-folder per training loop; the runner moves them to
    artifacts/ when the run succeeds. None = not saved."""

    def loop_dirs(self, label: str) -> dict[str, Path | None]:
        """The folders of one training loop (checkpoint_dir, log_dir, agent_dir) as keyword arguments of
        train_dqn / train_ddpg: <folder>/<label> of each that is set."""

        def under(folder: Path | None) -> Path | None:
            return folder / label if folder is not None else None

        return {
            "checkpoint_dir": under(self.checkpoint_dir),
            "log_dir": under(self.log_dir),
            "agent_dir": under(self.agents_dir),
        }

    def record_data(self, name: str, variant: str, sources: dict[str, str]) -> None:
        """Note which data variant was read and where each file came from (shown in run_meta and the report)."""
        self.data[name] = {"variant": variant, "sources": sources}


def known_replications() -> list[str]:
    """Ids of all replications: folders under replications/ with a run.py."""
    return sorted(p.parent.name for p in replications_dir().glob("*/run.py"))


def replication_path(replication_id: str) -> Path:
    """replications/<id>/, or a clear error naming the known ids."""
    ids = known_replications()
    if replication_id not in ids:
        raise ReplicateError(f"unknown replication {replication_id!r} (known: {', '.join(ids) or 'none'})")
    return replications_dir() / replication_id


def load_script(replication_id: str, stem: str) -> ModuleType:
    """Import replications/<id>/<stem>.py (run.py, a report.py, a pilot script) once per process."""
    path = replication_path(replication_id) / f"{stem}.py"
    name = f"replications_{replication_id}_{stem}"
    if name in sys.modules:
        return sys.modules[name]
    if not path.is_file():
        raise ReplicateError(f"{path}: no such script")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_module(replication_id: str) -> ModuleType:
    """Import replications/<id>/run.py; it must define a Config dataclass and run(cfg, seed, ctx)."""
    path = replication_path(replication_id) / "run.py"
    module = load_script(replication_id, "run")
    for attr in ("Config", "run"):
        if not hasattr(module, attr):
            raise ReplicateError(f"{path}: must define {attr}")
    return module


def resolve_config(replication_id: str, profile: str, overrides: dict[str, Any] | None = None) -> ResolvedConfig:
    """The validated config of a replication for a profile (with optional further overrides, e.g. for tuning). Its
    variant field (VARIANT_FIELD), where it has one, must list at least one variant and none twice: an empty list
    would write a run folder without the replication's metrics, a repeated one would run it twice into one record."""
    module = load_module(replication_id)
    cfg = load_config(replication_path(replication_id) / "config.yaml", profile, module.Config, overrides)
    field_name = variant_field(replication_id)
    if field_name:
        names = variants_of(cfg, field_name)
        if not names:
            raise ReplicateError(f"{replication_id} {profile}: {field_name} lists no variant; a run needs at least one")
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ReplicateError(f"{replication_id} {profile}: {field_name} lists {', '.join(repeated)} more than once")
    return cfg


def run_purpose(values: dict[str, Any]) -> str:
    """`tuning` for a resolved config (its merged values) that holds out training data for validation
    (data.validation_holdout > 0: the replications' tuning mode, in which the test set is not read), else `final`.
    Recorded as run_meta's `purpose` (replicate_suite.results.PURPOSES)."""
    data = values.get("data")
    holdout = data.get("validation_holdout") if isinstance(data, dict) else None
    return "tuning" if isinstance(holdout, int) and holdout > 0 else "final"


def check_tuning_outputs(replication_id: str, metrics: dict[str, Any], curves: CurveLog) -> None:
    """A tuning run reports on validation data only: any metric or curve named for the test set is an error."""
    leaked = names_on_test_set([*metrics, *(name for _, name, _ in curves.rows)])
    if leaked:
        raise ReplicateError(
            f"{replication_id}: a tuning run (data.validation_holdout > 0) reported test-set values "
            f"({', '.join(leaked[:5])}); a tuning run must never evaluate the test set"
        )


def variant_field(replication_id: str) -> str | None:
    """The config field a replication runs as independent variants (its run.py's VARIANT_FIELD, e.g. the Atari
    games or the ResNet depths), or None. Read from run.py's source, not by importing it (which imports Keras), so
    that a bad `--variant` fails at once; VARIANT_FIELD must therefore be a string literal."""
    path = replication_path(replication_id) / "run.py"
    for node in ast.parse(path.read_text(), str(path)).body:
        names = [node.target] if isinstance(node, ast.AnnAssign) else getattr(node, "targets", [])
        if isinstance(node, ast.Assign | ast.AnnAssign) and any(
            isinstance(name, ast.Name) and name.id == "VARIANT_FIELD" for name in names
        ):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return node.value.value
            raise ReplicateError(f"{path}: VARIANT_FIELD must be a string literal (the name of a Config field)")
    return None


def variant_name(value: Any) -> str:
    """A variant's name: the value itself (an Atari game, a ResNet depth), or the `name` of a config entry that is a
    mapping or dataclass (e.g. one of dropout_mnist's nets)."""
    if isinstance(value, dict):
        return str(value.get("name"))
    return str(getattr(value, "name", value))


def variants_of(cfg: ResolvedConfig, field_name: str | None) -> list[str]:
    """The names of a resolved config's variants (variant_name of each value of its variant field); [] when the
    replication has none."""
    return [variant_name(v) for v in getattr(cfg.params, field_name)] if field_name else []


def _variant_in(replication_id: str, profile: str, variant: str, field_name: str | None, values: Any) -> None:
    if field_name is None:
        raise ReplicateError(f"{replication_id} has no variants (its run.py defines no VARIANT_FIELD)")
    names = [variant_name(v) for v in values] if isinstance(values, list) else []
    if variant not in names:
        known = ", ".join(names) or "none"
        raise ReplicateError(f"unknown variant {variant!r} of {replication_id} (profile {profile}: {known})")


def check_variant(replication_id: str, profile: str, variant: str, overrides: dict[str, Any] | None = None) -> None:
    """Fail at once (without importing the replication or Keras) unless `variant` names one of the values of the
    replication's variant field in config.yaml's profile, or in `overrides` ({"key.path": value}, as --set gives
    them) where they set that field; select_variant checks the typed config again."""
    field_name = variant_field(replication_id)
    path = replication_path(replication_id) / "config.yaml"
    values = resolve(read_yaml(path), profile, str(path)).get(field_name) if field_name else None
    if field_name and overrides and field_name in overrides:
        values = overrides[field_name]
        if not isinstance(values, list) or not values:
            raise ReplicateError(
                f"--set {field_name}: expected a non-empty list, e.g. {field_name}=[{variant}], got {brief(values)}"
            )
        if variant not in [variant_name(v) for v in values]:
            raise ReplicateError(
                f"unknown variant {variant!r} of {replication_id} (--set {field_name}: "
                f"{', '.join(variant_name(v) for v in values)})"
            )
    _variant_in(replication_id, profile, variant, field_name, values)


def select_variant(replication_id: str, cfg: ResolvedConfig, variant: str) -> ResolvedConfig:
    """The config narrowed to one variant (a run of it lands in seed_<n>@<variant>/), or a clear error."""
    field_name = variant_field(replication_id)
    values = getattr(cfg.params, field_name) if field_name else []
    _variant_in(replication_id, cfg.profile, variant, field_name, values)
    chosen = [v for v in values if variant_name(v) == variant]
    raw = [v for v in cfg.values[field_name] if variant_name(v) == variant]
    params = dataclasses.replace(cfg.params, **{field_name: chosen})
    return dataclasses.replace(cfg, values={**cfg.values, field_name: raw}, params=params)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def agents_folder(results_root: Path, replication_id: str, profile: str, seed: int, variant: str | None = None) -> Path:
    """Where a completed run's trained agents are kept: artifacts_dir(root)/<id>/<profile>/seed_<n>[@<v>]/."""
    name = run_folder(results_root, replication_id, profile, seed, variant).name
    return artifacts_dir(results_root) / replication_id / profile / name


def checkpoint_folder(
    results_root: Path, replication_id: str, profile: str, seed: int, variant: str | None = None
) -> Path:
    """Where a run keeps its checkpoints until it completes: <root>/.checkpoints/<id>/<profile>/seed_<n>[@<v>]/."""
    name = run_folder(results_root, replication_id, profile, seed, variant).name
    return Path(results_root) / ".checkpoints" / replication_id / profile / name


def _prune(folder: Path, root: Path) -> None:
    """Remove folder and then its parents up to (not including) root, as long as they are empty."""
    while folder != root and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
        folder = folder.parent


SEGMENT_SETTINGS = {
    "config_sha256": "resolved config",
    "overrides": "--set overrides",
    "backend": "Keras backend",
    "deterministic_ops": "op determinism (--no-determinism)",
}
"""What each segment of a run records beside its commit, and a resumed segment must share with every earlier one:
a checkpoint continues the run that wrote it, never another protocol (run_meta's config and overrides describe
the whole run). The device is recorded too, not compared (a run may continue on another machine)."""


def _segments(
    checkpoints: Path, resume: bool, code: dict[str, Any], started: str, settings: dict[str, Any]
) -> list[dict[str, Any]]:
    """The run's segments so far (kept in its checkpoint folder while it runs) plus this one, recorded there.
    On a resume every earlier segment must have recorded `settings` (SEGMENT_SETTINGS' keys) and equal them; a
    missing or damaged record, another config, other overrides, another backend or other op determinism is a
    ReplicateError."""
    path = checkpoints / SEGMENTS_FILE
    has_checkpoint = checkpoints.is_dir() and any(checkpoints.rglob("LATEST"))
    segments = read_json(path) if has_checkpoint and path.is_file() else []
    if not isinstance(segments, list):
        raise ReplicateError(f"{path}: expected a list of segments, got {type(segments).__name__}")
    resumed = resume and has_checkpoint
    if resumed and (not segments or not all(isinstance(s, dict) and set(SEGMENT_SETTINGS) <= set(s) for s in segments)):
        raise ReplicateError(
            f"{checkpoints}: its checkpoint has no complete record of the settings it was written with ({path.name} "
            "missing, damaged, or from before 2026-12-05), so a resume cannot be checked against them; not resuming: "
            "delete the checkpoint folder to start over"
        )
    for key, what in SEGMENT_SETTINGS.items() if resumed else ():
        for earlier in segments:
            if earlier[key] != settings[key]:
                raise ReplicateError(
                    f"{checkpoints}: its checkpoint was written with another {what} ({brief(earlier[key])}; this "
                    f"run: {brief(settings[key])}); not resuming: resume with the same settings, or delete the "
                    "checkpoint folder to start over"
                )
    segments.append({"started": started, "resumed": resumed, **code["git"], **settings, "device": code.get("device")})
    if resume or not has_checkpoint:  # else the run refuses to touch the left-over checkpoint: leave its record
        checkpoints.mkdir(parents=True, exist_ok=True)
        write_json(path, segments)
    return segments


def _record_segment_wall(checkpoints: Path, started: str, seconds: float) -> None:
    """A segment that ends without a result (error, Ctrl-C, SIGTERM) records its wall seconds in the checkpoint
    folder's segment list, so the run that resumes it reports the whole cost. A segment killed outright (SIGKILL,
    power loss) cannot: its entry keeps no `wall_seconds` and the run's total is marked a lower bound."""
    path = checkpoints / SEGMENTS_FILE
    try:
        segments = read_json(path) if path.is_file() else None
    except ReplicateError:
        return
    if (
        isinstance(segments, list)
        and segments
        and isinstance(segments[-1], dict)
        and segments[-1].get("started") == started
    ):
        segments[-1]["wall_seconds"] = round(seconds, 3)
        write_json(path, segments)


def run_replication(
    replication_id: str,
    profile: str,
    seed: int,
    results_root: Path | None = None,
    deterministic: bool = True,
    resume: bool = False,
    variant: str | None = None,
    force: bool = False,
    overrides: dict[str, Any] | None = None,
) -> Path:
    """Validate, run, and move the finished folder to results/<id>/<profile>/seed_<n>/; returns that folder.

    A run that raises (or is interrupted) leaves no result behind. A run whose loss became non-finite is a result
    (status `diverged`). An existing complete result is an error unless force=True, which replaces it. One process
    at a time works on a run folder (an OS lock; a second one fails at once). Replications that checkpoint keep their
    checkpoints in checkpoint_folder(...) until the run completes; with resume=True a killed run continues from
    there. With a variant (one value of the replication's VARIANT_FIELD) only that variant runs, into
    seed_<n>@<variant>/. `overrides` ({"train.epochs": 1}, `replicate run --set`) change the profile's config,
    validated exactly as config.yaml is; they are recorded in run_meta's `overrides`, and such a run is not the
    registered protocol: reports list it apart and no verdict uses it.
    """
    if not 0 <= seed <= MAX_SEED:
        raise ReplicateError(f"seed must be in 0..{MAX_SEED}, got {seed}")
    module = load_module(replication_id)
    cfg = resolve_config(replication_id, profile, nest_overrides(list(overrides.items())) if overrides else None)
    if variant is not None:
        cfg = select_variant(replication_id, cfg, variant)
    root = Path(results_root) if results_root is not None else results_dir()
    final = run_folder(root, replication_id, profile, seed, variant)
    created_root = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    try:
        lock = root / f".{replication_id}-{profile}-{final.name}.lock"
        with exclusive(lock, f"{replication_id} {profile} {final.name} in {root}"):
            _recover_replaced(final)
            _remove_abandoned(root, _temp_prefix(replication_id, profile, final))
            if has_run_files(final) and not force:
                raise ReplicateError(f"{final} already holds a complete run; --force replaces it")
            if overrides and has_run_files(final) and not has_overrides(read_object(final / META_FILE)):
                raise ReplicateError(
                    f"{final} holds a run of the registered protocol; a run with --set never replaces one "
                    "(write it elsewhere: --results DIR)"
                )
            checkpoints = checkpoint_folder(root, replication_id, profile, seed, variant)
            return _run_locked(module, cfg, replication_id, seed, variant, root, final, checkpoints, deterministic,
                               resume, overrides or {})  # fmt: skip
    finally:
        if created_root and root.is_dir() and not any(root.iterdir()):
            root.rmdir()


def _publish_agents(staged: Path, folder: Path, meta: dict[str, Any]) -> None:
    """Move a run's saved agents (staged in its temporary folder) to their artifacts folder, replacing an earlier
    run's, with run.json (replication, profile, seed, variant, commit, resolved config) beside them."""
    if not staged.is_dir():
        return
    keys = ("replication", "profile", "seed", "variant", "status", "config", "overrides", "git", "finished")
    write_json(staged / RUN_FILE, {key: meta[key] for key in keys if key in meta})
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(staged, folder)


def _temp_prefix(replication_id: str, profile: str, final: Path) -> str:
    """The name a run's temporary folder starts with (tempfile.mkdtemp adds 8 random characters)."""
    return f".{replication_id}-{profile}-{final.name}-"


def _remove_abandoned(root: Path, prefix: str) -> None:
    """Remove the temporary folders that killed runs of this run folder left in `root` (a SIGKILL or a power cut runs
    no clean-up). Called under the run folder's lock, so no live process owns one; a name is matched exactly
    (prefix + mkdtemp's 8 characters), so that seed_1@a never takes seed_1@a-b's."""
    pattern = re.compile(re.escape(prefix) + r"[a-z0-9_]{8}")
    for leftover in root.glob(f"{glob.escape(prefix)}*"):
        if pattern.fullmatch(leftover.name) and leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)


def _recover_replaced(final: Path) -> None:
    """A run killed between moving the old result aside (--force) and moving the new one in left the old one as
    `.<name>.old-<pid>`: put it back (or, if the new one landed, remove it). Called under the run folder's lock."""
    leftovers = sorted(final.parent.glob(f".{final.name}.old-*")) if final.parent.is_dir() else []
    for leftover in leftovers:
        if not final.exists():
            os.replace(leftover, final)
        else:
            shutil.rmtree(leftover, ignore_errors=True)


def _run_locked(
    module, cfg, replication_id, seed, variant, root, final, checkpoints, deterministic, resume, overrides
) -> Path:
    # These import the Keras backend; only a run needs them (bad input fails before, and fast).
    from replicate_suite.backend import use_intra_op_threads
    from replicate_suite.environment import environment
    from replicate_suite.seeding import seed_everything

    profile = cfg.profile
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(replication_id, profile, final), dir=root))
    tmp.chmod(folder_mode())  # mkdtemp's 0700 would otherwise become the run folder's mode
    moved = False
    started, t0 = _now(), time.perf_counter()
    try:
        code = environment()  # at the start: the code that runs, whatever is committed while it runs
        settings = {
            "config_sha256": hashlib.sha256(json.dumps(cfg.values, sort_keys=True, default=str).encode()).hexdigest(),
            "overrides": overrides,
            "backend": code.get("backend"),
            "deterministic_ops": deterministic,
        }
        segments = _segments(checkpoints, resume, code, started, settings)
        resuming = segments[-1]["resumed"]
        # A replication may ask for a thread count (INTRA_OP_THREADS) that its benchmark found faster and that a test
        # shows leaves its results bit-identical; it takes effect only before the backend's first op.
        intra_op_threads = use_intra_op_threads(getattr(module, "INTRA_OP_THREADS", None))
        seed_everything(seed, deterministic=deterministic)
        name = final.name
        ctx = RunContext(
            out_dir=tmp,
            checkpoint_dir=checkpoints,
            resume=resume,
            log_dir=tensorboard_dir(root) / replication_id / profile / name,
            agents_dir=tmp / AGENTS_STAGING,
        )
        status, extra = "ok", {}
        try:
            metrics = module.run(cfg.params, seed, ctx)
        except Diverged as exc:
            status, extra = "diverged", {"diverged_step": exc.step, "diverged_metric": exc.metric}
            metrics = {"diverged_step": exc.step}
        segments[-1]["wall_seconds"] = round(time.perf_counter() - t0, 3)
        # The run's cost: every segment's duration (those an outright kill left unrecorded count 0: see
        # results.total_wall_seconds, which marks such a total a lower bound).
        wall = sum(float(s.get("wall_seconds", 0.0)) for s in segments)
        purpose = run_purpose(cfg.values)
        if purpose == "tuning":
            check_tuning_outputs(replication_id, metrics, ctx.curves)
        metrics, timings = split_timings(check_metrics(metrics))
        write_json(tmp / METRICS_FILE, metrics)
        ctx.curves.write(tmp)
        meta = {
            "replication": replication_id,
            "profile": profile,
            "seed": seed,
            "variant": variant,
            "status": status,
            **extra,
            "purpose": purpose,
            "budget": cfg.budget,
            "config": cfg.values,
            **({"overrides": overrides} if overrides else {}),
            "data": ctx.data,
            "deterministic_ops": deterministic,
            "intra_op_threads": intra_op_threads,  # None: the backend's default (TensorFlow: one per core)
            "started": started,
            "finished": _now(),
            "wall_seconds": round(wall, 3),
            # What differs between two runs of one seed (wall-clock figures, resume points): never in metrics.json.
            "measured": {**timings, **ctx.measured},
            "command": " ".join(sys.argv),
            "resumed_from_checkpoint": resuming,
            "segments": segments,
            **code,
        }
        write_json(tmp / META_FILE, meta)
        _publish_agents(tmp / AGENTS_STAGING, agents_folder(root, replication_id, profile, seed, variant), meta)
        final.parent.mkdir(parents=True, exist_ok=True)
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
        try:
            os.replace(tmp, final)
        except BaseException:
            if old is not None:  # the replaced result goes back, never lost
                os.replace(old, final)
            raise
        moved = True
        shutil.rmtree(checkpoints, ignore_errors=True)  # the run is complete: its checkpoints are spent
        _prune(checkpoints.parent, root)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return final
    finally:
        if not moved:
            _record_segment_wall(checkpoints, started, time.perf_counter() - t0)
            shutil.rmtree(tmp, ignore_errors=True)
            if not any(checkpoints.rglob("LATEST")):  # nothing to resume from: no checkpoint folder either
                shutil.rmtree(checkpoints, ignore_errors=True)
                _prune(checkpoints.parent, root)
