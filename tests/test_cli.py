"""The `replicate` command: bad input gives one `error:` line, exit 1, and nothing in results/."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

import shared.runner
from shared.cli import main
from shared.paths import PROJECT_ROOT


def run_cli(*args, cwd=PROJECT_ROOT):
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
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
    monkeypatch.setattr(shared.runner, "replication_path", lambda rep_id: broken)
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
