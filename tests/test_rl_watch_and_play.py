"""Watching and keeping RL runs: TensorBoard logs that change nothing a run computes, saved agents that act exactly
as the trained ones, and `replicate play` writing a video of a saved agent."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

from replicate_suite.results import CurveLog


def _chain_run(tmp_path, name: str, log_dir=None, agent_dir=None):
    """A short DQN run on the chain (3 evaluations, 2 checkpoints); returns its metrics (wall seconds dropped) and
    the bytes of its curves.csv."""
    import keras
    from rl_fixtures import ChainEnv, build_q_mlp

    from replicate_suite.rl.agents.dqn import DQNAgent, DQNConfig
    from replicate_suite.rl.loop import LoopConfig, train_dqn

    keras.utils.set_random_seed(3)
    agent = DQNAgent(
        lambda: build_q_mlp(8, 2, (16,)), 2, DQNConfig(gamma=0.9, learning_rate=1e-3, optimizer="adam",
                                                        loss="huber", target_period=20)
    )  # fmt: skip
    cfg = LoopConfig(
        total_steps=240, learning_starts=40, train_every=1, batch_size=16, replay_capacity=500, epsilon_start=1.0,
        epsilon_end=0.1, epsilon_steps=150, eval_every=80, eval_episodes=2, eval_epsilon=0.05, eval_max_frames=0,
        clip_rewards=False, terminal_on_life_loss=False, checkpoint_every=120, q_probe_states=4,
    )  # fmt: skip
    curves = CurveLog()
    metrics = train_dqn(
        lambda: ChainEnv(8, horizon=25), agent, cfg, 3, curves, checkpoint_dir=tmp_path / name / "checkpoints",
        progress=False, log_dir=log_dir, agent_dir=agent_dir,
    )  # fmt: skip
    metrics.pop("train_seconds_dqn")
    folder = tmp_path / name / "out"
    folder.mkdir(parents=True)
    curves.write(folder)
    return metrics, (folder / "curves.csv").read_bytes(), agent


class _RecordingWriter:
    """Stands in for tensorboardX's SummaryWriter: records what would be written, and when it is flushed."""

    instances: list = []

    def __init__(self, logdir, flush_secs=120):
        self.logdir, self.points, self.flushes, self.closed = logdir, [], 0, False
        _RecordingWriter.instances.append(self)

    def add_scalar(self, tag, value, step):
        self.points.append((tag, step, value))

    def flush(self):
        self.flushes += 1

    def close(self):
        self.closed = True


def test_tensorboard_logging_leaves_metrics_and_curves_byte_identical(tmp_path, monkeypatch):
    from replicate_suite.rl import tblog

    plain_metrics, plain_curves, _ = _chain_run(tmp_path, "plain")
    monkeypatch.setattr(tblog, "summary_writer_class", lambda: _RecordingWriter)
    _RecordingWriter.instances.clear()
    logged_metrics, logged_curves, _ = _chain_run(tmp_path, "logged", log_dir=tmp_path / "tb")
    assert json.dumps(logged_metrics, sort_keys=True) == json.dumps(plain_metrics, sort_keys=True)
    assert logged_curves == plain_curves
    (writer,) = _RecordingWriter.instances
    tags = {tag for tag, _, _ in writer.points}
    assert {"train/episode_return", "train/episode_length", "train/loss", "train/steps_per_second"} <= tags
    assert {"curves/eval_return", "curves/epsilon", "curves/avg_max_q", "curves/loss"} <= tags
    assert [step for tag, step, _ in writer.points if tag == "curves/eval_return"] == [80, 160, 240]
    # written at the 3 evaluations, the 2 checkpoints and the end: never per step
    assert writer.closed and writer.flushes <= 6


def _read_events(folder) -> list[tuple[str, int, float]]:
    """(tag, step, value) of every scalar in the TFRecord event files of a folder (tensorboardX's own protobuf)."""
    from tensorboardX.proto.event_pb2 import Event

    points = []
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data, offset = path.read_bytes(), 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            event = Event.FromString(data[offset + 12 : offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                points.append((value.tag, event.step, value.simple_value))
    return points


def test_tensorboard_event_files_are_written_with_tensorboardx(tmp_path):
    pytest.importorskip("tensorboardX")
    metrics, _, _ = _chain_run(tmp_path, "real", log_dir=tmp_path / "tb")
    points = _read_events(tmp_path / "tb")
    evals = [(step, value) for tag, step, value in points if tag == "curves/eval_return"]
    assert [step for step, _ in evals] == [80, 160, 240]
    assert evals[-1][1] == pytest.approx(metrics["eval_return_dqn"])


def test_without_tensorboardx_a_run_writes_no_logs_and_says_so_once(tmp_path, monkeypatch, capsys):
    from replicate_suite.rl import tblog

    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # import fails as if not installed
    tblog.summary_writer_class.cache_clear()
    try:
        logs = [tblog.TrainingLog(tmp_path / f"tb{i}", fresh=True) for i in range(2)]
        for log in logs:
            log.scalar("train/loss", 1, 0.5)
            log.close()
        assert not any(log.active for log in logs)
        assert not (tmp_path / "tb0").exists() and not (tmp_path / "tb1").exists()
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("info: tensorboardX is not installed")
    finally:
        tblog.summary_writer_class.cache_clear()


def test_saved_dqn_agent_acts_exactly_like_the_trained_one(tmp_path):
    from replicate_suite.rl.saved import load_agent

    _, _, agent = _chain_run(tmp_path, "saved", agent_dir=tmp_path / "agent")
    saved = load_agent(tmp_path / "agent")
    assert saved.kind == "dqn" and saved.info["steps"] == 240 and saved.info["updates"] == agent.updates
    assert saved.info["action_space"] == {"type": "Discrete", "n": 2} and saved.info["env"] is None
    states = np.eye(8, dtype=np.float32)
    np.testing.assert_array_equal(saved.networks["q_network"].predict_on_batch(states), agent.q_values(states))
    assert [saved.act(s) for s in states] == [int(np.argmax(agent.q_values(s[None])[0])) for s in states]
    with pytest.raises(Exception, match="no environment recipe"):
        saved.make_env()


def test_saved_ddpg_agent_acts_exactly_like_the_trained_one(tmp_path):
    import keras

    from replicate_suite.models.actor_critic import build_actor, build_critic
    from replicate_suite.rl.agents.ddpg import DDPGAgent, DDPGConfig
    from replicate_suite.rl.envs import EnvRecipe
    from replicate_suite.rl.saved import describe_space, load_agent, save_agent

    keras.utils.set_random_seed(0)
    low, high = np.array([-2.0], np.float32), np.array([2.0], np.float32)
    cfg = DDPGConfig(gamma=0.99, tau=0.01, actor_learning_rate=1e-3, critic_learning_rate=1e-3,
                     critic_weight_decay=0.0, hidden=[16, 16], final_init=3e-3, batch_norm=True)  # fmt: skip
    agent = DDPGAgent(lambda: build_actor(3, low, high, (16, 16), 3e-3, True),
                      lambda: build_critic(3, 1, (16, 16), 3e-3, True), low, high, cfg)  # fmt: skip
    rng = np.random.default_rng(0)
    for _ in range(3):  # a few updates, so that weights and batch-norm statistics moved
        agent.update(rng.normal(size=(8, 3)), rng.uniform(-2, 2, (8, 1)), rng.normal(size=8),
                     rng.normal(size=(8, 3)), np.zeros(8))  # fmt: skip
    space = gym.spaces.Box(low, high)
    save_agent(tmp_path / "a", agent, {"env": EnvRecipe("gym", "Pendulum-v1").to_json(),
                                       "action_space": describe_space(space)})  # fmt: skip
    saved = load_agent(tmp_path / "a" / "agent.json")
    obs = rng.normal(size=(5, 3)).astype(np.float32)
    # one observation at a time on both sides: a batch of 5 may take another matmul kernel (oneDNN, TensorFlow's
    # default on AVX-512 VNNI machines, blocks by batch size), which rounds differently in the last bit
    np.testing.assert_array_equal(np.stack([saved.act(o) for o in obs]), np.stack([agent.act(o) for o in obs]))
    actions = agent.policy(obs)
    np.testing.assert_array_equal(
        np.asarray(saved.networks["critic"].predict_on_batch([obs, actions]))[:, 0], agent.q_values(obs, actions)
    )
    assert saved.info["action_space"]["low"] == [-2.0]
    # a new process that imports only load_agent loads it too (the critic's DenseWithAction gets registered there)
    np.savez(tmp_path / "io.npz", obs=obs, actions=actions)
    child = (
        "import sys, numpy as np\n"
        "from replicate_suite.rl.saved import load_agent\n"
        "saved = load_agent(sys.argv[1]); io = np.load(sys.argv[2])\n"
        "np.save(sys.argv[3], np.asarray(saved.networks['critic'].predict_on_batch([io['obs'], io['actions']])))\n"
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    args = [str(tmp_path / "a"), str(tmp_path / "io.npz"), str(tmp_path / "q.npy")]
    done = subprocess.run([sys.executable, "-c", child, *args], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_array_equal(np.load(tmp_path / "q.npy")[:, 0], agent.q_values(obs, actions))


def _save_pong_agent(root, epsilon: float = 0.05):
    """An untrained DQN agent for Pong saved where a smoke run of dqn_atari2013 seed 0 keeps its agents."""
    import keras

    from replicate_suite.models.qnets import build_atari_cnn
    from replicate_suite.rl.agents.dqn import DQNAgent, DQNConfig
    from replicate_suite.rl.envs import AtariConfig, EnvRecipe
    from replicate_suite.rl.saved import describe_space, save_agent

    keras.utils.set_random_seed(0)
    recipe = EnvRecipe.atari("Pong", AtariConfig(frame_skip=4))
    env = recipe()
    agent = DQNAgent(lambda: build_atari_cnn(6, "mnih2013", 4), 6, DQNConfig(0.99, 1e-4, "rmsprop", "huber", 0))
    info = {"label": "Pong", "env": recipe.to_json(), "eval_epsilon": epsilon,
            "action_space": describe_space(env.action_space)}  # fmt: skip
    env.close()
    save_agent(root / ".artifacts" / "dqn_atari2013" / "smoke" / "seed_0" / "Pong", agent, info)


def test_play_writes_a_gif_with_one_frame_per_step(tmp_path, capsys):
    from PIL import Image

    from replicate_suite.cli import main

    _save_pong_agent(tmp_path)
    out = tmp_path / "videos" / "pong.gif"
    argv = ["play", "dqn_atari2013", "--profile", "smoke", "--seed", "0", "--episodes", "2", "--max-steps", "6",
            "--fps", "10", "--video", str(out), "--results", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    assert f"{out}: 14 frames of 2 episode(s) of dqn Pong" in capsys.readouterr().out
    # 2 episodes x (the reset frame + 6 steps); Pillow merges identical consecutive frames into one longer frame,
    # so the count shows in the total duration (100 ms a frame)
    image = Image.open(out)
    durations = []
    for index in range(image.n_frames):
        image.seek(index)
        durations.append(image.info["duration"])
    assert sum(durations) == 14 * 100 and image.size == (160, 210)
    assert image.convert("RGB").getextrema() != ((0, 0), (0, 0), (0, 0))  # not a blank screen


def test_play_without_a_saved_agent_is_one_error_line(tmp_path, capsys):
    from replicate_suite.cli import main

    argv = ["play", "dqn_atari2013", "--profile", "smoke", "--seed", "0", "--video", str(tmp_path / "x.gif"),
            "--results", str(tmp_path)]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no saved agent in ")
    assert not (tmp_path / "x.gif").exists()
    _save_pong_agent(tmp_path)
    assert main([*argv[:-4], "--video", str(tmp_path / "x.avi"), "--results", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip().startswith("error: video file must end in .gif or .mp4")


def test_play_without_an_agent_says_which_variant_holds_one_or_that_the_run_kept_none(tmp_path, capsys):
    """A seed split into parts keeps its agents per part: `play --seed 13` without --variant had advised running the
    seed again, which would only keep the existing results."""
    from replicate_suite.cli import main
    from replicate_suite.rl.saved import AGENT_FILE
    from replicate_suite.runner import agents_folder, run_folder

    for variant in ("Hopper", "HalfCheetah"):
        agent = agents_folder(tmp_path, "ddpg_continuous", "cpu", 13, variant) / variant
        agent.mkdir(parents=True)
        (agent / AGENT_FILE).write_text("{}")
    argv = ["play", "ddpg_continuous", "--profile", "cpu", "--seed", "13", "--video", str(tmp_path / "x.gif"),
            "--results", str(tmp_path)]  # fmt: skip
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("(this seed's parts hold agents: choose one with --variant HalfCheetah | Hopper)")
    done = run_folder(tmp_path, "ddpg_continuous", "cpu", 10, "Pendulum")
    done.mkdir(parents=True)
    (done / "run_meta.json").write_text("{}")
    assert main([*argv[:5], "10", "--variant", "Pendulum", *argv[6:]]) == 1
    assert f"its run {done} left no agent here" in capsys.readouterr().err
    assert main([*argv[:5], "10", *argv[6:]]) == 1  # no --variant: the seed's parts exist and kept no agent
    assert "the seed's parts seed_10@Pendulum left no agent here" in capsys.readouterr().err


def test_a_recipe_knows_whether_it_builds_a_mujoco_task_without_building_it(monkeypatch):
    from replicate_suite.errors import ReplicateError
    from replicate_suite.rl.envs import AtariConfig, EnvRecipe, MinAtarConfig

    def no_make(*args, **kwargs):
        raise AssertionError("is_mujoco built an environment")

    monkeypatch.setattr(gym, "make", no_make)
    pytest.importorskip("mujoco")
    assert EnvRecipe("gym", "Hopper-v5").is_mujoco and EnvRecipe("gym", "InvertedPendulum-v5").is_mujoco
    assert not EnvRecipe("gym", "Pendulum-v1").is_mujoco and not EnvRecipe("gym", "CartPole-v1").is_mujoco
    assert not EnvRecipe.atari("Pong", AtariConfig()).is_mujoco
    assert not EnvRecipe.minatar("Breakout", MinAtarConfig()).is_mujoco
    with pytest.raises(ReplicateError, match="Nope-v0"):
        EnvRecipe("gym", "Nope-v0").is_mujoco  # noqa: B018
    gym.register("BadModule-v0", entry_point="no_such_module_here:Env")
    with pytest.raises(ReplicateError, match="BadModule-v0: ModuleNotFoundError"):
        EnvRecipe("gym", "BadModule-v0").is_mujoco  # noqa: B018
    with pytest.raises(ReplicateError, match="not an environment recipe"):
        EnvRecipe.from_json({"kind": "gym"})


def test_a_mujoco_task_registered_with_a_function_is_still_mujoco():
    pytest.importorskip("mujoco")
    from gymnasium.envs.mujoco.inverted_pendulum_v5 import InvertedPendulumEnv

    from replicate_suite.rl.envs import EnvRecipe

    gym.register("FunctionPendulum-v0", entry_point=lambda **kwargs: InvertedPendulumEnv(**kwargs))
    gym.register("FunctionCartPole-v0", entry_point=lambda **kwargs: gym.make("CartPole-v1").unwrapped)
    assert EnvRecipe("gym", "FunctionPendulum-v0").is_mujoco
    assert not EnvRecipe("gym", "FunctionCartPole-v0").is_mujoco
