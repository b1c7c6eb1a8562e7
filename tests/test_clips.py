"""`replicate clips`: which seed is filmed (the median by the claim's value, among counted runs with a saved agent),
the strip and clips.json it writes, the report's lines for a clip and for a task without one, and bad input.

Run folders here are written by hand (metrics, curves, meta as the runner writes them) with untrained saved agents
beside them, so that the selection can be checked on chosen values; tests/test_dqn_atari_smoke.py films the agent
of a real smoke run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from replicate_suite import clips
from replicate_suite.cli import main
from replicate_suite.results import CURVE_COLUMNS, write_json


@pytest.mark.parametrize(
    ("values", "chosen"),
    [
        ({0: 3.0, 1: 1.0, 2: 2.0}, 2),  # odd: the middle value
        ({0: 1.0, 1: 4.0, 2: 2.0, 3: 3.0}, 2),  # even: the lower median (2.0), never an average of two seeds
        ({0: 5.0, 1: 1.0, 2: 1.0}, 2),  # ties ranked by seed: (1.0, s1), (1.0, s2), (5.0, s0)
        ({7: -1.0, 3: -1.0, 5: -1.0, 9: -1.0}, 5),  # all equal: the lower median of the seeds' order
        ({4: 10.0}, 4),
        ({}, None),
    ],
)
def test_median_seed(values, chosen):
    assert clips.median_seed(values) == chosen


def test_frame_indices_are_evenly_spaced_and_never_repeat():
    assert clips.frame_indices(101) == [0, 14, 29, 43, 57, 71, 86, 100]
    assert clips.frame_indices(8) == list(range(8))
    assert clips.frame_indices(3) == [0, 1, 2]  # a short episode gives fewer frames, not repeats
    with pytest.raises(clips.ReplicateError):
        clips.frame_indices(0)


def test_strip_size_and_scaling():
    atari = np.full((210, 160, 3), 200, np.uint8)
    small = clips.scaled(atari)
    assert small.shape == (clips.HEIGHT, 91, 3)
    grid = clips.scaled(np.arange(300, dtype=np.uint8).reshape(10, 10, 3))
    assert grid.shape == (120, 120, 3) and (grid[:12, :12] == grid[0, 0]).all()  # nearest: cells stay sharp
    image = clips.strip([small] * 3, [0, 5, 10])
    assert image.shape == (clips.HEIGHT + clips.LABEL_BAND, 3 * 91 + 2 * clips.GAP, 3)
    assert (image[clips.HEIGHT :] < 128).any()  # the step numbers are drawn under the frames


def _write_run(root, rid, profile, folder_name, metrics, status="ok", overrides=None, curves=()):
    folder = root / rid / profile / folder_name
    folder.mkdir(parents=True)
    write_json(folder / "metrics.json", metrics)
    with open(folder / "curves.csv", "w") as handle:
        handle.write(",".join(CURVE_COLUMNS) + "\n")
        handle.writelines(f"{s},{m},{v!r}\n" for s, m, v in curves)
    seed = int(folder_name.removeprefix("seed_").split("@")[0])
    meta = {"replication": rid, "profile": profile, "seed": seed, "status": status, "purpose": "final",
            "git": {"commit": f"{seed:040d}", "dirty": False}}  # fmt: skip
    if overrides:
        meta["overrides"] = overrides
    write_json(folder / "run_meta.json", meta)
    return folder


@pytest.fixture(scope="module")
def pong_agent(tmp_path_factory):
    """An untrained Pong DQN agent, saved once (a saved agent's folder: q_network.keras and agent.json)."""
    import keras

    from replicate_suite.models.qnets import build_atari_cnn
    from replicate_suite.rl.agents.dqn import DQNAgent, DQNConfig
    from replicate_suite.rl.envs import AtariConfig, EnvRecipe
    from replicate_suite.rl.saved import describe_space, save_agent

    keras.utils.set_random_seed(0)
    recipe = EnvRecipe.atari("Pong", AtariConfig(frame_skip=4))
    env = recipe()
    agent = DQNAgent(lambda: build_atari_cnn(6, "mnih2013", 4), 6, DQNConfig(0.99, 1e-4, "rmsprop", "huber", 0))
    info = {"label": "Pong", "env": recipe.to_json(), "eval_epsilon": 0.05,
            "action_space": describe_space(env.action_space)}  # fmt: skip
    env.close()
    folder = tmp_path_factory.mktemp("agent") / "Pong"
    save_agent(folder, agent, info)
    return folder


def _give_agent(root, rid, profile, folder_name, label, agent_folder, seed):
    """Copy a saved agent to where a run of `folder_name` keeps it, with its run.json (commit)."""
    parent = root / ".artifacts" / rid / profile / folder_name
    shutil.copytree(agent_folder, parent / label)
    write_json(parent / "run.json", {"replication": rid, "seed": seed, "git": {"commit": "c" * 40, "dirty": False}})


@pytest.fixture
def pong_runs(tmp_path, pong_agent, monkeypatch):
    """dqn_atari2013 smoke runs: seeds 0-3 counted (no agent for seed 3), seed 4 made with --set, seed 5 failed."""
    monkeypatch.setattr(clips, "MAX_STEPS", 12)  # a short episode keeps the test fast; the rule is the same
    root = tmp_path / "results"
    returns = {0: -5.0, 1: -1.0, 2: -3.0, 3: -4.0, 4: -3.5, 5: -2.0}
    for seed, value in returns.items():
        status = "failed" if seed == 5 else "ok"
        overrides = {"loop.total_steps": 10} if seed == 4 else None
        metrics = {"eval_return_Pong": value, "train_episodes_Pong": 1, "random_return_Pong": -21.0}
        _write_run(root, "dqn_atari2013", "smoke", f"seed_{seed}", metrics, status, overrides)
        if seed != 3:
            _give_agent(root, "dqn_atari2013", "smoke", f"seed_{seed}", "Pong", pong_agent, seed)
    return root


def test_clips_film_the_median_seed_with_an_agent(pong_runs, tmp_path, capsys):
    """Counted seeds with an agent: 0 (-5), 1 (-1), 2 (-3) -> seed 2. Seed 3 (-4) has no agent: counting it would
    make seed 3 the lower median of four; seed 4 (--set) and seed 5 (failed) never count."""
    reports = tmp_path / "reports"
    assert main(["clips", "--profile", "smoke", "--results", str(pong_runs), "--reports", str(reports)]) == 0
    out = capsys.readouterr().out
    assert f"rule: {clips.SELECTION_RULE}" in out and "dqn_atari2013 Pong: seed 2 (median of 3 seed(s)" in out
    folder = reports / "clips" / "smoke"
    index = json.loads((folder / "clips.json").read_text())
    assert index["rule"] == clips.SELECTION_RULE and index["frames"] == 8 and index["max_steps"] == clips.MAX_STEPS
    (entry,) = index["clips"]
    assert entry["id"] == "dqn_atari2013" and entry["label"] == "Pong" and entry["seed"] == 2
    assert entry["candidates"] == {"0": -5.0, "1": -1.0, "2": -3.0} and entry["seed_value"] == -3.0
    assert entry["variant"] is None and entry["commit"] == "c" * 40 and entry["dirty"] is False
    assert entry["agent"].endswith("dqn_atari2013/smoke/seed_2/Pong")
    assert entry["value"] == "eval_return_Pong (the final evaluation's mean return)"  # no target binds smoke
    assert entry["episode_steps"] == 12 and entry["capped"] is True
    assert entry["frames"] == clips.frame_indices(13) and entry["file"] == "dqn_atari2013__Pong.png"
    assert isinstance(entry["episode_return"], float)
    from PIL import Image

    image = Image.open(folder / entry["file"])
    assert image.size == (8 * 91 + 7 * clips.GAP, clips.HEIGHT + clips.LABEL_BAND) and image.mode == "RGB"
    assert not image.info  # no metadata: the same frames give the same bytes
    first = (folder / entry["file"]).read_bytes()
    assert main(["clips", "--profile", "smoke", "--results", str(pong_runs), "--reports", str(reports)]) == 0
    assert (folder / entry["file"]).read_bytes() == first  # deterministic: same agent, same PNG
    assert not list((reports / "clips").glob(".smoke.*"))  # nothing half-written left beside


def test_the_claims_per_seed_value_decides_when_a_target_judges_the_task(tmp_path, pong_agent, monkeypatch):
    """dqn_atari2013's cpu target on Breakout judges each seed's mean of its last 3 evaluations: seed 1's final
    evaluation is the lowest, but its last-3 mean is the median, so seed 1 is filmed."""
    monkeypatch.setattr(clips, "MAX_STEPS", 3)
    root = tmp_path / "results"
    last3 = {0: [0.0, 0.0, 30.0], 1: [10.0, 10.0, 1.0], 2: [2.0, 2.0, 2.0]}  # means 10, 7, 2; finals 30, 1, 2
    for seed, points in last3.items():
        curves = [(step, "eval_return/Breakout", v) for step, v in zip((1, 2, 3), points, strict=True)]
        metrics = {"eval_return_Breakout": points[-1], "train_episodes_Breakout": 3}
        _write_run(root, "dqn_atari2013", "cpu", f"seed_{seed}", metrics, curves=curves)
        _give_agent(root, "dqn_atari2013", "cpu", f"seed_{seed}", "Breakout", pong_agent, seed)
    folder, entries = clips.make_clips("cpu", root, tmp_path / "reports")
    (entry,) = entries
    assert entry["seed"] == 1 and entry["seed_value"] == pytest.approx(7.0)
    assert entry["value"].startswith("eval_return_Breakout, mean of the last 3 evaluations, as the target ")
    assert "DQN well above random on Breakout" in entry["value"]


def test_a_run_left_out_by_a_fix_of_ours_is_not_filmed(tmp_path, pong_agent, monkeypatch):
    """As above, but seed 0 ran from code before dqn_atari2013's registered fix 8154a46 (its first parent, in this
    checkout's history): the verdict does not count it, so neither do the clips: seeds 1 (7) and 2 (2) -> seed 2."""
    import subprocess

    from replicate_suite.paths import PROJECT_ROOT

    before = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "8154a46^1"], capture_output=True, text=True)
    if before.returncode != 0:
        pytest.skip("no git history with the fix commit (a shallow clone or a tarball)")
    monkeypatch.setattr(clips, "MAX_STEPS", 3)
    root = tmp_path / "results"
    last3 = {0: [0.0, 0.0, 30.0], 1: [10.0, 10.0, 1.0], 2: [2.0, 2.0, 2.0]}  # means 10, 7, 2
    for seed, points in last3.items():
        curves = [(step, "eval_return/Breakout", v) for step, v in zip((1, 2, 3), points, strict=True)]
        metrics = {"eval_return_Breakout": points[-1], "train_episodes_Breakout": 3}
        folder = _write_run(root, "dqn_atari2013", "cpu", f"seed_{seed}", metrics, curves=curves)
        if seed == 0:
            meta = json.loads((folder / "run_meta.json").read_text())
            write_json(folder / "run_meta.json", {**meta, "git": {"commit": before.stdout.strip(), "dirty": False}})
        _give_agent(root, "dqn_atari2013", "cpu", f"seed_{seed}", "Breakout", pong_agent, seed)
    _, (entry,) = clips.make_clips("cpu", root, tmp_path / "reports")
    assert entry["seed"] == 2 and entry["candidates"] == {"1": pytest.approx(7.0), "2": pytest.approx(2.0)}


def test_a_committed_clip_stays_while_its_run_counts_and_no_agent_is_here(pong_runs, tmp_path):
    """A fresh clone before 2026-12-04 had no agents (DVC without a remote): the clip of a run that still counts is
    kept as it was, with a note; a re-run of that seed (another commit) or a seed no longer counted drops it."""
    reports = tmp_path / "reports"
    for seed in (0, 1, 2):  # the agents' run.json records the commit the runs started from
        write_json(pong_runs / ".artifacts" / "dqn_atari2013" / "smoke" / f"seed_{seed}" / "run.json",
                   {"seed": seed, "git": {"commit": f"{seed:040d}", "dirty": False}})  # fmt: skip
    _, (first,) = clips.make_clips("smoke", pong_runs, reports)
    folder = reports / "clips" / "smoke"
    strip_bytes = (folder / first["file"]).read_bytes()
    assert first["seed"] == 2 and "note" not in first
    shutil.rmtree(pong_runs / ".artifacts")
    _, (kept,) = clips.make_clips("smoke", pong_runs, reports)
    assert kept == {**first, "note": clips.KEPT_NOTE}
    assert (folder / first["file"]).read_bytes() == strip_bytes
    _, (again,) = clips.make_clips("smoke", pong_runs, reports)  # kept twice: one note, not two
    assert again == kept
    meta_file = pong_runs / "dqn_atari2013" / "smoke" / "seed_2" / "run_meta.json"
    write_json(meta_file, {**json.loads(meta_file.read_text()), "git": {"commit": "d" * 40, "dirty": False}})
    _, (rerun,) = clips.make_clips("smoke", pong_runs, reports)
    assert "file" not in rerun and rerun["reason"].startswith("no saved agent: ")
    assert not (folder / first["file"]).exists()


def test_a_task_without_a_saved_agent_gets_a_reason(tmp_path):
    root = tmp_path / "results"
    for seed in (0, 1):
        _write_run(root, "ddpg_continuous", "smoke", f"seed_{seed}@Pendulum",
                   {"eval_return_Pendulum": -1000.0 - seed, "train_episodes_Pendulum": 2})  # fmt: skip
    _, entries = clips.make_clips("smoke", root, tmp_path / "reports")
    (entry,) = entries
    assert entry["label"] == "Pendulum" and "file" not in entry and "seed" not in entry
    assert entry["reason"].startswith("no saved agent: none of the counted runs (seeds 0, 1) kept one under ")


def test_minatar_frames_are_drawn_from_the_observation(tmp_path, monkeypatch):
    pytest.importorskip("minatar")
    from replicate_suite.models.qnets import build_q_network
    from replicate_suite.rl.agents.dqn import DQNAgent, DQNConfig
    from replicate_suite.rl.envs import EnvRecipe, MinAtarConfig
    from replicate_suite.rl.saved import describe_space, save_agent

    monkeypatch.setattr(clips, "MAX_STEPS", 10)
    recipe = EnvRecipe.minatar("Breakout", MinAtarConfig())
    env = recipe()
    n, shape = int(env.action_space.n), env.observation_space.shape
    agent = DQNAgent(lambda: build_q_network("minatar", n, shape), n, DQNConfig(0.99, 1e-4, "adam", "huber", 0))
    info = {"label": "dqn_Breakout", "env": recipe.to_json(), "eval_epsilon": 0.0,
            "action_space": describe_space(env.action_space)}  # fmt: skip
    obs, _ = env.reset(seed=0)
    env.close()
    root = tmp_path / "results"
    rid = "double_dqn_overestimation"
    _write_run(root, rid, "smoke", "seed_0@dqn_Breakout", {"eval_return_dqn_Breakout": 1.0,
                                                            "train_episodes_dqn_Breakout": 1})  # fmt: skip
    save_agent(root / ".artifacts" / rid / "smoke" / "seed_0@dqn_Breakout" / "dqn_Breakout", agent, info)
    folder, (entry,) = clips.make_clips("smoke", root, tmp_path / "reports")
    assert entry["variant"] == "dqn_Breakout" and entry["note"] == clips.MINATAR_NOTE
    frame = clips.minatar_frame(obs)
    assert frame.shape == (120, 120, 3) and len({tuple(c) for c in frame.reshape(-1, 3)}) >= 3  # ball, paddle...
    assert frame[obs.reshape(10, 10, -1).max(axis=2).repeat(12, 0).repeat(12, 1) == 0].max() == 0  # empty: black
    from PIL import Image

    assert Image.open(folder / entry["file"]).size[1] == clips.HEIGHT + clips.LABEL_BAND


def _rl_report(label: str = "Pong"):
    from replicate_suite.claims import evaluate_claim, load_claim
    from replicate_suite.paths import PROJECT_ROOT
    from replicate_suite.report import ReplicationReport
    from replicate_suite.results import RunRecord
    from replicate_suite.runner import replication_path

    claim = load_claim(replication_path("dqn_atari2013") / "claim.yaml")
    metrics = {f"eval_return_{label}": -3.0, f"train_episodes_{label}": 2}
    runs = [RunRecord(PROJECT_ROOT, 0, metrics, {"status": "ok"}, curves=())]
    return ReplicationReport(claim, runs, evaluate_claim(claim, runs, "cpu"))


def test_the_report_shows_a_clip_with_its_caption_and_a_reason_line():
    from replicate_suite.report import comparison_markdown

    clip = {"id": "dqn_atari2013", "label": "Pong", "file": "dqn_atari2013__Pong.png", "seed": 2, "variant": "Pong",
            "why": "median of 3 seed(s) with a saved agent (0, 1, 2) by eval_return_Pong", "seed_value": -3.0,
            "episode_return": -21.0, "episode_steps": 1000, "capped": True, "frames": [0, 143, 1000],
            "commit": "0123456789abcdef", "dirty": True}  # fmt: skip
    reason = {"id": "dqn_atari2013", "label": "Breakout", "reason": "no saved agent: none of the counted runs"}
    md = comparison_markdown("cpu", [_rl_report()], {}, "results/", {"clips": [clip, reason]})
    lines = md.splitlines()
    assert "![dqn_atari2013 Pong, seed 2](../clips/cpu/dqn_atari2013__Pong.png)" in lines
    caption = next(line for line in lines if line.startswith("*Pong: seed 2"))
    for part in ("seed 2 (variant Pong)", "median of 3 seed(s) with a saved agent", "return -21 in 1000 steps",
                 "(cut at 1000 steps)", "frames at steps 0, 143, 1000", "commit 0123456789+dirty"):  # fmt: skip
        assert part in caption, part
    assert "- Breakout: no clip: no saved agent: none of the counted runs" in lines


def test_the_report_without_clips_says_how_to_make_them_and_runs_nothing(monkeypatch):
    from replicate_suite.report import comparison_markdown
    from replicate_suite.rl import saved

    monkeypatch.setattr(saved, "play", lambda *a, **k: pytest.fail("the report played an environment"))
    md = comparison_markdown("cpu", [_rl_report()], {}, "results/", None)
    assert "No clips yet: `replicate clips --profile cpu` makes them." in md.splitlines()
    md = comparison_markdown("cpu", [_rl_report("Qbert")], {}, "results/", {"clips": []})
    assert any(line.startswith("- Qbert: no clip in clips.json") for line in md.splitlines())


def test_write_report_reads_clips_json_and_a_damaged_one_is_an_error(tmp_path):
    from replicate_suite.report import write_report

    folder = clips.clips_dir(tmp_path / "reports", "smoke")
    folder.mkdir(parents=True)
    (folder / "clips.json").write_text("[1, 2")
    with pytest.raises(clips.ReplicateError, match="clips.json: not valid JSON"):
        write_report("smoke", tmp_path / "results", tmp_path / "reports", figures=False)
    (folder / "clips.json").write_text("[]")
    with pytest.raises(clips.ReplicateError, match="not a clips index"):
        write_report("smoke", tmp_path / "results", tmp_path / "reports", figures=False)


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["clips", "--profile", "huge"], 1, "error: unknown profile 'huge'"),
        (["clips", "--profile", "smoke", "--results", "/nonexistent/results"], 1, "error: results folder /nonexist"),
        (["clips", "--profile", "smoke", "--frames", "3"], 2, "error: unrecognized arguments: --frames 3"),
    ],
)
def test_bad_input_is_one_error_line(argv, code, message, capsys, tmp_path):
    try:
        returned = main([*argv, "--reports", str(tmp_path / "reports")])
    except SystemExit as exc:  # argparse's usage errors exit from inside parse_args
        returned = exc.code
    assert returned == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message)
    assert not (tmp_path / "reports").exists()


def test_help_states_the_rule_and_the_numbers(capsys):
    with pytest.raises(SystemExit):
        main(["clips", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"cut at {clips.MAX_STEPS} agent steps" in text and f"write {clips.FRAMES} evenly spaced frames" in text
    assert "lower median for an even count" in text


def test_mujoco_frames_are_drawn_from_states_in_a_child_process():
    """MuJoCo frames come from a child process that imports no TensorFlow (EGL next to TensorFlow segfaults on some
    machines): the states of a few steps give frames of the asked size that differ as the pole moves; a failing child
    is one ReplicateError naming the task."""
    import gymnasium as gym

    from replicate_suite.errors import ReplicateError
    from replicate_suite.rl.saved import render_mujoco_states

    env = gym.make("InvertedPendulum-v5")
    env.reset(seed=0)
    states = []
    for _ in range(4):
        env.step(np.array([3.0], np.float32))
        states.append((env.unwrapped.data.qpos.copy(), env.unwrapped.data.qvel.copy()))
    env.close()
    frames = render_mujoco_states("InvertedPendulum-v5", {"width": 64, "height": 48}, states)
    assert len(frames) == 4 and all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert frames[0].std() > 0 and not np.array_equal(frames[0], frames[-1])
    with pytest.raises(ReplicateError, match="could not render InvertedPendulum-v5: "):
        render_mujoco_states("InvertedPendulum-v5", {"no_such_option": 1}, states)
