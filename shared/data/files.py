"""Checksum-verified dataset files: local cache first, then an offline mirror, then the normal download."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from replicate_suite.errors import ReplicateError
from replicate_suite.paths import data_dir, mirror_dirs, mirrors_searched

DOWNLOAD_TIMEOUT_S = 60
SOURCE_ENV = "REPLICATE_DATA_SOURCE"
SOURCES = ("files", "tfds")


class DataUnavailable(ReplicateError):
    """A dataset file is not cached, not in a mirror, and could not be downloaded (as opposed to a corrupt file)."""


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset as a set of files with pinned SHA-256 sums and the base URLs that serve them."""

    name: str
    variant: str  # what exactly these files are; recorded in every run's run_meta.json
    folder: str  # sub-folder of the cache (and of a mirror)
    sha256: dict[str, str]
    urls: tuple[str, ...] = ()


def data_source() -> str:
    """Where MNIST and CIFAR-10 are read from, by REPLICATE_DATA_SOURCE: `files` (default; the pinned files of this
    module) or `tfds` (tensorflow-datasets, shared/data/tfds_source.py). Errors: ReplicateError on any other value."""
    source = os.environ.get(SOURCE_ENV, "") or "files"
    if source not in SOURCES:
        raise ReplicateError(f"{SOURCE_ENV}={source!r}: expected one of {', '.join(SOURCES)}")
    return source


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check(path: Path, expected: str, remedy: str = "delete it to fetch it again") -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise ReplicateError(f"checksum mismatch for {path}: expected sha256 {expected}, got {actual} ({remedy})")


def _copy_into(source: Path, target: Path, expected: str) -> None:
    """Copy to a temporary name beside target, verify, then rename, so the cache never holds a partial file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        shutil.copyfile(source, tmp)
        _check(tmp, expected)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _download(url: str, target: Path, expected: str) -> None:
    made = [folder for folder in (target.parent, *target.parent.parents) if not folder.exists()]
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "replicate-suite"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response:
            shutil.copyfileobj(response, out)
        _check(tmp, expected)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
        for folder in made:  # a failed download leaves no empty cache folder behind (innermost first)
            with contextlib.suppress(OSError):
                folder.rmdir()


def _local_copy(spec: DatasetSpec, name: str) -> tuple[Path, str] | None:
    """The verified cached file, or a verified copy of a mirror's file into the cache; None if neither exists."""
    expected = spec.sha256[name]
    cached = data_dir() / spec.folder / name
    if cached.exists():
        _check(cached, expected)
        return cached, "cache"
    for mirror in mirror_dirs():
        for candidate in (mirror / spec.folder / name, mirror / name):
            if candidate.is_file():
                _check(candidate, expected, remedy="the mirror holds a different file; fix or unset the mirror")
                _copy_into(candidate, cached, expected)
                return cached, f"mirror:{candidate}"
    return None


def fetch_file(spec: DatasetSpec, name: str) -> tuple[Path, str]:
    """Return (verified path in the cache, where it came from): cache, mirror:<path> or download:<url>."""
    found = _local_copy(spec, name)
    if found is not None:
        return found
    expected = spec.sha256[name]
    cached = data_dir() / spec.folder / name
    where = f"not in {cached.parent} nor in a mirror ({mirrors_searched()})"
    if os.environ.get("REPLICATE_OFFLINE") == "1" or not spec.urls:
        why = "downloads are off (REPLICATE_OFFLINE=1)" if spec.urls else "it has no download address"
        raise DataUnavailable(f"{spec.name} file {name} {where}, and {why}")
    failures = []
    for base in spec.urls:
        url = base.rstrip("/") + "/" + name
        try:
            _download(url, cached, expected)
            return cached, f"download:{url}"
        except ReplicateError:
            raise
        except Exception as exc:  # noqa: BLE001 - any network failure means: try the next URL
            failures.append(f"{url}: {exc}")
    raise DataUnavailable(f"{spec.name} file {name} {where}, and the download failed ({'; '.join(failures)})")


def fetch_dataset(spec: DatasetSpec) -> tuple[dict[str, Path], dict[str, str]]:
    """Fetch and verify every file of a dataset; returns paths and per-file sources."""
    paths, sources = {}, {}
    for name in spec.sha256:
        paths[name], sources[name] = fetch_file(spec, name)
    return paths, sources


def fetch_preferred(alternatives: tuple[DatasetSpec, ...]) -> tuple[DatasetSpec, dict[str, Path], dict[str, str]]:
    """The first alternative, in order of preference, that can be had (cache, mirror or download). Returns the
    spec used, its paths and per-file sources; every file is checksum-verified.

    This is how a lossless original is preferred over a documented substitute (e.g. CIFAR-10's JPEG rebuild): the
    substitute is used only when the original is neither local nor downloadable, and the spec's variant (recorded
    in every run's run_meta) says so. A file that exists but fails its checksum is an error, never a fallback.
    """
    failures = []
    for spec in alternatives:
        try:
            paths, sources = fetch_dataset(spec)
            return spec, paths, sources
        except DataUnavailable as exc:
            failures.append(str(exc))
    raise DataUnavailable("; ".join(failures))
