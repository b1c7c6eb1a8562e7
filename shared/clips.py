"""Clips of trained RL agents for the report: for each RL task, one strip of frames from one evaluation episode of
one saved agent, chosen by a fixed rule, so a reader sees what the learning curve means (`replicate clips`).

The rule (SELECTION_RULE): among the runs that count for verdicts (the report's own reading: status ok, purpose
final, no --set overrides) that saved an agent for the task, the seed whose final evaluation return is the median,
the lower median for an even count, ties to the lower seed. A seed's value is the one the claim judges for the task:
the per-seed value of the last claim.yaml target binding the profile whose metric is `eval_return_<task>` (e.g. the
mean of its last 3 evaluations), else the run's `eval_return_<task>` (its final evaluation's mean return). The agent
plays one episode as the run's evaluations do (`replicate_suite.rl.saved.play`: reset seed = the run's seed x 1000, DQN
with its evaluation epsilon, DDPG mu(s)), cut at MAX_STEPS agent steps; FRAMES frames evenly spaced over it are scaled
to HEIGHT px high and tiled in one row with the step number under each.

Writes <reports>/clips/<profile>/<id>__<task>.png and clips.json (one entry per RL task: the clip, or why there is
none). Output is deterministic for the same agent: the same frames and the same PNG bytes (Pillow writes no time or
version into the PNG). The report reads clips.json only; it never runs an environment.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from replicate_suite.clip_index import INDEX_FILE, clips_dir, task_labels
from replicate_suite.errors import ReplicateError
from replicate_suite.registration import run_parts
from replicate_suite.results import RunRecord, read_json, write_json

FRAMES = 8
"""Frames per strip (fewer when the episode has fewer steps)."""
MAX_STEPS = 1000
"""Agent steps played at most (an Atari agent step is frame_skip emulator frames); the strip then ends there."""
HEIGHT = 120
"""Height of each frame in the strip, px (width keeps the frame's aspect ratio)."""
LABEL_BAND = 18
"""Height of the band under each frame holding its step number, px."""
GAP = 4
FORMAT = 1
SELECTION_RULE = (
    "among the runs that count for verdicts (status ok, purpose final, no --set overrides) that saved an agent for "
    "the task, the seed whose final evaluation return is the median (the lower median for an even count; ties to "
    "the lower seed); a seed's value is what the claim judges for the task: the last claim.yaml target binding "
    "the profile whose metric is eval_return_<task> (its per-seed value, e.g. the mean of the last K evaluations), "
    "else the run's eval_return_<task> (its final evaluation's mean return)"
)
PLAY_RULE = (
    f"one evaluation episode as the run's evaluations play it (reset seed = the run's seed x 1000; DQN with its "
    f"evaluation epsilon, DDPG mu(s) without noise), cut at {MAX_STEPS} agent steps; {FRAMES} frames evenly spaced "
    f"over it (step 0 = after the reset), each {HEIGHT} px high"
)
MINATAR_NOTE = (
    "MinAtar frames are the agent's observation grid drawn with MinAtar's own palette (seaborn cubehelix, one colour "
    "per object channel, black empty), 12 px per cell: the suite's MinAtar environments are built without a renderer"
)


# --- which seed ---------------------------------------------------------------------------------------------------


def median_seed(values: dict[int, float]) -> int | None:
    """The seed whose value is the median of `values` (seed -> value): sorted by (value, seed), the element at
    index (n - 1) // 2, i.e. the lower median for an even count, and among equal values the lower seed. None when
    `values` is empty."""
    if not values:
        return None
    ranked = sorted(values.items(), key=lambda item: (item[1], item[0]))
    return ranked[(len(ranked) - 1) // 2][0]


def seed_values(report, label: str, profile: str, counted: list[RunRecord]) -> tuple[dict[int, float], str]:
    """(seed -> value, how the value was read) for one task: the claim's per-seed values of the last target that binds
    `profile` and judges eval_return_<label> and has values, else each counted run's eval_return_<label>."""
    metric = f"eval_return_{label}"
    judged = [r for r in report.targets if profile in r.target.binds and r.target.names == [metric]]
    for result in reversed(judged):
        values = result.per_seed.get(metric) or {}
        if values:
            k = result.target.last_k
            how = f"{metric}, mean of the last {k} evaluations" if k else metric
            return dict(values), f"{how}, as the target {result.target.name!r} judges it"
    values = {r.seed: float(r.metrics[metric]) for r in counted if metric in r.metrics}
    return values, f"{metric} (the final evaluation's mean return)"


def agent_folder(artifacts_root: Path, replication: str, profile: str, run: RunRecord, label: str) -> Path | None:
    """The saved agent of `label` from this run (any of its variant folders), or None."""
    for part in run.parts or (run.path,):
        folder = artifacts_root / replication / profile / part.name / label
        if (folder / "agent.json").is_file():
            return folder
    return None


# --- frames -------------------------------------------------------------------------------------------------------


def frame_indices(n_frames: int, k: int = FRAMES) -> list[int]:
    """k indices evenly spaced over 0..n_frames-1, first and last included (rounded; fewer, without repeats, when the
    episode is shorter than k frames)."""
    if n_frames < 1:
        raise ReplicateError("an episode with no frames")
    return sorted({int(i) for i in np.linspace(0, n_frames - 1, min(k, n_frames)).round()})


def scaled(frame: np.ndarray, height: int = HEIGHT) -> np.ndarray:
    """An RGB frame (H, W, 3) uint8 scaled to `height` px high, aspect kept: Lanczos when shrinking, nearest
    neighbour when enlarging (a small grid stays sharp)."""
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(frame, np.uint8))
    width = max(1, round(image.width * height / image.height))
    method = Image.Resampling.LANCZOS if image.height > height else Image.Resampling.NEAREST
    return np.asarray(image.resize((width, height), method))


def minatar_frame(obs: np.ndarray, cell: int = 12) -> np.ndarray:
    """MinAtar's observation (10, 10, channels) of 0/1 drawn as MinAtar draws it: each cell the colour of its highest
    set channel in seaborn's cubehelix palette of `channels` colours, black when empty; (10*cell, 10*cell, 3) uint8."""
    import seaborn as sns

    grid = np.asarray(obs)
    channels = grid.shape[-1]
    palette = np.array([(0.0, 0.0, 0.0), *sns.color_palette("cubehelix", channels)])
    index = np.amax(grid.astype(np.int64) * np.arange(1, channels + 1), axis=2)
    rgb = (palette[index] * 255).round().astype(np.uint8)
    return rgb.repeat(cell, axis=0).repeat(cell, axis=1)


def strip(frames: list[np.ndarray], steps: list[int]) -> np.ndarray:
    """Frames (each HEIGHT px high) side by side on white, GAP px apart, with "step N" under each: (H, W, 3) uint8."""
    from PIL import Image, ImageDraw, ImageFont

    width = sum(f.shape[1] for f in frames) + GAP * (len(frames) - 1)
    canvas = Image.new("RGB", (width, HEIGHT + LABEL_BAND), (255, 255, 255))
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default()
    x = 0
    for frame, step in zip(frames, steps, strict=True):
        canvas.paste(Image.fromarray(frame), (x, 0))
        text = f"step {step}"
        left, _, right, _ = draw.textbbox((0, 0), text, font=font)
        draw.text((x + (frame.shape[1] - (right - left)) // 2, HEIGHT + 3), text, fill=(0, 0, 0), font=font)
        x += frame.shape[1] + GAP
    return np.asarray(canvas)


def write_png(image: np.ndarray, path: Path) -> None:
    """A PNG with no metadata (no time, no software version): the same pixels give the same bytes."""
    from PIL import Image

    Image.fromarray(image).save(path, format="PNG", optimize=False, compress_level=9)


class _SmallFrames(gym.Wrapper):
    """Wraps a gymnasium environment so that render() returns the frame already scaled to HEIGHT, drawn from the
    observation for MinAtar (minatar_frame). MuJoCo tasks are drawn by saved.play from their recorded states, at
    HEIGHT x HEIGHT (a MuJoCo episode of full 480x480 frames would hold 0.7 GB)."""

    def __init__(self, env, from_observation: bool):
        super().__init__(env)
        self.from_observation, self.obs = from_observation, None

    def reset(self, **kwargs):
        self.obs, info = self.env.reset(**kwargs)
        return self.obs, info

    def step(self, action):
        self.obs, *rest = self.env.step(action)
        return (self.obs, *rest)

    def render(self) -> np.ndarray:
        if self.from_observation:
            return scaled(minatar_frame(self.obs))
        return scaled(np.asarray(self.env.render(), np.uint8))


def is_minatar(info: dict[str, Any]) -> bool:
    """Whether a saved agent (its agent.json) plays a MinAtar game."""
    return (info.get("env") or {}).get("kind") == "minatar"


def film(folder: Path, seed: int) -> tuple[list[np.ndarray], float, int]:
    """Play the saved agent in `folder` for one episode (PLAY_RULE, through replicate_suite.rl.saved.play); returns
    (each frame scaled to HEIGHT px high, (HEIGHT, W, 3) uint8; the episode's raw return; agent steps played)."""
    from replicate_suite.rl.saved import SavedAgent, load_agent, play

    if sys.platform.startswith("linux"):  # headless: MuJoCo renders through EGL unless told otherwise
        os.environ.setdefault("MUJOCO_GL", "egl")
    agent = load_agent(folder)
    minatar = is_minatar(agent.info)

    class Filmed(SavedAgent):
        """The agent as play() sees it, in an environment whose frames come out small."""

        def make_env(self, render_mode: str | None = None):
            return _SmallFrames(agent.make_env(render_mode=None if minatar else render_mode), minatar)

    filmed = Filmed(agent.folder, agent.info, agent.networks, agent.run)
    frames, returns = play(filmed, 1, seed, MAX_STEPS, mujoco_frame_size=HEIGHT)
    frames = [scaled(frame) for frame in frames]
    return frames, returns[0], len(frames) - 1


# --- the command --------------------------------------------------------------------------------------------------


def _shown(path: Path) -> str:
    from replicate_suite.paths import PROJECT_ROOT

    resolved = Path(path).resolve()
    return str(resolved.relative_to(PROJECT_ROOT)) if resolved.is_relative_to(PROJECT_ROOT) else str(path)


def _seeds_text(seeds: list[int]) -> str:
    return ", ".join(str(s) for s in sorted(seeds)) or "none"


KEPT_NOTE = "kept from an earlier `replicate clips`: no agent of the task is here; the filmed run still counts"


def _recorded_commit(run: RunRecord, variant: str | None) -> str | None:
    """The commit a run (or its variant part, for a seed run as seed_<n>@<variant>/ folders) recorded as its `git`
    (its last segment's), as the run.json beside its saved agent, and so a strip, records it."""
    if variant and run.parts:
        commits = [commits for name, commits, _ in run_parts(run) if name.partition("@")[2] == variant]
        return commits[0][-1] if commits and commits[0] else None
    return (run.meta.get("git") or {}).get("commit")


def _kept(previous: dict[str, Any] | None, previous_dir: Path | None, by_seed: dict, out: Path) -> dict | None:
    """The earlier entry of a task, with its strip copied into `out`, when it may stand: it has a strip, its seed is
    still a counted run and that run (or part) recorded the commit the strip records (the same run, not a
    re-run)."""
    if not previous or not previous.get("file") or previous_dir is None:
        return None
    run = by_seed.get(previous.get("seed"))
    strip_file = previous_dir / str(previous["file"])
    if run is None or not strip_file.is_file():
        return None
    if _recorded_commit(run, previous.get("variant")) != previous.get("commit"):  # a re-run of that seed
        return None
    shutil.copyfile(strip_file, out / strip_file.name)
    prior = previous.get("note")
    note = prior if prior and KEPT_NOTE in prior else "; ".join(n for n in (prior, KEPT_NOTE) if n)
    return {**previous, "note": note}


def clip_task(
    report,
    label: str,
    profile: str,
    artifacts_root: Path,
    out: Path,
    previous: dict[str, Any] | None = None,
    previous_dir: Path | None = None,
) -> dict[str, Any]:
    """Choose the seed for one task, play it and write its strip into `out`; the clips.json entry. When no counted
    run has its agent here (agents of runs before 2026-12-04 were never kept: DVC without a remote), the task's
    `previous` entry (from `previous_dir`'s clips.json) is kept if its run still counts, unchanged (`_kept`)."""
    from replicate_suite.claims import counted_runs

    rid = report.claim.replication
    left_out = {id(f.run) for f in getattr(report, "fixed_out", []) if not f.unknown}  # code before a fix of ours
    counted = [r for r in counted_runs(report.runs) if id(r) not in left_out]
    values, how = seed_values(report, label, profile, counted)
    by_seed = {r.seed: r for r in counted}
    agents = {s: agent_folder(artifacts_root, rid, profile, by_seed[s], label) for s in values if s in by_seed}
    with_agent = {s: v for s, v in values.items() if agents.get(s) is not None}
    candidates = {str(s): v for s, v in sorted(with_agent.items())}
    entry: dict[str, Any] = {"id": rid, "label": label, "value": how, "candidates": candidates}
    seed = median_seed(with_agent)
    if seed is None and (kept := _kept(previous, previous_dir, by_seed, out)) is not None:
        return kept
    if seed is None:
        where = _shown(artifacts_root / rid / profile)
        entry["reason"] = (
            f"no saved agent: none of the counted runs (seeds {_seeds_text(list(values))}) kept one under {where}/ "
            "(runs from before agents were saved, or before they were committed with the results on 2026-12-04)"
        )
        return entry
    folder = agents[seed]
    run_json = folder.parent / "run.json"
    run_info = read_json(run_json) if run_json.is_file() else {}
    git = run_info.get("git") or by_seed[seed].meta.get("git") or {}
    entry.update(
        seed=seed,
        seed_value=with_agent[seed],
        variant=folder.parent.name.partition("@")[2] or None,
        commit=git.get("commit"),
        dirty=bool(git.get("dirty")),
        agent=_shown(folder),
        why=f"median of {len(with_agent)} seed(s) with a saved agent ({_seeds_text(list(with_agent))}) by {how}",
    )
    try:
        frames, episode_return, steps = film(folder, seed)
    except ReplicateError as exc:
        entry["reason"] = f"could not play seed {seed}'s agent: {exc}"
        return entry
    indices = frame_indices(len(frames))
    name = f"{rid}__{label}.png"
    write_png(strip([frames[i] for i in indices], indices), out / name)
    entry.update(
        file=name,
        episode_return=float(episode_return),
        episode_steps=steps,
        capped=steps >= MAX_STEPS,
        frames=indices,
    )
    if is_minatar(read_json(folder / "agent.json")):
        entry["note"] = MINATAR_NOTE
    return entry


def make_clips(profile: str, results_root: Path, reports_root: Path) -> tuple[Path, list[dict[str, Any]]]:
    """Write every RL task's clip for `profile` into clips_dir(reports_root, profile) (built aside, swapped in
    whole) with clips.json; returns (the folder, the entries). Replications whose counted runs trained no RL task
    have no entry."""
    from replicate_suite.claims import counted_runs
    from replicate_suite.paths import artifacts_dir, folder_mode
    from replicate_suite.report import evaluate

    reports = evaluate(profile, results_root)
    out = clips_dir(reports_root, profile)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{profile}.new-"))
    tmp.chmod(folder_mode())
    previous: dict[tuple[str, str], dict[str, Any]] = {}
    if (out / INDEX_FILE).is_file():
        earlier = read_json(out / INDEX_FILE)
        if isinstance(earlier, dict) and earlier.get("format") == FORMAT and isinstance(earlier.get("clips"), list):
            previous = {(str(e.get("id")), str(e.get("label"))): e for e in earlier["clips"] if isinstance(e, dict)}
    try:
        clips = [
            clip_task(
                rep, label, profile, artifacts_dir(results_root), tmp, previous.get((rep.claim.replication, label)), out
            )
            for rep in reports
            for label in task_labels(counted_runs(rep.runs))
        ]
        index = {
            "format": FORMAT,
            "profile": profile,
            "rule": SELECTION_RULE,
            "play": PLAY_RULE,
            "frames": FRAMES,
            "max_steps": MAX_STEPS,
            "height": HEIGHT,
            "clips": clips,
        }
        write_json(tmp / INDEX_FILE, index)
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{profile}.old-"))
            os.replace(out, old / profile)
        try:
            os.replace(tmp, out)
        except BaseException:
            if old is not None:  # the previous clips go back whole
                os.replace(old / profile, out)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out, clips
