"""RL core: TD targets, replay, schedules, Atari preprocessing, checkpoints, learning and exact resume."""

from __future__ import annotations

import numpy as np
import pytest

from replicate_suite.errors import ReplicateError
from replicate_suite.results import CurveLog
from replicate_suite.rl.replay import ReplayBuffer
from replicate_suite.rl.schedules import LinearSchedule

# --- TD targets -------------------------------------------------------------------------------------------------


def test_td_targets_dqn_and_double_dqn_on_hand_made_numbers():
    from replicate_suite.rl.agents.dqn import td_targets

    rewards = np.array([1.0, 0.0, -1.0], np.float32)
    discounts = np.array([0.9, 0.9, 0.0], np.float32)  # the third transition ended the game
    next_target = np.array([[1.0, 5.0, 2.0], [3.0, -1.0, 0.5], [7.0, 8.0, 9.0]], np.float32)
    next_online = np.array([[4.0, 0.0, 1.0], [0.0, 2.0, 1.0], [1.0, 0.0, 0.0]], np.float32)
    dqn = np.asarray(td_targets(rewards, discounts, next_target))
    # max of the target net: 5, 3, (9 but discount 0)
    np.testing.assert_allclose(dqn, [1.0 + 0.9 * 5.0, 0.9 * 3.0, -1.0], rtol=1e-6)
    double = np.asarray(td_targets(rewards, discounts, next_target, next_online))
    # online argmax: action 0, 1, 0 -> target values 1, -1, (7, discount 0)
    np.testing.assert_allclose(double, [1.0 + 0.9 * 1.0, 0.9 * -1.0, -1.0], rtol=1e-6)


def test_huber_and_squared_td_loss():
    from replicate_suite.rl.agents.dqn import td_loss

    q, y = np.array([0.0, 0.0], np.float32), np.array([0.5, 3.0], np.float32)
    np.testing.assert_allclose(float(td_loss(q, y, "squared")), (0.125 + 4.5) / 2, rtol=1e-6)
    np.testing.assert_allclose(float(td_loss(q, y, "huber")), (0.125 + 2.5) / 2, rtol=1e-6)
    np.testing.assert_allclose(float(td_loss(q, y, "huber", "sum")), 0.125 + 2.5, rtol=1e-6)  # DeepMind's


# --- DeepMind's RMSProp -----------------------------------------------------------------------------------------

_RMSPROP_CHILD = """
import json, sys
import keras, numpy as np
from replicate_suite.rl.agents.dqn import DQNAgent, DQNConfig
from replicate_suite.rl.replay import Batch

case = json.loads(sys.argv[1])
out = {}
for reduction in ("sum", "mean"):
    def linear():
        model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3)])
        model.set_weights([np.asarray(case["W"], np.float32), np.asarray(case["b"], np.float32)])
        return model
    cfg = DQNConfig(gamma=case["gamma"], learning_rate=case["lr"], optimizer="rmsprop", loss="huber",
                    target_period=0, loss_reduction=reduction)
    agent = DQNAgent(linear, 3, cfg)
    batch = Batch(*(np.asarray(case[k], t) for k, t in [("states", np.float32), ("actions", np.int32),
                  ("rewards", np.float32), ("terminals", np.float32), ("next_states", np.float32)]),
                  indices=np.arange(len(case["actions"])))
    for update in range(1, 4):
        agent.update(batch)
        if update in (1, 3):
            out[f"{reduction}_{update}"] = [w.tolist() for w in agent.learner.online.get_weights()]
print("RESULT" + json.dumps(out))
"""


def deepmind_rmsprop(case: dict, updates: int) -> list[np.ndarray]:
    """DeepMind's qLearnMinibatch on a linear Q(s) = s W + b without a target network, in float64 NumPy:
    d = minus the gradient of the SUMMED Huber TD loss (the clipped errors back-propagated, batch not divided);
    g = 0.95 g + 0.05 d; g2 = 0.95 g2 + 0.05 d^2; w += lr d / sqrt(g2 - g^2 + 0.01)."""
    w, b = np.array(case["W"], float), np.array(case["b"], float)
    s, s2 = np.array(case["states"]), np.array(case["next_states"])
    a, r = np.array(case["actions"]), np.array(case["rewards"])
    discount = case["gamma"] * (1.0 - np.array(case["terminals"]))
    g = [np.zeros_like(w), np.zeros_like(b)]
    g2 = [np.zeros_like(w), np.zeros_like(b)]
    for _ in range(updates):
        targets = r + discount * (s2 @ w + b).max(axis=1)
        clipped = np.clip((s @ w + b)[np.arange(len(a)), a] - targets, -1.0, 1.0)
        d = [np.zeros_like(w), np.zeros_like(b)]
        for i, action in enumerate(a):
            d[0][:, action] -= clipped[i] * s[i]
            d[1][action] -= clipped[i]
        for k, param in enumerate((w, b)):
            g[k] = 0.95 * g[k] + 0.05 * d[k]
            g2[k] = 0.95 * g2[k] + 0.05 * d[k] ** 2
            param += case["lr"] * d[k] / np.sqrt(g2[k] - g[k] ** 2 + 0.01)
    return [w, b]


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_rmsprop_with_summed_loss_is_deepminds_rule(backend):
    import json
    import os
    import subprocess
    import sys

    if backend == "jax":
        pytest.importorskip("jax")
    rng = np.random.default_rng(4)
    case = {
        "W": rng.normal(0.0, 0.5, (5, 3)).tolist(),
        "b": rng.normal(0.0, 0.1, 3).tolist(),
        "states": rng.normal(0.0, 1.0, (8, 5)).tolist(),
        "next_states": rng.normal(0.0, 1.0, (8, 5)).tolist(),
        "actions": [0, 1, 2, 0, 1, 2, 0, 1],
        "rewards": [1.0, 0.0, -1.0, 0.0, 1.0, 0.0, 0.0, -1.0],
        "terminals": [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0],
        "gamma": 0.9,
        "lr": 0.01,
    }
    w, b = np.array(case["W"]), np.array(case["b"])
    s, a = np.array(case["states"]), np.array(case["actions"])
    first = (s @ w + b)[np.arange(8), a] - (
        np.array(case["rewards"])
        + case["gamma"] * (1 - np.array(case["terminals"])) * (np.array(case["next_states"]) @ w + b).max(axis=1)
    )
    assert (np.abs(first) > 1).any() and (np.abs(first) < 1).any()  # the batch exercises the clipping both ways

    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", _RMSPROP_CHILD, json.dumps(case)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    keras_weights = json.loads(done.stdout.split("RESULT")[-1])
    for updates in (1, 3):
        expected = deepmind_rmsprop(case, updates)
        for got, want in zip(keras_weights[f"sum_{updates}"], expected, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"{backend}, {updates} updates")
        # the usual mean loss is a different (smaller) step: the test can tell the two conventions apart
        mean = keras_weights[f"mean_{updates}"][0]
        assert np.max(np.abs(np.array(mean) - expected[0])) > 1e-3


# --- schedules --------------------------------------------------------------------------------------------------


def test_linear_epsilon_schedule_values():
    eps = LinearSchedule(1.0, 0.1, 1_000_000)
    assert eps(0) == 1.0
    assert eps(500_000) == pytest.approx(0.55)
    assert eps(1_000_000) == pytest.approx(0.1)
    assert eps(5_000_000) == pytest.approx(0.1)
    assert LinearSchedule(1.0, 0.05, 0)(0) == 0.05


# --- replay -----------------------------------------------------------------------------------------------------


def _fill(replay: ReplayBuffer, episodes: list[int], start_value: int = 1) -> dict[int, tuple[int, int]]:
    """Episodes of the given lengths; frame values are unique ids; returns id -> (episode, position)."""
    where, value = {}, start_value
    for e, length in enumerate(episodes):
        replay.start_episode(np.full(replay.frame_shape, value, np.uint8))
        where[value] = (e, 0)
        for t in range(1, length + 1):
            value += 1
            replay.add(
                action=t % 3,
                reward=float(t),
                terminal=t == length,
                next_frame=np.full(replay.frame_shape, value, np.uint8),
            )
            where[value] = (e, t)
        value += 1
    return where


def test_replay_stacks_never_cross_an_episode_start():
    replay = ReplayBuffer(capacity=200, frame_shape=(2, 2), stack=4, seed=0)
    where = _fill(replay, [1, 2, 5, 3, 7])
    batch = replay.sample(2000)
    for states, nexts in ((batch.states, batch.next_states),):
        for state, nxt in zip(states, nexts, strict=True):
            ids, next_ids = state[:, 0, 0], nxt[:, 0, 0]
            episodes = {where[int(v)][0] for v in np.concatenate([ids, next_ids])}
            assert len(episodes) == 1, (ids, next_ids)
            # within the episode, frames are consecutive except for the repeated first frame at the start
            positions = [where[int(v)][1] for v in ids]
            assert positions == sorted(positions)
            assert where[int(next_ids[-1])][1] == positions[-1] + 1


def test_replay_stack_at_episode_start_repeats_the_first_frame():
    replay = ReplayBuffer(capacity=50, frame_shape=(1,), stack=4, seed=0)
    _fill(replay, [3])  # ids 1 (first frame), 2, 3, 4
    np.testing.assert_array_equal(
        replay.stacks(np.array([0, 1, 3]))[:, :, 0], [[1, 1, 1, 1], [1, 1, 1, 2], [1, 2, 3, 4]]
    )


def test_replay_wraps_around_and_never_samples_broken_history():
    replay = ReplayBuffer(capacity=23, frame_shape=(1,), stack=4, seed=1)
    where = _fill(replay, [9, 9, 9, 9, 9])  # 50 frames into 23 slots
    assert replay.size == 23
    batch = replay.sample(3000)
    for state, nxt in zip(batch.states[:, :, 0], batch.next_states[:, :, 0], strict=True):
        episodes = {where[int(v)][0] for v in np.concatenate([state, nxt])}
        assert len(episodes) == 1
        positions = [where[int(v)][1] for v in state]
        assert positions == sorted(positions) and positions[-1] - positions[0] <= 3
    # the final frame of an episode never starts a transition
    assert not any(where[int(v)][1] == 9 for v in batch.states[:, -1, 0])


def test_replay_sampling_is_seeded_and_rewards_terminals_line_up():
    a, b = ReplayBuffer(100, (1,), 2, seed=5), ReplayBuffer(100, (1,), 2, seed=5)
    _fill(a, [4, 6])
    _fill(b, [4, 6])
    x, y = a.sample(64), b.sample(64)
    np.testing.assert_array_equal(x.indices, y.indices)
    last = x.states[:, -1, 0]
    # with these ids, the step number t of a transition is (next id - episode first id); terminal iff t == length
    assert set(np.unique(x.terminals)) <= {0.0, 1.0}
    np.testing.assert_array_equal(x.next_states[:, -1, 0], last + 1)


def test_replay_memory_is_one_byte_per_pixel_per_frame():
    replay = ReplayBuffer(10_000, (84, 84), stack=4)
    assert replay.nbytes <= 1.1 * 10_000 * 84 * 84


def test_replay_misuse_is_an_internal_error():
    from replicate_suite.rl.replay import TransitionReplay

    replay = ReplayBuffer(10, (1,), 1)
    with pytest.raises(RuntimeError, match="before start_episode"):  # a bug in the loop, not bad input
        replay.add(0, 0.0, False, np.zeros(1, np.uint8))
    with pytest.raises(RuntimeError, match="no transitions"):
        replay.sample(4)
    with pytest.raises(RuntimeError, match="empty replay"):
        TransitionReplay(4, 3, 1).sample(2)


def test_transition_replay_rows_are_the_same_draw_as_its_named_arrays(tmp_path):
    """DDPG's replay: sample_rows makes the same draw as sample, laid out [obs | action | reward | next_obs |
    terminal] as DDPGLearner.pack does; it wraps around at capacity; save / load keep contents and generator."""
    from replicate_suite.rl.replay import TransitionReplay

    rng = np.random.default_rng(0)
    replays = [TransitionReplay(7, 3, 2, seed=5) for _ in range(2)]
    for step in range(11):  # wraps: the first four transitions are overwritten
        obs, action, next_obs = rng.normal(size=3), rng.normal(size=2), rng.normal(size=3)
        for replay in replays:
            replay.add(obs, action, float(step), next_obs, step % 4 == 3)
    named, rows = replays[0].sample(50), replays[1].sample_rows(50)
    assert rows.dtype == np.float32 and rows.shape == (50, 3 + 2 + 1 + 3 + 1)
    for column, array in zip(np.split(rows, [3, 5, 6, 9], axis=1), named, strict=True):
        np.testing.assert_array_equal(column.reshape(array.shape), array)
    assert set(rows[:, 5]) <= set(range(4, 11)) and set(rows[:, 9]) == {0.0, 1.0}  # rewards = step numbers
    np.testing.assert_array_equal(rows[:, 9], rows[:, 5] % 4 == 3)  # each terminal with its own transition
    replays[1].save(tmp_path / "replay.npz")
    loaded = TransitionReplay(7, 3, 2, seed=99)
    loaded.load(tmp_path / "replay.npz")
    np.testing.assert_array_equal(loaded.rows, replays[1].rows)
    np.testing.assert_array_equal(loaded.sample_rows(20), replays[1].sample_rows(20))
    # a copy's named arrays are views of its own rows
    import copy
    import pickle

    for clone in (copy.deepcopy(loaded), pickle.loads(pickle.dumps(loaded))):
        clone.add(np.full(3, 7.0), np.full(2, 8.0), 9.0, np.full(3, 10.0), True)
        np.testing.assert_array_equal(clone.rows[clone.cursor - 1], [7, 7, 7, 8, 8, 9, 10, 10, 10, 1])
        np.testing.assert_array_equal(clone.obs[clone.cursor - 1], [7, 7, 7])
        assert not np.array_equal(loaded.rows, clone.rows)


def test_replay_checkpoint_round_trip(tmp_path):
    a = ReplayBuffer(30, (2,), 3, seed=3)
    _fill(a, [5, 12, 20])
    a.sample(10)  # advance the generator
    a.save(tmp_path / "replay.npz")
    b = ReplayBuffer(30, (2,), 3, seed=99)
    b.load(tmp_path / "replay.npz")
    for name in ReplayBuffer._ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert (a.cursor, a.size) == (b.cursor, b.size)
    np.testing.assert_array_equal(a.sample(50).indices, b.sample(50).indices)


# --- Atari ------------------------------------------------------------------------------------------------------


def test_atari_preprocessing_matches_gymnasium_wrappers():
    """gymnasium's stack on every step that does not end the episode (the ending step is fixed: see below)."""
    import ale_py
    import gymnasium as gym
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    from replicate_suite.rl.envs import AtariConfig, make_atari

    gym.register_envs(ale_py)
    ours = make_atari("Breakout", AtariConfig(frame_skip=4, noop_max=0))
    raw = gym.make("ALE/Breakout-v5", frameskip=1, repeat_action_probability=0.0, full_action_space=False)
    reference = FrameStackObservation(AtariPreprocessing(raw, noop_max=0, frame_skip=4, screen_size=84), 4)
    assert ours.action_space.n == 4  # Breakout's minimal action set
    a, _ = ours.reset(seed=3)
    b, _ = reference.reset(seed=3)
    rng = np.random.default_rng(0)
    lives_lost = 0
    for _ in range(300):
        action = int(rng.integers(4))
        a, ra, ta, tra, info = ours.step(action)
        b, rb, tb, trb, _ = reference.step(action)
        assert a.shape == (4, 84, 84) and a.dtype == np.uint8
        assert (ra, ta, tra) == (rb, tb, trb)
        lives_lost += info["life_lost"]
        if ta or tra:
            break
        np.testing.assert_array_equal(a, b)
    assert lives_lost >= 1  # random play in Breakout loses a life within 300 steps


def _raw_frames(actions, frame_skip, seed, max_frames=None, end_on_life_loss=False, game="Breakout"):
    """Per agent step, the newest observation computed from raw ALE frames (`ALE/<game>-v5`, frameskip 1,
    grayscale): cv2.resize(max(newest frame, the frame before), (84, 84), INTER_AREA); the step stops on game over,
    at `max_frames` emulator frames, or on a life lost (end_on_life_loss). Also whether each step ended."""
    import ale_py
    import cv2
    import gymnasium as gym

    gym.register_envs(ale_py)
    raw = gym.make(f"ALE/{game}-v5", frameskip=1, repeat_action_probability=0.0, obs_type="grayscale")
    frame, info = raw.reset(seed=seed)
    frames, lives = [np.zeros_like(frame), frame], info["lives"]
    expected, ended = [], []
    for action in actions:
        done = False
        for _ in range(frame_skip):
            frame, _, terminated, _, info = raw.step(action)
            frames.append(frame)
            life_lost, lives = info["lives"] < lives, info["lives"]
            done = terminated or len(frames) - 2 == max_frames or (end_on_life_loss and life_lost)
            if done:
                break
        expected.append(cv2.resize(np.maximum(frames[-1], frames[-2]), (84, 84), interpolation=cv2.INTER_AREA))
        ended.append(done)
        if done:
            break
    return expected, ended


@pytest.mark.parametrize("max_frames", [8, 9, 10, 11])
def test_truncated_step_observation_is_the_max_of_its_last_two_raw_frames(max_frames):
    """Issue 19's smallest input (8 frames: the second step truncates; gymnasium's stock wrapper gives
    resize(max(f3, f4, f7)) there), and truncation on each other frame of a skip (9: the frame before is the
    previous step's last)."""
    from replicate_suite.rl.envs import AtariConfig, make_atari

    env = make_atari("Breakout", AtariConfig(max_episode_frames=max_frames))
    env.reset(seed=0)
    expected, ended = _raw_frames([1] * 3, 4, seed=0, max_frames=max_frames)
    truncated = False
    for step, want in enumerate(expected):
        obs, _, terminated, truncated, _ = env.step(1)
        np.testing.assert_array_equal(obs[-1], want, err_msg=f"step {step + 1}")
        assert truncated == ended[step] and not terminated
    assert truncated and env.unwrapped.ale.getEpisodeFrameNumber() == max_frames


@pytest.mark.parametrize("game, frame_skip, lives", [("Breakout", 4, 5), ("SpaceInvaders", 3, 3)])
def test_every_observation_up_to_game_over_is_the_max_of_the_last_two_raw_frames(game, frame_skip, lives):
    """Space Invaders (the 2013 paper's frame skip 3) changes its screen on the game-over frame, so the stock
    wrapper's stale observation differs there; Breakout's does not, but it loses a life on each ball."""
    from replicate_suite.rl.envs import AtariConfig, make_atari

    env = make_atari(game, AtariConfig(frame_skip=frame_skip))
    actions = np.random.default_rng(5).integers(env.action_space.n, size=5000).tolist()
    expected, ended = _raw_frames(actions, frame_skip, seed=2, game=game)
    assert ended[-1]  # random play ends the game
    obs, _ = env.reset(seed=2)
    lives_lost = 0
    for step, want in enumerate(expected):
        obs, _, terminated, truncated, info = env.step(actions[step])
        np.testing.assert_array_equal(obs[-1], want, err_msg=f"step {step + 1} of {len(expected)}")
        assert terminated == ended[step] and not truncated
        lives_lost += info["life_lost"]  # a lost life does not end the step here: the skip plays on
    assert lives_lost == lives  # the last one with the game over


def test_step_ended_by_a_lost_life_observes_the_max_of_its_last_two_raw_frames():
    """terminal_on_life_loss=True leaves the frame-skip loop on the frame the life was lost."""
    import ale_py
    import gymnasium as gym

    from replicate_suite.rl.envs import MaxLastTwoFrames

    gym.register_envs(ale_py)
    raw = gym.make("ALE/Breakout-v5", frameskip=1, repeat_action_probability=0.0)
    env = MaxLastTwoFrames(raw, noop_max=0, frame_skip=4, terminal_on_life_loss=True)
    actions = np.random.default_rng(1).integers(4, size=2000).tolist()
    expected, ended = _raw_frames(actions, 4, seed=7, end_on_life_loss=True)
    assert ended[-1]
    env.reset(seed=7)
    for step, want in enumerate(expected):
        obs, _, terminated, _, _ = env.step(actions[step])
        np.testing.assert_array_equal(obs, want, err_msg=f"step {step + 1} of {len(expected)}")
        assert terminated == ended[step]
    assert env.unwrapped.ale.getEpisodeFrameNumber() % 4 != 0  # the life was lost inside a skip


class _NoopAgent:
    """Always NOOP: Breakout never launches the ball, so only a cap ends its episodes."""

    num_actions = 1

    def act(self, obs, epsilon, rng):
        return 0


@pytest.mark.parametrize(
    "game, frame_skip, noop_max, steps",
    [("Breakout", 4, 0, 75), ("SpaceInvaders", 3, 0, 100), ("Breakout", 4, 30, None)],
)
def test_evaluation_cap_counts_emulator_frames(game, frame_skip, noop_max, steps):
    """A 300-frame cap: 75 agent steps at frame skip 4, 100 at 3; with no-op starts the no-op frames count too."""
    from replicate_suite.rl.envs import AtariConfig, make_atari
    from replicate_suite.rl.loop import evaluate

    env = make_atari(game, AtariConfig(frame_skip=frame_skip, noop_max=noop_max))
    result = evaluate(_NoopAgent(), env, 2, 0.0, seed=0, max_frames=300)
    played = env.unwrapped.ale.getEpisodeFrameNumber()
    assert 300 <= played < 300 + frame_skip  # cut on the step that reached the cap
    if steps is not None:
        assert result.steps == [steps, steps]
    else:  # each episode's no-op frames (1..30) come out of the same cap: ceil((300 - 30) / 4) .. ceil(299 / 4)
        assert all(68 <= n <= 75 for n in result.steps) and min(result.steps) < 75


def test_space_invaders_frame_skip_and_unknown_game():
    from replicate_suite.rl.envs import AtariConfig, make_atari

    env = make_atari("SpaceInvaders", AtariConfig(frame_skip=3))
    env.reset(seed=0)
    env.step(0)
    assert env.unwrapped.ale.getEpisodeFrameNumber() == 3
    with pytest.raises(ReplicateError, match="unknown Atari game 'Breakout2'"):
        make_atari("Breakout2", AtariConfig())


def test_atari_q_networks_have_the_papers_sizes():
    from replicate_suite.models.qnets import build_atari_cnn, build_q_network

    # Mnih 2013: 16x8x8x4+16, 32x4x4x16+32, 2592x256+256, 256xA+A
    small = build_atari_cnn(4, "mnih2013")
    assert small.count_params() == (8 * 8 * 4 * 16 + 16) + (4 * 4 * 16 * 32 + 32) + (9 * 9 * 32 * 256 + 256) + (
        256 * 4 + 4
    )
    nature = build_atari_cnn(6, "nature")
    # Nature 2015: 32 8x8 on 4 frames, 64 4x4, 64 3x3, 7x7x64 = 3136 -> 512 -> 6 actions (Pong)
    convs = (8 * 8 * 4 * 32 + 32) + (4 * 4 * 32 * 64 + 64) + (3 * 3 * 64 * 64 + 64)
    assert nature.count_params() == convs + (3136 * 512 + 512) + (512 * 6 + 6) == 1_687_206
    # Young & Tian 2019 (MinAtar): 16 3x3 on the 10x10 grid's channels, 8x8x16 = 1024 -> 128 -> actions
    minatar = build_q_network("minatar", 3, (10, 10, 4))
    assert minatar.count_params() == (3 * 3 * 4 * 16 + 16) + (1024 * 128 + 128) + (128 * 3 + 3)
    assert build_q_network("nature", 6, (4, 84, 84)).count_params() == 1_687_206


# --- agent, loop, checkpoints -----------------------------------------------------------------------------------


def _chain_setup(checkpoint_every=0):
    import keras
    from rl_fixtures import build_q_mlp

    from replicate_suite.rl.agents.dqn import DQNAgent, DQNConfig
    from replicate_suite.rl.loop import LoopConfig

    keras.utils.set_random_seed(0)
    agent = DQNAgent(
        lambda: build_q_mlp(8, 2, (32,)),
        2,
        DQNConfig(gamma=0.9, learning_rate=1e-3, optimizer="adam", loss="huber", target_period=50, double=True),
    )
    cfg = LoopConfig(
        total_steps=2500,
        learning_starts=200,
        train_every=1,
        batch_size=32,
        replay_capacity=5000,
        epsilon_start=1.0,
        epsilon_end=0.05,
        epsilon_steps=1200,
        eval_every=500,
        eval_episodes=2,
        eval_epsilon=0.0,
        eval_max_frames=0,
        clip_rewards=False,
        terminal_on_life_loss=False,
        checkpoint_every=checkpoint_every,
        q_probe_states=8,
    )
    return agent, cfg


def test_dqn_learns_the_chain_to_its_optimal_values():
    from rl_fixtures import ChainEnv

    from replicate_suite.rl.loop import train_dqn

    agent, cfg = _chain_setup()
    metrics = train_dqn(lambda: ChainEnv(8, horizon=25), agent, cfg, seed=0, curves=CurveLog(), progress=False)
    assert metrics["eval_return_dqn"] == 1.0  # the greedy policy walks to the goal
    states = np.eye(8, dtype=np.float32)[:7]
    optimal = 0.9 ** np.arange(6, -1, -1)  # V*(s_i) = gamma^(n-2-i), reward 1 on reaching state 7
    np.testing.assert_allclose(agent.q_values(states).max(axis=1), optimal, atol=0.05)


def test_agent_checkpoint_round_trip_restores_weights_and_optimizer(tmp_path):
    agent, _ = _chain_setup()
    replay = ReplayBuffer(100, (8,), 1)
    _fill_vectors(replay)
    for _ in range(3):
        agent.update(replay.sample(16))
    np.savez(tmp_path / "a.npz", **agent.state_arrays())
    other, _ = _chain_setup()
    with np.load(tmp_path / "a.npz") as saved:
        other.load_state_arrays(dict(saved))
    for name, value in agent.state_arrays().items():
        np.testing.assert_array_equal(value, other.state_arrays()[name], err_msg=name)
    batch = replay.sample(16)
    assert agent.update(batch) == other.update(batch)


def test_agent_state_is_keyed_by_variable_path_and_a_mismatch_is_refused():
    from replicate_suite.rl.agents.state import restore_named

    agent, _ = _chain_setup()
    arrays = agent.state_arrays()
    assert "online/hidden_1/kernel" in arrays and "target/q_values/bias" in arrays and "updates" in arrays
    other, _ = _chain_setup()
    groups = other.variable_groups()
    # by path: the order in which the variables are listed does not matter
    restore_named({"online": list(reversed(groups["online"]))}, arrays)
    for variable in other.learner.online.weights:
        np.testing.assert_array_equal(np.asarray(variable), arrays[f"online/{variable.path}"])
    missing = {k: v for k, v in arrays.items() if k != "online/hidden_1/bias"}
    with pytest.raises(ReplicateError, match="lacks online/hidden_1/bias"):
        other.load_state_arrays(missing)
    with pytest.raises(ReplicateError, match="holds online/hidden_9/kernel"):
        other.load_state_arrays({**arrays, "online/hidden_9/kernel": np.zeros(3)})
    wrong = {**arrays, "online/q_values/kernel": np.zeros((32, 3), np.float32)}
    before = [np.asarray(v).copy() for v in other.learner.online.weights]
    with pytest.raises(ReplicateError, match=r"online/q_values/kernel has shape \(32, 3\)"):
        other.load_state_arrays(wrong)
    for variable, value in zip(other.learner.online.weights, before, strict=True):  # nothing was assigned
        np.testing.assert_array_equal(np.asarray(variable), value)


def _as_format_2(checkpoint, agent):
    """Rewrite a format-3 checkpoint as format 2 wrote it: arrays numbered by position, DQN's env state under
    env_state, manifest format 2 (with the new files' checksums)."""
    import json

    from replicate_suite.data.files import sha256_of
    from replicate_suite.rl.agents.state import variable_keys
    from replicate_suite.rl.checkpoint import MANIFEST

    with np.load(checkpoint / "agent.npz") as saved:
        arrays = dict(saved)
    numbered = {"updates": arrays.pop("updates")}
    for group, variables in agent.variable_groups().items():
        for i, key in enumerate(variable_keys(group, variables)):
            numbered[f"{group}_{i}"] = arrays.pop(key)
    assert not arrays
    np.savez(checkpoint / "agent.npz", **numbered)
    state = json.loads((checkpoint / "state.json").read_text())
    state["env_state"] = state.pop("env")
    (checkpoint / "state.json").write_text(json.dumps(state))
    manifest = json.loads((checkpoint / MANIFEST).read_text())
    manifest["format"] = 2
    manifest["files"] = {name: sha256_of(checkpoint / name) for name in manifest["files"]}
    (checkpoint / MANIFEST).write_text(json.dumps(manifest))


def _fill_vectors(replay):
    eye = np.eye(8, dtype=np.float32)
    replay.start_episode(eye[0])
    for t in range(1, 40):
        replay.add(t % 2, float(t % 3 == 0), t % 13 == 0, eye[t % 8])


def test_killed_run_resumes_and_ends_exactly_like_an_uninterrupted_one(tmp_path, monkeypatch):
    from rl_fixtures import ChainEnv

    from replicate_suite.rl.agents.dqn import DQNAgent
    from replicate_suite.rl.loop import train_dqn

    make_env = lambda: ChainEnv(8, horizon=25)  # noqa: E731
    agent, cfg = _chain_setup(checkpoint_every=700)
    straight_curves = CurveLog()
    straight = train_dqn(make_env, agent, cfg, seed=1, curves=straight_curves, progress=False)
    straight_weights = agent.state_arrays()

    agent, cfg = _chain_setup(checkpoint_every=700)
    real_update, calls = DQNAgent.update, {"n": 0}

    def dying_update(self, batch):
        calls["n"] += 1
        if calls["n"] == 1000:  # step 1199: after the checkpoint at 700, before the one at 1400
            raise KeyboardInterrupt("killed")
        return real_update(self, batch)

    monkeypatch.setattr(DQNAgent, "update", dying_update)
    with pytest.raises(KeyboardInterrupt):
        train_dqn(make_env, agent, cfg, seed=1, curves=CurveLog(), checkpoint_dir=tmp_path, progress=False)
    monkeypatch.setattr(DQNAgent, "update", real_update)
    with pytest.raises(ReplicateError, match="interrupted run"):  # refusing to silently start over
        train_dqn(make_env, *_chain_setup(700), seed=1, curves=CurveLog(), checkpoint_dir=tmp_path, progress=False)

    import shutil

    legacy = tmp_path.parent / f"{tmp_path.name}_format2"
    shutil.copytree(tmp_path, legacy)
    _as_format_2(legacy / (legacy / "LATEST").read_text(), _chain_setup()[0])

    agent, cfg = _chain_setup(checkpoint_every=700)
    resumed_curves = CurveLog()
    resumed = train_dqn(make_env, agent, cfg, 1, resumed_curves, checkpoint_dir=tmp_path, resume=True, progress=False)
    migrated_agent, cfg = _chain_setup(checkpoint_every=700)
    migrated_curves = CurveLog()
    migrated = train_dqn(
        make_env, migrated_agent, cfg, 1, migrated_curves, checkpoint_dir=legacy, resume=True, progress=False
    )
    assert migrated_curves.rows == resumed_curves.rows  # a format-2 checkpoint is migrated, not refused
    assert {k: v for k, v in migrated.items() if "seconds" not in k} == {
        k: v for k, v in resumed.items() if "seconds" not in k
    }
    assert resumed.pop("resumes_dqn") == 1 and straight.pop("resumes_dqn") == 0
    resumed.pop("train_seconds_dqn"), straight.pop("train_seconds_dqn")
    assert resumed == straight
    assert resumed_curves.rows == straight_curves.rows
    for name, value in straight_weights.items():
        np.testing.assert_array_equal(value, agent.state_arrays()[name], err_msg=name)
    for name, value in straight_weights.items():
        np.testing.assert_array_equal(value, migrated_agent.state_arrays()[name], err_msg=f"migrated {name}")


@pytest.mark.parametrize(
    "stack, capacity, episodes", [(4, 23, [9, 9, 9, 9, 9]), (4, 200, [1, 2, 7, 30]), (1, 23, [5, 9, 12])]
)
def test_replay_sample_equals_the_two_stack_walks(stack, capacity, episodes):
    """sample() gathers stack + 1 frames once per transition; its states and next states must equal the two walks
    stacks(idx) and stacks(idx + 1) (the definition), also across a wrapped buffer and at episode starts."""
    replay = ReplayBuffer(capacity=capacity, frame_shape=(2, 3), stack=stack, seed=5)
    _fill(replay, episodes)
    batch = replay.sample(500)
    np.testing.assert_array_equal(batch.states, replay.stacks(batch.indices))
    np.testing.assert_array_equal(batch.next_states, replay.stacks((batch.indices + 1) % capacity))
    assert batch.states.flags.c_contiguous and batch.next_states.flags.c_contiguous
    assert batch.states.shape == ((500, stack, 2, 3) if stack > 1 else (500, 2, 3))


# --- channels-last minibatches (frames_last) ---------------------------------------------------------------------


def _random_episodes(replay: ReplayBuffer, steps: int, seed: int) -> None:
    """Frames of random pixels (every byte value can occur) in episodes that end at random."""
    rng = np.random.default_rng(seed)

    def frame():
        return rng.integers(0, 256, replay.frame_shape).astype(replay.frames.dtype)

    replay.start_episode(frame())
    for _ in range(steps):
        terminal = bool(rng.random() < 0.08)
        replay.add(int(rng.integers(4)), float(rng.normal()), terminal, frame())
        if terminal:
            replay.start_episode(frame())


@pytest.mark.parametrize(
    "stack, dtype, capacity", [(4, "uint8", 50), (4, "uint8", 400), (2, "uint8", 60), (8, "uint8", 90),
                               (3, "uint8", 60), (4, "float32", 60), (4, ">u2", 60), (1, "uint8", 40)]
)  # fmt: skip
def test_frames_last_sample_is_the_same_draw_laid_out_channels_last(stack, dtype, capacity):
    """sample(frames_last=True) must give the same transitions as sample() from a twin buffer, with the stack as the
    last axis: byte packing (uint8, stacks of 2, 4, 8), np.stack otherwise (stack 3, float frames); a stack of one
    has no stack axis to move and stays as it is."""
    twins = [ReplayBuffer(capacity=capacity, frame_shape=(3, 5), stack=stack, dtype=dtype, seed=9) for _ in range(2)]
    for replay in twins:
        _random_episodes(replay, 3 * capacity, seed=4)
    for _ in range(3):
        first, last = twins[0].sample(300), twins[1].sample(300, frames_last=True)
        np.testing.assert_array_equal(first.indices, last.indices)
        for name in ("actions", "rewards", "terminals"):
            np.testing.assert_array_equal(getattr(first, name), getattr(last, name))
        assert last.frames_last == (stack > 1) and not first.frames_last
        for ours, theirs in ((last.states, first.states), (last.next_states, first.next_states)):
            expected = np.moveaxis(theirs, 1, -1) if stack > 1 else theirs
            np.testing.assert_array_equal(ours, expected)
            assert ours.dtype == theirs.dtype and ours.flags.c_contiguous


@pytest.mark.parametrize("k", [1, 2, 3, 4, 8])
def test_frames_last_pair_packs_every_byte_value_in_place(k):
    from replicate_suite.rl.replay import frames_last_pair

    rng = np.random.default_rng(k)
    planes = [rng.integers(0, 256, (6, 7, 5)).astype(np.uint8) for _ in range(k + 1)]
    planes[0][0, 0, 0], planes[-1][0, 0, 0] = 255, 255  # the top byte set: no sign or overflow trouble
    first, second = frames_last_pair(planes)
    np.testing.assert_array_equal(first, np.stack(planes[:-1], axis=-1))
    np.testing.assert_array_equal(second, np.stack(planes[1:], axis=-1))


def test_frames_last_body_is_only_for_a_chain_after_the_permute():
    """A net that is not one chain from its input through the channels_last Permute (a layer applied twice, a
    dueling head's branches, the Permute applied twice, a layer before it, a call keyword such as training=True)
    gets no body, so its agent keeps the permuted layout (and its numbers)."""
    import keras
    from keras import layers

    from replicate_suite.models.qnets import build_atari_cnn, frames_last_body
    from replicate_suite.rl.agents.dqn import DQNAgent, DQNConfig

    def net(kind):
        if kind == "layer_before_permute":  # a Sequential's layers leave out its input layer
            return keras.Sequential([keras.Input((4, 36, 36), dtype="uint8"), layers.Rescaling(1 / 255),
                                     layers.Permute((2, 3, 1), name="channels_last"), layers.Flatten(),
                                     layers.Dense(3)])  # fmt: skip
        inputs = keras.Input((4, 36, 36), dtype="uint8")
        permute = layers.Permute((2, 3, 1), name="channels_last")
        if kind == "permute_twice":
            return keras.Model(inputs, layers.Dense(3)(layers.Flatten()(permute(permute(inputs)))))
        x = permute(inputs)
        x = layers.Flatten()(layers.Conv2D(8, 8, 4, activation="relu")(layers.Rescaling(1 / 255)(x)))
        x = layers.Dense(16, activation="relu")(x)
        if kind == "keyword":
            x = layers.Dense(3)(layers.Dropout(0.5)(x, training=True))
        elif kind == "tied":
            tied = layers.Dense(16, activation="relu")
            x = layers.Dense(3)(tied(tied(x)))
        elif kind == "dueling":
            x = layers.Add()([layers.Dense(1)(x), layers.Dense(3)(x)])
        else:
            x = layers.Dense(3)(x)
        return keras.Model(inputs, x)

    assert frames_last_body(net("chain")) is not None and frames_last_body(build_atari_cnn(3, "nature", 4, 36))
    for kind in ("tied", "dueling", "permute_twice", "layer_before_permute", "keyword"):
        assert frames_last_body(net(kind)) is None, kind
        agent = DQNAgent(lambda kind=kind: net(kind), 3, DQNConfig(0.99, 1e-3, "adam", "huber", 0))
        assert agent.frames_last is False
    kinds = iter(["chain", "keyword"])  # an online net with a body, a target net without one: neither takes it
    assert DQNAgent(lambda: net(next(kinds)), 3, DQNConfig(0.99, 1e-3, "adam", "huber", 5)).frames_last is False


_FRAMES_LAST_CHILD = """
import json, sys
import keras, numpy as np
import replicate_suite.rl.agents.dqn as dqn
from replicate_suite.models.qnets import build_atari_cnn, build_minatar_cnn
from replicate_suite.rl.replay import Batch

def trained(frames_last, arch, double):
    original = dqn.frames_last_body
    if not frames_last:  # the layout every update took before frames_last existed
        dqn.frames_last_body = lambda model: None
    try:
        keras.utils.set_random_seed(1)
        agent = dqn.DQNAgent(lambda: build_atari_cnn(4, arch), 4, dqn.DQNConfig(
            0.99, 1e-3, "adam", "huber", target_period=2, double=double, max_grad_norm=1.0))
    finally:
        dqn.frames_last_body = original
    assert agent.frames_last == frames_last
    rng = np.random.default_rng(2)
    losses = []
    for step in range(4):
        window = rng.integers(0, 256, (8, 5, 84, 84)).astype(np.uint8)
        states, next_states = window[:, :-1].copy(), window[:, 1:].copy()
        layout_last = frames_last and step % 2 == 1  # both layouts reach the same agent
        if layout_last:
            states, next_states = (np.ascontiguousarray(np.moveaxis(s, 1, -1)) for s in (states, next_states))
        losses.append(agent.update(Batch(states, rng.integers(0, 4, 8), rng.normal(size=8).astype(np.float32),
                                         (rng.random(8) < 0.2).astype(np.float32), next_states, np.arange(8),
                                         frames_last=layout_last)))
    q = agent.q_values(window[:3, 1:])
    return [losses, [w.tolist() for w in agent.learner.online.get_weights()], q.tolist()]

report = {}
for arch in ("nature", "mnih2013"):
    for double in (False, True):
        report[f"{arch}_{double}"] = trained(False, arch, double) == trained(True, arch, double)
keras.utils.set_random_seed(1)
minatar = dqn.DQNAgent(lambda: build_minatar_cnn(3, 4), 3, dqn.DQNConfig(0.99, 1e-3, "adam", "huber", 2))
report["minatar_keeps_its_layout"] = minatar.frames_last is False
try:
    dqn.QLearner(build_minatar_cnn(3, 4), None, minatar.cfg, frames_last=True)
    report["refused"] = False
except ValueError:
    report["refused"] = True
print("RESULT" + json.dumps(report))
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_frames_last_updates_are_bit_identical_to_the_permuted_ones(backend):
    """An Atari CNN's updates on channels-last minibatches (through frames_last_body, no transposes) must give the
    losses, weights and Q-values of the updates through the whole net's channels_last Permute, bit for bit; a batch
    in the other layout is transposed by the agent; a net without that Permute keeps its layout and refuses
    frames_last."""
    import json
    import os
    import subprocess
    import sys

    if backend == "jax":
        pytest.importorskip("jax")
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-c", _FRAMES_LAST_CHILD], env=env, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.split("RESULT")[-1])
    assert report == dict.fromkeys(report, True) and len(report) == 6, report
