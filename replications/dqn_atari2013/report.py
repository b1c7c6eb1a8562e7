"""The report's Table 1 (rows Random / DQN / DQN Best for the seven games, ours beside the paper's, and peers) and
Fig. 2's learning curves (evaluation return and average max Q on fixed probe states), one line per seed. When the
claim's targets name more than one seed set for a profile (registrations, e.g. the cpu protocol revised after first
results), the DQN rows and the curves are shown per registration, never pooled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from replicate_suite.figures import curves_frame, plot_per_seed, save_figure

GAMES = ["BeamRider", "Breakout", "Enduro", "Pong", "Qbert", "Seaquest", "SpaceInvaders"]
HEADERS = ["B. Rider", "Breakout", "Enduro", "Pong", "Q*bert", "Seaquest", "S. Invaders"]
PAPER = {  # Mnih et al. 2013, Table 1 (the targets in claim.yaml carry the same numbers)
    "Random": [354, 1.2, 0, -20.4, 157, 110, 179],
    "DQN": [4092, 168, 470, 20, 1952, 1705, 581],
    "DQN Best": [5184, 225, 661, 21, 4500, 1740, 1075],
}
CURVE_X_LABEL = "agent steps"
OURS = {"Random": "random_return_{}", "DQN": "eval_return_{}", "DQN Best": "eval_return_best_episode_{}"}


def _registrations(runs) -> list[tuple[str, list]]:
    from replicate_suite.claims import load_claim, registration_groups

    return registration_groups(load_claim(Path(__file__).parent / "claim.yaml"), runs)


def figures(runs, folder: Path) -> list[tuple[str, str]]:
    """Fig. 2 of Mnih et al. 2013 per game with DQN runs (and per registration): the average evaluation return
    (left) and the average max Q over a fixed set of probe states (right; states drawn from the replay when learning
    starts) against agent steps, one thin line per seed and their mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []  # (game, registration title or "", that registration's curves)
    groups = _registrations(runs)
    for title, group in groups:
        data = curves_frame(group)
        for game in GAMES:
            if data is not None and (data["metric"] == f"eval_return/{game}").any():
                panels.append((game, title if len(groups) > 1 else "", data))
    if not panels:
        return []
    panels.sort(key=lambda panel: GAMES.index(panel[0]))  # stable: a game's registrations stay in claim order
    fig, axes = plt.subplots(len(panels), 2, figsize=(10, 3.2 * len(panels)), squeeze=False)
    for row, (game, title, data) in enumerate(panels):
        left, right = axes[row]
        suffix = f"\n{title}" if title else ""
        plot_per_seed(left, data, f"eval_return/{game}", "#2a6fbb", "DQN")
        left.set_title(f"{game}: average evaluation return (epsilon 0.05){suffix}", fontsize="small")
        if plot_per_seed(right, data, f"avg_max_q/{game}", "#e6761b", "DQN"):
            right.set_title(f"{game}: average max Q on the probe states{suffix}", fontsize="small")
        else:
            right.set_axis_off()
        for ax in (left, right):
            ax.set_xlabel(CURVE_X_LABEL)
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize="x-small")
    steps = sorted({int(r.metrics[f"agent_steps_{g}"]) for r in runs for g in GAMES if f"agent_steps_{g}" in r.metrics})
    if steps:  # the budget drawn, which is not the paper's (the section's Budget line gives both)
        shown = f"{steps[0]:,}" + (f"-{steps[-1]:,}" if len(steps) > 1 else "")
        fig.suptitle(f"Mnih et al. 2013, Fig. 2, redrawn at this profile's budget: {shown} agent steps per run")
    save_figure(fig, folder / "dqn_fig2.png")
    return [("Fig. 2 (evaluation return and average max Q on probe states, per seed)", "dqn_fig2.png")]


def _cell(runs, metric: str, paper: float) -> str:
    values = [run.metrics[metric] for run in runs if metric in run.metrics]
    if not values:
        return f"— ({paper:g})"
    mean = float(np.mean(values))
    spread = f" ± {np.std(values, ddof=1):.3g}" if len(values) > 1 else ""
    return f"**{mean:.4g}**{spread} ({paper:g})"


def tables(runs) -> list[str]:
    lines = [
        "Table 1 as in the paper: **ours** (mean ± std over seeds; — = not run at this profile) and (the paper's).",
        "",
        "| | " + " | ".join(HEADERS) + " |",
        "|---|" + "---|" * len(GAMES),
    ]
    groups = _registrations(runs)
    for row, template in OURS.items():
        for title, group in groups if row != "Random" else [("", runs)]:  # the Random row: every seed that played it
            cells = [_cell(group, template.format(g), p) for g, p in zip(GAMES, PAPER[row], strict=True)]
            name = f"{row}, {title}" if title and len(groups) > 1 else row
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    steps = {g: runs[0].metrics.get(f"agent_steps_{g}") for g in GAMES}
    trained = [f"{g} {int(s):,}" for g, s in steps.items() if s]
    lines += [
        "",
        f"Agent steps of DQN training in these runs: {', '.join(trained) or 'none'} (the paper: 10M per game).",
    ]
    peers = yaml.safe_load((Path(__file__).parent / "peers.yaml").read_text())
    lines += ["", "Peers' published 10M-step DQN scores (context only; their protocols differ, see README):", ""]
    lines += ["| peer | " + " | ".join(HEADERS) + " | source |", "|---|" + "---|" * (len(GAMES) + 1)]
    for peer in peers:
        cells = [peer["scores"].get(g, "—") for g in GAMES]
        lines.append(f"| {peer['name']} | " + " | ".join(cells) + f" | {peer['source']}; {peer['protocol']} |")
    return lines
