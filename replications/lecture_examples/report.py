"""The notes' pictures redrawn from the run records (curves.csv / metrics.json only): the bump approximations of
1_[1, 2] for the three Deltas, the x^2 approximation, backpropagated norms against depth, and Neural TD's error.

Each figure is drawn from the lowest seed's run: the identities' values are the same for every seed; the
Monte-Carlo curves (depth, TD) are that seed's draw, as their captions say.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from replicate_suite.figures import save_figure

BLUE, ORANGE, PURPLE, GREEN, GREY = "#2a6fbb", "#e6761b", "#7b3fa0", "#3a9a3a", "#777777"


def _curves(run) -> dict[str, dict[int, float]]:
    series: dict[str, dict[int, float]] = {}
    for row in run.read_curves():
        series.setdefault(row["metric"], {})[row["step"]] = row["value"]
    return series


def _line(series: dict[str, dict[int, float]], name: str) -> tuple[np.ndarray, np.ndarray]:
    points = sorted(series[name].items())
    return np.array([p[0] for p in points]), np.array([p[1] for p in points])


def _xy(series, name: str) -> tuple[np.ndarray, np.ndarray]:
    return _line(series, f"{name}/x")[1], _line(series, f"{name}/y")[1]


def _save(fig, folder: Path, name: str) -> str:
    save_figure(fig, folder / name)
    return name


def _bumps(series, metrics, plt, folder) -> tuple[str, str] | None:
    deltas = sorted(
        {m.group(1) for name in series if (m := re.fullmatch(r"uap_bump_delta([\d.]+)/x", name))}, key=float
    )[::-1]
    if not deltas:
        return None
    fig, axes = plt.subplots(1, len(deltas), figsize=(4.2 * len(deltas), 3.0), squeeze=False)
    for ax, delta in zip(axes[0], deltas, strict=True):
        x, y = _xy(series, f"uap_bump_delta{delta}")
        ax.plot(x, ((x >= 1) & (x <= 2)).astype(float), color=GREY, linestyle="--", label="1_[1,2]")
        ax.plot(x, y, color=BLUE, label="ReLU network")
        error = metrics.get(f"uap_indicator_l1_delta{delta}", float("nan"))
        ax.set_title(f"Delta = {delta}: L1 error {error:.4f}", fontsize="small")
        ax.set_xlabel("x")
        ax.legend(fontsize="x-small", loc="upper right")
    fig.suptitle("[max(x-1,0) - max(x-1-D,0)]/D - [max(x-2,0) - max(x-2-D,0)]/D, as a Keras ReLU network")
    return "the notes' bump approximations of 1_[1,2] for Delta = 0.2, 0.1, 0.05", _save(
        fig, folder, "lecture_bumps.png"
    )


def _square(series, metrics, plt, folder) -> tuple[str, str] | None:
    pieces = sorted({int(m.group(1)) for name in series if (m := re.fullmatch(r"uap_x2_k(\d+)/x", name))})
    if not pieces:
        return None
    fig, axes = plt.subplots(1, len(pieces), figsize=(4.2 * len(pieces), 3.2), squeeze=False)
    x, truth = _xy(series, "uap_x2_truth")
    for ax, k in zip(axes[0], pieces, strict=True):
        ax.plot(x, truth, color=GREY, linestyle="--", label="x^2")
        ax.plot(*_xy(series, f"uap_x2_step_k{k}"), color=ORANGE, linewidth=0.9, label="simple functions")
        ax.plot(*_xy(series, f"uap_x2_k{k}"), color=BLUE, label="ReLU network (3 layers)")
        ax.set_title(f"k = {k} pieces: L1 error {metrics.get(f'uap_x2_l1_k{k}', float('nan')):.4f}", fontsize="small")
        ax.set_xlabel("x")
        ax.legend(fontsize="x-small", loc="upper left")
    fig.suptitle("Approximating x^2 with step functions, then with sums of bumps")
    return "x^2 by simple functions and by the ReLU network built from them", _save(fig, folder, "lecture_x2.png")


def _depth(series, plt, folder, seed: int) -> tuple[str, str] | None:
    names = [n for n in series if n.startswith("depth_log10_delta_norm/")]
    if not names:
        return None
    colours = {
        "linear_scale1.5": ORANGE,
        "linear_scale1": BLUE,
        "linear_scale0.6667": PURPLE,
        "relu_xavier": GREEN,
        "relu_he": "black",
        "sigmoid_xavier": GREY,
    }
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    for name in names:
        key = name.split("/", 1)[1]
        layers_back, logs = _line(series, name)
        ax.plot(layers_back, logs, color=colours.get(key), label=key.replace("_", " "))
    n = np.arange(0, max(len(series[name]) for name in names))
    for factor in (1.5, 2 / 3):
        ax.plot(n, n * np.log10(factor), color=GREY, linestyle=":", linewidth=0.9)
    ax.text(n[-1], n[-1] * np.log10(1.5), " 1.5^n", fontsize="x-small", va="center")
    ax.text(n[-1], n[-1] * np.log10(2 / 3), " (2/3)^n", fontsize="x-small", va="center")
    ax.set_xlabel("layers backpropagated through (L - l)")
    ax.set_ylabel("log10 ||delta^l||  (||delta^L|| = 1)")
    ax.set_title("delta^l = sigma'(z^l) . (W^{l+1})^T delta^{l+1}: width 256, bias-free", fontsize="small")
    ax.legend(fontsize="x-small", ncol=2)
    return (
        f"exploding and vanishing backpropagated norms against depth (one draw: seed {seed})",
        _save(fig, folder, "lecture_depth.png"),
    )


def _td(series, plt, folder, seed: int) -> tuple[str, str] | None:
    if "td_rms_error/neural" not in series:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 3.4))
    for name, color in (("neural", BLUE), ("linear", ORANGE)):
        left.plot(*_line(series, f"td_rms_error/{name}"), color=color, label=f"{name} TD")
        right.plot(*_line(series, f"td_value/{name}"), "o-", color=color, label=f"{name} TD")
    right.plot(*_line(series, "td_value/truth"), "k--", label="V_pi(s) = s/6")
    left.set_xlabel("updates (each averaging 32 transitions)")
    left.set_ylabel("RMS error against V_pi")
    left.set_yscale("log")
    right.set_xlabel("state")
    right.set_ylabel("value")
    left.legend(fontsize="small")
    right.legend(fontsize="small")
    fig.suptitle("Semi-gradient TD(0) on the 5-state random walk")
    return f"Neural TD and linear TD against the exact V_pi (one draw: seed {seed})", _save(
        fig, folder, "lecture_td.png"
    )


def figures(runs, folder: Path) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not runs:
        return []
    run = min(runs, key=lambda r: r.seed)
    series = _curves(run)
    drawn = [
        _bumps(series, run.metrics, plt, folder),
        _square(series, run.metrics, plt, folder),
        _depth(series, plt, folder, run.seed),
        _td(series, plt, folder, run.seed),
    ]
    return [figure for figure in drawn if figure is not None]
