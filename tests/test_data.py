"""The MNIST loader: checksums pinned, cache before mirror before download, mirror never written, clear errors."""

from __future__ import annotations

import gzip
import re
import stat

import numpy as np
import pytest
from conftest import write_idx

from replicate_suite.data import mnist
from replicate_suite.data.files import fetch_file
from replicate_suite.errors import ReplicateError
from replicate_suite.paths import mirror_dirs


def test_loads_from_mirror_then_from_cache(tiny_mnist, tmp_path):
    first = mnist.load_mnist()
    assert first.x_train.shape == (256, 28, 28) and first.x_train.dtype == np.uint8
    assert first.y_test.shape == (128,)
    assert set(first.sources.values()) == {f"mirror:{tmp_path / 'mirror' / 'mnist' / n}" for n in first.sources}
    second = mnist.load_mnist()
    assert set(second.sources.values()) == {"cache"}
    np.testing.assert_array_equal(first.x_train, second.x_train)
    assert first.variant == "synthetic test fixture"


def test_read_only_mirror_is_never_written(tiny_mnist, tmp_path):
    mirror = tmp_path / "mirror" / "mnist"
    before = {p.name: p.read_bytes() for p in mirror.iterdir()}
    for path in mirror.iterdir():
        path.chmod(stat.S_IRUSR)
    mirror.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        mnist.load_mnist()
    finally:
        mirror.chmod(stat.S_IRWXU)
    assert {p.name: p.read_bytes() for p in mirror.iterdir()} == before
    assert sorted(p.name for p in (tmp_path / "cache" / "mnist").iterdir()) == sorted(before)


def test_corrupt_mirror_file_is_named(tiny_mnist, tmp_path):
    bad = tmp_path / "mirror" / "mnist" / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(bad.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad.write_bytes(bytes(raw))
    with pytest.raises(ReplicateError, match=r"checksum mismatch for .*t10k-labels-idx1-ubyte.gz: expected sha256"):
        mnist.load_mnist()
    assert not (tmp_path / "cache" / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()


def test_corrupt_cache_file_is_an_error_not_a_silent_refetch(tiny_mnist, tmp_path):
    mnist.load_mnist()
    cached = tmp_path / "cache" / "mnist" / "train-labels-idx1-ubyte.gz"
    cached.write_bytes(b"garbage")
    with pytest.raises(ReplicateError, match="checksum mismatch for .*cache/mnist/train-labels"):
        mnist.load_mnist()


def test_missing_data_without_mirror_or_network(no_data):
    with pytest.raises(ReplicateError, match="mnist file .* nor in a mirror .*MIRROR is empty.*downloads are off"):
        mnist.load_mnist()


def test_missing_data_names_the_default_mirror_beside_the_checkout(no_data, monkeypatch, tmp_path):
    """Without REPLICATE_DATA_MIRROR the message names <checkout>/../shared/data, the mirror's default place, and says
    it is not the checkout's shared/ package folder."""
    from replicate_suite import paths

    monkeypatch.delenv("REPLICATE_DATA_MIRROR")
    monkeypatch.setattr(paths, "PROJECT_ROOT", tmp_path / "checkout")
    expected = str(tmp_path / "shared" / "data")
    with pytest.raises(ReplicateError, match="provide " + re.escape(expected) + r" \(the default mirror, beside"):
        mnist.load_mnist()


def test_failed_download_is_one_error_naming_the_urls(no_data, monkeypatch, tmp_path):
    monkeypatch.delenv("REPLICATE_OFFLINE")
    spec = mnist.MNIST.__class__(**{**mnist.MNIST.__dict__, "urls": ("http://127.0.0.1:9/",)})
    with pytest.raises(ReplicateError, match=r"download failed \(http://127.0.0.1:9/train-images"):
        fetch_file(spec, "train-images-idx3-ubyte.gz")
    assert not any((tmp_path / "empty-cache").rglob("*.gz"))
    assert not (tmp_path / "empty-cache" / "mnist").exists()  # no empty cache folder left behind either


def test_pinned_checksums_are_the_official_ones():
    # The published SHA-256 of the official files (see ../shared/data/README.md); a typo here would reject them.
    assert mnist.MNIST.sha256["train-images-idx3-ubyte.gz"].startswith("440fcabf73cc546f")
    assert mnist.MNIST.sha256["t10k-labels-idx1-ubyte.gz"].startswith("f7ae60f92e00ec6d")
    assert len(mnist.MNIST.sha256) == 4 and all(len(v) == 64 for v in mnist.MNIST.sha256.values())


def test_idx_header_is_checked(tmp_path):
    path = tmp_path / "bad.gz"
    with gzip.open(path, "wb") as handle:
        handle.write((1234).to_bytes(4, "big") + bytes(8))
    with pytest.raises(ReplicateError, match="not an IDX uint8 file"):
        mnist.read_idx(path)
    write_idx(path, np.zeros((3, 28, 28)))
    with gzip.open(path, "rb") as handle:
        truncated = handle.read()[:-5]
    with gzip.open(path, "wb") as handle:
        handle.write(truncated)
    with pytest.raises(ReplicateError, match="header says"):
        mnist.read_idx(path)


@pytest.mark.skipif(
    not any((m / "mnist").is_dir() for m in mirror_dirs()), reason="no offline copy of the real MNIST files here"
)
def test_real_mnist_statistics(monkeypatch, tmp_path):
    """The real files (from the mirror) parse to the published label counts and pixel statistics."""
    monkeypatch.setenv("REPLICATE_DATA_DIR", str(tmp_path / "cache"))
    data = mnist.load_mnist()
    assert data.x_train.shape == (60000, 28, 28) and data.x_test.shape == (10000, 28, 28)
    assert np.bincount(data.y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert data.x_train.mean() == pytest.approx(33.3184, abs=1e-4)
