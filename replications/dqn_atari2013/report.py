"""The report's Table 1: rows Random / DQN / DQN Best for the seven games, ours beside the paper's, and peers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

GAMES = ["BeamRider", "Breakout", "Enduro", "Pong", "Qbert", "Seaquest", "SpaceInvaders"]
HEADERS = ["B. Rider", "Breakout", "Enduro", "Pong", "Q*bert", "Seaquest", "S. Invaders"]
PAPER = {  # Mnih et al. 2013, Table 1 (the targets in claim.yaml carry the same numbers)
    "Random": [354, 1.2, 0, -20.4, 157, 110, 179],
    "DQN": [4092, 168, 470, 20, 1952, 1705, 581],
    "DQN Best": [5184, 225, 661, 21, 4500, 1740, 1075],
}
CURVE_X_LABEL = "agent steps"
OURS = {"Random": "random_return_{}", "DQN": "eval_return_{}", "DQN Best": "eval_return_best_episode_{}"}


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
    for row, template in OURS.items():
        cells = [_cell(runs, template.format(g), p) for g, p in zip(GAMES, PAPER[row], strict=True)]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
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
