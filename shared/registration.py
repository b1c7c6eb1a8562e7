"""Pre-registration, checked rather than promised: was each target, as judged now, in git before its runs started?

A run records the commit it started from (run_meta.json, git.commit). A target counts as registered before its runs
when the claim.yaml committed at every one of those commits (read with today's schema) holds a target that binds
the profile with the same statement (metric, paper value, rule; rule keys written out at their defaults do not
count), read the same way (curves, last_k, min_seeds: `reading`), and whose verdict when held is at least today's
(`held_verdict`: a held target raised from consistent to reproduced after results is flagged; lowered, not).
Otherwise the report flags it "registered after results". A target that no longer binds a profile but whose
statement bound it at a commit where runs on that profile started (`registered_binding`: the earliest such commit,
the copy there that is today's target where there is one; within its `seeds:`) is judged as it was
registered there, on the runs that started while it was bound, counted and flagged, unless a target judged now (or
an earlier copy) that is the same registration (statement, reading, held verdict: `identity`) already gives a
verdict on those seeds: a binding is part of the registration, and moving a target to not_run after seeing its
verdict must not hide that verdict (report._judge_unbound). Labels, not_run reasons, caveats and notes are text, not
compared. Not covered: `seeds:` narrowed after results, and a target deleted or rewritten together with its binding
(both leave no target to compare); the runs checked are those committed now.
"""

from __future__ import annotations

import functools
import json
import re
import subprocess
from pathlib import Path
from typing import Any

from replicate_suite.claim_schema import parse_target
from replicate_suite.claims import Target, held_of
from replicate_suite.config import PROFILES, parse_yaml
from replicate_suite.errors import ReplicateError, brief
from replicate_suite.paths import PROJECT_ROOT
from replicate_suite.results import CURVES_FILE, META_FILE, METRICS_FILE, RunRecord, read_curve_file, read_json

UNVERIFIABLE = "registration unverifiable"
AFTER_RESULTS = "registered after results"


def _normal(value: Any) -> Any:
    """Numbers as floats and mappings with sorted keys, so 1 and 1.0 compare equal."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict):
        return {str(k): _normal(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    return str(value)


def fingerprint(metric: str, paper: Any, rule: dict[str, Any]) -> str:
    """The registered statement of a target: metric, paper value and rule, canonical JSON (claims.json keeps it)."""
    return json.dumps({"metric": metric, "paper": _normal(paper), "rule": _normal(rule)}, sort_keys=True)


def target_fingerprint(target: Target) -> str:
    return fingerprint(target.metric, target.paper, target.rule)


RULE_DEFAULTS = {"all_seeds": False, "min_effect": 0.0, "min_change": 0.0}
"""Rule keys whose explicit default value states nothing new (the engine reads an absent key as this value)."""


def statement(metric: str, paper: Any, rule: dict[str, Any]) -> str:
    """The statement compared against git: the fingerprint with rule keys at their defaults left out, so that
    writing `all_seeds: false` out is not an edit."""
    kept = {k: v for k, v in rule.items() if not (k in RULE_DEFAULTS and _normal(v) == RULE_DEFAULTS[k])}
    return fingerprint(metric, paper, kept)


def registration_key(target: Target) -> str:
    return statement(target.metric, target.paper, target.rule)


def reading_of(curves: Any, last_k: Any, min_seeds: Any) -> tuple:
    """How a seed's value is read (the curves and how many of their last points, as the engine reads them: last_k
    means nothing without a curve, and a curve without last_k is its last point) and how many seeds a verdict
    needs."""
    return tuple(curves or ()), (last_k or 1) if curves else None, min_seeds


def reading(target: Target) -> tuple:
    return reading_of(target.curves, target.last_k, target.min_seeds)


def held_verdict(target: Target, profile: str) -> str:
    return held_of(target.held, target.rule["kind"], profile)


_ANY_REASON = {profile: "not applicable: (a past registration)" for profile in PROFILES}


def _parsed_targets(raw_targets: Any) -> tuple[Target, ...]:
    """claim.yaml's targets at a commit, read with today's schema; a target today's schema rejects is left out."""
    found = []
    for index, raw in enumerate(raw_targets if isinstance(raw_targets, list) else []):
        try:
            found.append(parse_target(raw, f"targets[{index}]", _ANY_REASON))
        except (ReplicateError, TypeError, ValueError):  # a past target today's schema cannot read: not comparable
            continue
    return tuple(found)


def _bound(targets: tuple[Target, ...], profile: str, key: str) -> list[Target]:
    """The targets (of a past claim.yaml) with this statement (registration_key) that bind the profile."""
    return [t for t in targets if profile in t.binds and registration_key(t) == key]


def _registered_as(target: Target, targets: tuple[Target, ...], profile: str) -> str:
    """ "" when claim.yaml's targets at a commit hold this target as judged now on `profile`; otherwise what was
    missing there: "rule" (no target with this metric, paper value and rule binding the profile), "reading" (none
    read the same way) or "held" (all of those would have given a held target a lower verdict than now)."""
    same = _bound(targets, profile, registration_key(target))
    if not same:
        return "rule"
    same = [t for t in same if reading(t) == reading(target)]
    if not same:
        return "reading"
    if held_verdict(target, profile) == "reproduced" and all(held_verdict(t, profile) != "reproduced" for t in same):
        return "held"
    return ""


_MISSING = {
    "rule": "this rule was not in claim.yaml",
    "reading": "how its seeds' values are read (curve, last_k, min_seeds) was not so in claim.yaml",
    "held": "its verdict when held, reproduced (`held:`), was consistent in claim.yaml",
}


@functools.lru_cache(maxsize=256)
def _claim_at(commit: str, rel_path: str, root: str) -> tuple[str, Any]:
    """("ok", its targets read with today's schema: _parsed_targets) of claim.yaml at a commit, parsed once per
    commit; ("absent", None) if the file did not exist there; ("unknown", None) if git or the commit is not
    available (a shallow clone, a tarball)."""
    try:
        known = subprocess.run(
            ["git", "-C", root, "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True, timeout=30
        )
        if known.returncode != 0:
            return "unknown", None
        shown = subprocess.run(["git", "-C", root, "show", f"{commit}:{rel_path}"], capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "unknown", None
    if shown.returncode != 0:
        return "absent", None
    try:  # the loader claim.yaml is read with today, so that 1e-3 then and now is the same number
        raw = parse_yaml(shown.stdout.decode("utf-8", "replace"))
    except ReplicateError:
        return "absent", None
    return "ok", _parsed_targets(raw.get("targets") if isinstance(raw, dict) else None)


def _meta_commits(meta: dict[str, Any]) -> list[str | None]:
    """The commit of every segment of a run (a resumed run has several), else the one it recorded."""
    segments = meta.get("segments") or []
    return [seg.get("commit") for seg in segments if isinstance(seg, dict)] or [meta.get("git", {}).get("commit")]


_PART_FILES = (META_FILE, METRICS_FILE, CURVES_FILE)


def _stamp(folder: Path) -> tuple[int, ...]:
    """The run files' modification times: a rewritten file is read again (tests rewrite run_meta.json in place)."""
    return tuple((folder / name).stat().st_mtime_ns if (folder / name).exists() else -1 for name in _PART_FILES)


@functools.lru_cache(maxsize=1024)
def _read_part(folder: Path, stamp: tuple[int, ...]) -> tuple[tuple[str | None, ...], frozenset[str]]:
    """(commits of the folder's segments, every metric and curve name it recorded); cached per folder and stamp, so
    the report's checks (registration, fixes) read each run's files once."""
    meta = read_json(folder / META_FILE) if (folder / META_FILE).exists() else {}
    names = set(read_json(folder / METRICS_FILE)) if (folder / METRICS_FILE).exists() else set()
    if (folder / CURVES_FILE).exists():
        names |= {row["metric"] for row in read_curve_file(folder / CURVES_FILE)[0]}
    return tuple(_meta_commits(meta)), frozenset(names)


def run_parts(run: RunRecord) -> list[tuple[str, list[str | None], frozenset[str]]]:
    """(folder name, commits of its segments, metric and curve names it recorded) for each variant part of a run
    (seed_<n>@<variant>/), read once per part file version. Only for runs split into parts (`run.parts`)."""
    found = []
    for folder in run.parts:
        commits, names = _read_part(folder, _stamp(folder))
        found.append((folder.name, list(commits), names))
    return found


def _part_commits(run: RunRecord) -> dict[str, list[str | None]]:
    """metric or curve name -> the commits of the variant part (seed_<n>@<variant>/) that measured it."""
    return {name: commits for _, commits, names in run_parts(run) for name in names}


def run_commits(runs: list[RunRecord], metrics: list[str] | None = None) -> list[str]:
    """Every distinct commit the runs started from, in seed order; for a seed run as variant parts, only the
    parts that measured one of `metrics` (all parts when None)."""
    commits: list[str] = []
    for run in runs:
        if run.parts:
            by_metric = _part_commits(run)
            chosen = list(by_metric.values()) if metrics is None else [by_metric[m] for m in metrics if m in by_metric]
            found = [commit for commits in chosen for commit in commits]
        else:
            found = _meta_commits(run.meta)
        for commit in found:
            if commit and commit not in commits:
                commits.append(str(commit))
    return commits


def registration_flag(
    replication: str, target: Target, profile: str, runs: list[RunRecord], root: Path = PROJECT_ROOT
) -> str:
    """ "" when the target's rule was committed, binding this profile, at every commit its runs started from;
    otherwise a short flag naming the first commit that lacked it."""
    names = [*target.names, *target.curves]
    for run in runs:  # every run must say where it started, as a full commit id
        for commit in run_commits([run], names) or [None]:
            if not isinstance(commit, str) or not re.fullmatch(r"[0-9a-f]{40}", commit):
                return f"{UNVERIFIABLE}: seed {run.seed} records no commit id ({brief(commit)})"
    commits = run_commits(runs, names)
    if not commits:
        return ""
    rel_path = f"replications/{replication}/claim.yaml"
    for commit in commits:
        state, targets = _claim_at(commit, rel_path, str(root))
        if state == "unknown":
            return f"{UNVERIFIABLE}: commit {commit[:10]} is not in this git history"
        missing = "rule" if state == "absent" else _registered_as(target, targets, profile)
        if missing:
            return f"{AFTER_RESULTS}: {_MISSING[missing]} at {commit[:10]}, where its runs started"
    return ""


@functools.lru_cache(maxsize=1024)
def _commit_time(commit: str, root: str) -> int:
    """A commit's committer time (seconds since the epoch; 0 where git cannot tell)."""
    try:
        shown = subprocess.run(
            ["git", "-C", root, "show", "-s", "--format=%ct", commit], capture_output=True, timeout=30
        )
        return int(shown.stdout.decode().strip() or 0) if shown.returncode == 0 else 0
    except (OSError, subprocess.SubprocessError, ValueError):
        return 0


def identity(target: Target, profile: str) -> tuple[str, tuple, str]:
    """What makes two targets the same registration on a profile: statement, reading and held verdict."""
    return registration_key(target), reading(target), held_verdict(target, profile)


def registered_binding(
    replication: str, target: Target, profile: str, runs: list[RunRecord], root: Path = PROJECT_ROOT
) -> tuple[str, Target, tuple[int, ...]] | None:
    """For a target that does not bind `profile` now: None, unless claim.yaml bound a target with the same statement
    (registration_key) to the profile at a commit where one of `runs` (every run on that profile that measured it)
    started. Then (commit, registered target, seeds): the commit is the earliest where the statement bound the
    profile with runs started there (history, then commit time), so a reading or label rewritten later does not
    replace the first registration; the target chosen there is the one that is today's target (`identity`), else
    one read as it is, else the first; the seeds are those of the runs that started while a target with the chosen
    one's statement and reading was bound, within its `seeds:`.
    report._judge_unbound judges that target on those seeds, counts it and flags it, unless a target judged now is
    the same registration with a verdict on them."""
    rel_path = f"replications/{replication}/claim.yaml"
    key, bound_at = registration_key(target), {}  # commit -> the targets with this statement bound there
    started: dict[str, set[int]] = {}  # commit -> seeds of runs that started there
    for run in runs:
        for commit in run_commits([run], [*target.names, *target.curves]):
            state, targets = _claim_at(commit, rel_path, str(root))
            if state != "ok":
                continue
            bound = _bound(targets, profile, key)
            if bound:
                bound_at.setdefault(commit, bound)
                started.setdefault(commit, set()).add(run.seed)
    if not bound_at:
        return None
    commit = _earliest(list(bound_at), str(root))  # the first registration of this statement with runs
    first = bound_at[commit]
    chosen = next(
        (t for t in first if identity(t, profile) == identity(target, profile)),
        next((t for t in first if reading(t) == reading(target)), first[0]),
    )
    allowed = chosen.seeds_for(profile)
    seeds = {  # runs started while a copy read the same way was bound (its held label does not choose evidence)
        seed
        for c, ts in bound_at.items()
        if any(reading(t) == reading(chosen) for t in ts)
        for seed in started[c]
        if allowed is None or seed in allowed
    }
    return (commit, chosen, tuple(sorted(seeds))) if seeds else None


def _earliest(commits: list[str], root: str) -> str:
    """A commit none of the others precedes in history, the earliest by committer time among those."""
    roots = [c for c in commits if not any(d != c and _contains(d, c, root) == "yes" for d in commits)] or commits
    return min(roots, key=lambda commit: (_commit_time(commit, root), commit))


@functools.lru_cache(maxsize=1024)
def _contains(fix: str, commit: str, root: str) -> str:
    """Returns "yes" when `commit` has `fix` in its history (or is it), "no" when not, "unknown" when git cannot
    tell (no git, a shallow clone, a commit not in this history)."""
    try:
        done = subprocess.run(
            ["git", "-C", root, "merge-base", "--is-ancestor", f"{fix}^{{commit}}", f"{commit}^{{commit}}"],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return {0: "yes", 1: "no"}.get(done.returncode, "unknown")


def before_fix(fix: str, commits: tuple[str, ...], root: Path = PROJECT_ROOT) -> bool:
    """Whether code from one of these commits lacks the fix (git says so; unknown counts as not)."""
    return any(_contains(fix, commit, str(root)) == "no" for commit in commits if commit and commit != "?")


def measuring_parts(run: RunRecord, names: list[str]) -> list[tuple[str, list[str | None]]]:
    """(folder name, commits of its segments) for each part of a run that measured one of `names` (metrics or
    curves); a run that is not split into variant parts is one part, its own folder. A missing commit stays None."""
    if not run.parts:
        return [(run.path.name, _meta_commits(run.meta))]
    wanted = set(names)
    return [(folder, commits) for folder, commits, measured in run_parts(run) if measured & wanted]


def measures(run: RunRecord, names: list[str]) -> bool:
    """Whether a run recorded any of these metrics or curves (so a fix of them concerns it); a run's curves are read
    only when its metrics do not already answer."""
    wanted = set(names)
    if run.parts:
        return any(measured & wanted for _, _, measured in run_parts(run))
    return bool(wanted & set(run.metrics)) or any(row["metric"] in wanted for row in run.read_curves())


def fix_state(run: RunRecord, fix_commit: str, names: list[str], root: Path = PROJECT_ROOT) -> tuple[str, list[str]]:
    """Whether the code of a run contains a fix, over every part (and resumed segment) that measured `names`: "yes";
    "no" when one of them started from a commit before the fix; "unknown" when git cannot tell or one records no
    commit. Also each such part as "<folder> <commit>[, <commit>...]" for the report."""
    states, labels = set(), []
    for folder, commits in measuring_parts(run, names):
        commits = commits or [None]
        states.update(_contains(fix_commit, c, str(root)) if c else "unknown" for c in commits)
        labels.append(f"{folder} " + ", ".join(str(c)[:10] if c else "no commit" for c in commits))
    return ("no" if "no" in states else "unknown" if "unknown" in states else "yes"), labels


@functools.lru_cache(maxsize=256)
def commit_known(commit: str, root: Path = PROJECT_ROOT) -> str:
    """Whether a commit exists in this git history: "yes", "no" (a full history without it: a typo), or "unknown"
    (no git, or a shallow clone that may lack it)."""
    try:
        found = subprocess.run(
            ["git", "-C", str(root), "cat-file", "-e", f"{commit}^{{commit}}"], capture_output=True, timeout=30
        )
        if found.returncode == 0:
            return "yes"
        shallow = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--is-shallow-repository"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return "no" if shallow.returncode == 0 and shallow.stdout.strip() == "false" else "unknown"
