"""The generic learning-curve figure of a report: one panel per curve, seeds summarised, the paper's numbers drawn.

Readability rules (they decide what a reader sees): the paper's value (or a target's bound) is a horizontal reference
line when it falls near the data, and is named in the panel title when it is off scale; a reference says which line
it belongs to and when its target is not judged at the runs' budget; a panel whose lines end closer together than a
tenth of its y-range (on a linear or a log axis) gets an inset zoomed on the last third of training, so a small gap
is visible; a line's colour follows its name (sorted), so that one variant keeps its colour across figures; lines of
few points carry markers; legends sit below the axes, never over data.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ZOOM_FRACTION = 0.1  # lines ending closer than this fraction of the y-range get a zoomed inset
ZOOM_TAIL = 1.0 / 3.0  # the inset shows the last third of the steps
TITLE_WIDTH = 50  # characters per line of a panel title (a long title would run into the next panel's)
LONG_LABEL = 40  # characters: a legend with a longer label is one column, and its panel widens to fit it
FEW_POINTS = 10  # a line with at most this many points per seed is drawn with markers


@dataclass(frozen=True)
class Reference:
    """A horizontal line on one panel: the paper's value or a target's bound."""

    panel: str
    value: float
    label: str


def references_for(
    targets: list[Any], panels: list[str], lines: dict[str, list[str]], not_judged: frozenset[str] = frozenset()
) -> list[Reference]:
    """The paper values and bounds of targets that name a panel's curve: by `curve`, by the panel's name, or by
    `<panel>_<line>` (e.g. test_accuracy_baseline for the line baseline of panel test_accuracy). A reference matched
    through one line names it; one whose target's name is in `not_judged` (not run at the runs' budget, e.g. the
    paper's value at the paper's own budget) says so."""
    refs = []
    for t in targets:
        names = set(t.curves) | {t.metric}
        for panel in panels:
            by_line = [
                line for line in lines[panel] if names & {f"{panel}/{line}", f"{panel}_{line}"} and line != panel
            ]
            if not (names & {panel} or by_line):
                continue
            notes = ([", ".join(by_line)] if by_line else []) + (
                ["not judged at this budget"] if t.name in not_judged else []
            )
            note = f" ({'; '.join(notes)})" if notes else ""
            if t.paper is not None:
                refs.append(Reference(panel, float(t.paper), f"paper {t.paper:g}{note}"))
            elif t.rule["kind"] in ("above", "below"):
                kind = f"{t.rule['kind']}{'; ' + note[2:-1] if note else ''}"
                refs.append(Reference(panel, float(t.rule["bound"]), f"bound {t.rule['bound']:g} ({kind})"))
    return list(dict.fromkeys(refs))


def _near(ref: Reference, low: float, high: float) -> bool:
    span = max(high - low, abs(high) * 1e-3, 1e-12)
    return low - span <= ref.value <= high + span


def _off_scale(refs: list[Reference], low: float, high: float) -> list[str]:
    """The labels of the references too far from the data [low, high] to draw (named in the panel title)."""
    return [ref.label for ref in refs if not _near(ref, low, high)]


def _draw_references(ax, refs: list[Reference], low: float, high: float) -> None:
    """Draw the references that fall near the data as horizontal lines."""
    for i, ref in enumerate(refs):
        if _near(ref, low, high):
            ax.axhline(ref.value, color="black", linestyle=("--", ":", "-.")[i % 3], linewidth=1.0, label=ref.label)


def _inset_bottom(ax, subset, final: float) -> float:
    """Where an inset goes (the bottom of its box, in axes fractions): above the lines when they end in the lower
    half of the axis (falling errors and losses), below them otherwise; on a log axis, halves in log scale."""
    import math

    low, high = float(subset["value"].min()), float(subset["value"].max())
    if ax.get_yscale() == "log":
        low, high, final = math.log(low), math.log(high), math.log(final)
    return 0.45 if high <= low or (final - low) / (high - low) < 0.5 else 0.1


def _palette(names: list[str]) -> dict[str, Any]:
    """One colour per line name (sorted names, so a variant keeps its colour across figures): seaborn's default
    palette, husl beyond its 10 colours (which it would otherwise repeat)."""
    import seaborn as sns

    colours = sns.color_palette(n_colors=len(names)) if len(names) <= 10 else sns.color_palette("husl", len(names))
    return dict(zip(names, colours, strict=True))


def _zoom_inset(ax, subset, x_label: str, palette: dict[str, Any]) -> None:
    """An inset on the last third of the steps when the lines' final values are close (see ZOOM_FRACTION), each line
    in its panel colour (`palette`), also when a line ends before the last third."""
    import seaborn as sns

    last = subset[subset["step"] == subset.groupby("line")["step"].transform("max")]
    finals = last.groupby("line")["value"].mean()  # each line's mean over seeds at its last step
    full = subset["value"].max() - subset["value"].min()
    if len(finals) < 2 or full <= 0 or (finals.max() - finals.min()) >= ZOOM_FRACTION * full:
        return
    start = subset["step"].min() + (1 - ZOOM_TAIL) * (subset["step"].max() - subset["step"].min())
    tail = subset[subset["step"] >= start]
    inset = ax.inset_axes([0.45, _inset_bottom(ax, subset, finals.mean()), 0.5, 0.42])
    sns.lineplot(
        data=tail, x="step", y="value", hue="line", palette=palette, errorbar=("pi", 100), ax=inset, legend=False
    )
    low, high = tail["value"].min(), tail["value"].max()
    pad = 0.1 * max(high - low, 1e-12)
    inset.set_ylim(low - pad, high + pad)
    inset.set_xlabel("")
    inset.set_ylabel("")
    inset.tick_params(labelsize="x-small")
    inset.set_title("last third, zoomed", fontsize="x-small")


def _seeds_text(data) -> str:
    """How many seeds each line is the mean of: "3 seeds", or "3 seeds per line" when the figure draws more seeds in
    all (lines of different registrations), or "2-3 seeds per line"."""
    per_line = data.groupby("metric")["seed"].nunique()
    low, high, total = int(per_line.min()), int(per_line.max()), data["seed"].nunique()
    count = f"{low}" if low == high else f"{low}-{high}"
    plural = "s" if high > 1 else ""
    return f"{count} seed{plural}" + (" per line" if low != high or total != high else "")


def curves_frame(runs: list[Any]):
    """Every run's curves.csv rows as one pandas DataFrame (step, metric, value, seed); None when no run has curves."""
    import pandas as pd

    frames = []
    for run in runs:
        rows = run.read_curves()
        if rows:
            frame = pd.DataFrame(rows)
            frame["seed"] = run.seed
            frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else None


def plot_per_seed(ax, data, metric: str, color: str, name: str) -> bool:
    """Draw one curve of `data` (curves_frame's long format) as one thin line per seed and a thick mean over seeds,
    so that each seed's shape stays visible (RL learning curves). Returns False when no run logged `metric`."""
    subset = data[data["metric"] == metric] if data is not None else None
    if subset is None or subset.empty:
        return False
    for _, rows in subset.groupby("seed"):
        ax.plot(rows["step"], rows["value"], color=color, linewidth=0.6, alpha=0.45)
    mean = subset.groupby("step")["value"].mean()
    ax.plot(mean.index, mean.values, color=color, linewidth=1.8, label=f"{name} (mean of {subset['seed'].nunique()})")
    return True


def save_figure(fig, path: Path) -> None:
    """Save a report figure reproducibly (no software stamp, so an unchanged figure is byte-identical) and close it."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def plot_curves(
    title: str,
    runs: list[Any],
    targets: list[Any],
    out_path: Path,
    x_label: str = "updates",
    panel_titles: dict[str, str] | None = None,
    not_judged: frozenset[str] = frozenset(),
) -> bool:
    """Learning curves over seeds (line = mean, band = min–max over seeds), one panel per curve.

    A curve named "panel/line" (e.g. "test_accuracy/batchnorm") is drawn as one line of a shared panel, so variants
    can be compared in one axes; other names get a panel each. A panel whose name ends in "_by_layer" has the layer
    index, not the update count, in the step column. `panel_titles` says what a panel's curve measures where its
    name alone would mislead (e.g. a running training error beside a metric of the same name); `not_judged`: the
    names of targets not judged at these runs' budget (references_for). Returns False when no run has curves.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = curves_frame(runs)
    if data is None:
        return False
    split = data["metric"].str.split("/", n=1, expand=True)
    data["panel"] = split[0]
    data["line"] = split[1].fillna(split[0]) if split.shape[1] > 1 else split[0]
    panels = list(dict.fromkeys(data["panel"]))
    lines = {p: sorted(set(data.loc[data["panel"] == p, "line"])) for p in panels}  # colour by name, not run order
    refs = references_for(targets, panels, lines, not_judged)
    columns = min(3, len(panels))
    rows_needed = -(-len(panels) // columns)
    headings = {}
    for panel in panels:
        values = data.loc[data["panel"] == panel, "value"]
        off = _off_scale([r for r in refs if r.panel == panel], float(values.min()), float(values.max()))
        heading = (panel_titles or {}).get(panel, panel) + (f"\n(off scale: {', '.join(off)})" if off else "")
        headings[panel] = "\n".join(textwrap.fill(part, TITLE_WIDTH) for part in heading.split("\n"))
    extra = max(h.count("\n") for h in headings.values())  # title lines beyond one take room from the axes
    sns.set_theme(style="whitegrid")
    # a panel's legend sits below it, one column when a label is long: the panel is made wide enough for it
    longest = max(len(label) for p in panels for label in [*lines[p], *(r.label for r in refs if r.panel == p)])
    width = max(4.4, 0.075 * longest + 1.0) if longest > LONG_LABEL else 4.4
    entries = max(len(lines[p]) * (len(lines[p]) > 1) + sum(r.panel == p for r in refs) for p in panels)
    legend_rows = -(-entries // (1 if longest > LONG_LABEL else 2))
    size = (width * columns, (3.9 + 0.25 * extra + 0.22 * max(0, legend_rows - 2)) * rows_needed)
    fig, axes = plt.subplots(rows_needed, columns, figsize=size, squeeze=False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        subset = data[data["panel"] == panel]
        many = subset["line"].nunique() > 1
        few = subset.groupby(["line", "seed"])["step"].nunique().max() <= FEW_POINTS
        palette = _palette(lines[panel])
        sns.lineplot(
            data=subset, x="step", y="value", hue="line" if many else None, hue_order=lines[panel] if many else None,
            palette=palette if many else None, errorbar=("pi", 100), ax=ax, legend=False, marker="o" if few else None,
        )  # fmt: skip
        low, high = float(subset["value"].min()), float(subset["value"].max())
        _draw_references(ax, [r for r in refs if r.panel == panel], low, high)
        ax.set_title(headings[panel], fontsize="medium")
        if low > 0 and high / low > 20:  # errors and losses that fall by orders of magnitude
            ax.set_yscale("log")
        if many:
            _zoom_inset(ax, subset, x_label, palette)
        ax.set_xlabel("layer" if panel.endswith("_by_layer") else x_label)
        if not panel.endswith("_by_layer"):
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        ax.set_ylabel("")
        handles, labels = ax.get_legend_handles_labels()
        if many:
            handles = [plt.Line2D([], [], color=palette[name]) for name in lines[panel]] + handles
            labels = lines[panel] + labels
        if handles:
            ncol = 1 if max(len(label) for label in labels) > LONG_LABEL else 2
            ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=ncol, fontsize="small")
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle(f"{title} ({_seeds_text(data)}; band = min–max over seeds)")
    save_figure(fig, out_path)
    return True
