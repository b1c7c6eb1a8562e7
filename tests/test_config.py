"""Config loading: profiles override the paper block; unknown keys, bad types and bad profiles are clear errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pytest

from shared.config import load_config
from shared.errors import ReplicateError


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
        (BASE.replace("limit: null}", "limit: null, momentum: 0.9}"), "train.momentum: unknown key"),
        (BASE.replace("lr: 0.1", "lr: fast"), "train.lr: expected float, got 'fast'"),
        (BASE.replace("optimizer: adam", "optimizer: rmsprop"), "'rmsprop' is not one of ['sgd', 'adam']"),
        (BASE.replace("sizes: [1, 2]", "sizes: [1, two]"), "sizes[1]: expected int"),
        (BASE.replace("budget: reduced, ", ""), "profiles.cpu needs its own 'budget' string"),
        (BASE.replace("  cpu:", "  gpu:"), "profiles must be exactly"),
        (BASE.replace("epochs: 20, ", "").replace("epochs: 1, ", ""), "train.epochs: missing key"),
        ("paper: [1, 2", "invalid YAML"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path, text, message):
    with pytest.raises(ReplicateError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        load_config(write(tmp_path, text), "cpu", Cfg)


def test_unknown_profile(tmp_path):
    with pytest.raises(ReplicateError, match="unknown profile 'laptop'"):
        load_config(write(tmp_path, BASE), "laptop", Cfg)


def test_bool_is_not_an_int(tmp_path):
    with pytest.raises(ReplicateError, match="train.epochs: expected int, got True"):
        load_config(write(tmp_path, BASE.replace("epochs: 20", "epochs: true")), "paper", Cfg)
