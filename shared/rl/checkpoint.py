"""RL checkpoints that a resumed run can trust: numbered folders, each with a manifest (format version, step, the
SHA-256 of every file), the newest complete one named in LATEST (written last, atomically). Before a run resumes,
the manifest is checked; a damaged, edited, incomplete or differently versioned checkpoint is refused with one
line that names the file and what to do, never half-read.

Format history: 1 = no manifest (before the integrity check; refused, its contents cannot be verified);
2 = manifest.json with `format`, `step`, `files`; 3 = the same manifest, the agent's arrays keyed by variable path
(replicate_suite.rl.agents.state, restored by name) and the environment's saved state under `env` in state.json for
every loop. A format-2 checkpoint is migrated as it is read (its arrays were numbered in the order the networks are
built).

Besides the Checkpointer (folders, manifest, LATEST), `write_loop_checkpoint` / `read_loop_checkpoint` hold what an
off-policy loop puts in a checkpoint: agent.npz, replay.npz, optional extra arrays (`<name>.npy`) and state.json.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from replicate_suite.data.files import sha256_of
from replicate_suite.errors import ReplicateError, brief

FORMAT_VERSION = 3
MIGRATED_FORMATS = (2,)
"""Older formats that are read by migrating them (see read_loop_checkpoint)."""
MANIFEST = "manifest.json"
STATE = "state.json"
AGENT = "agent.npz"
REPLAY = "replay.npz"
POINTER = "LATEST"
_STEP_FOLDER = re.compile(r"step_(\d{12})")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _manifest_problem(manifest: Any) -> str:
    """What is wrong with the shape of a format-2 manifest ("" when nothing is): the step a whole number >= 0, files a
    mapping of file name -> SHA-256 hex digest."""
    step, files = manifest["step"], manifest["files"]
    if not _whole(step) or step < 0:
        return f"step is not a whole number >= 0: {brief(step)}"
    if not isinstance(files, dict):
        return f"files is not a mapping of file name -> SHA-256: {brief(files)}"
    for name, digest in files.items():
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            return f"files[{brief(name)}] is not a SHA-256 hex digest: {brief(digest)}"
    return ""


def saved_counters(defaults: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """The loop counters a state.json holds (keys of `defaults` only), each of its default's JSON type (an int may
    stand for a float; a default of None takes anything); a TypeError names the first that is not (call it inside
    Checkpointer.restoring, which turns it into one line)."""
    found = {}
    for key, default in defaults.items():
        if key not in state:
            continue
        value, kind = state[key], type(default)
        fits = (
            default is None
            or (kind is float and isinstance(value, (int, float)) and not isinstance(value, bool))
            or (kind is int and _whole(value))
            or (kind not in (int, float) and isinstance(value, kind))
        )
        if not fits:
            raise TypeError(f"{STATE}: {key} should be {kind.__name__}, got {brief(value)}")
        found[key] = float(value) if kind is float else value
    return found


class Checkpointer:
    """A folder of numbered checkpoints of one training loop; the newest complete one is named in LATEST."""

    def __init__(self, folder: Path | None):
        self.folder = folder

    def _refuse(self, problem: str) -> ReplicateError:
        return ReplicateError(
            f"{problem}; not resuming from a damaged checkpoint: restore it, or delete {self.folder} to start over"
        )

    def latest(self) -> Path | None:
        """The checkpoint LATEST names; None when there is none. A LATEST that is empty, unreadable or names a
        missing folder is an error (a run must not silently restart from step 0)."""
        if self.folder is None:
            return None
        pointer = self.folder / POINTER
        if not pointer.exists():
            return None
        try:
            name = pointer.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise self._refuse(f"{pointer}: unreadable ({exc})") from None
        if not _STEP_FOLDER.fullmatch(name):
            raise self._refuse(f"{pointer}: {'empty' if not name else 'damaged: ' + brief(name)}")
        if not (self.folder / name).is_dir():
            raise self._refuse(f"{pointer} names {name}, which is missing")
        return self.folder / name

    def verify(self, checkpoint: Path) -> dict[str, Any]:
        """Check a checkpoint against its manifest (version, every file's SHA-256, no file missing or extra, the
        step in state.json and in the folder name); returns its state.json."""
        manifest_path = checkpoint / MANIFEST
        if not manifest_path.is_file():
            raise self._refuse(
                f"{checkpoint}: no {MANIFEST} (checkpoint format 1, written before checkpoints were verified, or "
                f"damaged; this code reads format {FORMAT_VERSION})"
            )
        try:
            manifest = json.loads(manifest_path.read_text())
        except (ValueError, UnicodeDecodeError):
            raise self._refuse(f"{manifest_path}: damaged (not valid JSON)") from None
        if not isinstance(manifest, dict):
            raise self._refuse(f"{manifest_path}: damaged (not a JSON object)")
        for key in ("format", "step", "files"):
            if key not in manifest:
                raise self._refuse(f"{manifest_path}: damaged (no {key!r})")
        version = manifest["format"]
        if not _whole(version):
            raise self._refuse(f"{manifest_path}: damaged (format is not a whole number: {brief(version)})")
        if version != FORMAT_VERSION and version not in MIGRATED_FORMATS:
            raise ReplicateError(
                f"{checkpoint}: checkpoint format {brief(version)}, this code reads format {FORMAT_VERSION}: finish "
                f"the run with the code that wrote it, or delete {self.folder} to start over"
            )
        problem = _manifest_problem(manifest)
        if problem:
            raise self._refuse(f"{manifest_path}: damaged ({problem})")
        step, files = manifest["step"], manifest["files"]
        present = {p.name for p in checkpoint.iterdir()} - {MANIFEST}
        for name in sorted(set(files) | present):
            if name not in files:
                raise self._refuse(f"{checkpoint / name}: not in the checkpoint's manifest")
            if name not in present:
                raise self._refuse(f"{checkpoint / name}: missing")
            if sha256_of(checkpoint / name) != files[name]:
                raise self._refuse(f"{checkpoint / name}: checksum mismatch (damaged or edited)")
        try:  # its bytes are the ones the manifest lists: only a hand-made checkpoint fails here
            state = json.loads((checkpoint / STATE).read_text())
        except (ValueError, UnicodeDecodeError):
            raise self._refuse(f"{checkpoint / STATE}: not valid JSON") from None
        if not isinstance(state, dict):
            raise self._refuse(f"{checkpoint / STATE}: not a JSON object")
        if state.get("step") != step or checkpoint.name != f"step_{step:012d}":
            raise self._refuse(f"{checkpoint}: step {brief(state.get('step'))} in {STATE} disagrees with its manifest")
        return state

    @contextlib.contextmanager
    def restoring(self, checkpoint: Path) -> Iterator[None]:
        """Around the code that reads a verified checkpoint back into a loop: contents without the shape that code
        reads (a key missing from state.json, a value of another type, arrays of another shape) are refused with
        one line, never a traceback. The checksums match, so only a hand-made or foreign checkpoint gets here."""
        try:
            yield
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, EOFError, zipfile.BadZipFile) as exc:
            raise self._refuse(
                f"{checkpoint}: its contents are not what this code reads ({type(exc).__name__}: {brief(str(exc))})"
            ) from None

    def resumable(self, resume: bool, config: dict) -> tuple[Path, dict] | None:
        """The newest checkpoint, verified, and its state.json, to resume from; None when there is none. A left-over
        checkpoint without `resume`, or one written with another loop config, is an error (never silently
        overwritten)."""
        latest = self.latest()
        if latest is None:
            return None
        if not resume:
            raise ReplicateError(f"{self.folder} holds a checkpoint of an interrupted run: resume it or delete it")
        state = self.verify(latest)
        if state.get("config") != json.loads(json.dumps(config)):
            raise ReplicateError(f"{latest}: checkpoint was written with a different loop config; not resuming")
        return latest, state

    def save(self, step: int, write: Callable[[Path], None]) -> None:
        """Write a checkpoint with write(folder) (which must write state.json holding `step`), add its manifest,
        then point LATEST at it and drop older ones. A failure (a full disk) leaves the previous checkpoint as it
        was and nothing partial."""
        assert self.folder is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"step_{step:012d}"
        tmp, pointer = self.folder / f".{name}.tmp", self.folder / f".{POINTER}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            tmp.mkdir()
            write(tmp)
            files = {p.name: sha256_of(p) for p in sorted(tmp.iterdir())}
            manifest = {"format": FORMAT_VERSION, "step": step, "files": files}
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True))
            final = self.folder / name
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            pointer.write_text(name)
            os.replace(pointer, self.folder / POINTER)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            pointer.unlink(missing_ok=True)
            raise
        for old in self.folder.glob("step_*"):
            if old.name != name:
                shutil.rmtree(old, ignore_errors=True)


def write_loop_checkpoint(folder: Path, agent, replay, state: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write one off-policy loop's checkpoint files into `folder` (Checkpointer.save's write step): the agent's
    state_arrays() as agent.npz, the replay as replay.npz, each of `arrays` as <name>.npy, and `state` (JSON-able,
    holding `step` and `config`) as state.json."""
    np.savez(folder / AGENT, **agent.state_arrays())
    replay.save(folder / REPLAY)
    for name, array in arrays.items():
        np.save(folder / f"{name}.npy", array)
    (folder / STATE).write_text(json.dumps(state))


def read_loop_checkpoint(folder: Path, state: dict, agent, replay) -> tuple[dict, dict[str, np.ndarray]]:
    """Load a verified checkpoint (Checkpointer.resumable) into `agent` and `replay`; returns its state.json (in
    format 3's keys) and its extra arrays by name. A format-2 checkpoint is migrated: the agent's numbered arrays
    are renamed by position (agent.migrate_numbered) and DQN's `env_state` becomes `env`."""
    version = json.loads((folder / MANIFEST).read_text())["format"]
    with np.load(folder / AGENT) as saved:
        arrays = dict(saved)
    if version in MIGRATED_FORMATS:
        arrays = agent.migrate_numbered(arrays)
        state = dict(state)
        if "env_state" in state:
            state["env"] = state.pop("env_state")
    agent.load_state_arrays(arrays)
    replay.load(folder / REPLAY)
    return state, {path.stem: np.load(path) for path in sorted(folder.glob("*.npy"))}
