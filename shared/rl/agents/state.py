"""Agent state for checkpoints: every variable an update depends on, saved under a name and restored by that name.

A network weight is keyed `<group>/<variable path>` (e.g. `actor/fc1/kernel`, `online/conv1/kernel`): a network
whose layers were reordered still gets each array back in the right place, and a missing, extra or differently
shaped array is an error naming it, never a silent mis-load. Optimizer slots are keyed `optimizer/<index>/<name>`:
Keras names a slot after its weight's path (`fc1_kernel_momentum`), which is not unique when two networks have equal
layer names (actor and critic both have fc1), so the position is part of the key and the name must match too.

Format history (replicate_suite.rl.checkpoint.FORMAT_VERSION): checkpoint format 2 saved the same variables numbered by
position (`actor_0`, `optimizer_3`, ...); `from_numbered` migrates those, since the code that builds the networks
fixes their order (a count or shape that does not fit is refused like any other mismatch).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from replicate_suite.errors import ReplicateError

OPTIMIZER = "optimizer"


def variable_keys(group: str, variables: Sequence) -> list[str]:
    """The checkpoint key of each variable of a group, in order (see the module docstring)."""
    if group == OPTIMIZER:  # the optimizer's own name ("adam_3") depends on how many were built before: dropped
        return [f"{group}/{i:04d}/{v.path.split('/', 1)[-1]}" for i, v in enumerate(variables)]
    keys = [f"{group}/{v.path}" for v in variables]
    if len(set(keys)) != len(keys):
        raise ValueError(f"variable paths in group {group!r} are not unique: {keys}")
    return keys


def named_arrays(groups: dict[str, Sequence]) -> dict[str, np.ndarray]:
    """{key: value} of every variable of every group (groups: name -> variables, e.g. {"actor": actor.weights})."""
    arrays = {}
    for group, variables in groups.items():
        for key, variable in zip(variable_keys(group, variables), variables, strict=True):
            arrays[key] = np.asarray(variable)
    return arrays


def restore_named(groups: dict[str, Sequence], arrays: dict[str, np.ndarray]) -> None:
    """Assign each variable the array saved under its key. Every key of a group must be there with the variable's
    shape, and no other key under the group's prefix; otherwise ReplicateError naming the first mismatch (nothing is
    assigned then)."""
    plan = []
    for group, variables in groups.items():
        keys = variable_keys(group, variables)
        extra = sorted(k for k in arrays if k.startswith(f"{group}/") and k not in set(keys))
        if extra:
            raise ReplicateError(f"checkpoint holds {extra[0]}, which this agent does not have (another network?)")
        for key, variable in zip(keys, variables, strict=True):
            if key not in arrays:
                raise ReplicateError(f"checkpoint lacks {key}, which this agent has (another network?)")
            value = arrays[key]
            if tuple(value.shape) != tuple(variable.shape):
                raise ReplicateError(f"checkpoint's {key} has shape {tuple(value.shape)}, the agent's {variable.shape}")
            plan.append((variable, value))
    for variable, value in plan:
        variable.assign(value)


def from_numbered(groups: dict[str, Sequence], arrays: dict[str, np.ndarray], optional: Sequence[str] = ()) -> dict:
    """Format 2 -> 3: arrays saved as `<group>_<i>` (position i in the group) renamed to their keys; other entries
    (e.g. `updates`) are kept. A group in `optional` may be absent (it is then left out); a count that differs from
    the group's is a ReplicateError."""
    out = {k: v for k, v in arrays.items() if not any(_numbered(k, group) for group in groups)}
    for group, variables in groups.items():
        count = sum(1 for k in arrays if _numbered(k, group))
        if count == 0 and group in optional:
            continue
        if count != len(variables):
            raise ReplicateError(f"format-2 checkpoint has {count} {group} arrays, this agent {len(variables)}")
        for i, key in enumerate(variable_keys(group, variables)):
            out[key] = arrays[f"{group}_{i}"]
    return out


def _numbered(key: str, group: str) -> bool:
    head, _, index = key.rpartition("_")
    return head == group and index.isdigit()
