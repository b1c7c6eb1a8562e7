"""The runner writes a run folder only on success; divergence is a recorded result; a complete result is kept unless
forced, then replaced atomically; wall-clock timings live in run_meta, not metrics.json."""

from __future__ import annotations

import json

import pytest

from replicate_suite.errors import Diverged, ReplicateError
from replicate_suite.runner import load_module, run_replication


def test_failed_run_leaves_no_result_folder(tiny_mnist, tmp_path, monkeypatch):
    def boom(cfg, seed, ctx):
        (ctx.out_dir / "metrics.json").write_text("{}")  # a partial file that must not survive
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(load_module("lenet5_mnist"), "run", boom)
    root = tmp_path / "results"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_replication("lenet5_mnist", "smoke", 0, results_root=root)
    assert not root.exists()
    (root / "keep").mkdir(parents=True)
    with pytest.raises(RuntimeError):
        run_replication("lenet5_mnist", "smoke", 0, results_root=root)
    assert [p.name for p in root.iterdir()] == ["keep"]


def test_divergence_is_recorded_not_crashed(tiny_mnist, tmp_path, monkeypatch):
    def diverge(cfg, seed, ctx):
        ctx.curves.add(10, train_loss=1.5)
        raise Diverged(17)

    monkeypatch.setattr(load_module("lenet5_mnist"), "run", diverge)
    folder = run_replication("lenet5_mnist", "smoke", 0, results_root=tmp_path)
    meta = json.loads((folder / "run_meta.json").read_text())
    assert meta["status"] == "diverged" and meta["diverged_step"] == 17
    assert json.loads((folder / "metrics.json").read_text()) == {"diverged_step": 17}
    assert "10,train_loss,1.5" in (folder / "curves.csv").read_text()


def test_nan_metric_is_rejected(tiny_mnist, tmp_path, monkeypatch):
    monkeypatch.setattr(load_module("lenet5_mnist"), "run", lambda cfg, seed, ctx: {"test_error": float("nan")})
    with pytest.raises(Exception, match="not finite"):
        run_replication("lenet5_mnist", "smoke", 0, results_root=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_rerun_keeps_a_complete_result_unless_forced(tiny_mnist, tmp_path, monkeypatch):
    module = load_module("lenet5_mnist")
    monkeypatch.setattr(module, "run", lambda cfg, seed, ctx: {"x": 1})
    root = tmp_path / "r"
    folder = run_replication("lenet5_mnist", "smoke", 0, results_root=root)
    (folder / "stale.txt").write_text("from the old run")
    monkeypatch.setattr(module, "run", lambda cfg, seed, ctx: {"x": 2})
    with pytest.raises(ReplicateError, match="already holds a complete run; --force replaces it"):
        run_replication("lenet5_mnist", "smoke", 0, results_root=root)
    assert json.loads((folder / "metrics.json").read_text()) == {"x": 1}
    assert run_replication("lenet5_mnist", "smoke", 0, results_root=root, force=True) == folder
    assert json.loads((folder / "metrics.json").read_text()) == {"x": 2}
    assert not (folder / "stale.txt").exists()
    assert sorted(p.name for p in folder.parent.iterdir()) == ["seed_0"]
    assert sorted(p.name for p in root.iterdir()) == ["lenet5_mnist"]  # no lock, temp or checkpoint left


def test_timings_go_to_run_meta_and_segments_are_recorded(tiny_mnist, tmp_path, monkeypatch):
    monkeypatch.setattr(load_module("lenet5_mnist"), "run", lambda cfg, seed, ctx: {"x": 1, "train_seconds_Pong": 12.5})
    folder = run_replication("lenet5_mnist", "smoke", 0, results_root=tmp_path)
    meta = json.loads((folder / "run_meta.json").read_text())
    assert json.loads((folder / "metrics.json").read_text()) == {"x": 1}
    assert meta["measured"] == {"train_seconds_Pong": 12.5}
    assert [s["commit"] for s in meta["segments"]] == [meta["git"]["commit"]]


def test_a_forced_rerun_that_fails_to_land_keeps_the_old_result(tmp_path, monkeypatch):
    """--force moves the old folder aside first: if the new one cannot move in, the old one goes back; a kill in
    between is repaired by the next run of that folder."""
    import os

    from replicate_suite import runner

    folder = run_replication("lecture_examples", "smoke", 0, results_root=tmp_path)
    before = (folder / "run_meta.json").read_bytes()
    real, calls = os.replace, {"n": 0}

    def second_replace_fails(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(runner.os, "replace", second_replace_fails)
    with pytest.raises(OSError):
        run_replication("lecture_examples", "smoke", 0, results_root=tmp_path, force=True)
    monkeypatch.undo()
    assert (folder / "run_meta.json").read_bytes() == before
    os.replace(folder, folder.with_name(f".{folder.name}.old-12345"))  # as a kill between the two renames leaves it
    with pytest.raises(ReplicateError, match="already holds a complete run"):  # put back, kept, not re-run
        run_replication("lecture_examples", "smoke", 0, results_root=tmp_path)
    assert (folder / "run_meta.json").read_bytes() == before
    assert not list(folder.parent.glob(".*old*"))


def test_run_meta_names_the_cpus_vector_extensions(tiny_mnist, tmp_path, monkeypatch):
    """One binary takes other kernels on AVX2 and AVX-512 CPUs (TensorFlow: Eigen's or oneDNN's by default, and
    each library's code by vector extension): run_meta says which extensions and which kernel library the run had."""
    import builtins
    import io

    import replicate_suite.environment as environment

    flags = "flags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_tile\n"
    real_open = builtins.open
    monkeypatch.setattr(
        builtins, "open", lambda f, *a, **k: io.StringIO(flags) if f == "/proc/cpuinfo" else real_open(f, *a, **k)
    )
    assert environment.cpu_features() == ["avx2", "avx512f", "avx512_bf16", "amx_tile"]
    assert environment.device_description().endswith("cores, avx512f avx512_bf16 amx_tile)")
    monkeypatch.setattr(builtins, "open", real_open)
    monkeypatch.setattr(load_module("lenet5_mnist"), "run", lambda cfg, seed, ctx: {"x": 1})
    folder = run_replication("lenet5_mnist", "smoke", 0, results_root=tmp_path)
    meta = json.loads((folder / "run_meta.json").read_text())
    assert meta["cpu_features"] == environment.cpu_features()
    assert meta["tensorflow_kernels"] == environment.tensorflow_kernels() in ("eigen", "onednn", None)


def test_intra_op_threads_report_what_is_in_effect(monkeypatch):
    """use_intra_op_threads returns the count in effect: the user's TF_NUM_INTRAOP_THREADS wins; once TensorFlow's
    runtime has started (as here, after other tests' ops) a different request changes nothing and the count in
    effect is returned; a count below 1 is an error."""
    import keras

    from replicate_suite.backend import use_intra_op_threads
    from replicate_suite.errors import ReplicateError

    with pytest.raises(ReplicateError, match="intra-op threads must be >= 1, got 0"):
        use_intra_op_threads(0)
    if keras.backend.backend() != "tensorflow":
        assert use_intra_op_threads(1) is None
        return
    import tensorflow as tf

    keras.ops.add(1.0, 1.0)  # the runtime has started
    in_effect = tf.config.threading.get_intra_op_parallelism_threads() or None
    assert use_intra_op_threads(None) == in_effect
    assert use_intra_op_threads((in_effect or 2) + 1) == in_effect
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "3")
    assert use_intra_op_threads(1) == 3
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "0")  # TensorFlow's default
    assert use_intra_op_threads(1) is None
    for bad in ("-1", "two"):
        monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", bad)
        with pytest.raises(ReplicateError, match="TF_NUM_INTRAOP_THREADS must be a whole number"):
            use_intra_op_threads(1)


def test_a_seed_of_an_earlier_registration_cannot_be_run_again(tmp_path, capsys):
    """dropout_mnist's cpu profile is its second registration's protocol (seeds 10-12); seeds 0-2 belong to the
    first (15 passes). Re-running seed 0 with --force would put a 100-pass run among the first registration's runs,
    judged as theirs: `replicate run` (which sweeps and dvc stages call) refuses it before anything runs. Other
    seeds and profiles run as before."""
    from replicate_suite.claim_schema import check_registration_seed
    from replicate_suite.cli import main

    with pytest.raises(ReplicateError, match="seed 0 of dropout_mnist cpu belongs to an earlier registration"):
        check_registration_seed("dropout_mnist", "cpu", 0)
    with pytest.raises(ReplicateError, match="seed 1 of ddpg_continuous cpu .* runs seeds 10, 11, 12, 13, 14"):
        check_registration_seed("ddpg_continuous", "cpu", 1)
    for replication, profile, seed in [("dropout_mnist", "cpu", 10), ("dropout_mnist", "cpu", 5),
                                       ("dropout_mnist", "smoke", 0), ("lenet5_mnist", "cpu", 0)]:  # fmt: skip
        check_registration_seed(replication, profile, seed)
    assert main(["run", "dropout_mnist", "--profile", "cpu", "--seed", "2", "--force", "--results", str(tmp_path)]) == 1
    assert "error: seed 2 of dropout_mnist cpu belongs to an earlier registration" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_run_computes_float32_products_in_full_float32():
    """TensorFloat-32 (the GPU default for float32 products on Ampere and later) is off for every run."""
    tf = pytest.importorskip("tensorflow")
    from replicate_suite.seeding import seed_everything

    tf.config.experimental.enable_tensor_float_32_execution(True)
    seed_everything(0)
    assert not tf.config.experimental.tensor_float_32_execution_enabled()
