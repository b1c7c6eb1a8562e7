"""dqn_atari2013 through the real runner: Random row, DQN training, the Table-1 report, kill and --resume."""

from __future__ import annotations

import json

import pytest

from replicate_suite.errors import ReplicateError
from replicate_suite.runner import run_replication


def test_smoke_run_and_table(tmp_path):
    from replicate_suite.report import write_report

    folder = run_replication("dqn_atari2013", "smoke", 0, results_root=tmp_path)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert -21.0 <= metrics["random_return_Pong"] <= 21.0
    assert metrics["agent_steps_Pong"] == 300
    assert metrics["updates_Pong"] == (300 - 100) // 4 + 1
    assert -21.0 <= metrics["eval_return_Pong"] <= metrics["eval_return_best_episode_Pong"] <= 21.0
    meta = json.loads((folder / "run_meta.json").read_text())  # wall-clock timings differ run to run: not metrics
    assert "train_seconds_Pong" not in metrics and meta["measured"]["train_seconds_Pong"] > 0
    curves = (folder / "curves.csv").read_text()
    assert "eval_return/Pong" in curves and "avg_max_q/Pong" in curves
    assert not (tmp_path / ".checkpoints" / "dqn_atari2013" / "smoke" / "seed_0").exists()  # spent on success
    _check_saved_agent(tmp_path)
    _check_clip(tmp_path, meta["git"]["commit"])
    report = write_report("smoke", tmp_path, tmp_path / "reports", figures=False)
    text = (report / "comparison.md").read_text()
    assert "| Random | — (354) | — (1.2) | — (0) | **" in text  # only Pong was played in the smoke profile
    assert "CleanRL dqn_atari.py" in text
    assert "![dqn_atari2013 Pong, seed 0](../clips/smoke/dqn_atari2013__Pong.png)" in text.splitlines()


def _check_clip(root, commit):
    """`replicate clips` films the smoke run's agent (the only seed, so the median): a row of 8 frames of ALE's
    screen scaled to 120 px high (91 px wide), and clips.json saying which run and episode they come from."""
    from PIL import Image

    from replicate_suite.cli import main
    from replicate_suite.clips import FRAMES, GAP, HEIGHT, LABEL_BAND, MAX_STEPS, frame_indices

    assert main(["clips", "--profile", "smoke", "--results", str(root), "--reports", str(root / "reports")]) == 0
    folder = root / "reports" / "clips" / "smoke"
    (entry,) = json.loads((folder / "clips.json").read_text())["clips"]
    assert (entry["id"], entry["label"], entry["seed"], entry["variant"]) == ("dqn_atari2013", "Pong", 0, None)
    assert entry["commit"] == commit and entry["candidates"] == {"0": entry["seed_value"]}
    assert 7 <= entry["episode_steps"] <= MAX_STEPS and entry["frames"] == frame_indices(entry["episode_steps"] + 1)
    assert -21 <= entry["episode_return"] <= 21
    image = Image.open(folder / entry["file"])
    assert image.size == (FRAMES * 91 + (FRAMES - 1) * GAP, HEIGHT + LABEL_BAND)
    assert len(set(image.crop((0, 0, 91, HEIGHT)).getdata())) > 3  # a game screen, not a blank frame


def _check_saved_agent(root):
    """The smoke run kept its trained Q-network (outside the run folder), playable in its own environment."""
    import numpy as np

    from replicate_suite.rl.saved import load_agent

    saved = load_agent(root / ".artifacts" / "dqn_atari2013" / "smoke" / "seed_0" / "Pong")
    assert saved.info["steps"] == 300 and saved.info["updates"] == (300 - 100) // 4 + 1
    assert saved.info["env"]["kind"] == "atari" and saved.info["eval_epsilon"] == 0.05
    assert saved.run["replication"] == "dqn_atari2013" and saved.run["seed"] == 0
    env = saved.make_env()
    obs, _ = env.reset(seed=0)
    assert saved.act(obs) == int(np.argmax(saved.networks["q_network"].predict_on_batch(obs[None])[0]))
    env.close()
    assert not list((root / "dqn_atari2013" / "smoke" / "seed_0").glob("*.keras"))  # nothing big in results


def test_killed_run_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    from replicate_suite.rl.agents.dqn import DQNAgent

    real_update, calls = DQNAgent.update, {"n": 0}

    def dying_update(self, batch):
        calls["n"] += 1
        if calls["n"] == 20:  # step 176: after the checkpoint at step 150
            raise KeyboardInterrupt("killed")
        return real_update(self, batch)

    monkeypatch.setattr(DQNAgent, "update", dying_update)
    with pytest.raises(KeyboardInterrupt):
        run_replication("dqn_atari2013", "smoke", 0, results_root=tmp_path)
    checkpoints = tmp_path / ".checkpoints" / "dqn_atari2013" / "smoke" / "seed_0" / "Pong"
    assert (checkpoints / "LATEST").read_text() == "step_000000000150"
    assert not (tmp_path / "dqn_atari2013" / "smoke" / "seed_0").exists()  # no result that looks complete
    monkeypatch.setattr(DQNAgent, "update", real_update)
    with pytest.raises(ReplicateError, match="interrupted run"):
        run_replication("dqn_atari2013", "smoke", 0, results_root=tmp_path)  # no silent restart
    folder = run_replication("dqn_atari2013", "smoke", 0, results_root=tmp_path, resume=True)
    metrics = json.loads((folder / "metrics.json").read_text())
    meta = json.loads((folder / "run_meta.json").read_text())
    assert metrics["resumes_Pong"] == 1 and metrics["agent_steps_Pong"] == 300
    assert metrics["updates_Pong"] == (300 - 100) // 4 + 1  # updates continue from the checkpoint's count
    assert meta["resumed_from_checkpoint"] is True
    assert [s["resumed"] for s in meta["segments"]] == [False, True]  # killed, resumed (the refusal wrote none)
    assert not checkpoints.exists()


def test_unknown_game_is_one_clear_error(tmp_path, monkeypatch):
    from replicate_suite.runner import load_module

    module = load_module("dqn_atari2013")
    with pytest.raises(ReplicateError, match="unknown Atari game 'Pongg'"):
        module.atari_env_id("Pongg")


def test_random_part_alone(tmp_path):
    folder = run_replication("dqn_atari2013", "smoke", 3, results_root=tmp_path, variant="random")
    assert folder.name == "seed_3@random"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics) == {"random_return_Pong", "random_return_best_Pong"}


class _Emulator:
    """Never ends; reports ALE's frame counter for a given frame skip (stands in for a game the agent never loses)."""

    def __init__(self, frame_skip: int):
        self.frame_skip, self.steps = frame_skip, 0

    def reset(self, seed=None):
        self.steps = 0
        return 0, {"episode_frame_number": 0}

    def step(self, action):
        self.steps += 1
        return 0, 0.0, False, False, {"episode_frame_number": self.steps * self.frame_skip}


class _AnyAgent:
    num_actions = 1

    def act(self, obs, epsilon, rng):
        return 0


@pytest.mark.parametrize("game, steps", [("SpaceInvaders", 6000), ("Breakout", 4500)])
def test_paper_evaluation_cap_is_five_minutes_of_emulator_frames(game, steps):
    from replicate_suite.rl.loop import evaluate
    from replicate_suite.runner import load_module, resolve_config

    cfg = resolve_config("dqn_atari2013", "paper").params
    skip = load_module("dqn_atari2013").atari_config(cfg.atari, game).frame_skip
    assert cfg.loop.eval_max_frames == 18_000 and skip == {"SpaceInvaders": 3, "Breakout": 4}[game]
    result = evaluate(_AnyAgent(), _Emulator(skip), 1, 0.05, seed=0, max_frames=cfg.loop.eval_max_frames)
    assert result.steps == [steps]
    for profile in ("cpu", "paper"):  # the DQN row is the mean of at least 30 final evaluation episodes
        assert resolve_config("dqn_atari2013", profile).params.loop.final_eval_episodes >= 30


@pytest.mark.parametrize(
    "loop, atari, message",
    [
        ({"eval_max_frames": -1}, {}, "eval_max_frames must be >= 0"),
        ({"eval_max_frames": 2}, {}, r"between one agent step \(4 frames\)"),
        ({"eval_max_frames": 200_000}, {}, "the episode limit max_episode_frames"),
        ({}, {"max_episode_frames": 3}, r"must be at least one agent step \(4 frames\)"),
        ({"final_eval_episodes": -2}, {}, "final_eval_episodes must be >= 0"),
    ],
)
def test_bad_frame_caps_are_config_errors(tmp_path, loop, atari, message):
    import yaml

    from replicate_suite.config import load_config
    from replicate_suite.paths import replications_dir
    from replicate_suite.runner import load_module

    raw = yaml.safe_load((replications_dir() / "dqn_atari2013" / "config.yaml").read_text())
    raw["paper"]["loop"].update(loop)
    raw["paper"]["atari"].update(atari)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ReplicateError, match=message):
        load_config(tmp_path / "config.yaml", "cpu", load_module("dqn_atari2013").Config)


def _write_train_curve(folder, values, steps=range(35_000, 385_000, 35_000), game="Breakout"):
    from replicate_suite.results import CurveLog

    folder.mkdir(parents=True)
    log = CurveLog()
    for step, value in zip(steps, values, strict=False):
        log.add(step, **{f"train_return/{game}": value, f"eval_return/{game}": 99.0, f"avg_max_q/{game}": 99.0})
    log.write(folder)
    (folder / "run_meta.json").write_text(json.dumps({"wall_seconds": 1800.0, "git": {"commit": "b" * 40}}))


def test_target_network_pilot_rule_reads_training_returns_only(tmp_path):
    from replicate_suite.runner import load_script

    pilot = load_script("dqn_atari2013", "pilot_target")
    assert list(pilot.CANDIDATES) == ["target_network", "lr_1e-4"]  # the order fixed before the pilot ran
    assert pilot.decide({"target_network": 6.0, "lr_1e-4": None}, 4.0) == "target_network"  # 6 >= 1.5 x 4
    assert pilot.decide({"target_network": 5.9, "lr_1e-4": None}, 4.0) is None  # undecided: the next is not run
    assert pilot.decide({"target_network": 5.9, "lr_1e-4": 7.0}, 4.0) == "lr_1e-4"
    assert pilot.decide({"target_network": 9.0, "lr_1e-4": 7.0}, 4.0) == "target_network"  # first in order wins
    assert pilot.decide({"target_network": 5.9, "lr_1e-4": 5.0}, 4.0) is None
    results, pilots = tmp_path / "results", tmp_path / "pilots"
    for seed, top in ((0, 2.0), (1, 4.0), (2, 3.0)):  # reference window 280k-350k: means 2, 4, 3
        _write_train_curve(results / "dqn_atari2013" / "cpu" / f"seed_{seed}@Breakout", [1.0] * 7 + [top] * 13)
    run = pilots / "target_network" / "dqn_atari2013" / "cpu" / "seed_100@Breakout"
    _write_train_curve(run, [1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 6.0, 6.0, 6.3])  # last 3: 6.1 >= 6.0
    out = tmp_path / "pilot.md"
    pilot.main(["--pilots", str(pilots), "--results", str(results), "--out", str(out)])
    text = out.read_text()
    assert "| seed 1 | 4.00 |" in text and "Threshold: 1.5 x 4.00 = 6.00." in text
    assert "| target_network |" in text and "| 6.10 | yes |" in text and "| lr_1e-4 |" in text and "not run" in text
    assert "**Chosen: target_network**" in text and "99" not in text  # evaluation returns and Q are never read
    with pytest.raises(SystemExit, match="error: no pilot run under"):
        pilot.main(["--pilots", str(tmp_path / "none"), "--results", str(results), "--out", str(out)])
    run2 = pilots / "lr_1e-4" / "dqn_atari2013" / "cpu" / "seed_100@Breakout"
    _write_train_curve(run2, [1.0, 1.0, 1.0])
    with pytest.raises(SystemExit, match="error: the curve has no training return at step"):
        pilot.main(["--pilots", str(pilots), "--results", str(results), "--out", str(out)])


@pytest.mark.parametrize(
    "rep_id, override, message",
    [
        ("dqn_atari2013", {"agent.rmsprop_epsilon": -1}, "agent.rmsprop_epsilon must be in (0, inf)"),
        ("dqn_atari2013", {"agent.rmsprop_epsilon": 0}, "agent.rmsprop_epsilon must be in (0, inf)"),
        ("dqn_atari2013", {"agent.rmsprop_rho": 1.5}, "agent.rmsprop_rho must be in [0, 1)"),
        ("dqn_atari2013", {"agent.learning_rate": -0.1}, "agent.learning_rate must be in (0, inf)"),
        ("double_dqn_overestimation", {"agent.gamma": 2}, "agent.gamma must be in [0, 1]"),
        ("ddpg_continuous", {"agent.tau": 0}, "agent.tau must be in (0, 1]"),
        ("dqn_atari2013", {"loop.eval_max_frames": "abc"}, "cpu + overrides.loop.eval_max_frames: expected int"),
    ],
)
def test_bad_agent_settings_are_config_errors_naming_the_override(rep_id, override, message):
    """An agent setting out of its range (a negative RMSProp epsilon diverges, a discount above 1 trains nonsense)
    is refused before anything runs, and the message says the value came from an override, not config.yaml."""
    from replicate_suite.config import nest_overrides
    from replicate_suite.runner import resolve_config

    with pytest.raises(ReplicateError) as raised:
        resolve_config(rep_id, "cpu", nest_overrides(list(override.items())))
    assert message in str(raised.value) and "+ overrides" in str(raised.value)


@pytest.mark.parametrize("rep_id", ["dqn_atari2013", "double_dqn_overestimation"])
@pytest.mark.parametrize("profile", ["paper", "cpu"])
def test_dqn_replications_use_deepminds_rmsprop_convention(rep_id, profile):
    """Issue #19: both DQN replications' paper and cpu protocols train with DeepMind's rule (centered RMSProp,
    epsilon 0.01 inside the square root, rho 0.95, no momentum, on the loss summed over the minibatch); the agent's
    own default reduction is the mean, so the configs must say so."""
    from replicate_suite.runner import resolve_config

    agent = resolve_config(rep_id, profile).params.agent
    assert (agent.optimizer, agent.loss_reduction, agent.rmsprop_epsilon, agent.rmsprop_rho) == (
        "rmsprop",
        "sum",
        0.01,
        0.95,
    )
    assert agent.rmsprop_centered and agent.rmsprop_momentum == 0.0 and agent.learning_rate == 0.00025
