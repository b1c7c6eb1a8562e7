"""Config loading: profiles override the paper block; unknown keys, bad types and bad profiles are clear errors."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import pytest

from replicate_suite.config import load_config
from replicate_suite.errors import ReplicateError


@dataclass(frozen=True)
class Train:
    epochs: int
    lr: float
    optimizer: Literal["sgd", "adam"]
    limit: int | None = None


@dataclass(frozen=True)
class Cfg:
    train: Train
    sizes: list[int]


BASE = """
paper:
  budget: "the paper's"
  train: {epochs: 20, lr: 0.1, optimizer: sgd, limit: null}
  sizes: [1, 2]
profiles:
  smoke: {budget: tiny, train: {epochs: 1, limit: 8}}
  cpu: {budget: reduced, train: {optimizer: adam}}
"""


def write(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_profiles_override_the_paper_block(tmp_path):
    path = write(tmp_path, BASE)
    paper = load_config(path, "paper", Cfg)
    smoke = load_config(path, "smoke", Cfg)
    cpu = load_config(path, "cpu", Cfg)
    assert paper.params == Cfg(Train(20, 0.1, "sgd", None), [1, 2])
    assert smoke.params == Cfg(Train(1, 0.1, "sgd", 8), [1, 2])
    assert cpu.params.train.optimizer == "adam" and cpu.params.train.epochs == 20
    assert (paper.budget, smoke.budget, cpu.budget) == ("the paper's", "tiny", "reduced")


@pytest.mark.parametrize(
    "text, message",
    [
        (BASE.replace("{epochs: 1, limit: 8}", "{epocs: 1}"), "profiles.smoke.train.epocs: unknown key"),
        (BASE.replace("limit: null}", "limit: null, momentum: 0.9}"), ": paper.train.momentum: unknown key"),
        (BASE.replace("lr: 0.1", "lr: 0.1, lr_dacay: 2"), ": paper.train.lr_dacay: unknown key"),  # not 'smoke.
        (BASE.replace("lr: 0.1", "lr: fast"), "train.lr: expected float, got 'fast'"),
        (BASE.replace("optimizer: adam", "optimizer: rmsprop"), "'rmsprop' is not one of ['sgd', 'adam']"),
        (BASE.replace("sizes: [1, 2]", "sizes: [1, two]"), "sizes[1]: expected int"),
        (BASE.replace("budget: reduced, ", ""), "profiles.cpu needs its own 'budget' string"),
        (
            BASE.replace("budget: reduced, ", "budget: 3, "),
            ": cpu.budget: expected a non-empty string (what this run costs), got 3",
        ),
        (BASE.replace("  cpu:", "  gpu:"), "profiles must be exactly"),
        (BASE.replace("epochs: 20, ", "").replace("epochs: 1, ", ""), "train.epochs: missing key"),
        (
            "paper: [1, 2",
            "invalid YAML (line 1, column 13: expected ',' or ']', but got '<stream end>' (while "
            "parsing a flow sequence that starts at line 1, column 8))",
        ),
        (
            "paper:\n  train:\n\tlr: 1\n",
            "invalid YAML (line 3, column 1: found character '\\t' that cannot start "
            "any token (while scanning for the next token))",
        ),
        ("paper:\n  train: \x07\n", "invalid YAML (line 2, column 10: character #x07 is not allowed in YAML)"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path, text, message):
    with pytest.raises(ReplicateError, match=re.escape(message)):
        load_config(write(tmp_path, text), "cpu", Cfg)


def test_unknown_profile(tmp_path):
    with pytest.raises(ReplicateError, match="unknown profile 'laptop'"):
        load_config(write(tmp_path, BASE), "laptop", Cfg)


def test_bool_is_not_an_int(tmp_path):
    with pytest.raises(ReplicateError, match="train.epochs: expected int, got True"):
        load_config(write(tmp_path, BASE.replace("epochs: 20", "epochs: true")), "paper", Cfg)


# --- break-test leftovers (issue #18): YAML 1.1 quirks, duplicate keys, size, resources --------------------------


@pytest.mark.parametrize("text, value", [("1e-3", 0.001), ("1E5", 1e5), ("-2.5e+3", -2500.0), ("1.0e3", 1000.0)])
def test_exponent_numbers_are_numbers(tmp_path, text, value):
    # PyYAML follows YAML 1.1, which reads 1e-3 (no dot, or no exponent sign) as a string; YAML 1.2 reads a number.
    cfg = load_config(write(tmp_path, BASE.replace("lr: 0.1", f"lr: {text}")), "paper", Cfg)
    assert cfg.params.train.lr == value and type(cfg.params.train.lr) is float


def test_strings_that_only_look_like_exponents_stay_strings(tmp_path):
    from replicate_suite.config import read_yaml

    data = read_yaml(write(tmp_path, "a: e5\nb: 1e\nc: '1e-3'\nd: 1e-3x\ne: 12\n"))
    assert data == {"a": "e5", "b": "1e", "c": "1e-3", "d": "1e-3x", "e": 12}


@pytest.mark.parametrize(
    "text, message",
    [
        (BASE.replace("epochs: 20,", "epochs: 20, epochs: 3,"), "line 4: duplicate key 'epochs'"),
        (BASE + "paper: {budget: again}\n", "line 9: duplicate key 'paper'"),
        (BASE.replace("  cpu:", "  smoke: {budget: b}\n  cpu:"), "line 8: duplicate key 'smoke'"),
    ],
)
def test_a_duplicate_key_is_an_error_naming_it(tmp_path, text, message):
    with pytest.raises(ReplicateError, match=message):
        load_config(write(tmp_path, text), "cpu", Cfg)


def test_merge_keys_may_override_without_being_duplicates(tmp_path):
    from replicate_suite.config import read_yaml

    data = read_yaml(write(tmp_path, "base: &b {x: 1, y: 2}\nmine: {<<: *b, y: 3}\n"))
    assert data["mine"] == {"x": 1, "y": 3}


def test_a_yaml_file_over_the_size_limit_is_refused(tmp_path):
    from replicate_suite.config import MAX_BYTES, read_yaml

    path = write(tmp_path, "a: [" + "1, " * (MAX_BYTES // 3) + "1]\n")
    with pytest.raises(ReplicateError, match=r"config.yaml: larger than 1 MiB \(\d+ bytes\); not read"):
        read_yaml(path)


RESOURCES = BASE.replace("  sizes: [1, 2]", "  sizes: [1, 2]\n  resources: {cpus: 2, gpus: 0, memory_gb: 4}")


@pytest.mark.parametrize(
    "override, message",
    [
        ("cpus: 0", "resources.cpus must be in (0, 1024], got 0.0"),
        ("cpus: 5000", "resources.cpus must be in (0, 1024], got 5000.0"),
        ("gpus: -1", "resources.gpus must be in [0, 64], got -1.0"),
        ("memory_gb: 0", "resources.memory_gb must be in (0, 65536], got 0.0"),
        ("memory_gb: 1e9", "resources.memory_gb must be in (0, 65536], got 1000000000.0"),
        ("cpus: .nan", "resources.cpus: expected a finite number, got nan"),
        ("cpus: two", "resources.cpus: expected float, got 'two'"),
    ],
)
def test_resources_are_checked(tmp_path, override, message):
    assert load_config(write(tmp_path, RESOURCES), "cpu", Cfg).resources.cpus == 2
    text = RESOURCES.replace("cpu: {budget: reduced,", f"cpu: {{budget: reduced, resources: {{{override}}},")
    with pytest.raises(ReplicateError, match=message.replace("(", r"\(").replace("[", r"\[").replace("]", r"\]")):
        load_config(write(tmp_path, text), "cpu", Cfg)


@pytest.mark.parametrize(
    "replication, key, value",
    [
        ("dropout_mnist", "train.epochs", 0),
        ("dropout_mnist", "train.batch_size", 0),
        ("dropout_mnist", "eval_every_epochs", 0),
        ("dropout_mnist", "train.lr_decay_per_epoch", -2),
        ("batchnorm_mnist", "monitor.every", 0),
        ("batchnorm_mnist", "train.steps", 0),
        ("he_vs_xavier_init", "train.steps", 0),
        ("he_vs_xavier_init", "monitor.every", 0),
        ("lenet5_mnist", "train.epochs", 0),
        ("resnet_depth_cifar10", "train.lr_drop_factor", 0),
        ("resnet_depth_cifar10", "monitor.eval_every", 0),
    ],
)
def test_counts_and_factors_of_the_supervised_configs_are_range_checked(replication, key, value):
    """A pass count, batch size or evaluation period below 1, or a decay factor outside (0, 1], is a config error
    naming the field; it used to train and report the untrained net's error (epochs 0), divide by zero (batch 0) or
    diverge (decay -2) with exit 0."""
    from replicate_suite.config import nest_overrides
    from replicate_suite.runner import resolve_config

    with pytest.raises(ReplicateError, match=key.split(".")[-1] + " must be in"):
        resolve_config(replication, "smoke", nest_overrides([(key, value)]))
