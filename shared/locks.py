"""An OS-level lock per run folder, so that two processes never work on the same (id, profile, seed) at once."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from replicate_suite.errors import ReplicateError


@contextlib.contextmanager
def exclusive(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive flock on `path` (created, removed on release), or fail at once with a ReplicateError when
    another process holds it. The OS drops the lock when its holder dies, even by SIGKILL: no stale lock survives."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ReplicateError(
                f"another process is running {what} (it holds {path}); wait for it to finish, or stop it first"
            ) from None
        try:  # the previous holder may have removed the file between our open and our lock: then lock the new one
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        with contextlib.suppress(OSError):  # the holder's pid, for a person looking; the flock is the lock
            os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)
