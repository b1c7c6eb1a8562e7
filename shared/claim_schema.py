"""claim.yaml's schema: targets, rules, bindings and not_run reasons, validated when read.

Every number is checked to be finite and in its range, every key against the schema, and every profile outside a
target's `binds` must carry a reason, so a malformed claim is one ReplicateError naming the key, never a wrong verdict.
The decision rules that read these targets live in shared/claims.py.
"""

from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replicate_suite.config import PROFILES, read_yaml
from replicate_suite.errors import ReplicateError, brief

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
CLAIM_KEYS = ("title", "claim", "source", "not_run", "targets", "deviations", "fixes")
FIX_KEYS = ("commit", "issue", "what", "metrics")
MAX_SEED = 2**32 - 1  # a run's seed is unsigned 32-bit (NumPy, TensorFlow); `replicate run` refuses larger ones
TARGET_KEYS = {
    "metric", "rule", "binds", "paper", "label", "held", "curve", "curves", "last_k", "min_seeds", "not_run",
    "seeds", "revised", "caveat",
}  # fmt: skip


@dataclass(frozen=True)
class Target:
    """One checkable statement: a metric (or several, for ordering), the paper's value and a rule.

    `curve`/`curves` + `last_k`: the per-seed value is the mean of the last K points of that curve (RL evaluations).
    `not_run`: profile -> reason for the profiles outside `binds`. `seeds`: only these seeds count (a target revised
    after first results runs on fresh seeds): a list for every profile, or a mapping profile -> list. `revised`: the
    note saying when and why a target was added or revised.
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
    seeds: tuple[tuple[str, tuple[int, ...]], ...] | None = None  # (profile, seeds) pairs; None: every seed counts
    revised: str = ""
    caveat: str = ""  # a fact about how the evidence was gathered (e.g. the test set seen while tuning)

    @property
    def names(self) -> list[str]:
        """The metrics the rule reads, in rule order."""
        return list(self.rule["metrics"]) if self.rule["kind"] == "ordering" else [self.metric]

    @property
    def name(self) -> str:
        """How reports, history rows and `list` name the target: its label, else its metric (unique per claim)."""
        return self.label or self.metric

    def seeds_for(self, profile: str) -> tuple[int, ...] | None:
        """The seeds that count on a profile (None: all)."""
        if self.seeds is None:
            return None
        return dict(self.seeds).get(profile)

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
            text = f"curve {self.metric} {self.rule['direction']} by > {self.rule.get('min_change', 0):g}"
        if self.last_k:
            text += f"; per seed: mean of last {self.last_k} evaluations"
        return text + every


@dataclass(frozen=True)
class Fix:
    """A fault of our code fixed after runs were made (claim.yaml `fixes`): a run whose code does not contain the
    fixing commit is not counted for the targets the fault touched (report.evaluate).

    Name the commit that completes the fix on main. When that is a merge, runs made on the merged branch after its
    own fix commits but before the merge are left out too (conservative: git cannot tell which branch commits a run
    needed)."""

    commit: str
    """The commit that fixed it (7 to 40 hex digits; quote it in YAML)."""
    issue: str
    what: str
    metrics: tuple[str, ...] = ()
    """fnmatch patterns of the metric names whose targets the fault touched; () = every target of the claim."""

    def applies_to(self, target: Target) -> bool:
        names = [*target.names, *target.curves]
        return not self.metrics or any(fnmatch.fnmatchcase(n, p) for n in names for p in self.metrics)


@dataclass(frozen=True)
class Claim:
    """A parsed claim.yaml."""

    replication: str
    title: str
    claim: str
    source: dict[str, str]
    targets: tuple[Target, ...]
    deviations: tuple[str, ...]
    fixes: tuple[Fix, ...] = ()


def _number(value: Any, where: str, *, low: float | None = None, strict: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ReplicateError(f"{where}: expected a finite number, got {str(value)[:60]!r}")
    if low is not None and (value <= low if strict else value < low):
        raise ReplicateError(f"{where}: expected a number {'>' if strict else '>='} {low:g}, got {value!r}")
    return float(value)


def _repeated(items: list[Any], where: str) -> None:
    """A list whose entries must be distinct (profiles in binds, metrics of an ordering, seeds): name a repeat."""
    seen = []
    for item in items:
        if item in seen:
            raise ReplicateError(f"{where}: {brief(item)} is listed twice")
        seen.append(item)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ReplicateError(f"{where}: expected a non-empty text, got {brief(value)}")
    return value


def _check_rule(rule: Any, where: str) -> dict[str, Any]:
    if not isinstance(rule, dict) or not isinstance(rule.get("kind"), str) or rule["kind"] not in RULE_KINDS:
        raise ReplicateError(f"{where}.rule: needs kind, one of {sorted(RULE_KINDS)}; got {str(rule)[:80]!r}")
    kind = rule["kind"]
    extra = set(rule) - COMMON_RULE_KEYS - RULE_KINDS[kind]
    if extra:
        raise ReplicateError(f"{where}.rule: unknown key(s) {sorted(extra)} for kind {kind}")
    if not isinstance(rule.get("all_seeds", False), bool):
        raise ReplicateError(f"{where}.rule.all_seeds: expected true or false")
    if "abs" in rule and "rel" in rule:  # tolerance() would read abs and silently ignore rel
        raise ReplicateError(f"{where}.rule: a within rule takes abs or rel, not both")
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
        _repeated(rule["metrics"], f"{where}.rule.metrics")
        _number(rule.get("min_effect", 0.0), f"{where}.rule.min_effect", low=0.0)
    if kind == "trend":
        if rule.get("direction") not in ("increasing", "decreasing"):
            raise ReplicateError(f"{where}.rule: trend needs direction increasing|decreasing")
        _number(rule.get("min_change", 0.0), f"{where}.rule.min_change", low=0.0)
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


def _check_seeds(raw: Any, where: str) -> tuple[tuple[str, tuple[int, ...]], ...] | None:
    """`seeds: [10, 11]` (every profile) or `seeds: {cpu: [0, 1]}` -> ((profile, seeds), ...); None when absent."""
    if raw is None:
        return None
    by_profile = raw if isinstance(raw, dict) else {p: raw for p in PROFILES}
    if not set(by_profile) <= set(PROFILES):
        raise ReplicateError(f"{where}.seeds: profiles must come from {PROFILES}, got {sorted(by_profile)}")
    for seeds in by_profile.values():
        if (
            not isinstance(seeds, list)
            or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_SEED for s in seeds)
        ):
            raise ReplicateError(
                f"{where}.seeds: expected a list of seeds (integers 0 to {MAX_SEED}), got {str(seeds)[:80]!r}"
            )
        _repeated(seeds, f"{where}.seeds")
    return tuple(sorted((p, tuple(s)) for p, s in by_profile.items()))


def parse_target(raw: Any, where: str, default_reasons: dict[str, str]) -> Target:
    if not isinstance(raw, dict):
        raise ReplicateError(f"{where}: expected a mapping, got {str(raw)[:80]!r}")
    unknown = set(raw) - TARGET_KEYS
    if unknown:
        raise ReplicateError(f"{where}: unknown key(s) {sorted(unknown)}")
    rule = _check_rule(raw.get("rule"), where)
    kind = rule["kind"]
    binds = raw.get("binds")
    if not isinstance(binds, list) or not binds or not all(isinstance(b, str) and b in PROFILES for b in binds):
        raise ReplicateError(f"{where}.binds: expected a list of profiles from {PROFILES}, got {brief(binds)}")
    _repeated(binds, f"{where}.binds")
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
    seeds = _check_seeds(raw.get("seeds"), where)
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
        seeds=seeds,
        revised=str(raw.get("revised", "")),
        caveat=str(raw.get("caveat", "")),
    )


def load_claim(path: Path) -> Claim:
    """Parse and validate replications/<id>/claim.yaml; any fault is one ReplicateError naming the key."""
    raw = read_yaml(path)
    unknown = sorted(str(k) for k in set(raw) - set(CLAIM_KEYS))
    if unknown:
        expected = ", ".join(CLAIM_KEYS)
        raise ReplicateError(f"{path}: unknown top-level key(s) {', '.join(unknown)} (expected: {expected})")
    for key in ("title", "claim", "source", "targets"):
        if key not in raw:
            raise ReplicateError(f"{path}: missing key {key!r}")
    title, claim = _text(raw["title"], f"{path}: title"), _text(raw["claim"], f"{path}: claim")
    deviations = raw.get("deviations", [])
    if not isinstance(deviations, list) or not all(isinstance(d, str) and d.strip() for d in deviations):
        raise ReplicateError(f"{path}: deviations: expected a list of texts, got {brief(deviations)}")
    if not isinstance(raw["targets"], list) or not raw["targets"]:
        raise ReplicateError(f"{path}: targets must be a non-empty list")
    if not isinstance(raw["source"], dict):
        raise ReplicateError(f"{path}: source must be a mapping (paper, locator, url)")
    defaults = _check_reasons(raw.get("not_run"), f"{path}: not_run")
    targets = tuple(parse_target(t, f"{path}: targets[{i}]", defaults) for i, t in enumerate(raw["targets"]))
    keys = [t.name for t in targets]
    repeated = sorted({k for k in keys if keys.count(k) > 1})
    if repeated:
        raise ReplicateError(f"{path}: two targets share the name {brief(repeated[0])}: give each a distinct label")
    return Claim(
        replication=path.parent.name,
        title=title,
        claim=claim,
        source={str(k): str(v) for k, v in raw["source"].items()},
        targets=targets,
        deviations=tuple(deviations),
        fixes=_check_fix_patterns(_parse_fixes(raw.get("fixes", []), f"{path}: fixes"), targets, f"{path}: fixes"),
    )


def _check_fix_patterns(fixes: tuple[Fix, ...], targets: tuple[Target, ...], where: str) -> tuple[Fix, ...]:
    """Every `metrics` pattern of a fix must match a metric or curve of some target (a typo would touch nothing)."""
    names = [n for t in targets for n in (*t.names, *t.curves)]
    for i, fix in enumerate(fixes):
        for pattern in fix.metrics:
            if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
                raise ReplicateError(f"{where}[{i}].metrics: {pattern!r} matches no target's metric or curve")
    return fixes


def _parse_fixes(raw: Any, where: str) -> tuple[Fix, ...]:
    """claim.yaml `fixes`: a list of {commit, issue, what, metrics (optional list of patterns)}."""
    if not isinstance(raw, list):
        raise ReplicateError(f"{where}: expected a list of {{commit, issue, what, metrics}}, got {brief(raw)}")
    fixes = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise ReplicateError(f"{at}: expected a mapping with commit, issue, what, got {brief(item)}")
        unknown = sorted(str(k) for k in set(item) - set(FIX_KEYS))
        if unknown:
            raise ReplicateError(f"{at}: unknown key(s) {', '.join(unknown)} (expected: {', '.join(FIX_KEYS)})")
        commit = item.get("commit")
        if isinstance(commit, int) and not isinstance(commit, bool):
            raise ReplicateError(
                f"{at}.commit: YAML read it as the number {commit}: quote the commit id, e.g. commit: '0123456'"
            )
        if not isinstance(commit, str) or not re.fullmatch(r"[0-9a-f]{7,40}", commit):
            raise ReplicateError(f"{at}.commit: expected 7 to 40 lowercase hex digits, got {brief(commit)}")
        issue, what = _text(item.get("issue"), f"{at}.issue"), _text(item.get("what"), f"{at}.what")
        metrics = item.get("metrics", [])
        if not isinstance(metrics, list) or not all(isinstance(m, str) and m.strip() for m in metrics):
            raise ReplicateError(f"{at}.metrics: expected a list of metric names or patterns, got {brief(metrics)}")
        if "metrics" in item and not metrics:
            raise ReplicateError(f"{at}.metrics: empty; leave the key out for a fix that touches every target")
        fixes.append(Fix(commit, issue, what, tuple(metrics)))
    return tuple(fixes)


def registration_seed_sets(claim: Claim, profile: str) -> list[tuple[int, ...]]:
    """The distinct seed sets the claim's targets name (`seeds`) for this profile, in claim.yaml order: one per
    registration (a later registration lists its targets after the earlier's); [] when no target names seeds."""
    return list(dict.fromkeys(t.seeds_for(profile) for t in claim.targets if t.seeds_for(profile) is not None))


def newest_registration_seeds(claim: Claim, profile: str) -> tuple[int, ...] | None:
    """The seeds the last target (in claim.yaml order) naming `seeds` for this profile counts, when the claim's
    targets name more than one seed set there (registrations: a later one lists its targets after the earlier's);
    None when they name at most one."""
    named = [t.seeds_for(profile) for t in claim.targets if t.seeds_for(profile) is not None]
    return named[-1] if len(set(named)) > 1 else None


def check_registration_seed(replication_id: str, profile: str, seed: int) -> None:
    """A seed that only an earlier registration of this profile counts (claim.yaml: targets' `seeds`, the newest
    registration's targets listed last) cannot be run: the profile's config is now the newest registration's
    protocol, and a run written into that seed's folder would be judged as the earlier registration's. Raises
    ReplicateError naming the seeds that can run; no-op when claim.yaml names at most one seed set there. Checked
    by `replicate run` (and so by sweeps and dvc stages) before anything runs."""
    from replicate_suite.runner import replication_path

    path = replication_path(replication_id) / "claim.yaml"
    if not path.is_file():
        return
    claim = load_claim(path)
    newest = newest_registration_seeds(claim, profile)
    if newest is None:
        return
    earlier = set().union(*registration_seed_sets(claim, profile)) - set(newest)
    if seed in earlier:
        raise ReplicateError(
            f"seed {seed} of {replication_id} {profile} belongs to an earlier registration (claim.yaml), whose runs "
            f"were made with another protocol than the profile's current one; the current registration runs seeds "
            f"{', '.join(map(str, newest))} (or any seed no registration names)"
        )
