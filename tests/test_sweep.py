"""`replicate sweep`: smoke runs as independent tasks on the local pool and on a local Ray, skip-if-complete, and a
killed task retried."""

from __future__ import annotations

import json

import pytest

from replicate_suite.sweep import sweep

RID = "lecture_examples"  # the fastest replication: a sweep test measures the engine, not the model


def _fail_first_attempt(tmp_path, monkeypatch):
    """A sitecustomize that kills the first child process that starts (as an OOM kill or a lost node would)."""
    hook = tmp_path / "hook"
    hook.mkdir()
    marker = tmp_path / "killed-once"
    (hook / "sitecustomize.py").write_text(  # O_EXCL: of children starting together, exactly one dies
        "import os, sys\n"
        f"marker = {str(marker)!r}\n"
        "if 'run' in sys.argv:\n"
        "    try:\n"
        "        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)\n"
        "    except FileExistsError:\n"
        "        pass\n"
        "    else:\n"
        "        os.close(fd)\n"
        "        os._exit(137)\n"
    )
    monkeypatch.setenv("PYTHONPATH", f"{hook}:{__import__('os').environ.get('PYTHONPATH', '')}")
    return marker


def _check_folders(root, seeds):
    for seed in seeds:
        meta = json.loads((root / RID / "smoke" / f"seed_{seed}" / "run_meta.json").read_text())
        assert meta["status"] == "ok" and meta["seed"] == seed


def test_local_sweep_runs_skips_and_retries(tmp_path, monkeypatch):
    root = tmp_path / "results"
    marker = _fail_first_attempt(tmp_path, monkeypatch)
    outcomes = sweep("smoke", [RID], [0, 1], root, engine="local", workers=2, retries=1)
    assert marker.exists()  # one attempt was killed ...
    assert sorted(o.status for o in outcomes) == ["done", "done"]  # ... and retried to completion
    assert sorted(o.attempts for o in outcomes) == [1, 2]
    _check_folders(root, [0, 1])
    again = sweep("smoke", [RID], [0, 1, 2], root, engine="local", workers=1)
    assert sorted((o.task.seed, o.status) for o in again) == [(0, "skipped"), (1, "skipped"), (2, "done")]


def test_failure_beyond_retries_is_reported(tmp_path, monkeypatch):
    _fail_first_attempt(tmp_path, monkeypatch)
    (outcome,) = sweep("smoke", [RID], [0], tmp_path / "results", engine="local", retries=0)
    assert outcome.status == "failed" and outcome.attempts == 1
    assert not (tmp_path / "results" / RID / "smoke" / "seed_0").exists()


def test_ray_sweep_runs_skips_and_retries(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    root = tmp_path / "results"
    marker = _fail_first_attempt(tmp_path, monkeypatch)  # set before Ray starts: its workers inherit it
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        outcomes = sweep("smoke", [RID], [0, 1], root, engine="ray", retries=1)
        assert marker.exists()
        assert sorted(o.status for o in outcomes) == ["done", "done"]
        assert sorted(o.attempts for o in outcomes) == [1, 2]
        _check_folders(root, [0, 1])
        again = sweep("smoke", [RID], [0, 1], root, engine="ray")
        assert [o.status for o in again] == ["skipped", "skipped"]
    finally:
        ray.shutdown()


def test_unknown_replication_fails_before_running(tmp_path):
    from replicate_suite.errors import ReplicateError

    with pytest.raises(ReplicateError, match="unknown replication"):
        sweep("smoke", ["nope"], [0], tmp_path)


def test_an_interrupted_sweep_starts_nothing_more_and_stops_its_running_task(tmp_path, monkeypatch):
    """Ctrl-C used to wait for every queued run to start and finish (hours at paper scale)."""
    import functools
    import signal
    import sys
    import threading
    import time

    from replicate_suite import sweep as sweep_module

    def sleeper(task, root):  # each task marks that it started, then runs for a minute
        mark = tmp_path / f"started_{task.seed}"
        return [sys.executable, "-c", f"import pathlib, time; pathlib.Path({str(mark)!r}).touch(); time.sleep(60)"]

    monkeypatch.setattr(sweep_module, "task_command", sleeper)
    monkeypatch.setattr(sweep_module, "_stop_children", functools.partial(sweep_module._stop_children, grace=0.5))
    tasks = [sweep_module.Task("lenet5_mnist", "smoke", seed, 1, 0, 0) for seed in range(4)]
    # a real SIGINT to the main thread, as a terminal's Ctrl-C (a flag alone would not wake its wait on the pool)
    main_thread = threading.main_thread().ident
    while_running = threading.Timer(2.0, lambda: signal.pthread_kill(main_thread, signal.SIGINT))
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # a background pytest inherits it ignored
    started = time.monotonic()
    try:
        while_running.start()
        with pytest.raises(KeyboardInterrupt):
            sweep_module._run_local(tasks, tmp_path, workers=1, retries=0, report=lambda outcome: None)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - started < 20
    assert sorted(p.name for p in tmp_path.glob("started_*")) == ["started_0"]
    assert not sweep_module._CHILDREN  # the running one was stopped, not left behind


@pytest.mark.parametrize(
    "meta, why",
    [
        (
            {"status": "ok", "overrides": {"train.epochs": 2}},
            "holds a run made with --set, not the registered protocol",
        ),
        ({"status": "failed"}, "holds a run with status 'failed'"),
    ],
)
def test_a_folder_that_cannot_take_the_registered_run_is_a_failure_not_a_skip(tmp_path, meta, why):
    """A --set run in the registered seed's folder was skipped as complete (the registered seed never ran, and the
    summary said it had); a failed one would be kept by the child's plain `replicate run`, reported done."""
    folder = tmp_path / "results" / RID / "smoke" / "seed_0"
    folder.mkdir(parents=True)
    (folder / "run_meta.json").write_text(json.dumps({"replication": RID, "profile": "smoke", "seed": 0, **meta}))
    (folder / "metrics.json").write_text("{}")
    (folder / "curves.csv").write_text("step,metric,value\n")
    (outcome,) = sweep("smoke", [RID], [0], tmp_path / "results", engine="local")
    assert outcome.status == "failed" and why in outcome.error and outcome.attempts == 0
