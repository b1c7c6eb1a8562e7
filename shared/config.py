"""Config files: the paper's protocol as the base, profiles (smoke, cpu) as visible overrides, strict validation.

replications/<id>/config.yaml holds
    paper:    {budget: "...", <the paper's protocol>}
    profiles: {smoke: {<overrides>}, cpu: {<overrides>}}
and run.py declares the accepted fields as a dataclass; every key is checked against it, so a typo is an error.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml

from replicate_suite.errors import ReplicateError, brief

PROFILES = ("smoke", "cpu", "paper")
MAX_DEPTH = 50
"""Deepest nesting a YAML file may have (ours use 4); deeper is refused before it can exhaust the stack."""
MAX_NODES = 100_000
"""Most values a YAML file may expand to, counting every use of an alias (an alias bomb expands to billions)."""
MAX_BYTES = 1 << 20
"""Largest YAML file read (1 MiB; ours are under 40 KiB): a larger one is refused before it is parsed."""


@dataclass(frozen=True)
class Range:
    """Bounds of a number field, declared as `Annotated[float, Range(0, 1, high_open=True)]` on a Config field."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def check(self, value: float, path: str) -> None:
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if below or above:
            low = "(-inf" if self.low is None else ("(" if self.low_open else "[") + f"{self.low:g}"
            high = "inf)" if self.high is None else f"{self.high:g}" + (")" if self.high_open else "]")
            raise ReplicateError(f"{path} must be in {low}, {high}, got {value!r}")


POSITIVE = Range(0, None, low_open=True)
COUNT = Range(1, None)
"""A count of updates, passes, examples or units: at least 1."""
NON_NEGATIVE = Range(0, None)


@dataclass(frozen=True)
class Resources:
    """What one run needs (an optional `resources` block beside `budget`); sweeps schedule tasks with it. The
    upper bounds are far above any one machine: a larger value is a typo, and Ray would queue it forever."""

    cpus: Annotated[float, Range(0, 1024, low_open=True)] = 2.0
    gpus: Annotated[float, Range(0, 64)] = 0.0
    memory_gb: Annotated[float, Range(0, 65536, low_open=True)] = 4.0


@dataclass(frozen=True)
class ResolvedConfig:
    """One replication's config for one profile: the merged values, their typed form, the stated budget and the
    resources one run needs."""

    profile: str
    budget: str
    values: dict[str, Any]
    params: Any  # an instance of the replication's Config dataclass
    resources: Resources = Resources()


class _BoundedLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses nesting deeper than MAX_DEPTH while composing (before any deep recursion) and a
    key repeated in one mapping (YAML forbids it; PyYAML would silently keep the last), and reads numbers with an
    exponent (1e-3, 1E5) as numbers, as YAML 1.2 does (PyYAML's YAML 1.1 rules make them strings)."""

    _depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ReplicateError(f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` then own keys: overriding is its purpose
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                repeated = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: SafeConstructor rejects it with its own message
                continue
            if repeated:
                raise ReplicateError(f"line {key_node.start_mark.line + 1}: duplicate key {brief(key)}")
        return super().construct_mapping(node, deep=deep)


# YAML 1.2 floats that YAML 1.1 lacks: an exponent without a dot or without a sign (1e-3, 1E5, 1.0e3). Added after
# SafeLoader's own resolvers, so ints, 1.5, .inf and .nan resolve as before.
_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
for _first in "-+.0123456789":
    _BoundedLoader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, [_first])


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph that expands to more than MAX_NODES values or nests deeper than MAX_DEPTH through
    aliases (each alias is one more use of a shared node), or that refers to itself. Iterative: no recursion."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        children = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if children_done:
            open_nodes.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if size[key] > MAX_NODES:
                raise ReplicateError(f"expands to more than {MAX_NODES} values (aliases repeat what they refer to)")
            if depth[key] > MAX_DEPTH:
                raise ReplicateError(f"nested deeper than {MAX_DEPTH} levels (counting aliases)")
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise ReplicateError("an alias refers to the value that contains it")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


def _yaml_fault(exc: yaml.YAMLError, text: str = "") -> str:
    """Where and what a YAML syntax error is, e.g. "line 43, column 1: expected ',' or '}', but got '<stream end>'
    (while parsing a flow mapping that starts at line 42, column 10)"; a character YAML does not accept (PyYAML's
    ReaderError: a control character) as "line 1, column 4: character #x07 is not allowed in YAML"; anything else
    as PyYAML says it (bounded: brief)."""
    if isinstance(exc, yaml.reader.ReaderError):
        before = text[: exc.position]
        line, column = before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        return f"line {line}, column {column}: character #x{code:02X} is not allowed in YAML"
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or not problem:
        return brief(" ".join(str(exc).split()))

    def bounded(words: str) -> str:  # PyYAML's own words, cut short (they can quote a long value)
        return words if len(words) <= 200 else words[:200] + "..."

    text = f"line {mark.line + 1}, column {mark.column + 1}: {bounded(problem)}"
    context, start = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and start is not None:
        text += f" ({bounded(context)} that starts at line {start.line + 1}, column {start.column + 1})"
    elif context:
        text += f" ({bounded(context)})"
    return text


def parse_yaml(text: str) -> Any:
    """Parse YAML text with the bounded safe loader (size, nesting depth and alias expansion bounded, duplicate keys
    refused, exponent numbers read as numbers); a fault is a ReplicateError (without the source's name)."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise ReplicateError(f"larger than {MAX_BYTES // (1 << 20)} MiB ({size} bytes); not read")
    try:
        loader = _BoundedLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _check_expansion(node)
            return None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ReplicateError(f"invalid YAML ({_yaml_fault(exc, text)})") from None
    except ValueError as exc:  # e.g. an integer longer than Python's 4,300-digit conversion limit
        raise ReplicateError(f"a value YAML cannot turn into a number ({brief(str(exc))})") from None


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a YAML mapping from a file of at most MAX_BYTES with parse_yaml; anything else is one ReplicateError
    that names the file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise ReplicateError(f"larger than {MAX_BYTES // (1 << 20)} MiB ({path.stat().st_size} bytes); not read")
        parsed = parse_yaml(data.decode("utf-8"))
    except FileNotFoundError:
        raise ReplicateError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise ReplicateError(f"{path}: not UTF-8 text") from None
    except ReplicateError as exc:
        raise ReplicateError(f"{path}: {exc}") from None
    if not isinstance(parsed, dict):
        raise ReplicateError(f"{path}: expected a mapping at the top level, got {type(parsed).__name__}")
    return parsed


def parse_override(text: str) -> tuple[str, Any]:
    """`key.path=value` (`replicate run --set`) -> ("key.path", value), the value read as config.yaml reads values
    (the same safe, bounded YAML loader: 1 is an int, 0.5 a float, [1, 2] a list, .nan a NaN that validation
    refuses). Raises ReplicateError naming the text when it is not key.path=value or the value is not YAML."""
    key, equals, value = text.partition("=")
    key = key.strip()
    if not equals or not key or any(not part.strip() for part in key.split(".")):
        raise ReplicateError(f"--set {text!r}: expected key.path=value (e.g. train.epochs=1)")
    try:
        return key, parse_yaml(value)
    except ReplicateError as exc:
        problem = str(exc)
        if problem.startswith("invalid YAML "):  # parse_yaml's "invalid YAML (<why>)": name the value given
            problem = f"invalid YAML value {value!r} {problem.removeprefix('invalid YAML ')}"
        raise ReplicateError(f"--set {key}: {problem}") from None


def overrides_text(overrides: dict[str, Any]) -> str:
    """{"train.epochs": 1} (run_meta's `overrides`) as the command line gave them: 'train.epochs=1'."""
    return ", ".join(f"{key}={json.dumps(value)}" for key, value in overrides.items())


def nest_overrides(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """[("train.epochs", 1)] -> {"train": {"epochs": 1}}, the shape of a profile block; a key set twice, or set both
    as a value and as a block (train=... and train.epochs=...), is an error."""
    nested: dict[str, Any] = {}
    for key, value in pairs:
        *parents, leaf = [part.strip() for part in key.split(".")]
        block = nested
        for depth, part in enumerate(parents):
            block = block.setdefault(part, {})
            if not isinstance(block, dict):
                raise ReplicateError(f"--set {key}: {'.'.join(parents[: depth + 1])} is set to a value as well")
        if leaf in block:
            raise ReplicateError(f"--set {key}: set twice (or as a value and as a block)")
        block[leaf] = value
    return nested


def merge_override(base: dict[str, Any], override: dict[str, Any], where: str) -> dict[str, Any]:
    """Deep-merge override into a copy of base; a key the base does not have is an error (a likely typo)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        path = f"{where}.{key}"
        if key not in base:
            raise ReplicateError(f"{path}: unknown key (the paper block has: {', '.join(sorted(base))})")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ReplicateError(f"{path}: expected a mapping of overrides, got {brief(value)}")
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
    if origin is typing.Annotated:
        base, *extras = typing.get_args(tp)
        value = coerce(base, value, path)
        for extra in extras:
            if isinstance(extra, Range):
                extra.check(value, path)
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise ReplicateError(f"{path}: {brief(value)} is not one of {list(typing.get_args(tp))}")
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
        raise ReplicateError(errors[0] if errors else f"{path}: expected {_type_name(tp)}, got {brief(value)}")
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ReplicateError(f"{path}: expected a list, got {brief(value)}")
        (item_type, *_) = typing.get_args(tp) or (Any,)
        items = [coerce(item_type, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if tp in (int, float, str, bool) and (type(value) is not tp):
        raise ReplicateError(f"{path}: expected {tp.__name__}, got {brief(value)}")
    if tp is float and not math.isfinite(value):
        raise ReplicateError(f"{path}: expected a finite number, got {value}")
    return value


def from_dict(schema: type, values: Any, path: str) -> Any:
    """Build a (nested) dataclass from a mapping; unknown or missing keys are errors that name the key."""
    if not isinstance(values, dict):
        raise ReplicateError(f"{path}: expected a mapping, got {brief(values)}")
    fields = {f.name: f for f in dataclasses.fields(schema)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ReplicateError(f"{path}.{unknown[0]}: unknown key (expected one of: {', '.join(fields)})")
    hints = typing.get_type_hints(schema, include_extras=True)
    kwargs = {}
    for name, field in fields.items():
        if name in values:
            kwargs[name] = coerce(hints[name], values[name], f"{path}.{name}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ReplicateError(f"{path}.{name}: missing key")
    return schema(**kwargs)


def _typed(
    config_path: Path, raw: dict[str, Any], profile: str, schema: type, overrides: dict[str, Any] | None = None
) -> ResolvedConfig:
    values = resolve(raw, profile, str(config_path))
    if profile != "paper" and "budget" not in (raw["profiles"][profile] or {}):
        raise ReplicateError(f"{config_path}: profiles.{profile} needs its own 'budget' string (what this run costs)")
    if overrides:
        values = merge_override(values, overrides, f"{config_path}: {profile} + overrides")
    budget = values.pop("budget", None)
    if not isinstance(budget, str) or not budget.strip():
        source = " + overrides" if overrides and "budget" in overrides else ""
        raise ReplicateError(
            f"{config_path}: {profile}{source}.budget: expected a non-empty string (what this run costs), "
            f"got {brief(budget)}"
        )
    where = f"{config_path}: {profile}" + (" + overrides" if overrides else "")  # a bad --set value names its source
    resources = from_dict(Resources, values.pop("resources", {}), f"{where}.resources")
    params = from_dict(schema, values, where)
    return ResolvedConfig(profile=profile, budget=budget, values=values, params=params, resources=resources)


def load_config(
    config_path: Path, profile: str, schema: type, overrides: dict[str, Any] | None = None
) -> ResolvedConfig:
    """Read config.yaml, apply the profile (then `overrides`, e.g. a tuning candidate, as a further override of the
    same keys), and validate it against the replication's Config dataclass. The one way a config is loaded: the
    runner and tuning both come here.

    Every profile is validated, not only the one asked for, so a typo anywhere in the file fails at once.
    """
    if profile not in PROFILES:
        raise ReplicateError(f"unknown profile {profile!r} (expected one of: {', '.join(PROFILES)})")
    raw = read_yaml(config_path)
    # the paper block first: a fault there is named as the paper's, not as the first profile built on it
    resolved = {p: _typed(config_path, raw, p, schema) for p in sorted(PROFILES, key=lambda p: p != "paper")}
    return _typed(config_path, raw, profile, schema, overrides) if overrides else resolved[profile]
