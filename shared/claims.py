"""claim.yaml: the paper's numbers and the rules that turn results over all seeds into verdicts.

Verdicts: reproduced, consistent (a qualitative target or bound holds at reduced scale), not_reproduced, not_run.
A verdict is only ever computed here, from result files; none is written by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.config import PROFILES, read_yaml
from shared.errors import ReplicateError
from shared.results import RunRecord
from shared.stats import Summary, summarize

VERDICTS = ("reproduced", "consistent", "not_reproduced", "not_run")
RULE_KINDS = {
    "within": {"abs", "rel"},
    "below": {"bound"},
    "above": {"bound"},
    "ordering": {"metrics", "order"},
    "trend": {"direction", "min_change"},
}


@dataclass(frozen=True)
class Target:
    """One checkable statement: a metric (or several, for ordering), the paper's value and a rule."""

    metric: str
    rule: dict[str, Any]
    binds: tuple[str, ...]
    paper: float | None = None
    label: str = ""
    held: str | None = None  # verdict when the rule holds; default: reproduced for `within` or at paper scale

    def describe(self) -> str:
        kind = self.rule["kind"]
        if kind == "within":
            tol = f"±{self.rule['abs']:g}" if "abs" in self.rule else f"±{self.rule['rel']:.0%} rel."
            return f"within {tol} of paper"
        if kind in ("below", "above"):
            return f"{kind} {self.rule['bound']:g}"
        if kind == "ordering":
            sign = " < " if self.rule["order"] == "increasing" else " > "
            return "mean " + sign.join(self.rule["metrics"])
        return f"curve {self.metric} {self.rule['direction']} by ≥ {self.rule.get('min_change', 0):g}"


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
    """A target evaluated on one profile's runs."""

    target: Target
    verdict: str
    summaries: dict[str, Summary] = field(default_factory=dict)
    detail: str = ""


def _parse_target(raw: Any, where: str) -> Target:
    if not isinstance(raw, dict):
        raise ReplicateError(f"{where}: expected a mapping, got {raw!r}")
    unknown = set(raw) - {"metric", "rule", "binds", "paper", "label", "held"}
    if unknown:
        raise ReplicateError(f"{where}: unknown key(s) {sorted(unknown)}")
    rule = raw.get("rule")
    if not isinstance(rule, dict) or rule.get("kind") not in RULE_KINDS:
        raise ReplicateError(f"{where}.rule: needs kind, one of {sorted(RULE_KINDS)}; got {rule!r}")
    extra = set(rule) - {"kind"} - RULE_KINDS[rule["kind"]]
    if extra:
        raise ReplicateError(f"{where}.rule: unknown key(s) {sorted(extra)} for kind {rule['kind']}")
    binds = raw.get("binds")
    if not isinstance(binds, list) or not binds or not set(binds) <= set(PROFILES):
        raise ReplicateError(f"{where}.binds: expected a list of profiles from {PROFILES}, got {binds!r}")
    kind = rule["kind"]
    if kind == "within" and (raw.get("paper") is None or not ({"abs", "rel"} & set(rule))):
        raise ReplicateError(f"{where}: a within rule needs a paper value and abs or rel")
    if kind in ("below", "above") and not isinstance(rule.get("bound"), (int, float)):
        raise ReplicateError(f"{where}.rule: {kind} needs a numeric bound")
    if kind == "ordering" and (
        not isinstance(rule.get("metrics"), list)
        or len(rule["metrics"]) < 2
        or rule.get("order") not in ("increasing", "decreasing")
    ):
        raise ReplicateError(f"{where}.rule: ordering needs metrics (>= 2) and order increasing|decreasing")
    if kind == "trend" and rule.get("direction") not in ("increasing", "decreasing"):
        raise ReplicateError(f"{where}.rule: trend needs direction increasing|decreasing")
    held = raw.get("held")
    if held is not None and held not in ("reproduced", "consistent"):
        raise ReplicateError(f"{where}.held: expected reproduced or consistent, got {held!r}")
    metric = raw.get("metric") or (",".join(rule["metrics"]) if kind == "ordering" else None)
    if not metric:
        raise ReplicateError(f"{where}: missing metric")
    return Target(
        metric=metric,
        rule=rule,
        binds=tuple(binds),
        paper=raw.get("paper"),
        label=str(raw.get("label", "")),
        held=held,
    )


def load_claim(path: Path) -> Claim:
    """Parse and validate replications/<id>/claim.yaml."""
    raw = read_yaml(path)
    for key in ("title", "claim", "source", "targets"):
        if key not in raw:
            raise ReplicateError(f"{path}: missing key {key!r}")
    if not isinstance(raw["targets"], list) or not raw["targets"]:
        raise ReplicateError(f"{path}: targets must be a non-empty list")
    targets = tuple(_parse_target(t, f"{path}: targets[{i}]") for i, t in enumerate(raw["targets"]))
    return Claim(
        replication=path.parent.name,
        title=str(raw["title"]),
        claim=str(raw["claim"]),
        source=dict(raw["source"]),
        targets=targets,
        deviations=tuple(str(d) for d in raw.get("deviations", [])),
    )


def _metric_values(runs: list[RunRecord], metric: str) -> list[float]:
    return [r.metrics[metric] for r in runs if metric in r.metrics]


def _curve_changes(runs: list[RunRecord], metric: str) -> list[float]:
    changes = []
    for run in runs:
        points = sorted((row["step"], row["value"]) for row in run.read_curves() if row["metric"] == metric)
        if len(points) >= 2:
            changes.append(points[-1][1] - points[0][1])
    return changes


def evaluate_target(target: Target, runs: list[RunRecord], profile: str) -> TargetResult:
    """Apply the target's rule to the mean over seeds; not_run when no run has the metric."""
    rule, kind = target.rule, target.rule["kind"]
    if profile not in target.binds:
        return TargetResult(target, "not_run", detail=f"does not bind profile {profile}")
    names = rule["metrics"] if kind == "ordering" else [target.metric]
    values = {name: (_curve_changes(runs, name) if kind == "trend" else _metric_values(runs, name)) for name in names}
    if any(not v for v in values.values()):
        return TargetResult(target, "not_run", detail="no completed run has this metric")
    summaries = {name: summarize(v) for name, v in values.items()}
    means = [summaries[name].mean for name in names]
    mean = means[0]
    if kind == "within":
        tolerance = rule["abs"] if "abs" in rule else rule["rel"] * abs(target.paper)
        holds = abs(mean - target.paper) <= tolerance
        detail = f"|{mean:.6g} - {target.paper:g}| = {abs(mean - target.paper):.3g} vs tolerance {tolerance:g}"
    elif kind == "below":
        holds, detail = mean <= rule["bound"], f"{mean:.6g} <= {rule['bound']:g}"
    elif kind == "above":
        holds, detail = mean >= rule["bound"], f"{mean:.6g} >= {rule['bound']:g}"
    elif kind == "ordering":
        pairs = list(zip(means, means[1:], strict=False))
        holds = all(a < b for a, b in pairs) if rule["order"] == "increasing" else all(a > b for a, b in pairs)
        detail = ", ".join(f"{n}={m:.4g}" for n, m in zip(names, means, strict=True))
    else:  # trend: mean change of the curve from its first to its last point
        need = float(rule.get("min_change", 0.0))
        holds = -mean >= need if rule["direction"] == "decreasing" else mean >= need
        detail = f"mean change {mean:+.4g} (needs {rule['direction']} by >= {need:g})"
    held = target.held or ("reproduced" if kind == "within" or profile == "paper" else "consistent")
    return TargetResult(target, held if holds else "not_reproduced", summaries, detail)


def overall_verdict(results: list[TargetResult]) -> str:
    """not_reproduced if any evaluated target failed; reproduced if all held as reproduced; else consistent."""
    evaluated = [r.verdict for r in results if r.verdict != "not_run"]
    if not evaluated:
        return "not_run"
    if "not_reproduced" in evaluated:
        return "not_reproduced"
    return "reproduced" if all(v == "reproduced" for v in evaluated) else "consistent"


def evaluate_claim(claim: Claim, runs: list[RunRecord], profile: str) -> tuple[str, list[TargetResult]]:
    """Verdict of every target binding this profile, and the overall verdict, from completed (ok) runs."""
    ok_runs = [r for r in runs if r.status == "ok"]
    results = [evaluate_target(t, ok_runs, profile) for t in claim.targets if profile in t.binds]
    return overall_verdict(results), results
