"""Summaries over seeds: mean, sample standard deviation, range and a bootstrap confidence interval."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_RANDOM_STATE = 0  # fixed, so a report regenerated from the same runs is byte-identical


@dataclass(frozen=True)
class Summary:
    """A metric over seeds."""

    n: int
    mean: float
    std: float
    min: float
    max: float
    ci_low: float
    ci_high: float

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in ("n", "mean", "std", "min", "max", "ci_low", "ci_high")}


def bootstrap_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean (seeded); with one value the interval is that value."""
    if len(values) < 2:
        return float(values[0]), float(values[0])
    rng = np.random.default_rng(BOOTSTRAP_RANDOM_STATE)
    means = rng.choice(values, size=(BOOTSTRAP_RESAMPLES, len(values)), replace=True).mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def summarize(values: list[float]) -> Summary:
    """Mean, std (ddof=1; 0 for a single seed), min, max and 95% bootstrap CI of the mean."""
    if not values:
        raise ValueError("no values to summarize")
    arr = np.asarray(values, dtype=float)
    low, high = bootstrap_ci(arr)
    return Summary(
        n=len(arr),
        mean=float(arr.mean()),
        std=float(arr.std(ddof=1)) if len(arr) > 1 else 0.0,
        min=float(arr.min()),
        max=float(arr.max()),
        ci_low=low,
        ci_high=high,
    )
