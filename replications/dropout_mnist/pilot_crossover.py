"""Can a cpu budget show Table 2's ordering (no dropout > dropout > dropout + max-norm, test error)? A validation
pilot (issue #21), its rule fixed in this file before it ran; the test set is never read.

Stage 1, a learning rate per net: each of the cpu profile's three ReLU 3x1024 nets trains alone for STAGE1_PASSES
passes at every rate in LEARNING_RATES (momentum 0.95, the paper's final momentum, Appendix B.1; the cpu profile's
decay 0.95 per pass; seed 100) on training images 0-49,999, and keeps the rate with the lowest validation error
(images 50,000-59,999) after its last pass. One rate per net, because one rate chosen on the mean of the three
favoured the net without dropout (issue #21).

Stage 2, the crossover: each net at its own rate for STAGE2_PASSES passes, validation error every EVAL_EVERY passes.
Rule: the ordering appears within the pilot's budget when the mean validation error over the last LAST_K
evaluations orders no dropout > dropout > dropout + max-norm. If it does, the cpu profile can train that many passes
at these rates (3 seeds, then the test set); if not, the ordering target is `not_run` at cpu with the budget that
would show it (the paper's ~3,000 passes).

Writes pilot_crossover.md beside this file (both stages' numbers, the verdict of the rule, wall times). Each
candidate's outcome is kept in --state (pilots/dropout_mnist/crossover/ by default, one JSON per candidate, written
as each pair of candidates finishes), so a pilot stopped by the end of a session continues where it stopped when run
again (the saved outcomes are commit-able; one made with other settings is refused).

    python replications/dropout_mnist/pilot_crossover.py          # ~3 h on 2 cores (AMD EPYC, AVX2)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from replicate_suite.environment import git_state
from replicate_suite.errors import ReplicateError
from replicate_suite.paths import PROJECT_ROOT
from replicate_suite.runner import resolve_config
from replicate_suite.tuning import tune

SEED = 100
LEARNING_RATES = [0.01, 0.03, 0.1]
MOMENTUM = 0.95
STAGE1_PASSES = 10
STAGE2_PASSES = 100
EVAL_EVERY = 5
LAST_K = 3
HOLDOUT = 10_000
ORDER = ["standard_relu_3x1024", "dropout_relu_3x1024", "dropout_maxnorm_relu_3x1024"]
"""Table 2's order on the same net, highest error first."""


def candidates(
    profile: str, passes: int, rates: dict[str, float], eval_every: int, holdout: int = HOLDOUT
) -> dict[str, dict[str, Any]]:
    """One candidate per (net, rate): that net alone, `passes` passes, the last `holdout` training images as the
    validation split, momentum MOMENTUM. The candidate's rate is the one it trains at: a per-net `learning_rate` in
    the profile (which the pilot's outcome later put there) is dropped, as it would replace train.learning_rate."""
    nets = {
        net["name"]: {key: value for key, value in net.items() if key != "learning_rate"}
        for net in resolve_config("dropout_mnist", profile).values["nets"]
    }
    return {
        f"{name} lr {rate:g}": {
            "nets": [nets[name]],
            "train": {"learning_rate": rate, "epochs": passes, "momentum": MOMENTUM},
            "eval_every_epochs": eval_every,
            "data": {"validation_holdout": holdout},
        }
        for name, rate in rates.items()
    }


COMMITS: set[str] = set()
"""The commits the pilot's candidate outcomes were computed at (one, unless it was continued after a commit)."""


def run_stage(
    profile: str, stage: str, cands: dict[str, dict[str, Any]], state: Path, workers: int = 2
) -> dict[str, list[dict]]:
    """tune() over the candidates, `workers` at a time, each outcome saved to state/<stage>__<candidate>.json as its
    batch finishes; candidates already saved there with the same overrides are read back, not run again. A saved
    file made with other overrides is a ReplicateError (delete it to run that candidate again)."""
    state.mkdir(parents=True, exist_ok=True)
    outcomes: dict[str, list[dict]] = {}
    todo = []
    for name, overrides in cands.items():
        path = state / f"{stage}__{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.json"
        if path.is_file():
            saved = json.loads(path.read_text())
            if saved.get("overrides") != json.loads(json.dumps(overrides)) or saved.get("profile") != profile:
                raise ReplicateError(f"{path}: saved with other settings than this pilot's; delete it to rerun {name}")
            outcomes[name] = saved["outcomes"]
            COMMITS.add(saved.get("commit", "unknown"))
        else:
            todo.append((name, overrides, path))
    for start in range(0, len(todo), workers):
        batch = todo[start : start + workers]
        done = tune("dropout_mnist", profile, {n: o for n, o, _ in batch}, seeds=[SEED], workers=workers)
        commit = str(git_state()["commit"])
        for name, overrides, path in batch:
            record = {"profile": profile, "overrides": overrides, "commit": commit, "outcomes": done[name]}
            path.write_text(json.dumps(record, indent=1) + "\n")
            outcomes[name] = done[name]
            COMMITS.add(commit)
    return outcomes


def choose_rates(outcomes: dict[str, list[dict]], names: list[str], rates: list[float]) -> dict[str, float]:
    """Per net, the rate whose run has the lowest final validation error (ties: the smaller rate)."""
    chosen = {}
    for name in names:
        scores = [(outcomes[f"{name} lr {r:g}"][0]["metrics"][f"val_error_{name}"], r) for r in rates]
        chosen[name] = min(scores)[1]
    return chosen


def last_k_mean(curves: list[list], name: str, k: int) -> float:
    """Mean of the last k points of the curve val_error/<name> (rows [step, metric, value])."""
    points = sorted((step, value) for step, metric, value in curves if metric == f"val_error/{name}")
    if len(points) < k:
        raise ValueError(f"val_error/{name} has {len(points)} points, the rule needs {k}")
    return float(np.mean([value for _, value in points[-k:]]))


def ordering_holds(errors: dict[str, float], order: list[str]) -> bool:
    """True when errors strictly decrease along `order` (Table 2's: no dropout > dropout > dropout + max-norm)."""
    values = [errors[name] for name in order]
    return all(a > b for a, b in zip(values, values[1:], strict=False))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu", help="profile whose nets are piloted (smoke: tests this script)")
    parser.add_argument("--stage1-passes", type=int, default=STAGE1_PASSES)
    parser.add_argument("--stage2-passes", type=int, default=STAGE2_PASSES)
    parser.add_argument("--eval-every", type=int, default=EVAL_EVERY)
    parser.add_argument("--holdout", type=int, default=HOLDOUT, help="validation images (the last of the 60,000)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("pilot_crossover.md")))
    parser.add_argument(
        "--state", default=str(PROJECT_ROOT / "pilots" / "dropout_mnist" / "crossover"),
        help="folder of the saved candidate outcomes (a rerun continues from them)",
    )  # fmt: skip
    args = parser.parse_args(argv)

    stage1 = {}
    for rate in LEARNING_RATES:
        stage1.update(
            candidates(args.profile, args.stage1_passes, dict.fromkeys(ORDER, rate), args.stage1_passes, args.holdout)
        )
    first = run_stage(args.profile, "stage1", stage1, Path(args.state))
    rates = choose_rates(first, ORDER, LEARNING_RATES)
    second = run_stage(
        args.profile, "stage2", candidates(args.profile, args.stage2_passes, rates, args.eval_every, args.holdout),
        Path(args.state),
    )  # fmt: skip
    curves = {name: second[f"{name} lr {rates[name]:g}"][0]["curves"] for name in ORDER}
    errors = {name: last_k_mean(curves[name], name, LAST_K) for name in ORDER}
    holds = ordering_holds(errors, ORDER)

    lines = [
        "# dropout_mnist: can the cpu budget show Table 2's ordering? (validation pilot)",
        "",
        f"Generated by `python replications/dropout_mnist/pilot_crossover.py` from outcomes computed at commit(s) "
        f"{', '.join(sorted(COMMITS))} "
        f"(profile {args.profile}); the rule is in that file's docstring, fixed before it ran. The last "
        f"{args.holdout:,} training images are the validation set; the test set is not read. Seed {SEED}, "
        f"momentum {MOMENTUM}, the profile's learning-rate decay per pass.",
        "",
        f"## Stage 1: validation error after {args.stage1_passes} passes, each net alone",
        "",
        "| net | " + " | ".join(f"lr {r:g}" for r in LEARNING_RATES) + " | chosen |",
        "|---|" + "---|" * (len(LEARNING_RATES) + 1),
    ]
    for name in ORDER:
        cells = [first[f"{name} lr {r:g}"][0]["metrics"][f"val_error_{name}"] for r in LEARNING_RATES]
        lines.append(f"| {name} | " + " | ".join(f"{v:.4f}" for v in cells) + f" | {rates[name]:g} |")
    lines += [
        "",
        f"## Stage 2: validation error every {args.eval_every} passes, each net at its own rate",
        "",
        "| pass | " + " | ".join(ORDER) + " |",
        "|---|" + "---|" * len(ORDER),
    ]
    by_step = {name: dict((s, v) for s, m, v in curves[name] if m == f"val_error/{name}") for name in ORDER}
    steps = sorted(set().union(*by_step.values()))
    per_pass = max(min((s for s in steps if s > 0), default=1) // args.eval_every, 1)  # updates per pass
    for step in steps:
        cells = [f"{by_step[n].get(step, float('nan')):.4f}" for n in ORDER]
        lines.append(f"| {step // per_pass} | " + " | ".join(cells) + " |")
    walls = {name: second[f"{name} lr {rates[name]:g}"][0]["wall_seconds"] for name in ORDER}
    lines += [
        "",
        f"Mean over the last {LAST_K} evaluations: "
        + ", ".join(f"{n} {errors[n]:.4f}" for n in ORDER)
        + f". **Rule: the ordering {'appears' if holds else 'does not appear'} within {args.stage2_passes} passes.**",
        "",
        "Wall seconds per stage-2 net (its training run; the 2 cores ran other work beside it, see the README): "
        + ", ".join(f"{n} {walls[n]:.0f}" for n in ORDER)
        + ".",
    ]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    try:
        main()
    except ReplicateError as exc:
        sys.exit(f"error: {exc}")
