"""The one way a benchmark records its result: the numbers plus where they were measured, printed and written."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
from pathlib import Path
from typing import Any

RECORDED = ("git", "versions", "backend", "device", "tensorflow_kernels")
"""The keys of environment() a record keeps (tensorflow_kernels since 2026-12-05: oneDNN's or Eigen's kernels)."""


def record(result: dict[str, Any], out: str, echo: bool = True, environment: dict | None = None) -> dict[str, Any]:
    """Adds the code and machine the numbers come from (commit, versions, backend, device, TensorFlow's kernel
    library, cpus), prints the whole record as JSON when `echo`, and writes it to `out` (folders created). Returns
    the record. `environment`: what replicate_suite.environment.environment() returned in the process that measured
    (default: this process's)."""
    if environment is None:
        from replicate_suite.environment import environment as current

        environment = current()
    full = {
        **result,
        "environment": {k: v for k, v in environment.items() if k in RECORDED},
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
    }
    text = json.dumps(full, indent=2)
    if echo:
        print(text)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(text + "\n")
    return full


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1 (a count of steps, repeats, images, ...)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0 (seconds, a margin)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def block_arguments(doc: str, updates: int, blocks: int, out: str) -> argparse.Namespace:
    """The command line of a benchmark that alternates blocks of updates in one process: --updates (per block),
    --blocks (per variant) and --out (the JSON record), with these defaults; `doc` is the script's docstring."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--updates", type=positive_int, default=updates, help=f"updates per block (default {updates})")
    parser.add_argument("--blocks", type=positive_int, default=blocks, help=f"blocks per variant (default {blocks})")
    parser.add_argument("--out", default=out)
    return parser.parse_args()
