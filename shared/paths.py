"""Where the project's folders are. The suite runs from a checkout: replications/ sits beside shared/."""

from __future__ import annotations

import os
from pathlib import Path

from shared.errors import ReplicateError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def replications_dir() -> Path:
    """The folder holding one sub-folder per replication."""
    path = PROJECT_ROOT / "replications"
    if not path.is_dir():
        raise ReplicateError(f"no replications/ folder beside {PROJECT_ROOT / 'shared'}; run from a checkout")
    return path


def results_dir() -> Path:
    """Default root of run folders: results/<id>/<profile>/seed_<n>/."""
    return PROJECT_ROOT / "results"


def artifacts_dir(results_root: Path | None = None) -> Path:
    """Root of saved agents (artifacts/<id>/<profile>/seed_<n>[@<variant>]/<label>/, shared.rl.saved): artifacts/
    beside the default results/ (git-ignored, tracked with `dvc add`); for another results root R (`--results R`,
    a test's temporary folder), R/.artifacts, so that such runs keep their agents with their results."""
    if results_root is None or Path(results_root).resolve() == results_dir().resolve():
        return PROJECT_ROOT / "artifacts"
    return Path(results_root) / ".artifacts"


def tensorboard_dir(results_root: Path | None = None) -> Path:
    """Root of RL runs' TensorBoard logs (<root>/.tensorboard/<id>/<profile>/seed_<n>[@<variant>]/<label>/;
    shared.rl.tblog): hidden in the results root, so neither git nor DVC reads it, and kept after the run."""
    return Path(results_root if results_root is not None else results_dir()) / ".tensorboard"


def reports_dir() -> Path:
    """Default root of generated reports: reports/<profile>/."""
    return PROJECT_ROOT / "reports"


def data_dir() -> Path:
    """Dataset cache (git-ignored); REPLICATE_DATA_DIR moves it."""
    return Path(os.environ.get("REPLICATE_DATA_DIR", PROJECT_ROOT / "data"))


def mirror_dirs() -> list[Path]:
    """Offline mirror folders to look in, in order: REPLICATE_DATA_MIRROR, else ../shared/data beside the checkout.

    The sibling folder is how offline machines of this project are provisioned; with internet neither is needed.
    """
    explicit = os.environ.get("REPLICATE_DATA_MIRROR")
    if explicit is not None:
        return [Path(p) for p in explicit.split(os.pathsep) if p]
    sibling = PROJECT_ROOT.parent / "shared" / "data"
    return [sibling] if sibling.is_dir() else []
