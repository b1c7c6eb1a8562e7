"""The side-by-side driver of the Stable-Baselines3 comparisons (dqn_throughput.py, ddpg_throughput.py): time one
training run (`timed`, `throughput`), alternate ours and SB3 `repeats` times, keep the best of each, print the ratio
and write the JSON result."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from record import record


def timed(obj, name: str) -> dict[str, float]:
    """Replace obj.<name> by a wrapper that adds each call's seconds to the returned tally (and counts the calls)."""
    tally = {"seconds": 0.0, "calls": 0}
    real = getattr(obj, name)

    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            tally["seconds"] += time.perf_counter() - started
            tally["calls"] += 1

    setattr(obj, name, wrapper)
    return tally


def throughput(train: Callable[[], object], steps: int, updates: dict[str, float], **extra) -> dict[str, float]:
    """Run train() (`steps` environment steps); steps per second over the whole run and the mean update time from
    the tally of a `timed` update method (one update per call in both benchmarks)."""
    started = time.perf_counter()
    train()
    wall = time.perf_counter() - started
    return {
        "steps_per_second": steps / wall,
        "update_ms": 1000 * updates["seconds"] / max(updates["calls"], 1),
        "updates": updates["calls"],
        "wall_seconds": wall,
        **extra,
    }


def compare(doc: str, task: str, steps: int, out: str, run_ours: Callable, run_sb3: Callable, **extra) -> None:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--repeats", type=int, default=2, help="alternate ours/SB3 this many times; best of each")
    parser.add_argument("--out", default=out)
    args = parser.parse_args()
    from shared.backend import import_backend_quietly

    import_backend_quietly()
    from importlib.metadata import version

    ours, sb3 = [], []
    for repeat in range(args.repeats):
        ours.append(run_ours(args.steps, seed=repeat))
        print(f"ours  repeat {repeat}: {ours[-1]}", flush=True)
        sb3.append(run_sb3(args.steps, seed=repeat))
        print(f"sb3   repeat {repeat}: {sb3[-1]}", flush=True)
    best_ours = max(ours, key=lambda r: r["steps_per_second"])
    best_sb3 = max(sb3, key=lambda r: r["steps_per_second"])
    result = {
        "task": task,
        "steps": args.steps,
        **extra,
        "ours": best_ours,
        "sb3": best_sb3,
        "ratio_steps_per_second": best_ours["steps_per_second"] / best_sb3["steps_per_second"],
        "ratio_update_speed": best_sb3["update_ms"] / best_ours["update_ms"],
        "all_repeats": {"ours": ours, "sb3": sb3},
        "versions": {"stable-baselines3": version("stable-baselines3"), "torch": version("torch")},
    }
    print(
        f"steps/s ours {best_ours['steps_per_second']:.1f} vs SB3 {best_sb3['steps_per_second']:.1f}: "
        f"ratio {result['ratio_steps_per_second']:.2f}; update ms ours {best_ours['update_ms']:.2f} vs SB3 "
        f"{best_sb3['update_ms']:.2f}"
    )
    record(result, args.out, echo=False)
