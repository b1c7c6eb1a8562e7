"""The `replicate` command: bad input gives one `error:` line, exit 1, and nothing in results/."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

import replicate_suite.runner
from replicate_suite.cli import main
from replicate_suite.paths import PROJECT_ROOT


def run_cli(*args, cwd=PROJECT_ROOT):
    return subprocess.run(
        [sys.executable, "-m", "replicate_suite.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def assert_one_error_line(stderr: str, fragment: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], stderr


def test_unknown_replication_subprocess(tmp_path):
    result = run_cli("run", "nosuch", "--profile", "cpu", "--seed", "0", "--out", str(tmp_path / "results"))
    assert result.returncode == 1
    assert_one_error_line(result.stderr, "unknown replication 'nosuch' (known: ")
    assert "lenet5_mnist" in result.stderr
    assert not (tmp_path / "results").exists()


def test_list_shows_the_replications():
    result = run_cli("list")
    assert result.returncode == 0, result.stderr
    assert "lenet5_mnist" in result.stdout


def test_unknown_profile(capsys, tmp_path):
    assert main(["run", "lenet5_mnist", "--profile", "laptop", "--out", str(tmp_path / "r")]) == 1
    assert_one_error_line(capsys.readouterr().err, "unknown profile 'laptop'")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("train", "epocs", 20, "profiles.cpu.train.epocs: unknown key"),  # a typo of epochs
        ("train", "ema_momentum", 1.0, "train.ema_momentum must be in [0, 1), got 1.0"),
        ("model", "output", "svm", "model.output: 'svm' is not one of ['rbf', 'softmax']"),
    ],
)
def test_bad_config_key_or_value(capsys, tmp_path, monkeypatch, section, key, value, message):
    broken = tmp_path / "lenet5_mnist"
    shutil.copytree(PROJECT_ROOT / "replications" / "lenet5_mnist", broken)
    config = broken / "config.yaml"
    raw = yaml.safe_load(config.read_text())
    raw["profiles"]["cpu"].setdefault(section, {})[key] = value
    config.write_text(yaml.safe_dump(raw))
    monkeypatch.setattr(replicate_suite.runner, "replication_path", lambda rep_id: broken)
    assert main(["run", "lenet5_mnist", "--profile", "cpu", "--out", str(tmp_path / "r")]) == 1
    assert_one_error_line(capsys.readouterr().err, message)
    assert not (tmp_path / "r").exists()


def test_missing_dataset(capsys, no_data, tmp_path):
    assert main(["run", "lenet5_mnist", "--profile", "smoke", "--out", str(tmp_path / "r")]) == 1
    assert_one_error_line(capsys.readouterr().err, "mnist file train-images-idx3-ubyte.gz not in")
    assert not (tmp_path / "r").exists()


def test_corrupt_dataset(capsys, tiny_mnist, tmp_path):
    bad = tmp_path / "mirror" / "mnist" / "train-images-idx3-ubyte.gz"
    bad.write_bytes(b"not the file")
    assert main(["run", "lenet5_mnist", "--profile", "smoke", "--out", str(tmp_path / "r")]) == 1
    assert_one_error_line(capsys.readouterr().err, f"checksum mismatch for {bad}")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("dataset, ok", [("mnist", True), ("imagenet", False)])
def test_verify_data(capsys, tiny_mnist, dataset, ok):
    assert main(["verify-data", dataset]) == (0 if ok else 1)
    out = capsys.readouterr()
    if ok:
        assert out.out.count("sha256 verified") == 4
    else:
        assert_one_error_line(out.err, "unknown dataset 'imagenet'")


# --- help texts and option names (issue #24) ---------------------------------------------------------------------


def _subparsers():
    import argparse

    from replicate_suite.cli import build_parser

    parser = build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return parser, action.choices


def test_every_option_has_help_and_every_command_says_what_it_does():
    import argparse

    parser, commands = _subparsers()
    top = parser.format_help()
    for name, sub in commands.items():
        assert name in top, f"`replicate --help` does not list {name}"
        assert sub.description and len(sub.description) > 40, f"`replicate {name} --help` says nothing"
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            assert action.help, f"replicate {name} {action.option_strings or action.dest}: no help text"
        if any("--profile" in a.option_strings and not a.required for a in sub._actions):
            assert "(default: cpu)" in sub.format_help().replace("\n", " ").replace("  ", " "), name


def test_one_name_for_the_results_root():
    """run, sweep, list and report all take --results; run's old --out still works (hidden from help)."""
    _, commands = _subparsers()
    for name in ("run", "sweep", "list", "report"):
        options = {o for a in commands[name]._actions for o in a.option_strings}
        assert "--results" in options, name
        assert "--out" not in commands[name].format_help(), name
    from replicate_suite.cli import build_parser

    args = build_parser().parse_args(["run", "lenet5_mnist", "--out", "x"])
    assert args.results == "x"


def test_top_level_help_lists_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for name in ("list", "run", "sweep", "report", "verify-data"):
        assert name in result.stdout
    for name, says in (("list", "List the replications and the mix"), ("verify-data", "pinned SHA-256")):
        assert says in " ".join(run_cli(name, "--help").stdout.split()), name


# --- replicate run --set -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting, message",
    [
        ("train.epocs=2", "train.epocs: unknown key"),  # a typo of epochs: same check as in config.yaml
        ("train.epochs=two", "train.epochs: expected int, got 'two'"),
        ("train.momentum=.nan", "train.momentum: expected a finite number, got nan"),
        ("train.momentum=nan", "train.momentum: expected float, got 'nan'"),
        ("train.ema_momentum=1.0", "train.ema_momentum must be in [0, 1), got 1.0"),
        ("train=3", "train: expected a mapping of overrides, got 3"),
        ("epochs", "--set 'epochs': expected key.path=value"),
        ("train..epochs=1", "expected key.path=value"),
        ("train.epochs=[1", "--set train.epochs: invalid YAML value '[1'"),
    ],
)
def test_set_is_validated_like_config_yaml(capsys, tmp_path, setting, message):
    """A bad --set is one `error:` line, exit 1, and no run folder, even when the result exists already."""
    out = tmp_path / "r"
    assert main(["run", "lenet5_mnist", "--profile", "smoke", "--results", str(out), "--set", setting]) == 1
    assert_one_error_line(capsys.readouterr().err, message)
    assert not out.exists()


def test_set_twice_is_an_error(capsys, tmp_path):
    args = ["run", "lenet5_mnist", "--profile", "smoke", "--results", str(tmp_path / "r")]
    assert main([*args, "--set", "train.epochs=1", "--set", "train.epochs=2"]) == 1
    assert_one_error_line(capsys.readouterr().err, "--set train.epochs: set twice")


def test_parse_override_reads_values_as_yaml():
    from replicate_suite.config import nest_overrides, parse_override

    pairs = [parse_override(t) for t in ("train.epochs=1", "train.lr_values=[0.1, 0.01]", "data.test_limit=null")]
    assert pairs == [("train.epochs", 1), ("train.lr_values", [0.1, 0.01]), ("data.test_limit", None)]
    assert nest_overrides(pairs) == {"train": {"epochs": 1, "lr_values": [0.1, 0.01]}, "data": {"test_limit": None}}


@pytest.mark.parametrize("command", ["list", "report"])
def test_reading_commands_refuse_a_missing_results_folder(capsys, tmp_path, command):
    """A misspelt --results read as 'no runs anywhere', and `report` overwrote the committed reports with that."""
    reports = tmp_path / "reports"
    (tmp_path / "a_file").write_text("")
    for results, what in ((tmp_path / "reslts", "does not exist"), (tmp_path / "a_file", "is not a folder")):
        extra = ["--reports", str(reports), "--no-figures"] if command == "report" else []
        assert main([command, "--profile", "cpu", "--results", str(results), *extra]) == 1
        assert_one_error_line(capsys.readouterr().err, f"results folder {results} {what}")
    assert not reports.exists()


def test_list_flags_verdicts_that_count_uncommitted_code(monkeypatch, capsys, tmp_path):
    from replicate_suite import report
    from replicate_suite.claim_schema import Claim, Target
    from replicate_suite.claims import TargetResult
    from replicate_suite.report import ReplicationReport

    target = Target(metric="m", rule={"kind": "below", "bound": 1.0}, binds=("cpu",))
    flagged = TargetResult(target, "consistent", uncommitted="uncommitted code: 1 run folder(s) ...")
    rep = ReplicationReport(Claim("demo", "t", "c", {"paper": "p"}, (target,), ()), [], [flagged])
    monkeypatch.setattr(report, "evaluate", lambda profile, root: [rep])
    (tmp_path / "r").mkdir()
    assert main(["list", "--results", str(tmp_path / "r")]) == 0
    assert "⚠ uncommitted code behind 1 verdict(s) (the report's notes name them)" in capsys.readouterr().out
