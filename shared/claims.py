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
  every adjacent difference's one-sided 95 % lower bound exceeds `min_effect`; not_reproduced when one step is
  reversed: its upper bound below 0 for one step, and for k > 1 steps its Holm-adjusted one-sided p-value (H0: the
  step's mean difference >= 0) below 5 %, so that k chances to find a reversal still hold the family at 5 %;
  otherwise inconclusive. Held needs every step at once (an intersection-union test, Berger 1982, "Multiparameter
  hypothesis testing and acceptance sampling", Technometrics 24:295-300): each step at 5 % already holds it at 5 %.
- `all_seeds: true`: every seed must satisfy the rule on its own (one failing seed -> not_reproduced).
- A target binds the profiles in `binds`; on any other profile it is not_run with a stated reason: "not applicable:
  ..." or "budget too small: <the budget that would show it>". Runs that exist there are still evaluated and shown as
  what that budget gives, never counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from replicate_suite.claim_schema import (  # noqa: F401  (Claim, load_claim and the constants are part of this API)
    DEFAULT_MIN_SEEDS,
    HELD,
    NOT_RUN_REASONS,
    VERDICTS,
    Claim,
    Target,
    load_claim,
    newest_registration_seeds,
    registration_seed_sets,
)
from replicate_suite.results import RunRecord, diverged_text
from replicate_suite.stats import (
    CONFIDENCE,
    Summary,
    holm,
    one_sided_bounds,
    p_mean_below_zero,
    seeds_needed,
    summarize,
)


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
    uncommitted: str = ""  # "" or which counted run folders ran from uncommitted changes (report.uncommitted_text)
    diverged: tuple[DivergedPart, ...] = ()  # the diverged parts that held this target back (_survivors_only)


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


def _of_its_seeds(target: Target, runs: list[RunRecord], profile: str) -> list[RunRecord]:
    """The runs of the seeds the target counts on this profile (all when it names none)."""
    allowed = target.seeds_for(profile)
    return [r for r in runs if allowed is None or r.seed in allowed]


def per_seed_values(target: Target, runs: list[RunRecord], profile: str | None = None) -> dict[str, dict[int, float]]:
    """metric -> {seed: value} over the runs (only the target's `seeds` when it names them)."""
    chosen = runs if profile is None else _of_its_seeds(target, runs, profile)
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
        return abs(value - target.paper) <= target.tolerance() + _rounding(target.paper, value)
    if kind == "below":
        return value <= rule["bound"] + _rounding(rule["bound"])
    if kind == "above":
        return value >= rule["bound"] - _rounding(rule["bound"])
    if kind == "ordering":
        return value > rule.get("min_effect", 0.0)
    return value > rule.get("min_change", 0.0)


def _rounding(*values: float) -> float:
    """Float64 rounding room for exact comparisons (|1.1 - 1.0| is 0.10000000000000009): 1e-12 relative."""
    return 1e-12 * max(1.0, *(abs(v) for v in values))


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
    return ("held" if low > need else "not_reproduced" if high <= need else "inconclusive"), text


def _holm_reversals(
    verdicts: list[str], texts: list[str], tested: list[tuple[int, list[float]]], untested: int = 0
) -> None:
    """Redecide not_reproduced for the steps of an ordering judged on intervals (`tested`: index into
    verdicts/texts, per-seed differences) when the family has k > 1 steps: a step is reversed only when its
    Holm-adjusted p-value of H0 "mean difference >= 0" is below 5 %. The family also holds the `untested` steps left
    undecided for want of seeds, each at p = 1, so that fewer data never make a reversal easier to call. A held
    step stays held (its lower bound is above min_effect >= 0)."""
    raw = [p_mean_below_zero(values) for _, values in tested]
    family = len(raw) + untested
    adjusted_all = holm(raw + [1.0] * untested)
    for (index, _), p, adjusted in zip(tested, raw, adjusted_all, strict=False):
        if verdicts[index] != "held":
            verdicts[index] = "not_reproduced" if adjusted < 1.0 - CONFIDENCE else "inconclusive"
            texts[index] += f"; reversal p = {p:.3g}, Holm-adjusted over {family} steps {adjusted:.3g}"


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
    """How many seeds the observed mean and spread would need to decide, and which way (planning information only:
    extra seeds are registered before they run, and never change how this verdict was reached)."""
    rule, kind = target.rule, target.rule["kind"]
    needs, ways = [], set()
    for values in samples.values():
        s = summarize(list(values.values()))
        if kind == "within":
            distance = abs(s.mean - target.paper) - target.tolerance()  # < 0 inside the band
            margin, holds = abs(distance), distance < 0
        elif kind in ("below", "above"):
            margin = abs(s.mean - rule["bound"])
            holds = s.mean < rule["bound"] if kind == "below" else s.mean > rule["bound"]
        else:
            need = rule.get("min_effect", 0.0) if kind == "ordering" else rule.get("min_change", 0.0)
            margin, holds = abs(s.mean - need), s.mean > need
            if kind == "ordering" and not holds:
                if 0 < s.mean:  # held needs > min_effect, not_reproduced an upper bound < 0: neither comes
                    return "the observed effect lies between 0 and min_effect: no number of seeds would decide it"
                margin = abs(s.mean)
        n = seeds_needed(s.std, margin)
        if n is None:
            return "the observed mean sits on the decision boundary: no affordable number of seeds would decide it"
        needs.append(max(n, target.min_seeds))
        ways.add("held" if holds else "not_reproduced")
    way = ways.pop() if len(ways) == 1 else "a mixed result"
    return f"at the observed mean and spread, about {max(needs)} seeds would decide it (toward {way}; planning only)"


def evaluate_target(
    target: Target,
    runs: list[RunRecord],
    profile: str,
    newest_seeds: tuple[int, ...] | None = None,
    divergence: Divergence | None = None,
) -> TargetResult:
    """Apply the target's rule over seeds (see the module docstring); not_run when the target does not bind the
    profile (the runs that exist are still judged and reported as `budget_result`) or no run has the metric.

    `newest_seeds` (newest_registration_seeds): when other targets of the claim split this profile's seeds into
    registrations (different budgets or code), a non-binding target without its own `seeds` takes its
    budget_result from the newest registration's seeds only, never from all registrations pooled.

    `divergence` (divergence_of the profile's runs): where a seed's run, or a part of it, diverged before reporting
    the target's values, the verdict says so and does not hold on the other seeds alone (_survivors_only)."""
    if profile not in target.binds:
        pooled = newest_seeds is not None and target.seeds_for(profile) is None
        chosen = [r for r in runs if r.seed in newest_seeds] if pooled else runs
        if divergence is not None and pooled:
            divergence = divergence.restricted(newest_seeds)
        result, diverged = _judge(target, chosen, profile, divergence)
        result.budget_result = result.verdict if result.verdict != "not_run" else ""
        result.verdict, result.planning = "not_run", ""
        result.detail = target.reason(profile) or f"does not bind profile {profile}"
        if pooled and result.budget_result:
            seeds = ", ".join(str(s) for s in newest_seeds)
            result.budget_result += f" (the newest registration's seeds {seeds})"
        if diverged and result.budget_result:
            result.budget_result += f" (seed(s) {diverged} diverged before reporting it)"
        return result
    return _judge(target, runs, profile, divergence)[0]


ORDINALS = ["first", "second", "third", "fourth", "fifth"]


def registration_groups(claim: Claim, runs: list[RunRecord]) -> list[tuple[str, list[RunRecord]]]:
    """The runs split by registration, for reports that must never pool them: the seed sets the claim's targets name
    (`seeds:`) for the runs' profile, in claim.yaml order, as ("first registration (seeds 0, 1)", runs), ...; then
    the runs of any other seed ("seeds outside the registrations (...)"). One group ("all runs") when no target names
    seeds for that profile."""
    profile = runs[0].meta.get("profile", "cpu") if runs else "cpu"
    seed_sets = registration_seed_sets(claim, profile)
    if not seed_sets:
        return [("all runs", list(runs))]
    groups = []
    for i, seeds in enumerate(seed_sets):
        chosen = [r for r in runs if r.seed in seeds]
        if chosen:
            name = ORDINALS[i] if i < len(ORDINALS) else f"#{i + 1}"
            groups.append((f"{name} registration (seeds {', '.join(map(str, seeds))})", chosen))
    others = [r for r in runs if not any(r.seed in seeds for seeds in seed_sets)]
    if others:
        groups.append((f"seeds outside the registrations ({', '.join(str(r.seed) for r in others)})", others))
    return groups


def _reads_curves(target: Target) -> bool:
    """Whether the target's values come from curves.csv (a trend, or `curves`) rather than metrics.json."""
    return target.rule["kind"] == "trend" or bool(target.curves)


def _missing_names(target: Target, table: dict[str, dict[int, float]]) -> list[str]:
    """The names, as the runs' files spell them (curves.csv for curve-read targets), that give no seed a value."""
    missing = []
    for index, name in enumerate(target.names):
        if not table[name]:
            missing.append(target.metric if target.rule["kind"] == "trend" else (target.curves or target.names)[index])
    return missing


def _short_curves(target: Target, runs: list[RunRecord], table: dict[str, dict[int, float]]) -> str:
    """Why the target's runs (of its seeds) give no value although every curve it lacks values for is there: too
    few points. "" when a curve is absent from all of them (then the target is not run, METRIC_ABSENT or NO_RUNS)
    or the target reads no curve."""
    if not _reads_curves(target):
        return ""
    need = 2 if target.rule["kind"] == "trend" else (target.last_k or 1)
    found = {
        name: max((len(_curve_points(r, name)) for r in runs), default=0) for name in _missing_names(target, table)
    }
    if not all(found.values()):
        return ""
    return "; ".join(f"curve {n} has {k} point(s) at most, needs {need}" for n, k in found.items() if k < need)


NO_RUNS = "no completed run has this metric"
METRIC_ABSENT = "metric absent"
UNPAIRED = "no seed has every metric of the ordering"
"""A not_run target's detail begins with one of these: no counted run of its seeds at all; counted runs none of
which reports one of its names (a misspelt name, or the part of the replication that reports it has not run); an
ordering whose metrics each have values but never all in one seed, so nothing can be paired."""


def _absent(target: Target, chosen: list[RunRecord], table: dict[str, dict[int, float]]) -> str:
    """Why a target has no value for some name, from the runs of its seeds (`chosen`): NO_RUNS when there are none,
    else METRIC_ABSENT with the names missing, how many runs lack them and the closest names they do report, so that
    a misspelt metric is not read as work still to do."""
    import difflib

    if not chosen:
        return NO_RUNS
    reads_curves = _reads_curves(target)
    reported: set[str] = set()
    for run in chosen:
        reported |= {row["metric"] for row in run.read_curves()} if reads_curves else set(run.metrics)
    missing = _missing_names(target, table)
    where = "curves.csv" if reads_curves else "metrics.json"
    near = sorted({m for name in missing for m in difflib.get_close_matches(name, sorted(reported), n=3)})
    seeds = ", ".join(str(s) for s in sorted({r.seed for r in chosen}))
    return (
        f"{METRIC_ABSENT}: {', '.join(missing)} in the {where} of none of the {len(chosen)} completed run(s) "
        f"(seeds {seeds}); " + (f"closest names there: {', '.join(near)}; " if near else "")
        + "check the name, or whether the part that reports it has run"
    )  # fmt: skip


def held_of(held: str | None, rule_kind: str | None, profile: str) -> str:
    """The verdict a held target gets on a profile: its `held:` if set, else reproduced for a `within` rule or at the
    paper profile, consistent otherwise (a bound or qualitative target at reduced scale)."""
    return held or ("reproduced" if rule_kind == "within" or profile == "paper" else "consistent")


@dataclass(frozen=True)
class DivergedPart:
    """One run folder that stopped on a NaN/inf (status diverged): its seed, folder, variant (None for a run not
    split into parts), the step it stopped at (None when not recorded) and the commits it ran."""

    seed: int
    folder: str
    variant: str | None
    step: int | None
    commits: tuple[str, ...]
    dirty: bool = False  # one of its segments ran from a working tree that differed from its commit

    def text(self) -> str:
        return diverged_text(self.folder, self.step)


@dataclass(frozen=True)
class Divergence:
    """The diverged parts of a profile's final runs (no --set overrides), and which metric and curve names each
    variant's finished parts report (None: a run not split into parts), to tell whose values a divergence took."""

    parts: tuple[DivergedPart, ...]
    reporting: dict[str | None, frozenset[str]]

    def restricted(self, seeds) -> Divergence:
        return Divergence(tuple(p for p in self.parts if p.seed in seeds), self.reporting)


def _variant(folder: str) -> str | None:
    return folder.split("@", 1)[1] if "@" in folder else None


def divergence_of(runs: list[RunRecord]) -> Divergence:
    """Divergence over the runs (results._merge keeps a diverged part's step in meta diverged_parts, and what each
    finished part reported in meta part_names)."""
    parts, reporting = [], {}
    for run in runs:
        if run.purpose != "final" or run.meta.get("overrides"):
            continue
        for folder, names in (run.meta.get("part_names") or {}).items():
            reporting[_variant(folder)] = reporting.get(_variant(folder), frozenset()) | frozenset(names)
        stopped = run.meta.get("diverged_parts") or (
            {run.path.name: run.metrics.get("diverged_step")} if run.status == "diverged" else {}
        )
        infos = run.meta.get("part_info") or {}
        for folder, step in stopped.items():
            listed = (infos.get(folder) or {}).get("commits", [])
            commits = tuple(c.removesuffix("+dirty") for c in listed)
            dirty = any(c.endswith("+dirty") for c in listed)
            parts.append(DivergedPart(run.seed, folder, _variant(folder), step, commits, dirty))
    return Divergence(tuple(parts), reporting)


def _survivors_only(
    target: Target, result: TargetResult, profile: str, divergence: Divergence
) -> tuple[TargetResult, list[int]]:
    """A diverged run is a result (DESIGN.md). A seed of the target lacks one of its values because a part diverged
    when that part's variant reports one of the target's names in the seeds where it finished (or finished nowhere,
    so that nothing says it would not). Such seeds are named in the detail; a verdict that holds on the other seeds
    alone becomes inconclusive (judging the survivors would overstate the evidence), and one left without any value
    is inconclusive rather than 'not run' (a misspelt metric, which no variant reports, stays 'metric absent').
    Returns the result and those seeds."""
    allowed = target.seeds_for(profile)
    wanted = set(target.names) | set(target.curves)
    table = result.per_seed or {}

    def took_values(part: DivergedPart) -> bool:
        reported = divergence.reporting.get(part.variant)
        lacks = any(part.seed not in table.get(name, {}) for name in target.names)
        return lacks and (reported is None or bool(reported & wanted))

    parts = [p for p in divergence.parts if (allowed is None or p.seed in allowed) and took_values(p)]
    if not parts:
        return result, []
    seeds = sorted({p.seed for p in parts})
    result.diverged = tuple(parts)
    note = (
        f"seed(s) {seeds} diverged ({'; '.join(p.text() for p in parts)}) before reporting "
        f"{', '.join(target.names)}: not counted"
    )
    if result.verdict in ("reproduced", "consistent"):
        result.verdict, result.planning = "inconclusive", ""
        note += "; a verdict on the seeds that did not diverge would overstate the evidence"
    elif result.verdict == "not_run":
        result.verdict, result.planning, result.detail = "inconclusive", "", ""
    result.detail = "; ".join(t for t in (result.detail, note) if t)
    return result, seeds


def _judge(
    target: Target, runs: list[RunRecord], profile: str, divergence: Divergence | None = None
) -> tuple[TargetResult, list[int]]:
    result = _judge_values(target, runs, profile)
    if not divergence or not divergence.parts:
        return result, []
    return _survivors_only(target, result, profile, divergence)


def _judge_values(target: Target, runs: list[RunRecord], profile: str) -> TargetResult:
    table = per_seed_values(target, runs, profile)
    if any(not v for v in table.values()):
        chosen = _of_its_seeds(target, runs, profile)
        short = _short_curves(target, chosen, table)
        if short:
            return TargetResult(target, "inconclusive", detail=short, per_seed=table)
        return TargetResult(target, "not_run", detail=_absent(target, chosen, table), per_seed=table)
    if not all(math.isfinite(x) for v in table.values() for x in v.values()):  # a curve's mean or change overflowed
        finite = {name: {seed: x for seed, x in v.items() if math.isfinite(x)} for name, v in table.items()}
        return TargetResult(target, "inconclusive", detail="values too large to average in float64", per_seed=finite)
    summaries = {name: summarize(list(v.values())) for name, v in table.items()}
    if not all(math.isfinite(x) for sm in summaries.values() for x in (sm.mean, sm.std)):
        return TargetResult(target, "inconclusive", detail="values too large to average in float64", per_seed=table)
    metrics_identical = all(sm.identical for sm in summaries.values())
    samples, note = _samples(target, table)
    if any(not v for v in samples.values()):
        return TargetResult(target, "not_run", summaries, UNPAIRED, per_seed=table)
    if not all(math.isfinite(x) for v in samples.values() for x in v.values()):  # a difference overflowed
        return TargetResult(target, "inconclusive", summaries, "values too large to average in float64", per_seed=table)
    differences = (
        {k: summarize(list(v.values())) for k, v in samples.items()} if target.rule["kind"] == "ordering" else {}
    )
    held = held_of(target.held, target.rule["kind"], profile)
    result = TargetResult(target, "inconclusive", summaries, differences=differences, per_seed=table)
    verdicts, texts = [], []
    tested: list[tuple[int, list[float]]] = []  # the steps decided on an interval: one family for Holm
    too_few = 0  # steps left undecided for want of seeds: still in the family (p = 1), never out of it
    for name, values in samples.items():
        vals = list(values.values())
        s = summarize(vals)
        if target.rule.get("all_seeds"):
            failing = sorted(seed for seed, v in values.items() if not _point_holds(target, v))
            if failing:
                verdicts.append("not_reproduced")
                texts.append(f"{name}: fails in seed(s) {failing} of {s.n} (all seeds must hold)")
                continue
            if s.n < target.min_seeds and not (s.identical and metrics_identical):  # deterministic only then
                verdicts.append("inconclusive")
                texts.append(f"{name}: holds in all {s.n} seed(s), fewer than min_seeds {target.min_seeds}")
                continue
            verdicts.append("held")
            texts.append(f"{name}: holds in every one of {s.n} seeds")
        elif s.identical and metrics_identical:  # an ordering is deterministic only if its metrics are
            ok = _point_holds(target, s.mean)
            verdicts.append("held" if ok else "not_reproduced")
            texts.append(f"{name}: deterministic (identical in {s.n} seeds) = {s.mean:.6g}")
        elif s.n < target.min_seeds:
            too_few += 1
            verdicts.append("inconclusive")
            kind_text = "a stochastic target" if s.n > 1 else "one seed cannot show the target is deterministic"
            texts.append(f"{name}: {s.n} seed(s), {kind_text}; needs {target.min_seeds} (min_seeds)")
        else:
            verdict, text = _interval_verdict(target, vals)
            tested.append((len(verdicts), vals))
            verdicts.append(verdict)
            texts.append(f"{name}: {text}")
    if target.rule["kind"] == "ordering" and len(tested) + too_few > 1:
        _holm_reversals(verdicts, texts, tested, too_few)
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


def holds_on_run(target: Target, run: RunRecord) -> bool | None:
    """The rule applied exactly to one run's values (None when the run lacks them): for checks of a deterministic
    computation on one run, e.g. a backend parity test. Never a verdict: verdicts need the seeds' evidence."""
    table = per_seed_values(target, [run])
    if any(not v for v in table.values()):
        return None
    samples, _ = _samples(target, table)
    return all(_point_holds(target, value) for values in samples.values() for value in values.values())


def verdict_counts(results: list[TargetResult]) -> dict[str, int]:
    """How many targets got each verdict (in VERDICTS order, zeros left out)."""
    counts = {v: sum(r.verdict == v for r in results) for v in VERDICTS}
    return {v: n for v, n in counts.items() if n}


def not_run_kind(result: TargetResult) -> str:
    """Why a not_run target did not run: "not applicable", "budget too small", "metric absent" (runs exist, none
    reports one of the target's names), "unpaired" (UNPAIRED) or "no runs"."""
    for kind in (*NOT_RUN_REASONS, METRIC_ABSENT):
        if result.detail.startswith(kind):
            return kind
    return "unpaired" if result.detail.startswith(UNPAIRED) else "no runs"


def counts_text(results: list[TargetResult]) -> str:
    """e.g. '4 reproduced, 2 inconclusive, 1 not reproduced, 1 not run (budget too small), 1 not applicable': the
    mix, never one word that hides it."""
    parts = [f"{n} {v.replace('_', ' ')}" for v, n in verdict_counts(results).items() if v != "not_run"]
    skipped = [not_run_kind(r) for r in results if r.verdict == "not_run"]
    for kind in ("no runs", METRIC_ABSENT, "unpaired", "budget too small"):
        if kind in skipped:
            parts.append(f"{skipped.count(kind)} not run ({kind})")
    if "not applicable" in skipped:
        parts.append(f"{skipped.count('not applicable')} not applicable")
    return ", ".join(parts) or "no targets"


def counted_runs(runs: list[RunRecord]) -> list[RunRecord]:
    """The runs a verdict may use: completed (status ok, so no non-finite values either) and final (a tuning run,
    which saw only validation data, never counts). Runs with --set overrides are left out before (report.evaluate)."""
    return [r for r in runs if r.status == "ok" and r.purpose == "final"]


def evaluate_claim(claim: Claim, runs: list[RunRecord], profile: str) -> list[TargetResult]:
    """Every target of the claim on this profile, from the counted runs (counted_runs); targets that do not bind the
    profile come back not_run with their reason."""
    ok_runs, divergence = counted_runs(runs), divergence_of(runs)
    newest = newest_registration_seeds(claim, profile)
    return [evaluate_target(t, ok_runs, profile, newest, divergence) for t in claim.targets]
