"""The one exception type for bad input; the CLI prints its message as a single line and exits 1."""


class ReplicateError(Exception):
    """A user-facing error: unknown id, bad config, missing or corrupt data. The message names the bad value."""


class Diverged(Exception):
    """Raised when a training loss or return becomes NaN or infinite; the runner records status `diverged`."""

    def __init__(self, step: int, metric: str = "loss"):
        super().__init__(f"{metric} became non-finite at step {step}")
        self.step = step
        self.metric = metric
