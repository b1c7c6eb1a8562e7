"""TensorBoard event files for watching a long RL run (`tensorboard --logdir results/.tensorboard`).

Optional and off the hot path: the training loop only appends (tag, step, value) to a list in memory; the points
are written (tensorboardX's standalone writer, no TensorFlow needed) and flushed to disk at evaluations, checkpoints
and the end. Without tensorboardX (`pip install -e ".[tensorboard]"`) nothing is written and the loop says so once.
curves.csv stays the source of truth for reports: these files are for watching, never read by the suite, and a
run's metrics and curves are the same with or without them (they read values, never draw random numbers).

A fresh run clears its folder; a resumed run appends a new event file beside the old ones (TensorBoard shows the
steps between the last checkpoint and the kill twice: once from the killed process, once from the resumed one).
"""

from __future__ import annotations

import functools
import shutil
import sys
import time
from pathlib import Path
from typing import Any


@functools.cache
def summary_writer_class() -> Any:
    """tensorboardX's SummaryWriter, or None when it is not installed (one info line on stderr, once a process)."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError:
        print(
            'info: tensorboardX is not installed: no TensorBoard logs (pip install -e ".[tensorboard]")',
            file=sys.stderr,
        )
        return None
    return SummaryWriter


class TrainingLog:
    """Scalars of one training loop, buffered in memory and written to `folder` at flush()."""

    def __init__(self, folder: Path | None, fresh: bool, step: int = 0):
        """folder None: a log that records nothing. fresh: the run starts from step 0, so an earlier run's events
        in the folder are removed first. step: the agent step training (re)starts from (for steps/s)."""
        self.pending: list[tuple[str, int, float]] = []
        self.writer = None
        self.loss_sum, self.losses = 0.0, 0  # the updates' losses since the last episode's end
        self.since_step, self.since_time = step, time.perf_counter()  # where steps/s is counted from
        writer_class = summary_writer_class() if folder is not None else None
        if writer_class is None:
            return
        if fresh:
            shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
        self.writer = writer_class(str(folder), flush_secs=3600)  # flushed by flush(), not by its own timer

    @property
    def active(self) -> bool:
        """Whether points are kept (a writer exists)."""
        return self.writer is not None

    def scalar(self, tag: str, step: int, value: float) -> None:
        """Keep one point (no I/O)."""
        if self.writer is not None:
            self.pending.append((tag, int(step), float(value)))

    def update(self, loss: float) -> None:
        """One update's loss, for the mean loss logged at the episode's end."""
        if self.writer is not None:
            self.loss_sum += loss
            self.losses += 1

    def episode_end(self, step: int, episode_return: float, episode_steps: int) -> None:
        """A training episode's return and length, and its updates' mean loss."""
        if self.writer is None:
            return
        self.scalar("train/episode_return", step, episode_return)
        self.scalar("train/episode_length", step, episode_steps)
        if self.losses:
            self.scalar("train/loss", step, self.loss_sum / self.losses)
            self.loss_sum, self.losses = 0.0, 0

    def evaluation(self, step: int, values: dict[str, float], started: float) -> None:
        """An evaluation's curve values (`<metric>/<label>` -> `curves/<metric>`) and the training steps per second
        since the previous evaluation (or the start), the evaluation that began at perf_counter() `started` and the
        earlier ones left out; then flush."""
        if self.writer is None:
            return
        for name, value in values.items():
            self.scalar(f"curves/{name.rsplit('/', 1)[0]}", step, value)
        seconds = max(started - self.since_time, 1e-9)
        self.scalar("train/steps_per_second", step, (step - self.since_step) / seconds)
        self.since_step, self.since_time = step, time.perf_counter()
        self.flush()

    def flush(self) -> None:
        """Write the kept points and flush the event file to disk."""
        if self.writer is None:
            return
        for tag, step, value in self.pending:
            self.writer.add_scalar(tag, value, step)
        self.pending.clear()
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        if self.writer is not None:
            self.flush()
            self.writer.close()
            self.writer = None
