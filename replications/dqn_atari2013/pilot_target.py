"""The target-network pilot's decision (README, "The target-network pilot"), computed from training returns only.

Why: at the cpu budget the registered protocol (2013: no target network; Nature's RMSProp 2.5e-4 on the summed Huber
loss) did not learn Breakout (seeds 0-2 not_reproduced, issue #19). The pilot asks, on its own seed 100 and never on
the judged seeds, whether a change to that protocol makes the agent learn; a change it picks becomes a revised,
labelled cpu target registered before its runs on fresh seeds (10-12).

Candidates, tried in this order, each one run of PILOT_STEPS agent steps with everything else the cpu profile's:
  target_network   a target network copied every 2,500 updates (10,000 agent steps at one update per 4), DeepMind's
                   Nature setting (Mnih et al. 2015, Extended Data Table 1; their Lua code counts it in agent steps)
  lr_1e-4          no target network (the 2013 protocol), RMSProp learning rate 1e-4 instead of 2.5e-4
Rule, fixed before either ran: a candidate's score is the mean of its `train_return/Breakout` curve at its last
LAST_K points (the mean game score of the training episodes ending in the 35k steps before each point). The
reference is the registered protocol's seeds 0-2 at the same steps (read from results/, their training returns
only). A candidate qualifies when its score is at least FACTOR x the best reference seed's. The first candidate in
the order that qualifies is chosen and the later ones are not run; if none qualifies, no revised target is
registered. Evaluation returns and Q-values of the pilot runs are never read.

    python replications/dqn_atari2013/pilot_target.py [--pilots pilots/dqn_atari2013] [--results results]

Writes pilot_target.md beside this file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from replicate_suite.errors import ReplicateError
from replicate_suite.results import CURVES_FILE, META_FILE, read_curve_file

CANDIDATES = {
    "target_network": "target network copied every 2,500 updates (10,000 agent steps)",
    "lr_1e-4": "no target network, RMSProp learning rate 1e-4",
}
"""Tried in this order; the key is the candidate's results root under --pilots."""
GAME = "Breakout"
SEED = 100
REFERENCE_SEEDS = (0, 1, 2)
PILOT_STEPS = 350_000
LAST_K = 3
FACTOR = 1.5


def train_returns(folder: Path) -> dict[int, float]:
    """{step: training return} of one run folder's `train_return/<GAME>` curve; ReplicateError if it has none."""
    if not (folder / CURVES_FILE).is_file():
        raise ReplicateError(f"no run in {folder} (run the README's pilot command first)")
    rows, _ = read_curve_file(folder / CURVES_FILE)
    points = {int(row["step"]): float(row["value"]) for row in rows if row["metric"] == f"train_return/{GAME}"}
    if not points:
        raise ReplicateError(f"{folder / CURVES_FILE} has no train_return/{GAME} curve")
    return points


def score(points: dict[int, float], steps: list[int]) -> float:
    """Mean training return at `steps`; ReplicateError if the curve lacks one of them."""
    missing = [step for step in steps if step not in points]
    if missing:
        raise ReplicateError(f"the curve has no training return at step(s) {missing}")
    return sum(points[step] for step in steps) / len(steps)


def last_steps(points: dict[int, float], k: int = LAST_K) -> list[int]:
    """The last k curve steps at or below PILOT_STEPS; ReplicateError if there are fewer."""
    steps = sorted(step for step in points if step <= PILOT_STEPS)
    if len(steps) < k:
        raise ReplicateError(f"the rule needs {k} training-return points, the run has {len(steps)}")
    return steps[-k:]


def decide(candidates: dict[str, float | None], best_reference: float) -> str | None:
    """The first candidate (in the dict's order) whose score is >= FACTOR x best_reference; a candidate before it
    without a score (not run yet) stops the search: None, undecided. None also when every candidate was run and none
    qualifies."""
    for name, value in candidates.items():
        if value is None:
            return None
        if value >= FACTOR * best_reference:
            return name
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pilots", default="pilots/dqn_atari2013", help="folder of the candidates' results roots")
    parser.add_argument("--results", default="results", help="results root of the registered cpu runs (reference)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("pilot_target.md")))
    args = parser.parse_args(argv)
    run_folder = f"seed_{SEED}@{GAME}"
    try:
        runs, scores, steps = {}, {}, None
        for name in CANDIDATES:
            folder = Path(args.pilots) / name / "dqn_atari2013" / "cpu" / run_folder
            if not folder.exists():
                scores[name] = None
                continue
            points = train_returns(folder)
            steps = steps or last_steps(points)
            meta = json.loads((folder / META_FILE).read_text())
            runs[name] = {
                "points": points,
                "wall": meta.get("wall_seconds"),
                "commit": meta.get("git", {}).get("commit"),
            }
            scores[name] = score(points, steps)
        if steps is None:
            raise ReplicateError(f"no pilot run under {args.pilots} (run the README's pilot commands first)")
        reference = {
            seed: score(train_returns(Path(args.results) / "dqn_atari2013" / "cpu" / f"seed_{seed}@{GAME}"), steps)
            for seed in REFERENCE_SEEDS
        }
    except ReplicateError as error:
        sys.exit(f"error: {error}")
    best = max(reference.values())
    chosen = decide(scores, best)
    pending = [name for name, value in scores.items() if value is None]
    window = ", ".join(f"{step:,}" for step in steps)
    lines = [
        f"# dqn_atari2013: the target-network pilot ({GAME}, seed {SEED})",
        "",
        "Generated by `python replications/dqn_atari2013/pilot_target.py` from training returns only (the pilot runs' "
        "evaluation returns and Q-values are not read). Rule (README, fixed before the pilot ran): a candidate's score "
        f"is its mean training return at its last {LAST_K} curve points ({window} agent steps); it qualifies at "
        f">= {FACTOR} x the best score of the registered protocol's seeds "
        f"{', '.join(map(str, REFERENCE_SEEDS))} at the same steps; the first qualifying candidate in the order below "
        "is chosen.",
        "",
        "| reference (registered cpu protocol) | score |",
        "|---|---|",
    ]
    lines += [f"| seed {seed} | {value:.2f} |" for seed, value in reference.items()]
    lines += [
        "",
        f"Threshold: {FACTOR} x {best:.2f} = {FACTOR * best:.2f}.",
        "",
        "| candidate | change | score | qualifies | wall s | commit |",
        "|---|---|---|---|---|---|",
    ]
    for name, change in CANDIDATES.items():
        if scores[name] is None:
            lines.append(f"| {name} | {change} | not run | — | — | — |")
            continue
        run = runs[name]
        wall = f"{run['wall']:.0f}" if run["wall"] else "—"
        qualifies = "yes" if scores[name] >= FACTOR * best else "no"
        lines.append(f"| {name} | {change} | {scores[name]:.2f} | {qualifies} | {wall} | {str(run['commit'])[:10]} |")
    lines += [
        "",
        "Training returns (mean game score of the episodes ending in the 35k steps before) by agent step:",
        "",
    ]
    names = list(runs)
    lines += ["| step | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for step in sorted({step for run in runs.values() for step in run["points"]}):
        cells = [f"{runs[name]['points'][step]:.2f}" if step in runs[name]["points"] else "—" for name in names]
        lines.append(f"| {step:,} | " + " | ".join(cells) + " |")
    if chosen:
        outcome = f"**Chosen: {chosen}** ({CANDIDATES[chosen]})."
    elif pending:
        outcome = f"**Undecided: {', '.join(pending)} not run yet.**"
    else:
        outcome = "**No candidate qualifies: no revised target.**"
    lines += ["", outcome]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
