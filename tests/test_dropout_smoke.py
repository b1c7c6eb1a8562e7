"""Smoke test of dropout_mnist: three small nets through the real runner and loader on tiny IDX files."""

from __future__ import annotations

import json

from replicate_suite.results import read_runs
from replicate_suite.runner import run_replication

NETS = ("standard_relu_3x1024", "dropout_relu_3x1024", "dropout_maxnorm_relu_3x1024")


def test_smoke_run_writes_every_net(tiny_mnist, tmp_path):
    folder = run_replication("dropout_mnist", "smoke", 0, results_root=tmp_path)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics) == {"epochs", *(f"{kind}_error_{net}" for net in NETS for kind in ("test", "train"))}
    (run,) = read_runs(tmp_path, "dropout_mnist", "smoke")
    curves = run.read_curves()
    assert {row["metric"] for row in curves} == {f"test_error/{net}" for net in NETS}
    assert sorted({row["step"] for row in curves}) == [0, 16, 32]  # 256 images / batch 16 = 16 updates a pass


def _pilot():
    from replicate_suite.runner import load_script

    return load_script("dropout_mnist", "pilot_crossover")


def test_crossover_pilot_rule_on_hand_made_curves():
    import pytest

    pilot = _pilot()
    order = pilot.ORDER
    assert pilot.ordering_holds(dict(zip(order, [0.020, 0.015, 0.012], strict=True)), order)
    assert not pilot.ordering_holds(dict(zip(order, [0.015, 0.015, 0.012], strict=True)), order)  # a tie is no order
    assert not pilot.ordering_holds(dict(zip(order, [0.020, 0.012, 0.015], strict=True)), order)
    curve = [[step, "val_error/a", value] for step, value in [(0, 0.9), (500, 0.3), (1000, 0.2), (1500, 0.1)]]
    curve += [[500, "val_error/b", 5.0]]  # another net's curve is not read
    assert pilot.last_k_mean(curve, "a", 3) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="needs 5"):
        pilot.last_k_mean(curve, "a", 5)
    outcomes = {f"a lr {r:g}": [{"metrics": {"val_error_a": e}}] for r, e in [(0.01, 0.05), (0.03, 0.02), (0.1, 0.02)]}
    assert pilot.choose_rates(outcomes, ["a"], [0.01, 0.03, 0.1]) == {"a": 0.03}  # a tie goes to the smaller rate


def test_crossover_pilot_candidates_are_validation_only():
    from replicate_suite.tuning import candidate_config, check_candidates

    pilot = _pilot()
    candidates = pilot.candidates("cpu", 100, dict.fromkeys(pilot.ORDER, 0.03), 5)
    check_candidates("dropout_mnist", "cpu", candidates)  # raises if a candidate would read the test set
    params = candidate_config("dropout_mnist", "cpu", candidates[f"{pilot.ORDER[1]} lr 0.03"]).params
    assert [n.name for n in params.nets] == [pilot.ORDER[1]] and params.train.epochs == 100
    assert (params.train.momentum, params.eval_every_epochs, params.data.validation_holdout) == (0.95, 5, 10_000)
    # each candidate trains at its own rate, not at the per-net rate the cpu profile now sets (0.01 for this net)
    for rate in (0.01, 0.03, 0.1):
        cands = pilot.candidates("cpu", 10, dict.fromkeys(pilot.ORDER, rate), 10)
        for name in pilot.ORDER:
            (net,) = candidate_config("dropout_mnist", "cpu", cands[f"{name} lr {rate:g}"]).params.nets
            train = candidate_config("dropout_mnist", "cpu", cands[f"{name} lr {rate:g}"]).params.train
            assert (net.learning_rate or train.learning_rate) == rate, (name, rate)


def test_the_first_rate_choice_trains_each_candidate_at_its_own_rate():
    """tune.py (tuning.md: one rate for all three nets, the first registration's momentum 0.9): a per-net rate the
    cpu profile gained later replaced train.learning_rate, so all three candidates trained at 0.03/0.01/0.03 with
    momentum 0.95, the same set-up three times."""
    from replicate_suite.runner import load_script
    from replicate_suite.tuning import candidate_config, check_candidates

    tune = load_script("dropout_mnist", "tune")
    candidates = tune.candidates()
    check_candidates("dropout_mnist", "cpu", candidates)
    for rate in tune.LEARNING_RATES:
        params = candidate_config("dropout_mnist", "cpu", candidates[f"lr {rate:g}"]).params
        assert [n.name for n in params.nets] == tune.NETS
        assert {net.learning_rate or params.train.learning_rate for net in params.nets} == {rate}
        assert (params.train.momentum, params.train.lr_decay_per_epoch, params.train.epochs) == (0.9, 0.95, 3)


def test_crossover_pilot_keeps_each_candidates_outcome_and_continues_from_them(tmp_path, monkeypatch):
    """A pilot stopped between batches continues: saved candidates are read back, not run again; a saved outcome
    made with other settings is refused."""
    import pytest

    from replicate_suite.errors import ReplicateError

    pilot = _pilot()
    ran = []

    def fake_tune(rid, profile, cands, seeds, workers):
        ran.append(sorted(cands))
        return {name: [{"metrics": {"val_error": 0.1}, "curves": [], "wall_seconds": 1.0}] for name in cands}

    monkeypatch.setattr(pilot, "tune", fake_tune)
    cands = {f"net{i} lr 0.1": {"train": {"epochs": i}} for i in range(3)}
    first = pilot.run_stage("cpu", "stage1", cands, tmp_path)
    assert ran == [["net0 lr 0.1", "net1 lr 0.1"], ["net2 lr 0.1"]] and set(first) == set(cands)
    assert len(list(tmp_path.glob("stage1__*.json"))) == 3
    (tmp_path / "stage1__net2_lr_0.1.json").unlink()  # as if stopped before the last batch finished
    again = pilot.run_stage("cpu", "stage1", cands, tmp_path)
    assert ran[2:] == [["net2 lr 0.1"]] and again == first
    with pytest.raises(ReplicateError, match="other settings"):
        pilot.run_stage("cpu", "stage1", {"net0 lr 0.1": {"train": {"epochs": 9}}}, tmp_path)


def test_a_nets_own_learning_rate_replaces_the_shared_one(tiny_mnist, tmp_path):
    """nets[i].learning_rate (per-row rates chosen on validation data) overrides train.learning_rate for that net
    only; a non-positive one is a config error naming the field."""
    import pytest

    from replicate_suite.config import from_dict
    from replicate_suite.errors import ReplicateError
    from replicate_suite.runner import load_script, resolve_config

    run = load_script("dropout_mnist", "run")
    values = resolve_config("dropout_mnist", "smoke").values
    values["nets"][1] = {**values["nets"][1], "learning_rate": 0.5}
    cfg = from_dict(run.Config, values, "config")
    assert [net.learning_rate for net in cfg.nets] == [None, 0.5, None]
    values["nets"][1]["learning_rate"] = 0.0
    with pytest.raises(ReplicateError, match="learning_rate"):
        from_dict(run.Config, values, "config")
    a = run_replication("dropout_mnist", "smoke", 0, results_root=tmp_path / "a")
    b = run_replication(
        "dropout_mnist", "smoke", 0, results_root=tmp_path / "b",
        overrides={"train.learning_rate": 0.5},
    )  # fmt: skip
    nets = resolve_config("dropout_mnist", "smoke").values["nets"]
    nets[1] = {**nets[1], "learning_rate": 0.5}
    c = run_replication("dropout_mnist", "smoke", 0, results_root=tmp_path / "c", overrides={"nets": nets})
    ma, mb, mc = (json.loads((f / "metrics.json").read_text()) for f in (a, b, c))
    for net, like in zip(NETS, (ma, mb, ma), strict=True):  # only the middle net trains at 0.5, as in run b
        for kind in ("test", "train"):
            assert mc[f"{kind}_error_{net}"] == like[f"{kind}_error_{net}"], (kind, net)
    assert ma[f"train_error_{NETS[1]}"] != mb[f"train_error_{NETS[1]}"]  # and the rate made a difference


def test_each_net_is_a_variant_by_name(tiny_mnist, tmp_path):
    """dropout_mnist's nets are config mappings: `--variant <net name>` runs that net alone into seed_<n>@<name>/,
    an unknown name is one clear error listing the names, and the parts of a seed read back as one run."""
    import pytest

    from replicate_suite.errors import ReplicateError
    from replicate_suite.runner import check_variant, resolve_config, select_variant

    check_variant("dropout_mnist", "cpu", "dropout_relu_3x1024")
    with pytest.raises(ReplicateError, match="unknown variant 'relu' of dropout_mnist .*standard_relu_3x1024, dropout"):
        check_variant("dropout_mnist", "cpu", "relu")
    narrowed = select_variant("dropout_mnist", resolve_config("dropout_mnist", "cpu"), "dropout_maxnorm_relu_3x1024")
    assert [net.name for net in narrowed.params.nets] == ["dropout_maxnorm_relu_3x1024"]
    assert narrowed.params.nets[0].learning_rate == 0.03 and narrowed.values["nets"][0]["max_norm"] == 3.5
    for net in NETS[:2]:
        folder = run_replication("dropout_mnist", "smoke", 0, results_root=tmp_path, variant=net)
        assert folder.name == f"seed_0@{net}"
    (run,) = read_runs(tmp_path, "dropout_mnist", "smoke")
    assert {f"test_error_{net}" for net in NETS[:2]} <= set(run.metrics) and run.seed == 0
