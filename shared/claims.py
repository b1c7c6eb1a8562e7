"""claim.yaml: the paper's numbers and the rules that turn results over all seeds into verdicts.

Verdicts: reproduced, consistent (a qualitative target or bound holds at reduced scale), inconclusive (the seeds
cannot decide), not_reproduced, not_run. A verdict is only ever computed here, from result files; none is written by
hand. The rules (../shared/DESIGN.md, section claim.yaml):

- The seed is the unit of evidence. An RL target with `last_k` first averages each seed's own last K evaluations
  (read from the seed's curve `curve`); episodes are never samples.
- A target is deterministic only if the engine sees identical values in >= 2 seeds; then the rule is applied to that
  value exactly. Otherwise it is stochastic and needs `min_seeds` seeds (default 3), else inconclusive.
- above / below / trend: held when the one-sided 95 % Student-t bound of the mean lies on the claimed side;
  not_reproduced when the opposite one-sided bound lies on the other side; otherwise inconclusive.
- within: two one-sided tests (Schuirmann 1987): the 90 % two-sided interval inside paper +- tolerance -> reproduced;
  the interval entirely outside the band -> not_reproduced; otherwise inconclusive.
- ordering: on per-seed paired differences (metrics of one seed, variant folders included, are paired): held when
  every adjacent difference's one-sided 95 % lower bound exceeds `min_effect`; not_reproduced when one's upper
  bound is below 0; otherwise inconclusive.
- `all_seeds: true`: every seed must satisfy the rule on its own (one failing seed -> not_reproduced).
- A target binds the profiles in `binds`; on any other profile it is not_run with a stated reason: "not applicable:
  ..." or "budget too small: <the budget that would show it>". Runs that exist there are still evaluated and shown as
  what that budget gives, never counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.config import PROFILES, read_yaml
from shared.errors import ReplicateError
from shared.results import RunRecord
from shared.stats import Summary, one_sided_bounds, seeds_needed, summarize

VERDICTS = ("reproduced", "consistent", "inconclusive", "not_reproduced", "not_run")
HELD = ("reproduced", "consistent")
NOT_RUN_REASONS = ("not applicable", "budget too small")
DEFAULT_MIN_SEEDS = 3
COMMON_RULE_KEYS = {"kind", "all_seeds"}
RULE_KINDS = {
    "within": {"abs", "rel"},
    "below": {"bound"},
    "above": {"bound"},
    "ordering": {"metrics", "order", "min_effect"},
    "trend": {"direction", "min_change"},
}
TARGET_KEYS = {
    "metric", "rule", "binds", "paper", "label", "held", "curve", "curves", "last_k", "min_seeds", "not_run",
    "seeds", "revised",
}  # fmt: skip


@dataclass(frozen=True)
class Target:
    """One checkable statement: a metric (or several, for ordering), the paper's value and a rule.

    `curve`/`curves` + `last_k`: the per-seed value is the mean of the last K points of that curve (RL evaluations).
    `not_run`: profile -> reason for the profiles outside `binds`. `seeds`: only these seeds count (a target revised
    after first results runs on fresh seeds). `revised`: the note saying when and why a target was added or revised.
    """

    metric: str
    rule: dict[str, Any]
    binds: tuple[str, ...]
    paper: float | None = None
    label: str = ""
    held: str | None = None  # verdict when the rule holds; default: reproduced for `within` or at paper scale
    curves: tuple[str, ...] = ()
    last_k: int | None = None
    min_seeds: int = DEFAULT_MIN_SEEDS
    not_run: tuple[tuple[str, str], ...] = ()
    seeds: tuple[int, ...] | None = None
    revised: str = ""

    @property
    def names(self) -> list[str]:
        """The metrics the rule reads, in rule order."""
        return list(self.rule["metrics"]) if self.rule["kind"] == "ordering" else [self.metric]

    def reason(self, profile: str) -> str:
        """Why this target is not run on a profile it does not bind."""
        return dict(self.not_run).get(profile, "")

    def tolerance(self) -> float:
        return float(self.rule["abs"]) if "abs" in self.rule else float(self.rule["rel"]) * abs(float(self.paper))

    def describe(self) -> str:
        kind = self.rule["kind"]
        every = " in every seed" if self.rule.get("all_seeds") else ""
        if kind == "within":
            tol = f"±{self.rule['abs']:g}" if "abs" in self.rule else f"±{self.rule['rel']:.0%} rel."
            text = f"within {tol} of paper (90 % CI inside the band)"
        elif kind in ("below", "above"):
            text = f"{kind} {self.rule['bound']:g} (one-sided 95 % bound)"
        elif kind == "ordering":
            sign = " < " if self.rule["order"] == "increasing" else " > "
            effect = self.rule.get("min_effect", 0)
            text = sign.join(self.rule["metrics"]) + f" (paired per seed, lower bound > {effect:g})"
        else:
            text = f"curve {self.metric} {self.rule['direction']} by ≥ {self.rule.get('min_change', 0):g}"
        if self.last_k:
            text += f"; per seed: mean of last {self.last_k} evaluations"
        return text + every


@dataclass(frozen=True)
class Claim:
    """A parsed claim.yaml."""

    replication: str
    title: str
    claim: str
    source: dict[str, str]
    targets: tuple[Target, ...]
    deviations: tuple[str, ...]


@dataclass
class TargetResult:
    """A target evaluated on one profile's runs. `differences` holds the paired per-seed differences of an
    ordering (name "b - a" oriented so that positive supports the claim); `planning` how many seeds the observed
    spread would need; `budget_result` the verdict the runs of a profile the target does not bind would get."""

    target: Target
    verdict: str
    summaries: dict[str, Summary] = field(default_factory=dict)
    detail: str = ""
    differences: dict[str, Summary] = field(default_factory=dict)
    per_seed: dict[str, dict[int, float]] = field(default_factory=dict)
    planning: str = ""
    budget_result: str = ""
    registration: str = ""  # "" (checked, registered before its runs) or the flag text


def _number(value: Any, where: str, *, low: float | None = None, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ReplicateError(f"{where}: expected a finite number, got {str(value)[:60]!r}")
    if low is not None and (value <= low if strict else value < low):
        raise ReplicateError(f"{where}: expected a number {'>' if strict else '>='} {low:g}, got {value!r}")
    return float(value)


def _check_rule(rule: Any, where: str) -> dict[str, Any]:
    if not isinstance(rule, dict) or rule.get("kind") not in RULE_KINDS:
        raise ReplicateError(f"{where}.rule: needs kind, one of {sorted(RULE_KINDS)}; got {str(rule)[:80]!r}")
    kind = rule["kind"]
    extra = set(rule) - COMMON_RULE_KEYS - RULE_KINDS[kind]
    if extra:
        raise ReplicateError(f"{where}.rule: unknown key(s) {sorted(extra)} for kind {kind}")
    if not isinstance(rule.get("all_seeds", False), bool):
        raise ReplicateError(f"{where}.rule.all_seeds: expected true or false")
    if "abs" in rule:
        _number(rule["abs"], f"{where}.rule.abs", low=0.0)
    if "rel" in rule:
        _number(rule["rel"], f"{where}.rule.rel", low=0.0, strict=True)
    if kind in ("below", "above"):
        if "bound" not in rule:
            raise ReplicateError(f"{where}.rule: {kind} needs a numeric bound")
        _number(rule["bound"], f"{where}.rule.bound")
    if kind == "ordering":
        if (
            not isinstance(rule.get("metrics"), list)
            or len(rule["metrics"]) < 2
            or not all(isinstance(m, str) and m for m in rule["metrics"])
            or rule.get("order") not in ("increasing", "decreasing")
        ):
            raise ReplicateError(f"{where}.rule: ordering needs metrics (>= 2 names) and order increasing|decreasing")
        _number(rule.get("min_effect", 0.0), f"{where}.rule.min_effect", low=0.0)
    if kind == "trend":
        if rule.get("direction") not in ("increasing", "decreasing"):
            raise ReplicateError(f"{where}.rule: trend needs direction increasing|decreasing")
        _number(rule.get("min_change", 0.0), f"{where}.rule.min_change")
    return rule


def _check_reasons(raw: Any, where: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not set(raw) <= set(PROFILES):
        raise ReplicateError(f"{where}: expected a mapping profile -> reason, profiles from {PROFILES}")
    for profile, reason in raw.items():
        text = str(reason)
        kind, _, why = text.partition(":")
        if kind not in NOT_RUN_REASONS or not why.strip():
            raise ReplicateError(
                f"{where}.{profile}: a reason reads 'not applicable: <why>' or 'budget too small: <the budget that "
                f"would show it>', got {text[:80]!r}"
            )
    return {p: str(r) for p, r in raw.items()}


def _parse_target(raw: Any, where: str, default_reasons: dict[str, str]) -> Target:
    if not isinstance(raw, dict):
        raise ReplicateError(f"{where}: expected a mapping, got {str(raw)[:80]!r}")
    unknown = set(raw) - TARGET_KEYS
    if unknown:
        raise ReplicateError(f"{where}: unknown key(s) {sorted(unknown)}")
    rule = _check_rule(raw.get("rule"), where)
    kind = rule["kind"]
    binds = raw.get("binds")
    if not isinstance(binds, list) or not binds or not set(binds) <= set(PROFILES):
        raise ReplicateError(f"{where}.binds: expected a list of profiles from {PROFILES}, got {binds!r}")
    paper = raw.get("paper")
    if paper is not None:
        paper = _number(paper, f"{where}.paper")
    if kind == "within" and (paper is None or not ({"abs", "rel"} & set(rule))):
        raise ReplicateError(f"{where}: a within rule needs a paper value and abs or rel")
    held = raw.get("held")
    if held is not None and held not in HELD:
        raise ReplicateError(f"{where}.held: expected reproduced or consistent, got {held!r}")
    metric = raw.get("metric") or (",".join(rule["metrics"]) if kind == "ordering" else None)
    if not metric or not isinstance(metric, str):
        raise ReplicateError(f"{where}: missing metric")
    last_k = raw.get("last_k")
    if last_k is not None and (isinstance(last_k, bool) or not isinstance(last_k, int) or last_k < 1):
        raise ReplicateError(f"{where}.last_k: expected an integer >= 1, got {last_k!r}")
    curves = raw.get("curves", [raw["curve"]] if "curve" in raw else [])
    n_names = len(rule["metrics"]) if kind == "ordering" else 1
    if not isinstance(curves, list) or not all(isinstance(c, str) and c for c in curves):
        raise ReplicateError(f"{where}: curve/curves must name curves.csv metrics")
    if curves and len(curves) != n_names:
        raise ReplicateError(f"{where}: curves needs one curve per metric ({n_names}), got {len(curves)}")
    if last_k and last_k > 1 and not curves:
        raise ReplicateError(f"{where}: last_k > 1 needs the curve (curves.csv metric) the evaluations are read from")
    if kind == "trend" and (last_k or curves):
        raise ReplicateError(f"{where}: a trend reads the curve named by metric; last_k/curve do not apply")
    min_seeds = raw.get("min_seeds", DEFAULT_MIN_SEEDS)
    if isinstance(min_seeds, bool) or not isinstance(min_seeds, int) or min_seeds < 2:
        raise ReplicateError(f"{where}.min_seeds: expected an integer >= 2, got {min_seeds!r}")
    seeds = raw.get("seeds")
    if seeds is not None and (
        not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and s >= 0 for s in seeds)
    ):
        raise ReplicateError(f"{where}.seeds: expected a list of seeds (integers >= 0), got {seeds!r}")
    reasons = {**default_reasons, **_check_reasons(raw.get("not_run"), f"{where}.not_run")}
    bound_with_reason = set(binds) & set(_check_reasons(raw.get("not_run"), f"{where}.not_run"))
    if bound_with_reason:
        raise ReplicateError(f"{where}.not_run: {sorted(bound_with_reason)} also in binds")
    missing = [p for p in PROFILES if p not in binds and p not in reasons]
    if missing:
        raise ReplicateError(
            f"{where}: no reason for not running on {missing} (add not_run: {{{missing[0]}: 'not applicable: ...' "
            "or 'budget too small: ...'}} to the target or the claim)"
        )
    return Target(
        metric=metric,
        rule=rule,
        binds=tuple(binds),
        paper=paper,
        label=str(raw.get("label", "")),
        held=held,
        curves=tuple(curves),
        last_k=last_k,
        min_seeds=min_seeds,
        not_run=tuple(sorted((p, r) for p, r in reasons.items() if p not in binds)),
        seeds=tuple(seeds) if seeds is not None else None,
        revised=str(raw.get("revised", "")),
    )


def load_claim(path: Path) -> Claim:
    """Parse and validate replications/<id>/claim.yaml; any fault is one ReplicateError naming the key."""
    raw = read_yaml(path)
    for key in ("title", "claim", "source", "targets"):
        if key not in raw:
            raise ReplicateError(f"{path}: missing key {key!r}")
    if not isinstance(raw["targets"], list) or not raw["targets"]:
        raise ReplicateError(f"{path}: targets must be a non-empty list")
    if not isinstance(raw["source"], dict):
        raise ReplicateError(f"{path}: source must be a mapping (paper, locator, url)")
    defaults = _check_reasons(raw.get("not_run"), f"{path}: not_run")
    targets = tuple(_parse_target(t, f"{path}: targets[{i}]", defaults) for i, t in enumerate(raw["targets"]))
    return Claim(
        replication=path.parent.name,
        title=str(raw["title"]),
        claim=str(raw["claim"]),
        source={str(k): str(v) for k, v in raw["source"].items()},
        targets=targets,
        deviations=tuple(str(d) for d in raw.get("deviations", [])),
    )


# --- per-seed values ---------------------------------------------------------------------------------------------


def _curve_points(run: RunRecord, name: str) -> list[float]:
    return [v for _, v in sorted((row["step"], row["value"]) for row in run.read_curves() if row["metric"] == name)]


def _seed_value(target: Target, run: RunRecord, index: int) -> float | None:
    """One seed's value of the index-th metric: the metric, the mean of its curve's last K points, or a trend's
    change from the first to the last point of its curve. None when the seed lacks it."""
    if target.rule["kind"] == "trend":
        points = _curve_points(run, target.metric)
        return points[-1] - points[0] if len(points) >= 2 else None
    if target.curves:
        points = _curve_points(run, target.curves[index])
        k = target.last_k or 1
        return sum(points[-k:]) / k if len(points) >= k else None
    value = run.metrics.get(target.names[index])
    return None if value is None else float(value)


def per_seed_values(target: Target, runs: list[RunRecord]) -> dict[str, dict[int, float]]:
    """metric -> {seed: value} over the runs (only the target's `seeds` when it names them)."""
    chosen = [r for r in runs if target.seeds is None or r.seed in target.seeds]
    table: dict[str, dict[int, float]] = {}
    for index, name in enumerate(target.names):
        values = {}
        for run in chosen:
            value = _seed_value(target, run, index)
            if value is not None:
                values[run.seed] = value
        table[name] = values
    return table


# --- decisions ---------------------------------------------------------------------------------------------------


def _point_holds(target: Target, value: float) -> bool:
    """The rule applied to one exact value (a deterministic target, or one seed under all_seeds). For an ordering
    or a trend, `value` is already oriented: a difference or change that must exceed the effect."""
    rule, kind = target.rule, target.rule["kind"]
    if kind == "within":
        return abs(value - target.paper) <= target.tolerance()
    if kind == "below":
        return value <= rule["bound"]
    if kind == "above":
        return value >= rule["bound"]
    if kind == "ordering":
        return value > rule.get("min_effect", 0.0)
    return value >= rule.get("min_change", 0.0)


def _interval_verdict(target: Target, values: list[float]) -> tuple[str, str]:
    """held / not_reproduced / inconclusive from the one-sided 95 % bounds of the mean (stochastic, n >= 2)."""
    rule, kind = target.rule, target.rule["kind"]
    low, high = one_sided_bounds(values)
    if kind == "within":
        tol, paper = target.tolerance(), target.paper
        text = f"90 % CI [{low:.4g}, {high:.4g}] vs band [{paper - tol:.4g}, {paper + tol:.4g}]"
        if paper - tol <= low and high <= paper + tol:
            return "held", text
        if high < paper - tol or low > paper + tol:
            return "not_reproduced", text
        return "inconclusive", text
    if kind == "below":
        text = f"one-sided 95 % bounds [{low:.4g}, {high:.4g}] vs bound {rule['bound']:g}"
        return ("held" if high <= rule["bound"] else "not_reproduced" if low > rule["bound"] else "inconclusive"), text
    if kind == "above":
        text = f"one-sided 95 % bounds [{low:.4g}, {high:.4g}] vs bound {rule['bound']:g}"
        return ("held" if low >= rule["bound"] else "not_reproduced" if high < rule["bound"] else "inconclusive"), text
    if kind == "ordering":
        need = rule.get("min_effect", 0.0)
        text = f"paired difference: one-sided 95 % bounds [{low:.4g}, {high:.4g}] vs min_effect {need:g}"
        return ("held" if low > need else "not_reproduced" if high < 0 else "inconclusive"), text
    need = rule.get("min_change", 0.0)
    text = f"change: one-sided 95 % bounds [{low:.4g}, {high:.4g}] vs {need:g}"
    return ("held" if low >= need else "not_reproduced" if high < need else "inconclusive"), text


def _samples(target: Target, table: dict[str, dict[int, float]]) -> tuple[dict[str, dict[int, float]], str]:
    """The per-seed samples the rule is decided on: the metric itself, an ordering's adjacent paired differences
    (positive supports the claim), or a trend's oriented change."""
    kind = target.rule["kind"]
    if kind == "ordering":
        names = target.names
        sign = 1.0 if target.rule["order"] == "increasing" else -1.0
        samples, dropped = {}, set()
        for a, b in zip(names, names[1:], strict=False):
            seeds = sorted(set(table[a]) & set(table[b]))
            dropped |= (set(table[a]) | set(table[b])) - set(seeds)
            samples[f"{b} - {a}" if sign > 0 else f"{a} - {b}"] = {s: sign * (table[b][s] - table[a][s]) for s in seeds}
        return samples, (f"unpaired seeds left out: {sorted(dropped)}" if dropped else "")
    if kind == "trend" and target.rule["direction"] == "decreasing":
        return {f"-change({target.metric})": {s: -v for s, v in table[target.metric].items()}}, ""
    return {target.metric: table[target.metric]}, ""


def _planning(target: Target, samples: dict[str, dict[int, float]]) -> str:
    """How many seeds the observed spread would need to decide (planning information, never a verdict)."""
    rule, kind = target.rule, target.rule["kind"]
    needs = []
    for values in samples.values():
        s = summarize(list(values.values()))
        if kind == "within":
            margin = target.tolerance() - abs(s.mean - target.paper)
        elif kind in ("below", "above"):
            margin = abs(s.mean - rule["bound"])
        else:
            need = rule.get("min_effect", 0.0) if kind == "ordering" else rule.get("min_change", 0.0)
            margin = abs(s.mean - need)
        n = seeds_needed(s.std, margin)
        if n is None:
            return "the observed mean sits on the boundary: no number of seeds would decide at this spread"
        needs.append(n)
    return f"at the observed mean and spread, about {max(needs)} seeds would decide it (planning only)"


def evaluate_target(target: Target, runs: list[RunRecord], profile: str) -> TargetResult:
    """Apply the target's rule over seeds (see the module docstring); not_run when the target does not bind the
    profile (the runs that exist are still judged and reported as `budget_result`) or no run has the metric."""
    if profile not in target.binds:
        result = _judge(target, runs, profile)
        result.budget_result = result.verdict if result.verdict != "not_run" else ""
        result.verdict = "not_run"
        result.detail = target.reason(profile) or f"does not bind profile {profile}"
        return result
    return _judge(target, runs, profile)


def _judge(target: Target, runs: list[RunRecord], profile: str) -> TargetResult:
    table = per_seed_values(target, runs)
    if any(not v for v in table.values()):
        return TargetResult(target, "not_run", detail="no completed run has this metric", per_seed=table)
    summaries = {name: summarize(list(v.values())) for name, v in table.items()}
    samples, note = _samples(target, table)
    if any(not v for v in samples.values()):
        return TargetResult(target, "not_run", summaries, "no seed has every metric of the ordering", per_seed=table)
    differences = (
        {k: summarize(list(v.values())) for k, v in samples.items()} if target.rule["kind"] == "ordering" else {}
    )
    held = target.held or ("reproduced" if target.rule["kind"] == "within" or profile == "paper" else "consistent")
    result = TargetResult(target, "inconclusive", summaries, differences=differences, per_seed=table)
    verdicts, texts = [], []
    for name, values in samples.items():
        vals = list(values.values())
        s = summarize(vals)
        if target.rule.get("all_seeds"):
            failing = sorted(seed for seed, v in values.items() if not _point_holds(target, v))
            if failing:
                verdicts.append("not_reproduced")
                texts.append(f"{name}: fails in seed(s) {failing} of {s.n} (all seeds must hold)")
                continue
            if s.n < target.min_seeds and not s.identical:
                verdicts.append("inconclusive")
                texts.append(f"{name}: holds in all {s.n} seed(s), fewer than min_seeds {target.min_seeds}")
                continue
            verdicts.append("held")
            texts.append(f"{name}: holds in every one of {s.n} seeds")
        elif s.identical:
            ok = _point_holds(target, s.mean)
            verdicts.append("held" if ok else "not_reproduced")
            texts.append(f"{name}: deterministic (identical in {s.n} seeds) = {s.mean:.6g}")
        elif s.n < target.min_seeds:
            verdicts.append("inconclusive")
            kind_text = "a stochastic target" if s.n > 1 else "one seed cannot show the target is deterministic"
            texts.append(f"{name}: {s.n} seed(s), {kind_text}; needs {target.min_seeds} (min_seeds)")
        else:
            verdict, text = _interval_verdict(target, vals)
            verdicts.append(verdict)
            texts.append(f"{name}: {text}")
    if "not_reproduced" in verdicts:
        result.verdict = "not_reproduced"
    elif all(v == "held" for v in verdicts):
        result.verdict = held
    else:
        result.verdict = "inconclusive"
        if all(len(v) >= 2 for v in samples.values()) and not target.rule.get("all_seeds"):
            result.planning = _planning(target, samples)
    result.detail = "; ".join(t for t in texts + [note] if t)
    return result


def verdict_counts(results: list[TargetResult]) -> dict[str, int]:
    """How many targets got each verdict (in VERDICTS order, zeros left out)."""
    counts = {v: sum(r.verdict == v for r in results) for v in VERDICTS}
    return {v: n for v, n in counts.items() if n}


def not_run_kind(result: TargetResult) -> str:
    """Why a not_run target did not run: "not applicable", "budget too small" or "no runs"."""
    for kind in NOT_RUN_REASONS:
        if result.detail.startswith(kind):
            return kind
    return "no runs"


def counts_text(results: list[TargetResult]) -> str:
    """e.g. '4 reproduced, 2 inconclusive, 1 not reproduced, 1 not run (budget too small), 1 not applicable': the
    mix, never one word that hides it."""
    parts = [f"{n} {v.replace('_', ' ')}" for v, n in verdict_counts(results).items() if v != "not_run"]
    skipped = [not_run_kind(r) for r in results if r.verdict == "not_run"]
    for kind in ("no runs", "budget too small"):
        if kind in skipped:
            parts.append(f"{skipped.count(kind)} not run ({kind})")
    if "not applicable" in skipped:
        parts.append(f"{skipped.count('not applicable')} not applicable")
    return ", ".join(parts) or "no targets"


def evaluate_claim(claim: Claim, runs: list[RunRecord], profile: str) -> list[TargetResult]:
    """Every target of the claim on this profile, from completed (ok) runs; targets that do not bind the profile
    come back not_run with their reason."""
    ok_runs = [r for r in runs if r.status == "ok"]
    return [evaluate_target(t, ok_runs, profile) for t in claim.targets]
