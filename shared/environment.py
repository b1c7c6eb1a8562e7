"""What a run ran on: git commit, package versions, backend and device."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata

import keras

from replicate_suite.paths import PROJECT_ROOT

# Paths a pipeline run rewrites itself; changes there do not make the code that produced a result "dirty".
_GENERATED = (":!results", ":!reports", ":!dvc.lock", ":!README.md")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_state() -> dict[str, object]:
    """The commit checked out, whether tracked source files differ from it and, if they do, which (`dirty_files`,
    paths relative to the project root: the report names them beside a verdict that counts such a run)."""
    commit = _git("rev-parse", "HEAD")
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", ".", *_GENERATED)
    state: dict[str, object] = {"commit": commit or "unknown", "dirty": bool(dirty) if dirty is not None else None}
    if dirty:
        changed = _git("diff", "--name-only", "HEAD", "--", ".", *_GENERATED)
        state["dirty_files"] = sorted(changed.splitlines()) if changed else []
    return state


def package_versions() -> dict[str, str]:
    """Versions of the packages that decide numerical results."""
    versions = {"python": platform.python_version()}
    for name in ("numpy", "keras", "tensorflow", "jax", "jaxlib", "torch", "gymnasium", "ale-py", "mujoco"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


CPU_FEATURES = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")
"""The vector extensions that change speed and rounding: which kernels a library's code takes (one binary takes
other kernels on an AVX2 and an AVX-512 CPU), and whether TensorFlow uses oneDNN at all (`tensorflow_kernels`), so a
same-seed result is identical on one machine, not across them."""


def tensorflow_kernels() -> str | None:
    """Where this process's TensorFlow CPU kernels for matrix products and convolutions come from: "onednn"
    (oneDNN's custom ops, put in by TensorFlow's graph rewrite) or "eigen" (TensorFlow's own Eigen kernels); None on
    another Keras backend or where TensorFlow does not say.

    TensorFlow's x86 Linux builds turn oneDNN on by default only on CPUs with the neural-network extensions
    (AVX512_VNNI, AVX512_BF16, AMX: Intel Cascade Lake and later, AMD Zen 4) and keep Eigen elsewhere, e.g. on an
    AVX2-only AMD EPYC (Zen 3); the environment variable TF_ENABLE_ONEDNN_OPTS=1 or 0, set before TensorFlow is
    imported, overrides that (TensorFlow RFC 400, "Enabling oneDNN operations for x86 CPUs"; the 2.9 release
    notes). The two libraries sum in other orders, so a seed's numbers differ between them; their speeds differ
    by network (on the AVX2 EPYC of 2026-12-05: the Nature-CNN DQN update 26 ms with oneDNN against 34 ms with Eigen,
    DDPG's 400-300 update 2.35 against 2.04 ms). Read once per process (TensorFlow caches it at import)."""
    if keras.backend.backend() != "tensorflow":
        return None
    try:
        from tensorflow.python.util import _pywrap_util_port  # no public API says it
    except ImportError:
        return None
    enabled = getattr(_pywrap_util_port, "IsMklEnabled", None)
    return None if enabled is None else ("onednn" if enabled() else "eigen")


def cpu_features() -> list[str]:
    """Which of CPU_FEATURES the CPU reports (Linux /proc/cpuinfo flags); [] where they cannot be read."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [name for name in CPU_FEATURES if name in flags]
    except OSError:
        pass
    return []


def device_description() -> str:
    """The accelerator the backend computes on, or the CPU model (cores, widest vector extensions) when there is
    none, e.g. "cpu: AMD EPYC (2 cores, avx512f avx512_bf16)"."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        devices = jax.devices()
        if devices and devices[0].platform != "cpu":
            return f"{len(devices)}x {devices[0].device_kind}"
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return f"{len(gpus)}x {details.get('device_name', 'GPU')}"
    found = cpu_features()
    features = [name for name in found if name != "avx2" or "avx512f" not in found]  # the widest of the two
    return f"cpu: {_cpu_name()} ({os.cpu_count()} cores" + (f", {' '.join(features)})" if features else ")")


def environment() -> dict[str, object]:
    """Everything run_meta records about the machine and code."""
    return {
        "git": git_state(),
        "versions": package_versions(),
        "backend": keras.backend.backend(),
        "device": device_description(),
        "cpu_features": cpu_features(),
        "tensorflow_kernels": tensorflow_kernels(),
        "platform": platform.platform(),
    }
