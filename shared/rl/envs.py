"""Environments: Atari through gymnasium + ale-py, configured per protocol, and MinAtar (optional extra).

Atari is gymnasium's own stack: `ALE/<Game>-v5` with frameskip 1 and the chosen sticky-action probability, then
gymnasium's AtariPreprocessing (frame skip with max over the last two frames, 84x84 grayscale, optional no-op starts)
with its step fixed for the step that ends an episode (`MaxLastTwoFrames`), and FrameStackObservation. Rewards are
returned raw; clipping is the learner's business (training only), so evaluation returns are full-game scores.
`info["life_lost"]` marks a step on which a life was lost; `info["episode_frame_number"]` (ALE's) counts the
emulator frames since reset, in which evaluation caps are counted (`episode_frames`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

from replicate_suite.errors import ReplicateError


@dataclass(frozen=True)
class AtariConfig:
    """One game's environment settings (Mnih et al. 2013 Sec. 4 and 5; Machado et al. 2018 for sticky actions)."""

    frame_skip: int = 4
    """Emulator frames per agent step (Mnih 2013: 4, and 3 for Space Invaders)."""
    repeat_action_probability: float = 0.0
    """Sticky actions (0 in the 2013/2015 protocols; 0.25 in Machado et al. 2018 and ALE v5's default)."""
    noop_max: int = 0
    """Up to this many no-op actions at the start of each episode (Nature 2015 evaluation: 30; 2013: none)."""
    frame_stack: int = 4
    """Frames per state."""
    screen_size: int = 84
    """Side of the square grayscale frame."""
    full_action_space: bool = False
    """False: the game's minimal action set."""
    max_episode_frames: int = 108_000
    """Emulator frames after which an episode is truncated (108,000 = 30 minutes at 60 Hz)."""

    def __post_init__(self):
        if self.frame_skip < 1 or self.frame_stack < 1 or not 0.0 <= self.repeat_action_probability <= 1.0:
            raise ReplicateError(f"bad Atari options: {self}")
        check_frame_caps(self.frame_skip, self.max_episode_frames)


def check_frame_caps(frame_skip: int, max_episode_frames: int, eval_max_frames: int = 0) -> None:
    """Caps count emulator frames (60 per second): each must allow at least one agent step of `frame_skip` frames,
    and an evaluation cap (0 = none) above the episode limit would never apply."""
    if max_episode_frames < frame_skip:
        raise ReplicateError(
            f"max_episode_frames ({max_episode_frames}) must be at least one agent step ({frame_skip} frames)"
        )
    if eval_max_frames and not frame_skip <= eval_max_frames <= max_episode_frames:
        raise ReplicateError(
            f"loop.eval_max_frames ({eval_max_frames}) must be 0 or between one agent step ({frame_skip} frames) and "
            f"the episode limit max_episode_frames ({max_episode_frames})"
        )


def atari_env_id(game: str) -> str:
    """'Breakout' -> 'ALE/Breakout-v5', or a clear error listing the games ale-py knows."""
    import ale_py

    gym.register_envs(ale_py)
    env_id = f"ALE/{game}-v5"
    if env_id not in gym.registry:
        known = sorted(k[4:-3] for k in gym.registry if k.startswith("ALE/") and k.endswith("-v5"))
        raise ReplicateError(f"unknown Atari game {game!r} (ale-py knows {len(known)}: {', '.join(known)})")
    return env_id


def episode_frames(info: dict, steps: int) -> int:
    """Emulator frames played since reset (no-op starts included): ALE's `episode_frame_number`; for environments
    without an emulator (the chain, MinAtar) one frame per agent step."""
    return int(info.get("episode_frame_number", steps))


class MaxLastTwoFrames(AtariPreprocessing):
    """gymnasium's AtariPreprocessing whose observation is, on every step, the max of the last two emulator frames.

    The stock `step` (gymnasium 1.x) grabs the screen only on a step's last two frames and leaves its frame-skip loop
    before grabbing when the episode ends (game over, truncation at `max_num_frames_per_episode`, or a life lost with
    terminal_on_life_loss), so the observation of an ending step is built from stale screens: e.g. frames 7 and 8
    of Breakout truncated at 8 frames give max(f3, f4, f7) instead of max(f7, f8). Here every frame's screen goes
    into a two-slot ring, so the observation is max(newest, the one before) whichever frame the step ended on (the
    one before may belong to the previous step, as in the Nature paper's "the frame being encoded and the previous
    frame"). Reset, no-op starts, resizing and everything else are gymnasium's. The grabs on a step's first frames
    cost about 0.1 ms per agent step at frame skip 4 (0.82 -> 0.91 ms on the 2-core machine; a DQN training step
    averages about 4.5 ms).
    """

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        self._frames = np.zeros((2, *self.obs_buffer[0].shape), self.obs_buffer[0].dtype)
        self._newest = 0
        self._frames[0] = self.obs_buffer[0]  # the reset screen; the slot before it stays black, as in gymnasium
        return obs, info

    def _grab(self) -> None:
        self._newest ^= 1
        frame = self._frames[self._newest]
        if self.grayscale_obs:
            self.ale.getScreenGrayscale(frame)
        else:
            self.ale.getScreenRGB(frame)

    def step(self, action):
        total_reward, terminated, truncated, info = 0.0, False, False, {}
        for _ in range(self.frame_skip):
            _, reward, terminated, truncated, info = self.env.step(action)
            total_reward += reward
            self.game_over = terminated
            if self.terminal_on_life_loss:
                new_lives = self.ale.lives()
                terminated = terminated or new_lives < self.lives
                self.game_over = terminated
                self.lives = new_lives
            self._grab()  # before leaving the loop, whatever ended the step
            if terminated or truncated:
                break
        self.obs_buffer[0][...] = self._frames[self._newest]  # _get_obs pools these two in place, then resizes
        self.obs_buffer[1][...] = self._frames[self._newest ^ 1]
        return self._get_obs(), total_reward, terminated, truncated, info


class LifeLossInfo(gym.Wrapper):
    """Adds info['life_lost']: True on a step where the lives counter dropped (a learning signal; the game goes on)."""

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.lives = self.env.unwrapped.ale.lives()
        return obs, {**info, "life_lost": False}

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self.env.unwrapped.ale.lives()
        lost, self.lives = lives < self.lives, lives
        return obs, reward, terminated, truncated, {**info, "life_lost": bool(lost)}


def make_atari(game: str, cfg: AtariConfig, render_mode: str | None = None) -> gym.Env:
    """The Atari environment of a protocol: observations uint8 (frame_stack, screen, screen), raw rewards.
    render_mode="rgb_array": env.render() gives the emulator's RGB screen (210, 160, 3) (for videos; the dynamics
    are the same)."""
    env = gym.make(
        atari_env_id(game),
        frameskip=1,  # AtariPreprocessing skips (and max-pools the last two frames)
        repeat_action_probability=cfg.repeat_action_probability,
        full_action_space=cfg.full_action_space,
        max_num_frames_per_episode=cfg.max_episode_frames,
        render_mode=render_mode,
    )
    env = MaxLastTwoFrames(
        env,
        noop_max=cfg.noop_max,
        frame_skip=cfg.frame_skip,
        screen_size=cfg.screen_size,
        terminal_on_life_loss=False,
        grayscale_obs=True,
        scale_obs=False,
    )
    env = LifeLossInfo(env)
    return FrameStackObservation(env, cfg.frame_stack)


def frame_stack(env: gym.Env) -> int:
    """Frames per state: FrameStackObservation's stack size, 1 where states are not stacked (MinAtar, the chain)."""
    try:
        return int(env.get_wrapper_attr("stack_size"))
    except AttributeError:
        return 1


MINATAR_GAMES = ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders")
MINATAR_LABEL_PREFIX = "MinAtar"
"""Prefix of a MinAtar game in part labels and metric names ('dqn_MinAtarAsterix'), so that they never share one
with the Atari game of the same name ('dqn_Asterix')."""


@dataclass(frozen=True)
class MinAtarConfig:
    """MinAtar (Young & Tian 2019, arXiv:1903.03176): 10x10 versions of five Atari games, one frame per step."""

    sticky_action_prob: float = 0.0
    """Probability of repeating the previous action (MinAtar's default 0.1; 0 = none, as in the 2013/2015 Atari
    protocols)."""
    difficulty_ramping: bool = False
    """MinAtar's default True makes games faster as they go on; False keeps them as they start."""
    minimal_action_set: bool = True
    """True: the game's own actions (MinAtar-v1 ids); False: all six (v0, MinAtar's paper)."""
    max_episode_frames: int = 108_000
    """Frames (= agent steps: MinAtar has no frame skip) after which an episode is truncated; some games (Breakout
    for a good agent) never end on their own."""

    def __post_init__(self):
        if not 0.0 <= self.sticky_action_prob <= 1.0 or self.max_episode_frames < 1:
            raise ReplicateError(f"bad MinAtar options: {self}")


def make_minatar(game: str, cfg: MinAtarConfig) -> gym.Env:
    """A MinAtar game through its gymnasium registration (`minatar` package, GPL-3.0, optional extra): observations
    uint8 0/1 of shape (10, 10, channels), one channel per kind of object, not stacked; raw rewards."""
    try:
        from minatar.gym import register_envs
    except ImportError as exc:
        raise ReplicateError('MinAtar is not installed: pip install -e ".[minatar]"') from exc
    if game not in MINATAR_GAMES:
        raise ReplicateError(f"unknown MinAtar game {game!r} (MinAtar has: {', '.join(MINATAR_GAMES)})")
    env_id = f"MinAtar/{game}-v{1 if cfg.minimal_action_set else 0}"
    if env_id not in gym.registry:  # registering twice would only warn, but once is enough
        register_envs()
    env = gym.make(
        env_id,
        sticky_action_prob=cfg.sticky_action_prob,
        difficulty_ramping=cfg.difficulty_ramping,
        max_episode_steps=cfg.max_episode_frames,
    )
    return _SeedsBelow2To32(gym.wrappers.DtypeObservation(env, np.uint8))  # bool cells -> bytes the net takes


class _SeedsBelow2To32(gym.Wrapper):
    """MinAtar seeds NumPy's RandomState, which refuses seeds of 2**32 and above; the loops derive episode seeds from
    the step (e.g. (seed + 10,000 + step) * 1,000 past ~4.29M agent steps). Such a seed is mapped to 32 bits by
    NumPy's SeedSequence; a smaller one passes unchanged, so every run below that keeps its episodes."""

    def reset(self, *, seed=None, options=None):
        if seed is not None and seed >= 2**32:
            seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
        return self.env.reset(seed=seed, options=options)


@dataclass(frozen=True)
class EnvRecipe:
    """How to build one training environment, as JSON-able values, so that a saved agent can be played later in the
    environment it learned in (`replicate_suite.rl.saved`). Call it to build the environment: recipe() or
    recipe(render_mode="rgb_array").

    kind "atari": `name` is the game, `options` an AtariConfig's fields; "minatar": the game and a MinAtarConfig's
    fields; "gym": `name` is a registered gymnasium id (e.g. InvertedPendulum-v5), `options` its keyword arguments."""

    kind: Literal["atari", "minatar", "gym"]
    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def atari(cls, game: str, cfg: AtariConfig) -> EnvRecipe:
        return cls("atari", game, asdict(cfg))

    @classmethod
    def minatar(cls, game: str, cfg: MinAtarConfig) -> EnvRecipe:
        return cls("minatar", game, asdict(cfg))

    @classmethod
    def from_json(cls, value: Any) -> EnvRecipe:
        """The recipe to_json() wrote; anything else is a ReplicateError."""
        if (
            not isinstance(value, dict)
            or value.get("kind") not in ("atari", "minatar", "gym")
            or not isinstance(value.get("name"), str)
        ):
            raise ReplicateError(f"not an environment recipe: {str(value)[:120]}")
        return cls(value["kind"], str(value["name"]), dict(value.get("options") or {}))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def is_mujoco(self) -> bool:
        """Whether the recipe builds a MuJoCo task (a gymnasium MujocoEnv underneath), read from the registration's
        entry point without building the environment; an entry point that is a function, not a class, is built once
        without a renderer and its unwrapped environment checked. Anything that cannot be loaded is a
        ReplicateError (one line)."""
        if self.kind != "gym":
            return False
        try:
            from gymnasium.envs.mujoco import MujocoEnv
        except (ImportError, gym.error.DependencyNotInstalled):  # no mujoco package: nothing can be a MuJoCo task
            return False
        try:
            entry = gym.spec(self.name).entry_point
            creator = gym.envs.registration.load_env_creator(entry) if isinstance(entry, str) else entry
        except (gym.error.Error, ImportError, AttributeError) as error:
            raise ReplicateError(f"{self.name}: {type(error).__name__}: {error}") from None
        if isinstance(creator, type):
            return issubclass(creator, MujocoEnv)
        env = self()
        try:
            return isinstance(env.unwrapped, MujocoEnv)
        finally:
            env.close()

    def __call__(self, render_mode: str | None = None) -> gym.Env:
        if self.kind == "atari":
            return make_atari(self.name, AtariConfig(**self.options), render_mode=render_mode)
        if self.kind == "minatar":
            if render_mode is not None:
                raise ReplicateError(f"MinAtar {self.name}: rendering frames is not supported here")
            return make_minatar(self.name, MinAtarConfig(**self.options))
        try:
            return gym.make(self.name, render_mode=render_mode, **self.options)
        except gym.error.DependencyNotInstalled as error:
            raise ReplicateError(f"{self.name}: {error}") from None


def recipe_of(make_env: Any) -> dict[str, Any] | None:
    """The JSON recipe of an environment maker that is an EnvRecipe; None for another callable (a test's lambda)."""
    return make_env.to_json() if isinstance(make_env, EnvRecipe) else None
