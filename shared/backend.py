"""Importing the Keras backend without TensorFlow's start-up chatter on stderr."""

from __future__ import annotations

import contextlib
import os
import sys


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


def import_backend_quietly() -> None:
    """Import keras (and so its backend) with TensorFlow's C++ start-up logging discarded.

    TensorFlow writes INFO lines before its log level applies, so TF_CPP_MIN_LOG_LEVEL cannot stop them. Without
    an NVIDIA device its GPU wheel also logs a failed cuInit at first use, so CUDA is hidden then.
    Python exceptions still surface normally.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not os.path.exists("/dev/nvidiactl"):
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    with _stderr_silenced():
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.list_physical_devices()  # the device scan is where the remaining start-up lines come from
