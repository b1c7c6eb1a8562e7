"""The exception types the CLI turns into one line: bad input (exit 1) and interruptions (exit 130 / 143)."""

from __future__ import annotations

import reprlib

_BRIEF = reprlib.Repr()
_BRIEF.maxlevel, _BRIEF.maxstring, _BRIEF.maxother = 3, 80, 80
_BRIEF.maxlist = _BRIEF.maxtuple = _BRIEF.maxdict = _BRIEF.maxset = 6


def brief(value: object) -> str:
    """A bounded repr for error messages: a value read from a file may be huge (a YAML alias bomb, a long list)."""
    return _BRIEF.repr(value)


class ReplicateError(Exception):
    """A user-facing error: unknown id, bad config, missing or corrupt data. The message names the bad value."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) or SIGTERM, raised as a KeyboardInterrupt so that every cleanup path runs as for Ctrl-C.

    `context` says what was interrupted and how to continue it; the CLI prints it on one line."""

    EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143}

    def __init__(self, signal_name: str = "SIGINT", context: str = ""):
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.context = context

    @property
    def exit_code(self) -> int:
        return self.EXIT_CODES.get(self.signal_name, 130)


class Diverged(Exception):
    """Raised when a training loss or return becomes NaN or infinite; the runner records status `diverged`."""

    def __init__(self, step: int, metric: str = "loss"):
        super().__init__(f"{metric} became non-finite at step {step}")
        self.step = step
        self.metric = metric
