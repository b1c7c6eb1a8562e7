"""Choose a profile's settings on a validation split, never on the test set: run candidate overrides in parallel.

Candidates are override mappings applied on top of a profile (as profiles are applied on top of the paper block).
Every candidate must be a tuning config (data.validation_holdout > 0, so the test set is not read; checked before any
run starts) and its run must report no test-set value (checked after it). Their runs are scratch runs: nothing is
written to results/; the caller records the table it gets back, each outcome marked `purpose: tuning`.
"""

from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from replicate_suite.config import ResolvedConfig
from replicate_suite.errors import ReplicateError


def candidate_config(replication_id: str, profile: str, overrides: dict[str, Any]) -> ResolvedConfig:
    """A profile's config with a candidate's overrides, loaded and validated exactly as the runner loads configs."""
    from replicate_suite.runner import resolve_config

    return resolve_config(replication_id, profile, overrides)


def _run_candidate(replication_id: str, profile: str, overrides: dict[str, Any], seed: int) -> dict[str, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    if keras.backend.backend() == "tensorflow":  # one core per candidate; candidates run side by side
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    from replicate_suite.runner import RunContext, check_tuning_outputs, load_module
    from replicate_suite.seeding import seed_everything

    module = load_module(replication_id)
    params = candidate_config(replication_id, profile, overrides).params
    seed_everything(seed)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        ctx = RunContext(out_dir=scratch)
        metrics = module.run(params, seed, ctx)
    check_tuning_outputs(replication_id, metrics, ctx.curves)
    curves = [list(row) for row in ctx.curves.rows]  # (step, metric, value): the validation curves
    return {"metrics": metrics, "curves": curves, "wall_seconds": time.perf_counter() - started, "purpose": "tuning"}


def check_candidates(replication_id: str, profile: str, candidates: dict[str, dict[str, Any]]) -> None:
    """Every candidate loads and is a tuning config (validation only); else one error naming the first that is not."""
    from replicate_suite.runner import run_purpose

    for name, overrides in candidates.items():
        if run_purpose(candidate_config(replication_id, profile, overrides).values) != "tuning":
            raise ReplicateError(
                f"tuning candidate {name!r} of {replication_id} would evaluate the test set: its overrides must set "
                "data.validation_holdout > 0"
            )


def tune(
    replication_id: str,
    profile: str,
    candidates: dict[str, dict[str, Any]],
    seeds: list[int],
    workers: int = 2,
) -> dict[str, list[dict[str, Any]]]:
    """Run every candidate for every seed; returns {name: [{seed, metrics, wall_seconds, purpose}, ...]}. A candidate
    that is not a tuning config is an error before anything runs; a run that reports a test-set value is an error."""
    check_candidates(replication_id, profile, candidates)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {
            (name, seed): pool.submit(_run_candidate, replication_id, profile, overrides, seed)
            for name, overrides in candidates.items()
            for seed in seeds
        }
        outcomes: dict[str, list[dict[str, Any]]] = {name: [] for name in candidates}
        for (name, seed), future in futures.items():
            outcomes[name].append({"seed": seed, **future.result()})
        return outcomes
