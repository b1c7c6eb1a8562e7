"""Summaries over seeds: the seed is the unit of evidence.

Intervals are Student-t intervals of the mean over seeds (scipy.stats), the standard small-sample interval for the
handful of seeds a replication can afford (Student 1908; any statistics text, e.g. Wasserman, All of Statistics,
Sec. 6.3). With one seed there is no interval. [min, max] is reported as the range, never as a confidence interval.
The interquartile mean (Agarwal et al. 2021, "Deep RL at the Edge of the Statistical Precipice", Sec. 4) is kept as a
description only; no verdict reads it. A family of one-sided tests (the steps of an ordering, any of which would
refute it) is corrected with Holm's step-down method (Holm 1979, "A simple sequentially rejective multiple test
procedure", Scand. J. Statistics 6:65-70); statsmodels' multipletests(method="holm") computes the same numbers, but
the project does not depend on statsmodels for six lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

CONFIDENCE = 0.95  # two-sided level of the interval shown; one-sided decisions use the same 95 %


@dataclass(frozen=True)
class Summary:
    """A metric over seeds: n, mean, sample std (ddof=1), range, Student-t 95 % interval (None for n < 2), IQM."""

    n: int
    mean: float
    std: float
    min: float
    max: float
    ci_low: float | None
    ci_high: float | None
    iqm: float

    @property
    def identical(self) -> bool:
        """True when every seed gave exactly the same value (and there are at least two seeds to compare)."""
        return self.n >= 2 and self.min == self.max

    def as_dict(self) -> dict[str, float | None]:
        return {k: getattr(self, k) for k in ("n", "mean", "std", "min", "max", "ci_low", "ci_high", "iqm")}


def _finite(values: list[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError("no values to summarize")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"non-finite value among {values!r}")
    return arr


def t_interval(values: list[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Two-sided Student-t interval of the mean, mean +- t_{(1+c)/2, n-1} s / sqrt(n); None for fewer than 2 values.

    Example: [0.9, 1.1] -> (-0.2706, 2.2706) at 95 % (t_{0.975, 1} = 12.706, s / sqrt(2) = 0.1).
    """
    arr = _finite(values)
    if arr.size < 2:
        return None
    sem = float(arr.std(ddof=1)) / math.sqrt(arr.size)
    if sem == 0.0:
        return float(arr.mean()), float(arr.mean())
    low, high = scipy_stats.t.interval(confidence, arr.size - 1, loc=float(arr.mean()), scale=sem)
    return float(low), float(high)


def one_sided_bounds(values: list[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """(lower, upper) one-sided bounds of the mean at `confidence` each: mean -+ t_{c, n-1} s / sqrt(n).

    The lower bound is the 95 % one-sided lower confidence bound (equivalently, one end of the 90 % two-sided
    interval at c = 0.95). None for fewer than 2 values.
    """
    return t_interval(values, 2.0 * confidence - 1.0)


def p_mean_below_zero(values: list[float]) -> float:
    """p-value of the one-sided Student-t test of H0: mean >= 0 against mean < 0 (scipy.stats.ttest_1samp,
    alternative="less"); p < 0.05 exactly when the one-sided 95 % upper bound of the mean is below 0. With zero
    spread: 0 when the mean is below 0, else 1. Needs >= 2 values."""
    arr = _finite(values)
    if arr.size < 2:
        raise ValueError("a t-test needs at least 2 values")
    if float(arr.std(ddof=1)) == 0.0:
        return 0.0 if float(arr.mean()) < 0 else 1.0
    return float(scipy_stats.ttest_1samp(arr, 0.0, alternative="less").pvalue)


def holm(p_values: list[float]) -> list[float]:
    """Holm-adjusted p-values, in input order: the i-th smallest (i = 1..k) times k - i + 1, made non-decreasing by a
    running maximum, capped at 1. Rejecting the tests whose adjusted p is below alpha keeps the chance of any false
    rejection in the family at most alpha, whatever the tests' dependence (Holm 1979).

    Example: [0.01, 0.04, 0.03] -> [0.03, 0.06, 0.06] (3 x 0.01; 2 x 0.03; max(0.06, 1 x 0.04)).
    """
    k = len(p_values)
    adjusted = [0.0] * k
    running = 0.0
    for rank, index in enumerate(sorted(range(k), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (k - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def interquartile_mean(values: list[float]) -> float:
    """Mean of the middle 50 % of values (scipy.stats.trim_mean with 25 % cut on each side)."""
    return float(scipy_stats.trim_mean(_finite(values), 0.25))


def summarize(values: list[float]) -> Summary:
    """Mean, std (ddof=1; 0 for one seed), range, Student-t 95 % interval of the mean (None for n = 1) and IQM."""
    arr = _finite(values)
    interval = t_interval(list(arr))
    return Summary(
        n=int(arr.size),
        mean=float(arr.mean()),
        std=float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
        min=float(arr.min()),
        max=float(arr.max()),
        ci_low=None if interval is None else interval[0],
        ci_high=None if interval is None else interval[1],
        iqm=interquartile_mean(list(arr)),
    )


def seeds_needed(std: float, margin: float, confidence: float = CONFIDENCE, limit: int = 1000) -> int | None:
    """Smallest n whose one-sided bound t_{c, n-1} std / sqrt(n) is below `margin` (the distance from the observed
    mean to the decision boundary), assuming the observed mean and spread; None if the mean is on the wrong side
    or more than `limit` seeds would be needed. Planning information only: it never changes a verdict."""
    if margin <= 0 or not math.isfinite(std):
        return None
    if std == 0:
        return 2
    for n in range(2, limit + 1):
        if scipy_stats.t.ppf(confidence, n - 1) * std / math.sqrt(n) < margin:
            return n
    return None
