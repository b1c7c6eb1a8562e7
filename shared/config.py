"""Config files: the paper's protocol as the base, profiles (smoke, cpu) as visible overrides, strict validation.

replications/<id>/config.yaml holds
    paper:    {budget: "...", <the paper's protocol>}
    profiles: {smoke: {<overrides>}, cpu: {<overrides>}}
and run.py declares the accepted fields as a dataclass; every key is checked against it, so a typo is an error.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shared.errors import ReplicateError

PROFILES = ("smoke", "cpu", "paper")


@dataclass(frozen=True)
class Resources:
    """What one run needs (an optional `resources` block beside `budget`); sweeps schedule tasks with it."""

    cpus: float = 2.0
    gpus: float = 0.0
    memory_gb: float = 4.0


@dataclass(frozen=True)
class ResolvedConfig:
    """One replication's config for one profile: the merged values, their typed form, the stated budget and the
    resources one run needs."""

    profile: str
    budget: str
    values: dict[str, Any]
    params: Any  # an instance of the replication's Config dataclass
    resources: Resources = Resources()


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping with yaml.safe_load; anything else is a clear error."""
    try:
        with open(path) as handle:
            data = yaml.safe_load(handle)
    except FileNotFoundError:
        raise ReplicateError(f"{path}: file not found") from None
    except yaml.YAMLError as exc:
        raise ReplicateError(f"{path}: invalid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise ReplicateError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def merge_override(base: dict[str, Any], override: dict[str, Any], where: str) -> dict[str, Any]:
    """Deep-merge override into a copy of base; a key the base does not have is an error (a likely typo)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        path = f"{where}.{key}"
        if key not in base:
            raise ReplicateError(f"{path}: unknown key (the paper block has: {', '.join(sorted(base))})")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ReplicateError(f"{path}: expected a mapping of overrides, got {value!r}")
            merged[key] = merge_override(base[key], value, path)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def resolve(raw: dict[str, Any], profile: str, source: str) -> dict[str, Any]:
    """Apply one profile's overrides to the paper block of a parsed config.yaml."""
    if profile not in PROFILES:
        raise ReplicateError(f"unknown profile {profile!r} (expected one of: {', '.join(PROFILES)})")
    unknown = set(raw) - {"paper", "profiles"}
    if unknown:
        raise ReplicateError(f"{source}: unknown top-level key(s) {sorted(unknown)} (expected paper, profiles)")
    base = raw.get("paper")
    if not isinstance(base, dict):
        raise ReplicateError(f"{source}: missing the 'paper' block (the paper's protocol)")
    profiles = raw.get("profiles") or {}
    missing = [p for p in PROFILES if p != "paper" and p not in profiles]
    extra = [p for p in profiles if p not in PROFILES or p == "paper"]
    if missing or extra:
        raise ReplicateError(f"{source}: profiles must be exactly {PROFILES[:-1]} (missing {missing}, extra {extra})")
    if profile == "paper":
        return copy.deepcopy(base)
    return merge_override(base, profiles[profile] or {}, f"{source}: profiles.{profile}")


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(tp: Any, value: Any, path: str) -> Any:
    """Check value against a type hint (dataclass, list[...], Literal, Optional, scalars) and convert it."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ReplicateError(f"{path}: {value!r} is not one of {list(typing.get_args(tp))}")
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return coerce(option, value, path)
            except ReplicateError as exc:
                errors.append(str(exc))
        raise ReplicateError(errors[0] if errors else f"{path}: expected {_type_name(tp)}, got {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ReplicateError(f"{path}: expected a list, got {value!r}")
        (item_type, *_) = typing.get_args(tp) or (Any,)
        items = [coerce(item_type, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and (type(value) is not tp):
        raise ReplicateError(f"{path}: expected {tp.__name__}, got {value!r}")
    return value


def from_dict(schema: type, values: Any, path: str) -> Any:
    """Build a (nested) dataclass from a mapping; unknown or missing keys are errors that name the key."""
    if not isinstance(values, dict):
        raise ReplicateError(f"{path}: expected a mapping, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(schema)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ReplicateError(f"{path}.{unknown[0]}: unknown key (expected one of: {', '.join(fields)})")
    hints = typing.get_type_hints(schema)
    kwargs = {}
    for name, field in fields.items():
        if name in values:
            kwargs[name] = coerce(hints[name], values[name], f"{path}.{name}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ReplicateError(f"{path}.{name}: missing key")
    return schema(**kwargs)


def _typed(config_path: Path, raw: dict[str, Any], profile: str, schema: type) -> ResolvedConfig:
    values = resolve(raw, profile, str(config_path))
    if profile != "paper" and "budget" not in (raw["profiles"][profile] or {}):
        raise ReplicateError(f"{config_path}: profiles.{profile} needs its own 'budget' string (what this run costs)")
    budget = values.pop("budget", None)
    if not isinstance(budget, str) or not budget.strip():
        raise ReplicateError(f"{config_path}: profile {profile!r} needs a 'budget' string (what this run costs)")
    resources = from_dict(Resources, values.pop("resources", {}), f"{config_path}: {profile}.resources")
    params = from_dict(schema, values, f"{config_path}: {profile}")
    return ResolvedConfig(profile=profile, budget=budget, values=values, params=params, resources=resources)


def load_config(config_path: Path, profile: str, schema: type) -> ResolvedConfig:
    """Read config.yaml, apply the profile, and validate it against the replication's Config dataclass.

    Every profile is validated, not only the one asked for, so a typo anywhere in the file fails at once.
    """
    if profile not in PROFILES:
        raise ReplicateError(f"unknown profile {profile!r} (expected one of: {', '.join(PROFILES)})")
    raw = read_yaml(config_path)
    resolved = {p: _typed(config_path, raw, p, schema) for p in PROFILES}
    return resolved[profile]
