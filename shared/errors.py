"""The one exception type for bad input; the CLI prints its message as a single line and exits 1."""


class ReplicateError(Exception):
    """A user-facing error: unknown id, bad config, missing or corrupt data. The message names the bad value."""
