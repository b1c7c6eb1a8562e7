"""Checkpoint arrays shared by the agents: numbered weight lists and the optimizer's slot variables."""

from __future__ import annotations

import numpy as np


def numbered(prefix: str, values) -> dict[str, np.ndarray]:
    return {f"{prefix}_{i}": np.asarray(v) for i, v in enumerate(values)}


def collect(arrays: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    """The arrays saved by numbered(prefix, ...), in order (other prefixes, even longer ones, are not counted)."""
    count = 0
    while f"{prefix}_{count}" in arrays:
        count += 1
    return [arrays[f"{prefix}_{i}"] for i in range(count)]


def restore_optimizer(optimizer, arrays: dict[str, np.ndarray]) -> None:
    saved = collect(arrays, "optimizer")
    if len(saved) != len(optimizer.variables):
        raise ValueError(f"checkpoint has {len(saved)} optimizer variables, this agent {len(optimizer.variables)}")
    for variable, value in zip(optimizer.variables, saved, strict=True):
        variable.assign(value)
