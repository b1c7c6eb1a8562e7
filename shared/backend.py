"""Importing the Keras backend without TensorFlow's start-up chatter on stderr."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

from replicate_suite.errors import ReplicateError


@contextlib.contextmanager
def _stderr_silenced():
    """Point file descriptor 2 at /dev/null (C++ libraries write there directly), then restore it."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextlib.contextmanager
def _interruptions_deferred():
    """Ctrl-C (SIGINT) and SIGTERM arriving inside the block take effect when it ends: each signal's own handler is
    put back and the signal raised again there. A second one inside the block takes effect at once.

    Keras's import loads the backend's C++ extensions; a KeyboardInterrupt raised inside one's initialisation aborts
    the process (SIGABRT, jaxlib's MLIR module under KERAS_BACKEND=jax), and one raised in a gc callback during the
    import is dropped (cli.interruptions_kept). The import takes seconds, so the signal waits that long at most.
    Outside the main thread (where signal handlers cannot be set) the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.getsignal(signum) for signum in signals}
    received: list[int] = []

    def restore() -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)

    def defer(signum: int, frame) -> None:
        if received:  # asked twice: stop now
            restore()
            signal.raise_signal(signum)
        received.append(signum)

    for signum, handler in previous.items():
        if handler not in (signal.SIG_IGN, None):  # an ignored signal stays ignored (a background job's SIGINT)
            signal.signal(signum, defer)
    try:
        yield
    finally:
        restore()
        if received:
            signal.raise_signal(received[0])


def import_backend_quietly() -> None:
    """Import keras (and so its backend) with TensorFlow's C++ start-up logging discarded.

    TensorFlow writes INFO lines before its log level applies, so TF_CPP_MIN_LOG_LEVEL cannot stop them. Without
    an NVIDIA device its GPU wheel also logs a failed cuInit at first use, so CUDA is hidden then.
    Python exceptions still surface normally.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not os.path.exists("/dev/nvidiactl"):
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    with _interruptions_deferred(), _stderr_silenced():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()  # the device scan is where the remaining start-up lines come from


INTRA_OP_ENV = "TF_NUM_INTRAOP_THREADS"


def use_intra_op_threads(threads: int | None) -> int | None:
    """Ask TensorFlow for `threads` intra-op threads (the pool across which one op's kernel is split) and return
    the count in effect: an int, or None for the framework's default (TensorFlow: one per core) and for backends
    without the setting (JAX: XLA's CPU threads are not changed here). threads=None asks for nothing.

    A user's TF_NUM_INTRAOP_THREADS environment variable wins over `threads` (TensorFlow reads it when its runtime
    starts). The count can only change before TensorFlow's runtime starts (its first op); afterwards the count in
    effect stays and is what this returns, so a caller records the truth either way. Raises ReplicateError for
    threads < 1.
    """
    if threads is not None and threads < 1:
        raise ReplicateError(f"intra-op threads must be >= 1, got {threads}")
    import keras

    if keras.backend.backend() != "tensorflow":
        return None
    text = os.environ.get(INTRA_OP_ENV, "").strip()
    if text:
        if not text.isdigit():
            raise ReplicateError(f"{INTRA_OP_ENV} must be a whole number >= 0, got {text!r}")
        return int(text) or None  # 0: TensorFlow's default
    import tensorflow as tf

    if threads is not None and tf.config.threading.get_intra_op_parallelism_threads() != threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        except RuntimeError:  # the runtime has started: the count in effect stays
            pass
    return tf.config.threading.get_intra_op_parallelism_threads() or None
