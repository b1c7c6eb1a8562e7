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
