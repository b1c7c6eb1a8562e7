"""Raw returns beside a random policy's and peers' (a table), and one learning-curve panel per task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from replicate_suite.figures import save_figure

TASKS = ["Pendulum", "InvertedPendulum", "Reacher", "HalfCheetah", "Hopper", "Walker2d"]
PAPER_NORMALISED = {"Pendulum": 0.95, "Reacher": 0.72, "HalfCheetah": 0.90, "Hopper": 0.68, "Walker2d": 0.71}
CURVE_X_LABEL = "environment steps"


def _mean(runs, metric: str) -> str:
    values = [run.metrics[metric] for run in runs if metric in run.metrics]
    if not values:
        return "—"
    spread = f" ± {np.std(values, ddof=1):.3g}" if len(values) > 1 else ""
    return f"{np.mean(values):.4g}{spread} (n={len(values)})"


def _registrations(runs) -> list[tuple[str, list]]:
    from replicate_suite.claims import load_claim, registration_groups

    return registration_groups(load_claim(Path(__file__).parent / "claim.yaml"), runs)


def tables(runs) -> list[str]:
    peers = yaml.safe_load((Path(__file__).parent / "peers.yaml").read_text())
    lines = [
        "Raw returns per registration (never pooled: the registrations differ in budget, code and evaluation):",
        "DDPG's mean of each seed's last 3 noise-free evaluations (the value the targets judge) and its final",
        "evaluation alone (mean ± std over seeds), a uniformly random policy's return, the steps trained, the paper's",
        "normalised score (Table 1, DDPG low-dimensional; not convertible to raw returns without its iLQG reference),",
        "and peers' published raw returns (context only; see the source).",
    ]
    for title, group in _registrations(runs):
        lines += [
            "",
            f"*{title[0].upper()}{title[1:]}*",
            "",
            "| task | DDPG last 3 evaluations (judged) | DDPG final evaluation | random (ours) | steps | "
            "paper (normalised) | " + " | ".join(p["name"] for p in peers) + " |",
            "|---|---|---|---|---|---|" + "---|" * len(peers),
        ]
        for task in TASKS:
            steps = sorted({int(r.metrics[f"env_steps_{task}"]) for r in group if f"env_steps_{task}" in r.metrics})
            cells = [
                _mean(group, f"eval_return_last3_{task}"),
                _mean(group, f"eval_return_{task}"),
                _mean(group, f"random_return_{task}"),
                " / ".join(f"{s:,}" for s in steps) or "—",
                str(PAPER_NORMALISED.get(task, "—")),
                *(p["returns"].get(task, "—") for p in peers),
            ]
            lines.append(f"| {task} | " + " | ".join(cells) + " |")
    lines += [""] + [f"- {p['name']}: {p['source']}; {p['protocol']}." for p in peers]
    return lines


def _target_bounds(profile: str) -> dict[str, set[float]]:
    """task -> the claim's above/below bounds on its evaluation return that bind this profile (reference lines)."""
    from replicate_suite.claims import load_claim

    bounds: dict[str, set[float]] = {}
    for target in load_claim(Path(__file__).parent / "claim.yaml").targets:
        if profile in target.binds and target.rule["kind"] in ("above", "below"):
            task = target.metric.removeprefix("eval_return_")
            bounds.setdefault(task, set()).add(float(target.rule["bound"]))
    return bounds


def figures(runs, folder: Path) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    rows = []
    for run in runs:
        for row in run.read_curves():
            if row["metric"].startswith("eval_return/"):
                rows.append({**row, "task": row["metric"].split("/", 1)[1], "seed": run.seed})
    if not rows:
        return []
    data = pd.DataFrame(rows)
    tasks = [t for t in TASKS if t in set(data["task"])]
    bounds = _target_bounds(runs[0].meta.get("profile", "cpu"))
    groups = [(title, {r.seed for r in group}) for title, group in _registrations(runs)]
    fig, axes = plt.subplots(len(groups), len(tasks), figsize=(4.2 * len(tasks), 3.6 * len(groups)), squeeze=False)
    for row, (title, seeds) in enumerate(groups):
        for ax, task in zip(axes[row], tasks, strict=True):
            part = data[(data["task"] == task) & data["seed"].isin(seeds)]
            if part.empty:
                ax.set_visible(False)
                continue
            grouped = part.groupby("step")["value"]
            mean, low, high = grouped.mean(), grouped.min(), grouped.max()
            n = part["seed"].nunique()
            ax.plot(mean.index, mean.values, color="#2a6fbb", label=f"DDPG (mean of {n} seeds)")
            ax.fill_between(
                mean.index, low.values, high.values, color="#2a6fbb", alpha=0.25, label="min–max over seeds"
            )
            randoms = [
                r.metrics[f"random_return_{task}"]
                for r in runs
                if r.seed in seeds and f"random_return_{task}" in r.metrics
            ]
            if randoms:
                ax.axhline(np.mean(randoms), color="grey", linestyle="--", label="random policy")
            for i, bound in enumerate(sorted(bounds.get(task, set()))):
                ax.axhline(bound, color="black", linestyle=(":", "-.")[i % 2], linewidth=1.0, label="target bound")
            ax.set_title(f"{task}\n{title}", fontsize="small")
            ax.set_xlabel(CURVE_X_LABEL)
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
            ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2)
        axes[row][0].set_ylabel("evaluation return (no noise)")
    fig.suptitle("DDPG learning curves, one row per registration (band = min–max over its seeds)")
    fig.tight_layout()
    save_figure(fig, folder / "ddpg_curves.png")
    return [("learning curves per registration (evaluation returns, seed spread)", "ddpg_curves.png")]
