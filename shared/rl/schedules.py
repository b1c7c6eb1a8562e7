"""Exploration schedules, as pure functions of the agent step."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LinearSchedule:
    """start at step 0, linearly to end at step `duration`, then end (Mnih 2013: 1.0 -> 0.1 over 1M frames)."""

    start: float
    end: float
    duration: int

    def __call__(self, step: int) -> float:
        if self.duration <= 0 or step >= self.duration:
            return self.end
        return self.start + (self.end - self.start) * max(step, 0) / self.duration
