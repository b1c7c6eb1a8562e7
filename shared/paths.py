"""Where the project's folders are. The suite runs from a checkout: replications/ sits beside shared/ (the folder
that is installed as the `replicate_suite` package).

Supported installs (README "Install"): an editable install of a checkout (`pip install -e .`: the package is the
checkout's shared/ folder, so the project root is its parent), or a regular install (`pip install .`, a wheel) used
from inside a checkout (the current folder or one above it holds replications/ and shared/) or with
REPLICATE_PROJECT_ROOT naming the checkout. A regular install used elsewhere has no replications to run: commands
that need them stop with one `error:` line.
"""

from __future__ import annotations

import os
from pathlib import Path

from replicate_suite.errors import ReplicateError


def _is_checkout(folder: Path) -> bool:
    return (folder / "replications").is_dir() and (folder / "shared").is_dir()


def find_project_root(cwd: Path | None = None) -> Path:
    """The checkout the suite works in: REPLICATE_PROJECT_ROOT when set; else the folder above this package when it
    is a checkout (editable install); else the current folder or the nearest one above it that is a checkout (regular
    install run from a checkout); else the current folder (replications_dir() then raises a ReplicateError)."""
    explicit = os.environ.get("REPLICATE_PROJECT_ROOT")
    if explicit:
        return Path(explicit).expanduser().resolve()
    beside = Path(__file__).resolve().parent.parent
    if _is_checkout(beside):
        return beside
    here = (cwd or Path.cwd()).resolve()
    return next((folder for folder in (here, *here.parents) if _is_checkout(folder)), here)


PROJECT_ROOT = find_project_root()


def replications_dir() -> Path:
    """The folder holding one sub-folder per replication."""
    path = PROJECT_ROOT / "replications"
    if not path.is_dir():
        raise ReplicateError(
            f"no replications/ folder in {PROJECT_ROOT}: run replicate from inside a checkout of the suite, or set "
            "REPLICATE_PROJECT_ROOT to one"
        )
    return path


def results_dir() -> Path:
    """Default root of run folders: results/<id>/<profile>/seed_<n>/."""
    return PROJECT_ROOT / "results"


def artifacts_dir(results_root: Path | None = None) -> Path:
    """Root of saved agents (artifacts/<id>/<profile>/seed_<n>[@<variant>]/<label>/, replicate_suite.rl.saved):
    artifacts/ beside the default results/ (committed to git with the results); for another results root R
    (`--results R`, a test's temporary folder), R/.artifacts, so that such runs keep their agents with their results."""
    if results_root is None or Path(results_root).resolve() == results_dir().resolve():
        return PROJECT_ROOT / "artifacts"
    return Path(results_root) / ".artifacts"


def tensorboard_dir(results_root: Path | None = None) -> Path:
    """Root of RL runs' TensorBoard logs (<root>/.tensorboard/<id>/<profile>/seed_<n>[@<variant>]/<label>/;
    replicate_suite.rl.tblog): hidden in the results root, so neither git nor DVC reads it, and kept after the run."""
    return Path(results_root if results_root is not None else results_dir()) / ".tensorboard"


def reports_dir() -> Path:
    """Default root of generated reports: reports/<profile>/."""
    return PROJECT_ROOT / "reports"


def data_dir() -> Path:
    """Dataset cache (git-ignored); REPLICATE_DATA_DIR moves it. Without it, outside a checkout: the ReplicateError
    every command gives there (not a data/ folder made in whatever folder PROJECT_ROOT fell back to)."""
    if os.environ.get("REPLICATE_DATA_DIR"):
        return Path(os.environ["REPLICATE_DATA_DIR"])
    replications_dir()
    return PROJECT_ROOT / "data"


def default_mirror_dir() -> Path:
    """The offline mirror's default place: a folder named shared/data BESIDE the checkout (<checkout>/../shared/data),
    not the checkout's own shared/ package folder."""
    return PROJECT_ROOT.parent / "shared" / "data"


def mirror_dirs() -> list[Path]:
    """Offline mirror folders to look in, in order: REPLICATE_DATA_MIRROR (os.pathsep-separated), else
    default_mirror_dir() when it exists.

    The sibling folder is how offline machines of this project are provisioned; with internet neither is needed.
    """
    explicit = os.environ.get("REPLICATE_DATA_MIRROR")
    if explicit is not None:
        return [Path(p) for p in explicit.split(os.pathsep) if p]
    sibling = default_mirror_dir()
    return [sibling] if sibling.is_dir() else []


def mirrors_searched() -> str:
    """For error messages: the mirror folders searched, or where a mirror would be looked for."""
    mirrors = mirror_dirs()
    if mirrors:
        return "mirrors searched: " + ", ".join(map(str, mirrors))
    if os.environ.get("REPLICATE_DATA_MIRROR") is not None:
        return "no mirror folder: REPLICATE_DATA_MIRROR is empty"
    return (
        f"no mirror folder: set REPLICATE_DATA_MIRROR, or provide {default_mirror_dir()} "
        "(the default mirror, beside the checkout, not its shared/ package folder)"
    )


def folder_mode() -> int:
    """The mode a new folder gets under this process's umask (0o777 & ~umask; read from /proc/self/status, else by
    setting it and putting it back): for folders made with tempfile.mkdtemp (always 0700) that become results or
    reports, which others sharing the file system read."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o777 & ~int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o077)  # no /proc (macOS): read the umask by setting it, at once put back
    os.umask(mask)
    return 0o777 & ~mask
