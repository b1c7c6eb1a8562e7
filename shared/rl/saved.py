"""Saved agents: the final networks of an RL run, kept after the run (its checkpoints are deleted), loadable with
one call and playable in the environment they learned in (`replicate play`).

One agent is a folder: its networks in Keras's own format (`q_network.keras` for DQN: the online Q-network;
`actor.keras` and `critic.keras` for DDPG; loadable with keras.saving.load_model as well, once
replicate_suite.models.actor_critic is imported: the critic holds its DenseWithAction layer) and `agent.json`: format,
kind, label, training steps and updates, the environment's recipe (`replicate_suite.rl.envs.EnvRecipe`), its observation
and action spaces, the evaluation epsilon (DQN), Keras version and backend. The runner puts a run's agents under
artifacts/<id>/<profile>/seed_<n>[@<variant>]/<label>/ with a run.json beside them (replication, profile, seed,
variant, git commit, resolved config); see `replicate_suite.paths.artifacts_dir` and the README (DVC tracks them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from replicate_suite.errors import ReplicateError

AGENT_FILE = "agent.json"
RUN_FILE = "run.json"  # written by replicate_suite.runner beside a run's agents
FORMAT = 1
VIDEO_SUFFIXES = (".gif", ".mp4")


def describe_space(space: gym.Space) -> dict[str, Any]:
    """A space as JSON-able values: Discrete -> n; Box -> shape, dtype and (up to 64 values) its bounds."""
    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n)}
    if isinstance(space, gym.spaces.Box):
        out = {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype)}
        if space.low.size <= 64:
            out.update(low=space.low.tolist(), high=space.high.tolist())
        return out
    return {"type": type(space).__name__}


def agent_networks(agent) -> tuple[str, dict[str, Any]]:
    """(kind, {file stem: keras.Model}) of a training agent: DQN's online Q-network, DDPG's actor and critic."""
    from replicate_suite.rl.agents.ddpg import DDPGAgent
    from replicate_suite.rl.agents.dqn import DQNAgent

    if isinstance(agent, DQNAgent):
        return "dqn", {"q_network": agent.learner.online}
    if isinstance(agent, DDPGAgent):
        return "ddpg", {"actor": agent.learner.actor, "critic": agent.learner.critic}
    raise TypeError(f"cannot save an agent of type {type(agent).__name__} (DQNAgent or DDPGAgent)")


def save_agent(folder: Path, agent, info: dict[str, Any]) -> None:
    """Write the agent's final networks and agent.json (with `info`: label, steps, env recipe, spaces...) into
    `folder` (created; files of an earlier save are replaced)."""
    import keras

    kind, networks = agent_networks(agent)
    folder.mkdir(parents=True, exist_ok=True)
    for stem, model in networks.items():
        model.save(folder / f"{stem}.keras")
    meta = {
        "format": FORMAT,
        "kind": kind,
        "networks": {stem: f"{stem}.keras" for stem in networks},
        "updates": int(agent.updates),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        **info,
    }
    (folder / AGENT_FILE).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")


class SavedAgent:
    """A loaded agent: its networks (keras.Model by file stem), agent.json as `info`, the run's run.json as `run`
    (empty when the folder has none), and acting as in the run's evaluations."""

    def __init__(self, folder: Path, info: dict[str, Any], networks: dict[str, Any], run: dict[str, Any]):
        self.folder, self.info, self.networks, self.run = folder, info, networks, run
        self.kind: str = info["kind"]

    def act(self, obs: np.ndarray, rng: np.random.Generator | None = None, epsilon: float = 0.0):
        """The action for one observation: DQN argmax_a Q(obs, a) (or, with probability epsilon and `rng`, a
        uniform random action: the protocol's evaluation epsilon is info["eval_epsilon"]) as an int; DDPG mu(obs)
        as a float32 array (action_dim,) (the actor's output lies within the action bounds)."""
        if self.kind == "dqn":
            n = self.info["action_space"]["n"]
            if rng is not None and epsilon > 0 and rng.random() < epsilon:
                return int(rng.integers(n))
            q = self.networks["q_network"].predict_on_batch(np.asarray(obs)[None])
            return int(np.argmax(np.asarray(q)[0]))
        action = self.networks["actor"].predict_on_batch(np.asarray(obs, np.float32)[None])
        return np.asarray(action, np.float32)[0]

    def recipe(self):
        """The recipe (replicate_suite.rl.envs.EnvRecipe) of the environment the agent was trained in; a
        ReplicateError when agent.json has none."""
        from replicate_suite.rl.envs import EnvRecipe

        if not self.info.get("env"):
            raise ReplicateError(f"{self.folder / AGENT_FILE}: no environment recipe (saved by a loop without one)")
        return EnvRecipe.from_json(self.info["env"])

    def make_env(self, render_mode: str | None = None) -> gym.Env:
        """The environment the agent was trained in (its recipe), e.g. with render_mode="rgb_array" for videos."""
        return self.recipe()(render_mode=render_mode)


def load_agent(path: Path | str) -> SavedAgent:
    """Load a saved agent from its folder (or its agent.json); a missing or damaged one is a ReplicateError."""
    import keras

    # The layers of ours that saved networks hold must be registered with Keras before loading (DDPG's critic:
    # DenseWithAction), whatever else the process has imported.
    import replicate_suite.models.actor_critic  # noqa: F401

    folder = Path(path)
    if folder.name == AGENT_FILE:
        folder = folder.parent
    meta_path = folder / AGENT_FILE
    if not meta_path.is_file():
        raise ReplicateError(f"no saved agent in {folder} (no {AGENT_FILE})")
    try:
        info = json.loads(meta_path.read_text())
        kind, files = info["kind"], info["networks"]
    except (ValueError, KeyError, TypeError):
        raise ReplicateError(f"{meta_path}: damaged") from None
    if info.get("format") != FORMAT or kind not in ("dqn", "ddpg"):
        raise ReplicateError(f"{meta_path}: format {info.get('format')!r} kind {kind!r}; this code reads {FORMAT}")
    networks = {}
    for stem, name in files.items():
        if not (folder / name).is_file():
            raise ReplicateError(f"{folder / name}: missing (the agent's {stem})")
        networks[stem] = keras.saving.load_model(folder / name, compile=False)
    run_path = folder.parent / RUN_FILE
    run = json.loads(run_path.read_text()) if run_path.is_file() else {}
    return SavedAgent(folder, info, networks, run)


def play(
    agent: SavedAgent, episodes: int, seed: int, max_steps: int, mujoco_frame_size: int | None = None
) -> tuple[list[np.ndarray], list[float]]:
    """Play `episodes` episodes (reset with seed * 1000 + episode, as evaluations do; DQN with its evaluation
    epsilon), each cut after `max_steps` agent steps; returns the rendered RGB frames (H, W, 3) uint8 (one after
    each reset and one after each step) and each episode's raw return.

    MuJoCo tasks are played without rendering; their simulator states (qpos, qvel) are recorded and drawn afterwards
    by render_mujoco_states in a child process that never imports TensorFlow (MuJoCo's EGL context crashes a process
    that holds TensorFlow on some machines: a segmentation fault inside gymnasium's MujocoRenderer), at
    mujoco_frame_size x mujoco_frame_size pixels when given (else the task's default, 480 x 480)."""
    if episodes < 1 or max_steps < 1:
        raise ReplicateError(f"episodes and max_steps must be >= 1, got {episodes} and {max_steps}")
    mujoco = agent.recipe().is_mujoco
    env = agent.make_env(render_mode=None if mujoco else "rgb_array")
    rng = np.random.default_rng([seed, 7])
    epsilon = float(agent.info.get("eval_epsilon", 0.0))
    frames, states, returns = [], [], []

    def keep() -> None:
        if mujoco:
            data = env.unwrapped.data
            states.append((np.array(data.qpos), np.array(data.qvel)))
        else:
            frames.append(np.asarray(env.render(), np.uint8))

    try:
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed * 1000 + episode)
            keep()
            total = 0.0
            for _ in range(max_steps):
                obs, reward, terminated, truncated, _ = env.step(agent.act(obs, rng, epsilon))
                keep()
                total += float(reward)
                if terminated or truncated:
                    break
            returns.append(total)
        spec = env.unwrapped.spec
    finally:
        env.close()
    if mujoco:
        size = {"width": mujoco_frame_size, "height": mujoco_frame_size} if mujoco_frame_size else {}
        frames = render_mujoco_states(spec.id, {**spec.kwargs, **size}, states)
    return frames, returns


_RENDER_CHILD = """
import json, sys
import numpy as np
import gymnasium as gym
args = json.loads(sys.argv[1])
data = np.load(args["states"])
env = gym.make(args["env_id"], **{**args["kwargs"], "render_mode": "rgb_array"})
env.reset(seed=0)
env.render()  # creates the viewer
renderer = env.unwrapped.mujoco_renderer
track = (getattr(renderer, "default_cam_config", None) or {}).get("trackbodyid", 1)
frames = []
for qpos, qvel in zip(data["qpos"], data["qvel"]):
    env.unwrapped.set_state(qpos, qvel)
    if track is not None and getattr(renderer, "viewer", None) is not None:
        renderer.viewer.cam.lookat[:2] = env.unwrapped.data.xpos[track][:2]
    frames.append(np.asarray(env.render(), np.uint8))
env.close()
np.save(args["frames"], np.stack(frames))
assert "tensorflow" not in sys.modules
"""


def render_mujoco_states(env_id: str, kwargs: dict[str, Any], states: list[tuple[np.ndarray, np.ndarray]]):
    """RGB frames (H, W, 3) uint8 of a MuJoCo task at the given simulator states (qpos, qvel), drawn by a child
    Python process that imports only gymnasium and NumPy (MUJOCO_GL as set, e.g. egl). The camera follows the body
    named by the task's default_camera_config `trackbodyid` (else body 1, the model's root body) in x and y
    (gymnasium 1.x renders with a free camera, so a running Hopper or HalfCheetah would otherwise leave the picture).
    ReplicateError when the child fails (its last stderr line, or the signal that ended it)."""
    import os
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="render-") as tmp:
        np.savez(Path(tmp) / "states.npz", qpos=np.stack([q for q, _ in states]), qvel=np.stack([v for _, v in states]))
        args = {
            "env_id": env_id,
            "kwargs": kwargs,
            "states": str(Path(tmp) / "states.npz"),
            "frames": str(Path(tmp) / "frames.npy"),
        }
        env = dict(os.environ)
        env.setdefault("MUJOCO_GL", "egl")
        done = subprocess.run(
            [sys.executable, "-c", _RENDER_CHILD, json.dumps(args)], env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise ReplicateError(f"could not render {env_id}: {last}")
        return list(np.load(Path(tmp) / "frames.npy"))


def write_video(frames: list[np.ndarray], out: Path, fps: int) -> Path:
    """Write RGB frames as a GIF or an MP4 (by out's suffix) with imageio; returns the file written. An MP4 needs
    imageio-ffmpeg (`pip install -e ".[video]"`); without it a GIF is written beside (out with .gif), and a note
    says so on stderr. GIF players (and Pillow's writer) merge identical consecutive frames into one longer frame."""
    import imageio.v3 as iio

    out = Path(out)
    if out.suffix not in VIDEO_SUFFIXES:
        raise ReplicateError(f"video file must end in {' or '.join(VIDEO_SUFFIXES)}, got {out.name!r}")
    if not frames:
        raise ReplicateError("no frames to write")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            out = out.with_suffix(".gif")
            print(f'note: imageio-ffmpeg is not installed (pip install -e ".[video]"): writing {out}', file=sys.stderr)
        else:
            iio.imwrite(out, np.stack(frames), fps=fps, codec="libx264", macro_block_size=1)
            return out
    iio.imwrite(out, np.stack(frames), duration=1000.0 / fps, loop=0)
    return out
