"""The paper's figures redrawn from the run records (curves.csv / metrics.json only), and a Fig. 3 summary table."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from replicate_suite.figures import curves_frame, plot_per_seed, save_figure

CURVE_X_LABEL = "agent steps"
FIG2_PAPER = {"sin_d6": (0.61, -0.02), "gauss_d6": (0.47, 0.02), "gauss_d9": (3.35, -0.02)}
FIG2_TITLES = {"sin_d6": "sin(s), degree 6", "gauss_d6": "2 exp(-s²), degree 6", "gauss_d9": "2 exp(-s²), degree 9"}
ORANGE, BLUE, PURPLE, GREEN = "#e6761b", "#2a6fbb", "#7b3fa0", "#3a9a3a"


def _series(data, metric: str):
    """Mean over seeds per step, and min / max over seeds."""
    subset = data[data["metric"] == metric].groupby("step")["value"]
    return subset.mean(), subset.min(), subset.max()


def game_title(game: str) -> str:
    """'MinAtarAsterix' -> 'MinAtar Asterix' (MinAtar parts' label, run.part_label); Atari names unchanged."""
    from replicate_suite.rl.envs import MINATAR_LABEL_PREFIX  # lazily: gymnasium is not needed for the tables

    prefix = MINATAR_LABEL_PREFIX
    return f"{prefix} {game[len(prefix) :]}" if game.startswith(prefix) else game


def _atari_games(data) -> list[str]:
    found = {m.split("/", 1)[1].split("_", 1)[1] for m in data["metric"].unique() if m.startswith("value_estimate/")}
    return sorted(found)


def _save(fig, folder: Path, name: str) -> str:
    save_figure(fig, folder / name)
    return name


def figures(runs, folder: Path) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = curves_frame(runs)
    if data is None:
        return []
    made = []
    metrics = set(data["metric"].unique())

    def seeds_of(metric: str) -> int:  # the seeds that logged this curve (the parts run on different seeds)
        return data.loc[data["metric"] == metric, "seed"].nunique()

    if "fig1_bias/max" in metrics:
        mean_max, _, _ = _series(data, "fig1_bias/max")
        mean_double, _, _ = _series(data, "fig1_bias/double")
        exact, _, _ = _series(data, "fig1_bias/exact_max")
        fig, ax = plt.subplots(figsize=(6.4, 3.4))
        x = np.arange(len(mean_max))
        ax.bar(x - 0.2, mean_max.values, 0.4, color=ORANGE, label="max_a Q(s,a) - V*(s)")
        ax.bar(x + 0.2, mean_double.values, 0.4, color=BLUE, label="Q'(s, argmax_a Q(s,a)) - V*(s)")
        ax.plot(x - 0.2, exact.values, "k_", markersize=14, label="exact E[max] of m N(0,1)")
        ax.set_xticks(x, [str(m) for m in mean_max.index])
        ax.set_xlabel("number of actions")
        ax.set_ylabel("error")
        ax.legend(fontsize="small")
        ax.set_title(
            "Fig. 1: bias of one Q-learning target, N(0,1) errors (mean of repetitions and of "
            f"{seeds_of('fig1_bias/max')} seed(s))"
        )
        made.append(("Fig. 1 (max vs double estimator by number of actions)", _save(fig, folder, "ddqn_fig1.png")))
    rows = [name for name in FIG2_PAPER if f"fig2_{name}/state" in metrics]
    if rows:
        fig, axes = plt.subplots(len(rows), 3, figsize=(12, 3.1 * len(rows)), squeeze=False)
        first = data.loc[data["metric"] == f"fig2_{rows[0]}/state", "seed"].min()
        first_seed = data[data["seed"] == first]
        for (left, middle, right), name in zip(axes, rows, strict=True):

            def curve(line, name=name):
                subset = first_seed[first_seed["metric"] == f"fig2_{name}/{line}"].sort_values("step")
                return subset.set_index("step")["value"]

            state = curve("state")
            truth = curve("truth")
            left.plot(state, truth, color=PURPLE, label="Q*(s,a) = V*(s)")
            left.plot(state, curve("action_1").values, color=GREEN, label="Q_t(s, a1)")
            samples = curve("sample_a1")
            left.plot(state[samples.index], samples.values, "o", color=GREEN)
            left.set_title(f"True value and an estimate: {FIG2_TITLES[name]}", fontsize="small")
            actions = sorted({m.rsplit("_", 1)[1] for m in metrics if m.startswith(f"fig2_{name}/action_")}, key=int)
            for action in actions:
                middle.plot(state, curve(f"action_{action}").values, color=GREEN, alpha=0.6, linewidth=0.8)
            middle.plot(state, curve("max").values, "k--", label="max_a Q_t(s,a)")
            middle.plot(state, truth.values, color=PURPLE)
            middle.set_title("All estimates and max", fontsize="small")
            # over the seeds that ran this part (a seed that ran only other parts has no value, not a NaN)
            singles = [r.metrics[f"fig2_single_bias_{name}"] for r in runs if f"fig2_single_bias_{name}" in r.metrics]
            doubles = [r.metrics[f"fig2_double_bias_{name}"] for r in runs if f"fig2_double_bias_{name}" in r.metrics]
            single_mean, double_mean = np.mean(singles), np.mean(doubles)
            paper_single, paper_double = FIG2_PAPER[name]
            right.plot(
                state,
                curve("single_bias").values,
                color=ORANGE,
                label=f"max: ours {single_mean:+.2f} (paper {paper_single:+.2f})",
            )
            right.plot(
                state,
                curve("double_bias").values,
                color=BLUE,
                label=f"Double-Q: ours {double_mean:+.2f} (paper {paper_double:+.2f})",
            )
            right.axhline(0, color="grey", linewidth=0.6)
            right.set_title(
                f"Bias as function of state (legend: average error, mean of {len(singles)} seed(s))", fontsize="small"
            )
            for ax in (left, middle, right):
                ax.set_xlabel("state")
            left.legend(fontsize="x-small")
            middle.legend(fontsize="x-small")
            right.legend(fontsize="x-small")
        fig.suptitle(f"Fig. 2: the curves drawn are seed {first}'s")
        made.append(("Fig. 2 (polynomial fits, max vs Double-Q bias)", _save(fig, folder, "ddqn_fig2.png")))
    if "mdp_value_s0/truth" in metrics:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.4))
        for line, color in (("q_learning", ORANGE), ("double_q", BLUE)):
            for ax, panel in ((ax1, "mdp_value_s0"), (ax2, "mdp_bias_mean_over_states")):
                mean, low, high = _series(data, f"{panel}/{line}")
                ax.plot(mean.index, mean.values, color=color, label=line.replace("_", " "))
                ax.fill_between(mean.index, low.values, high.values, color=color, alpha=0.2)
        truth, _, _ = _series(data, "mdp_value_s0/truth")
        ax1.plot(truth.index, truth.values, color=PURPLE, linestyle="--", label="V*(s0)")
        ax1.set_title("Estimated value of the start state vs V*", fontsize="small")
        ax2.axhline(0, color=PURPLE, linestyle="--")
        ax2.set_title("Bias of the value estimate, mean over states", fontsize="small")
        for ax in (ax1, ax2):
            ax.set_xlabel("episodes")
            ax.legend(fontsize="small")
        fig.suptitle(
            "Small MDP: tabular Q-learning vs Double Q-learning (mean of learners; band = min–max over "
            f"{seeds_of('mdp_value_s0/truth')} seed(s))"
        )
        made.append(("small MDP (value estimates vs Q*)", _save(fig, folder, "ddqn_mdp.png")))
    games = _atari_games(data)
    if games:
        probes = any(f"avg_max_q/{kind}_{game}" in metrics for game in games for kind in ("dqn", "double"))
        rows = 3 if probes else 2
        fig, axes = plt.subplots(rows, len(games), figsize=(5.2 * len(games), 3.2 * rows), squeeze=False)
        for column, game in enumerate(games):
            top, bottom = axes[0][column], axes[1][column]
            for kind, color, name in (("dqn", ORANGE, "DQN"), ("double", BLUE, "Double DQN")):
                label = f"{kind}_{game}"
                if f"value_estimate/{label}" not in metrics:
                    continue
                mean, low, high = _series(data, f"value_estimate/{label}")
                top.plot(mean.index, mean.values, color=color, label=f"{name} estimate")
                top.fill_between(mean.index, low.values, high.values, color=color, alpha=0.2)
                finals = [r.metrics[f"true_value_{label}"] for r in runs if f"true_value_{label}" in r.metrics]
                if finals:
                    top.axhline(np.mean(finals), color=color, linestyle="--", label=f"{name} true value (final policy)")
                true_mean, _, _ = _series(data, f"true_value/{label}")
                top.plot(true_mean.index, true_mean.values, color=color, linestyle=":", alpha=0.7)
                plot_per_seed(bottom, data, f"eval_return/{label}", color, name)
                if probes:
                    plot_per_seed(axes[2][column], data, f"avg_max_q/{label}", color, name)
            title = game_title(game)
            top.set_title(
                f"{title}: value estimates (band: min–max over seeds; dotted: true value at each evaluation)",
                fontsize="small",
            )
            bottom.set_title(f"{title}: evaluation score (thin: each seed)", fontsize="small")
            if probes:
                axes[2][column].set_title(
                    f"{title}: average max Q on fixed probe states (Mnih 2013, Fig. 2; thin: each seed)",
                    fontsize="small",
                )
            for ax in axes[:, column]:
                ax.set_xlabel(CURVE_X_LABEL)
                ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
                ax.legend(fontsize="x-small")
        made.append(
            ("Fig. 3 (value estimates vs true values, scores, probe-state values)", _save(fig, folder, "ddqn_fig3.png"))
        )
    return made


def tables(runs) -> list[str]:
    games = sorted(
        {m.group(1) for r in runs for k in r.metrics if (m := re.fullmatch(r"value_estimate_(?:dqn|double)_(\w+)", k))}
    )
    if not games:
        return []

    def cell(metric: str) -> str:
        values = [r.metrics[metric] for r in runs if metric in r.metrics]
        return f"{np.mean(values):.3g}" if values else "—"

    lines = [
        "Fig. 3 at this profile's budget: value estimate (mean max-Q over evaluation states) vs the discounted return",
        "actually obtained from those states, final evaluation (means over seeds).",
        "",
        "| game | agent | steps | value estimate | true value | overestimation | eval score |",
        "|---|---|---|---|---|---|---|",
    ]
    for game in games:
        for kind, name in (("dqn", "DQN"), ("double", "Double DQN")):
            label = f"{kind}_{game}"
            columns = ("agent_steps", "value_estimate", "true_value", "overestimation", "eval_return")
            lines.append(f"| {game_title(game)} | {name} | " + " | ".join(cell(f"{c}_{label}") for c in columns) + " |")
    return lines
