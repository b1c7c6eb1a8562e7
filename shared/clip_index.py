"""Where `replicate clips` (shared/clips.py) keeps its strips and clips.json, and reading them back: what the report
needs to show the clips without importing the code that plays environments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from replicate_suite.errors import ReplicateError
from replicate_suite.results import RunRecord

INDEX_FILE = "clips.json"
TASK_MARKER = "train_episodes_"
"""Every RL training loop (train_dqn, train_ddpg) returns train_episodes_<task>: the tasks of a run are these."""


def clips_dir(reports_root: Path, profile: str) -> Path:
    """<reports>/clips/<profile>/: beside the report folder <reports>/<profile>/, not in it, so that the report (which
    swaps its folder whole) and the clips are separate DVC outputs."""
    return Path(reports_root) / "clips" / profile


def task_labels(runs: list[RunRecord]) -> list[str]:
    """The RL tasks (game, MuJoCo task, dqn_<Game>...) the runs trained on, sorted: every train_episodes_<task>."""
    return sorted({name.removeprefix(TASK_MARKER) for r in runs for name in r.metrics if name.startswith(TASK_MARKER)})


def read_clips(reports_root: Path, profile: str) -> dict[str, Any] | None:
    """clips.json of a profile (None when there is none); a damaged one is a ReplicateError naming it."""
    path = clips_dir(reports_root, profile) / INDEX_FILE
    if not path.is_file():
        return None
    again = f"restore it from git or run `replicate clips --profile {profile}` again"
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReplicateError(f"{path}: not valid JSON ({exc}); {again}") from None
    if not isinstance(index, dict) or not isinstance(index.get("clips"), list):
        raise ReplicateError(f"{path}: not a clips index (expected an object with a list `clips`); {again}")
    return index
