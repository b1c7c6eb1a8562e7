"""Deep RL with Double Q-learning (van Hasselt, Guez & Silver 2016): Q-learning's overestimation, from exact to
approximate.

Reads top to bottom: config; part `exact` (Theorem 1 checked on random and constructed error vectors, the
uniform-error result, Fig. 1's toy, Fig. 2's polynomial fits); part `mdp` (tabular Q-learning vs Double Q-learning
on a chain whose Q* is known); parts `dqn_<Game>` / `double_<Game>` (Fig. 3: value estimates vs the discounted
return actually obtained, on Atari or, with `suite: minatar`, on a MinAtar game; checkpointed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from replicate_suite.errors import ReplicateError
from replicate_suite.models.qnets import Architecture, build_q_network
from replicate_suite.results import CurveLog
from replicate_suite.rl.agents.dqn import DQNAgent, DQNConfig
from replicate_suite.rl.envs import (
    MINATAR_GAMES,
    MINATAR_LABEL_PREFIX,
    AtariConfig,
    EnvRecipe,
    MinAtarConfig,
    atari_env_id,
    check_frame_caps,
)
from replicate_suite.rl.loop import LoopConfig, train_dqn
from replicate_suite.runner import RunContext

VARIANT_FIELD = "parts"  # replicate run double_dqn_overestimation --variant mdp (or exact, dqn_Asterix, ...)
ATARI_KINDS = ("dqn", "double")
FIG2_DISPLAY_POINTS = 121  # states at which Fig. 2's curves are logged for the figure (0.1 apart on [-6, 6])


@dataclass(frozen=True)
class TheoremConfig:
    actions: list[int]
    """Numbers of actions m at which the bound is checked."""
    error_vectors: int
    """Random error vectors per m (zero sum, mean square C) on which max_a Q - V* >= sqrt(C / (m - 1)) is checked."""
    uniform_draws: int
    """Monte-Carlo draws for: errors uniform in [-1, 1] give an expected overoptimism of (m - 1) / (m + 1)."""


@dataclass(frozen=True)
class Fig1Config:
    actions: list[int]
    repetitions: int
    """Paper: 100."""


@dataclass(frozen=True)
class Fig2Row:
    name: str
    truth: Literal["sin", "gauss"]
    """sin: Q*(s, a) = sin(s); gauss: Q*(s, a) = 2 exp(-s^2)."""
    degree: int
    """Degree of the least-squares polynomial fitted per action."""


@dataclass(frozen=True)
class Fig2Config:
    actions: int
    low: float
    high: float
    grid_points: int
    """States (evenly spaced on [low, high]) over which the average error is taken."""
    rows: list[Fig2Row]


@dataclass(frozen=True)
class MDPConfig:
    states: int
    """Chain length: every action moves s_i to s_{i+1}; the last state ends the episode."""
    actions: int
    reward_mean: float
    reward_std: float
    gamma: float
    episodes: int
    repetitions: int
    """Independent learners (vectorised), each seeing its own rewards."""
    learning_rate_power: float
    """alpha = 1 / n(s, a)^power, n counting that (s, a)'s updates (per table for Double Q-learning)."""
    log_every: int


@dataclass(frozen=True)
class Config:
    parts: list[str]
    """exact, mdp, dqn_<Game>, double_<Game>."""
    theorem: TheoremConfig
    fig1: Fig1Config
    fig2: Fig2Config
    mdp: MDPConfig
    suite: Literal["atari", "minatar"]
    """Where the dqn_/double_ parts play: the Atari games (the paper), or MinAtar's 10x10 versions of them."""
    atari: AtariConfig
    minatar: MinAtarConfig
    network: Architecture
    """mnih2013 / nature on Atari frames, minatar on MinAtar grids."""
    agent: DQNConfig
    loop: LoopConfig

    def __post_init__(self):
        if (self.suite == "minatar") != (self.network == "minatar"):
            raise ReplicateError(
                f"network {self.network!r} does not fit suite {self.suite!r} (minatar goes with minatar)"
            )
        if self.suite == "atari":
            check_frame_caps(self.atari.frame_skip, self.atari.max_episode_frames, self.loop.eval_max_frames)
        elif self.loop.eval_max_frames > self.minatar.max_episode_frames:
            raise ReplicateError(
                f"loop.eval_max_frames ({self.loop.eval_max_frames}) is above minatar.max_episode_frames "
                f"({self.minatar.max_episode_frames}), which would cut evaluation episodes first"
            )


def parse_part(part: str, suite: str = "atari") -> tuple[str, str | None]:
    """'exact' -> ('exact', None); 'double_Asterix' -> ('double', 'Asterix'); anything else is an error."""
    if part in ("exact", "mdp"):
        return part, None
    kind, _, game = part.partition("_")
    if kind not in ATARI_KINDS or not game:
        raise ReplicateError(f"unknown part {part!r}: exact, mdp, dqn_<Game> or double_<Game>")
    if suite == "minatar":
        if game not in MINATAR_GAMES:
            raise ReplicateError(f"unknown MinAtar game {game!r} (MinAtar has: {', '.join(MINATAR_GAMES)})")
    else:
        atari_env_id(game)  # an unknown game fails here, naming the known ones
    return kind, game


def part_label(kind: str, game: str, suite: str) -> str:
    """The name a dqn_/double_ part's curves and metrics carry (`<metric>/<label>`, `<metric>_<label>`):
    'dqn_Asterix' on Atari, 'dqn_MinAtarAsterix' on MinAtar, so that runs of the two suites never share a metric
    (the cpu profile moved from Atari to MinAtar Asterix; both kinds of run sit in results/.../cpu/)."""
    return f"{kind}_{MINATAR_LABEL_PREFIX if suite == 'minatar' else ''}{game}"


# --- part exact: Theorem 1, the uniform case, Fig. 1 -------------------------------------------------------------
def zero_sum_errors(rng: np.random.Generator, m: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` error vectors of length m with sum 0 and mean square C (C drawn in (0, 4]), from three shapes of
    distribution (normal, right-skewed, left-skewed) so that the bound is tried near its worst case too."""
    shapes = [rng.standard_normal, rng.standard_exponential, lambda size: -rng.standard_exponential(size)]
    raw = np.concatenate([shape(size=(count // 3 + 1, m)) for shape in shapes])[:count]
    centred = raw - raw.mean(axis=1, keepdims=True)
    c = rng.uniform(1e-3, 4.0, size=(count, 1))
    scale = np.sqrt(c / np.mean(centred**2, axis=1, keepdims=True))
    return centred * scale, c[:, 0]


def tight_errors(m: int, c: float) -> np.ndarray:
    """The vector that attains the bound: m - 1 errors of +sqrt(C/(m-1)) and one of -sqrt(C (m-1))."""
    errors = np.full(m, math.sqrt(c / (m - 1)))
    errors[0] = -math.sqrt(c * (m - 1))
    return errors


def double_zero_errors(errors: np.ndarray) -> np.ndarray | None:
    """A second estimate Q' meeting the same conditions whose value at argmax Q is exact (m >= 3; for m = 2 the
    conditions force |Q' - V*| = sqrt(C) on both actions, so no such Q' exists)."""
    m = len(errors)
    if m < 3:
        return None
    c = float(np.mean(errors**2))
    best = int(np.argmax(errors))
    others = [a for a in range(m) if a != best]
    second = np.zeros(m)
    second[others[0]], second[others[1]] = math.sqrt(m * c / 2), -math.sqrt(m * c / 2)
    return second


def expected_max_normal(m: int) -> float:
    """E[max of m independent N(0, 1)] by quadrature of x m phi(x) Phi(x)^(m-1)."""
    x = np.linspace(-12.0, 12.0, 48001)
    cdf = 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))
    density = m * np.exp(-0.5 * x**2) / math.sqrt(2 * math.pi) * cdf ** (m - 1)
    return float(np.trapezoid(x * density, x))


def theorem_checks(cfg: TheoremConfig, rng: np.random.Generator) -> dict[str, float]:
    slack, tight_gap, double_abs, double_conditions, uniform_dev = [], [], [], [], []
    for m in cfg.actions:
        errors, c = zero_sum_errors(rng, m, cfg.error_vectors)
        slack.append(float(np.min(errors.max(axis=1) - np.sqrt(c / (m - 1)))))
        tight = tight_errors(m, 1.0)
        tight_gap.append(abs(tight.max() - math.sqrt(1.0 / (m - 1))))
        for vector in errors[:10]:
            second = double_zero_errors(vector)
            if second is not None:
                double_abs.append(abs(second[int(np.argmax(vector))]))
                double_conditions.append(max(abs(second.sum()), abs(np.mean(second**2) - np.mean(vector**2))))
        drawn, total = 0, 0.0
        while drawn < cfg.uniform_draws:
            chunk = min(cfg.uniform_draws - drawn, max(1, 2_000_000 // m))
            total += float(rng.uniform(-1.0, 1.0, size=(chunk, m)).max(axis=1).sum())
            drawn += chunk
        uniform_dev.append(abs(total / drawn - (m - 1) / (m + 1)))
    metrics = {
        "theorem_min_slack": min(slack),
        "theorem_tight_gap": max(tight_gap),
        "theorem_uniform_max_abs_dev": max(uniform_dev),
    }
    if double_abs:
        metrics["theorem_double_min_abs_error"] = min(double_abs)
        metrics["theorem_double_conditions_max_violation"] = max(double_conditions)
    return metrics


def fig1(cfg: Fig1Config, rng: np.random.Generator, curves: CurveLog) -> dict[str, float]:
    """Bias of max_a Q(s, a) and of Q'(s, argmax_a Q(s, a)) for Q = V* + standard normal errors, Q' independent."""
    metrics: dict[str, float] = {}
    worst_z, worst_exact = 0.0, 0.0
    for m in cfg.actions:
        q = rng.standard_normal((cfg.repetitions, m))
        q_second = rng.standard_normal((cfg.repetitions, m))
        single = q.max(axis=1)
        double = q_second[np.arange(cfg.repetitions), q.argmax(axis=1)]
        metrics[f"fig1_max_bias_m{m}"] = float(single.mean())
        metrics[f"fig1_double_bias_m{m}"] = float(double.mean())
        exact = expected_max_normal(m)
        curves.add(
            m, **{"fig1_bias/max": single.mean(), "fig1_bias/double": double.mean(), "fig1_bias/exact_max": exact}
        )
        worst_z = max(worst_z, abs(double.mean()) / (double.std(ddof=1) / math.sqrt(cfg.repetitions)))
        worst_exact = max(worst_exact, abs(single.mean() - exact) / (single.std(ddof=1) / math.sqrt(cfg.repetitions)))
    metrics["fig1_double_max_abs_z"] = worst_z
    metrics["fig1_max_vs_exact_max_abs_z"] = worst_exact
    return metrics


# --- part exact: Fig. 2 -------------------------------------------------------------------------------------------
def true_values(truth: str, states: np.ndarray) -> np.ndarray:
    return np.sin(states) if truth == "sin" else 2.0 * np.exp(-(states**2))


def sampled_states(cfg: Fig2Config, action: int) -> np.ndarray:
    """Integer states in [low, high] except two adjacent ones per action: a1 misses -5 and -4, a2 -4 and -3, ...
    (the end points are always sampled), as in the paper's footnote 1. `action` counts from 0."""
    integers = np.arange(math.ceil(cfg.low), math.floor(cfg.high) + 1, dtype=float)
    missing = {integers[0] + action + 1, integers[0] + action + 2}
    return np.array([s for s in integers if s not in missing])


def second_set(action: int, actions: int) -> int:
    """Footnote 2: the double estimator of a_i uses the samples of a_(i+5) for i <= 5, else of a_(i-5)."""
    half = actions // 2
    return action + half if action < half else action - half


def fig2_estimates(cfg: Fig2Config, row: Fig2Row, states: np.ndarray) -> np.ndarray:
    """(actions, len(states)): per action the degree-d least-squares polynomial through its sampled true values."""
    fits = []
    for action in range(cfg.actions):
        xs = sampled_states(cfg, action)
        coefficients = np.polynomial.polynomial.polyfit(xs, true_values(row.truth, xs), row.degree)
        fits.append(np.polynomial.polynomial.polyval(states, coefficients))
    return np.array(fits)


def fig2_biases(q: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From the estimates q (actions, states) and V* at those states: max_a Q(s, a) - V*(s) and the double
    estimate Q'(s, argmax_a Q(s, a)) - V*(s), Q' being the partner action's fit (footnote 2)."""
    actions = q.shape[0]
    partner = np.array([second_set(a, actions) for a in range(actions)])
    return q.max(axis=0) - truth, q[partner[q.argmax(axis=0)], np.arange(q.shape[1])] - truth


def fig2(cfg: Fig2Config, curves: CurveLog) -> dict[str, float]:
    if cfg.actions % 2 or cfg.actions > math.floor(cfg.high) - math.ceil(cfg.low) - 1:
        raise ReplicateError("fig2.actions must be even and leave two missing integers per action inside [low, high]")
    metrics: dict[str, float] = {}
    grid = np.linspace(cfg.low, cfg.high, cfg.grid_points)
    display = np.linspace(cfg.low, cfg.high, FIG2_DISPLAY_POINTS)
    samples = set(sampled_states(cfg, 0).tolist())
    for row in cfg.rows:
        single, double = fig2_biases(fig2_estimates(cfg, row, grid), true_values(row.truth, grid))
        metrics[f"fig2_single_bias_{row.name}"] = float(single.mean())
        metrics[f"fig2_double_bias_{row.name}"] = float(double.mean())
        q, truth = fig2_estimates(cfg, row, display), true_values(row.truth, display)
        shown_single, shown_double = fig2_biases(q, truth)
        for i, state in enumerate(display):
            values = {
                f"fig2_{row.name}/state": state,
                f"fig2_{row.name}/truth": float(truth[i]),
                f"fig2_{row.name}/max": float(q[:, i].max()),
                f"fig2_{row.name}/single_bias": float(shown_single[i]),
                f"fig2_{row.name}/double_bias": float(shown_double[i]),
                **{f"fig2_{row.name}/action_{a + 1}": float(q[a, i]) for a in range(cfg.actions)},
            }
            if round(state, 9) in samples:
                values[f"fig2_{row.name}/sample_a1"] = float(truth[i])
            curves.add(i, **values)
    return metrics


# --- part mdp: tabular Q-learning vs Double Q-learning -----------------------------------------------------------
def chain_values(cfg: MDPConfig) -> np.ndarray:
    """V*(s_i) = Q*(s_i, a) for every a: the expected discounted reward of the remaining states - i steps."""
    remaining = cfg.states - np.arange(cfg.states)
    return cfg.reward_mean * (1.0 - cfg.gamma**remaining) / (1.0 - cfg.gamma)


def double_estimate(table_a: np.ndarray, table_b: np.ndarray) -> np.ndarray:
    """Double Q-learning's estimate of max_a Q*(s, a): each table values the other's greedy action, averaged."""
    pick_a = np.take_along_axis(table_b, table_a.argmax(axis=-1)[..., None], axis=-1)[..., 0]
    pick_b = np.take_along_axis(table_a, table_b.argmax(axis=-1)[..., None], axis=-1)[..., 0]
    return 0.5 * (pick_a + pick_b)


def chain_mdp(cfg: MDPConfig, rng: np.random.Generator, curves: CurveLog) -> dict[str, float]:
    """Both learners, `repetitions` copies each, on the same uniformly random behaviour and the same rewards;
    value estimates (Q-learning: max_a Q; Double: the double estimate) against V* over training."""
    n, m, r = cfg.states, cfg.actions, cfg.repetitions
    v_star = chain_values(cfg)
    rows = np.arange(r)
    q, q_count = np.zeros((r, n, m)), np.zeros((r, n, m))
    dq, dq_count = np.zeros((2, r, n, m)), np.zeros((2, r, n, m))

    def biases() -> tuple[np.ndarray, np.ndarray]:
        return q.max(axis=-1) - v_star, double_estimate(dq[0], dq[1]) - v_star  # (repetitions, states) each

    for episode in range(1, cfg.episodes + 1):
        for s in range(n):
            a = rng.integers(m, size=r)
            reward = rng.normal(cfg.reward_mean, cfg.reward_std, size=r)
            last = s == n - 1
            q_count[rows, s, a] += 1
            following = 0.0 if last else q[:, s + 1].max(axis=1)
            q[rows, s, a] += q_count[rows, s, a] ** -cfg.learning_rate_power * (
                reward + cfg.gamma * following - q[rows, s, a]
            )
            table = (rng.random(r) < 0.5).astype(int)  # which of the two tables this step updates
            other = 1 - table
            if last:
                following = 0.0
            else:
                greedy = dq[table, rows, s + 1].argmax(axis=1)
                following = dq[other, rows, s + 1, greedy]
            dq_count[table, rows, s, a] += 1
            dq[table, rows, s, a] += dq_count[table, rows, s, a] ** -cfg.learning_rate_power * (
                reward + cfg.gamma * following - dq[table, rows, s, a]
            )
        if episode % cfg.log_every == 0 or episode == cfg.episodes:
            single, double = biases()
            curves.add(
                episode,
                **{
                    "mdp_bias_mean_over_states/q_learning": float(single.mean()),
                    "mdp_bias_mean_over_states/double_q": float(double.mean()),
                    "mdp_value_s0/q_learning": float(single[:, 0].mean() + v_star[0]),
                    "mdp_value_s0/double_q": float(double[:, 0].mean() + v_star[0]),
                    "mdp_value_s0/truth": float(v_star[0]),
                },
            )
    single, double = biases()
    per_rep_single, per_rep_double = single.mean(axis=1), double.mean(axis=1)
    return {
        "mdp_true_value_s0": float(v_star[0]),
        "mdp_q_value_s0": float(single[:, 0].mean() + v_star[0]),
        "mdp_double_value_s0": float(double[:, 0].mean() + v_star[0]),
        "mdp_q_bias": float(per_rep_single.mean()),
        "mdp_q_bias_se": float(per_rep_single.std(ddof=1) / math.sqrt(r)) if r > 1 else 0.0,
        "mdp_double_bias": float(per_rep_double.mean()),
        "mdp_double_bias_se": float(per_rep_double.std(ddof=1) / math.sqrt(r)) if r > 1 else 0.0,
        "mdp_abs_bias_ratio": float(abs(per_rep_double.mean()) / max(abs(per_rep_single.mean()), 1e-12)),
    }


# --- parts dqn_<Game> / double_<Game>: Fig. 3 ---------------------------------------------------------------------
def train_dqn_part(kind: str, game: str, cfg: Config, seed: int, ctx: RunContext) -> dict[str, float]:
    import keras

    keras.utils.set_random_seed(seed)
    if cfg.suite == "minatar":
        make_env = EnvRecipe.minatar(game, cfg.minatar)
    else:
        make_env = EnvRecipe.atari(game, cfg.atari)
    probe_env = make_env()
    num_actions, obs_shape = int(probe_env.action_space.n), probe_env.observation_space.shape
    probe_env.close()
    agent_cfg = replace(cfg.agent, double=kind == "double")
    agent = DQNAgent(lambda: build_q_network(cfg.network, num_actions, obs_shape), num_actions, agent_cfg)
    label = part_label(kind, game, cfg.suite)
    return train_dqn(
        make_env, agent, cfg.loop, seed, ctx.curves, label=label, resume=ctx.resume, **ctx.loop_dirs(label)
    )


def run(cfg: Config, seed: int, ctx: RunContext) -> dict[str, float]:
    parsed = [parse_part(part, cfg.suite) for part in cfg.parts]  # every bad part fails before anything runs
    if cfg.loop.eval_episodes < 1:
        raise ReplicateError("loop.eval_episodes must be >= 1 (value estimates are taken on evaluation episodes)")
    metrics: dict[str, float] = {}
    for kind, game in parsed:
        if kind == "exact":
            rng = np.random.default_rng([seed, 1])
            metrics.update(theorem_checks(cfg.theorem, rng))
            metrics.update(fig1(cfg.fig1, rng, ctx.curves))
            metrics.update(fig2(cfg.fig2, ctx.curves))
        elif kind == "mdp":
            metrics.update(chain_mdp(cfg.mdp, np.random.default_rng([seed, 2]), ctx.curves))
        else:
            metrics.update(train_dqn_part(kind, game, cfg, seed, ctx))
    return metrics
