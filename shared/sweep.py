"""`replicate sweep`: the (replication x variant x seed) runs of a profile as independent tasks on a local process
pool or a Ray cluster, with retries (resuming from checkpoints where a replication keeps them) and skip-if-complete.

Each task is one `replicate run ID --profile P --seed N --results ROOT --resume [--variant V]` in its own process, so a
task is exactly what `dvc repro` would run and lands in the same results/ layout; `replicate report` works unchanged.
On a cluster, ROOT must be storage every node can write (a shared file system), or each node's results are copied
back into results/ before reporting. A task declares the resources of its replication's `resources` block.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from replicate_suite.errors import ReplicateError
from replicate_suite.results import META_FILE, has_run_files, read_object, run_folder


@dataclass(frozen=True)
class Task:
    replication: str
    profile: str
    seed: int
    cpus: float
    gpus: float
    memory_gb: float
    variant: str | None = None

    @property
    def name(self) -> str:
        return f"{self.replication} {self.profile} seed {self.seed}" + (f" {self.variant}" if self.variant else "")


@dataclass
class Outcome:
    task: Task
    status: str  # done | failed | skipped
    attempts: int = 0
    seconds: float = 0.0
    error: str = ""  # the last failed attempt's error line


def expand(profile: str, replications: list[str], seeds: list[int]) -> list[Task]:
    """One task per replication, variant (where the replication declares variants, e.g. one per Atari game) and
    seed, with the resources the replication's config declares for one run."""
    from replicate_suite.runner import replication_path, resolve_config, variant_field, variants_of

    tasks = []
    for rid in replications:
        replication_path(rid)  # unknown ids fail before anything runs
        cfg = resolve_config(rid, profile)
        res = cfg.resources
        variants = variants_of(cfg, variant_field(rid)) or [None]
        tasks += [
            Task(rid, profile, seed, res.cpus, res.gpus, res.memory_gb, variant)
            for seed in seeds
            for variant in variants
        ]
    return tasks


def _finished(folder: Path) -> bool:
    """A registered run's result: complete files, status ok or diverged, no --set overrides (such a run is not the
    registered protocol, and verdicts leave it out)."""
    if not has_run_files(folder):
        return False
    meta = read_object(folder / META_FILE)
    return meta.get("status") in ("ok", "diverged") and not meta.get("overrides")


def blocked(root: Path, task: Task) -> str:
    """Why a task's run folder cannot take its registered run, or "": it holds a run made with --set (a plain
    `replicate run` refuses to replace it, and keeping it would leave the registered seed unrun) or one whose status
    is neither ok nor diverged (a plain run would keep it and report success)."""
    folder = run_folder(root, task.replication, task.profile, task.seed, task.variant)
    if not has_run_files(folder):
        return ""
    meta = read_object(folder / META_FILE)
    if meta.get("overrides"):
        return f"{folder} holds a run made with --set, not the registered protocol: move it away, then sweep again"
    if meta.get("status") not in ("ok", "diverged"):
        return f"{folder} holds a run with status {meta.get('status')!r}: remove it (or replicate run --force)"
    return ""


def is_complete(root: Path, task: Task) -> bool:
    """A finished run folder (the runner only renames complete folders into place) with status ok or diverged: the
    variant's own folder, or the seed's whole run (which ran every variant)."""
    whole = run_folder(root, task.replication, task.profile, task.seed)
    if _finished(whole):
        return True
    return task.variant is not None and _finished(
        run_folder(root, task.replication, task.profile, task.seed, task.variant)
    )


def task_command(task: Task, root: Path) -> list[str]:
    return [
        sys.executable, "-m", "replicate_suite.cli", "run", task.replication, "--profile", task.profile,
        "--seed", str(task.seed), "--results", str(root), "--resume",
    ] + (["--variant", task.variant] if task.variant else [])  # fmt: skip


_CHILDREN: set[subprocess.Popen] = set()  # the local pool's running tasks, for _stop_children
_CHILDREN_LOCK = threading.Lock()
_STOPPING = threading.Event()  # set by _stop_children: no task starts after it


def execute(task: Task, root: str) -> tuple[int, str, float]:
    """Run one task in a child process; returns (exit code, last error line, seconds). Also the Ray task body."""
    started = time.perf_counter()
    with _CHILDREN_LOCK:  # checked and registered together, so _stop_children sees every child that starts
        if _STOPPING.is_set():
            return 130, "not started: the sweep was interrupted", 0.0
        child = subprocess.Popen(
            task_command(task, Path(root)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        _CHILDREN.add(child)
    try:
        _, stderr = child.communicate()
    finally:
        with _CHILDREN_LOCK:
            _CHILDREN.discard(child)
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    message = (errors or lines or [f"exit code {child.returncode}"])[-1]
    return child.returncode, message, time.perf_counter() - started


def _run_local(tasks: list[Task], root: Path, workers: int, retries: int, report: Callable[[Outcome], None]):
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    outcomes = {task: Outcome(task, "failed") for task in tasks}
    _STOPPING.clear()
    pool = ThreadPoolExecutor(max_workers=max(1, workers))  # threads only wait on child processes
    try:
        running = {pool.submit(execute, task, str(root)): task for task in tasks}
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                task = running.pop(future)
                _settle(outcomes[task], *future.result(), retries, report,
                        lambda t=task: running.__setitem__(pool.submit(execute, t, str(root)), t))  # fmt: skip
    except BaseException:  # Ctrl-C / SIGTERM: start nothing more, stop what runs, then stop
        pool.shutdown(wait=False, cancel_futures=True)
        _stop_children()
        raise
    finally:
        pool.shutdown(wait=True)
    return list(outcomes.values())


def _stop_children(grace: float = 1.0, cleanup: float = 120.0) -> None:
    """Stop the local pool's tasks after an interruption of the sweep: none starts any more; a terminal's Ctrl-C
    reaches the running ones too (one process group), so each gets `grace` seconds to finish its own clean-up; one
    still running then gets SIGTERM (which a run treats as Ctrl-C: it cleans up, keeps its checkpoint, writes no
    result), and SIGKILL if it has not ended `cleanup` seconds later."""
    with _CHILDREN_LOCK:
        _STOPPING.set()
        children = list(_CHILDREN)
    for stop, seconds in ((None, grace), (signal.SIGTERM, cleanup), (signal.SIGKILL, grace)):
        alive = [child for child in children if child.poll() is None]
        if not alive:
            return
        for child in alive if stop is not None else ():
            child.send_signal(stop)
        until = time.monotonic() + seconds
        while time.monotonic() < until and any(child.poll() is None for child in alive):
            time.sleep(0.05)


def _run_ray(tasks: list[Task], root: Path, address: str | None, retries: int, report: Callable[[Outcome], None]):
    try:
        import ray
    except ImportError:
        raise ReplicateError("the ray engine needs Ray: pip install -e '.[cluster]'") from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(execute)
    outcomes = {task: Outcome(task, "failed") for task in tasks}

    def submit(task: Task):
        options = {"num_cpus": task.cpus, "num_gpus": task.gpus, "max_retries": 0}
        if task.memory_gb:
            options["memory"] = int(task.memory_gb * 2**30)
        running[remote.options(**options).remote(task, str(root))] = task

    running: dict = {}
    for task in tasks:
        submit(task)
    while running:
        ready, _ = ray.wait(list(running), num_returns=1)
        task = running.pop(ready[0])
        try:
            result = ray.get(ready[0])
        except Exception as exc:  # noqa: BLE001 - a worker that died is a failed attempt
            result = (-1, f"{type(exc).__name__}: {exc}".splitlines()[0], 0.0)
        _settle(outcomes[task], *result, retries, report, lambda t=task: submit(t))
    return list(outcomes.values())


def _settle(outcome: Outcome, code: int, message: str, seconds: float, retries: int, report, resubmit) -> None:
    outcome.attempts += 1
    outcome.seconds += seconds
    if code == 0:
        outcome.status, outcome.error = "done", ""
        report(outcome)
        return
    outcome.error = message
    if outcome.attempts <= retries:
        print(f"  retry {outcome.task.name} (attempt {outcome.attempts} failed: {message})", file=sys.stderr)
        resubmit()
    else:
        outcome.status = "failed"
        report(outcome)


def sweep(
    profile: str,
    replications: list[str],
    seeds: list[int],
    root: Path,
    engine: str = "local",
    workers: int = 1,
    retries: int = 2,
    address: str | None = None,
) -> list[Outcome]:
    """Run every missing (replication, variant, seed) of a profile; returns one Outcome per task (skipped, done or
    failed)."""
    if engine not in ("local", "ray"):
        raise ReplicateError(f"unknown engine {engine!r} (local or ray)")
    tasks = expand(profile, replications, seeds)
    complete = {t: is_complete(root, t) for t in tasks}
    skipped = [Outcome(t, "skipped") for t in tasks if complete[t]]
    why = {t: blocked(root, t) for t in tasks if not complete[t]}
    refused = [Outcome(t, "failed", error=reason) for t, reason in why.items() if reason]
    todo = [t for t, reason in why.items() if not reason]
    finished = [0]

    def report(outcome: Outcome) -> None:
        finished[0] += 1
        tail = f" ({outcome.error})" if outcome.status == "failed" else ""
        print(f"[{finished[0]}/{len(todo)}] {outcome.status:6s} {outcome.task.name} "
              f"{outcome.seconds:.0f}s, {outcome.attempts} attempt(s){tail}", flush=True)  # fmt: skip

    for outcome in skipped:
        print(f"[skip]  complete {outcome.task.name}", flush=True)
    for outcome in refused:
        print(f"[fail]  {outcome.task.name}: {outcome.error}", flush=True)
    root.mkdir(parents=True, exist_ok=True)
    if engine == "ray":
        ran = _run_ray(todo, root, address, retries, report) if todo else []
    else:
        ran = _run_local(todo, root, workers, retries, report) if todo else []
    return skipped + refused + ran


def summary_table(outcomes: list[Outcome]) -> str:
    lines = ["| run | status | attempts | wall s | error |", "|---|---|---|---|---|"]
    for o in outcomes:
        lines.append(f"| {o.task.name} | {o.status} | {o.attempts} | {o.seconds:.0f} | {o.error} |")
    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "failed", "skipped")}
    total = sum(o.seconds for o in outcomes)
    lines.append(
        f"\n{counts['done']} done, {counts['failed']} failed, {counts['skipped']} skipped; {total:.0f} s of runs"
    )
    return "\n".join(lines)
