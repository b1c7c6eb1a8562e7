"""MNIST and CIFAR-10 through tensorflow-datasets (REPLICATE_DATA_SOURCE=tfds): the same bytes as the suite's
loaders, fed offline into a temporary TFDS data dir, and one `error:` line for each way it can fail.

MNIST is the real dataset: the mirror's four IDX files, which TFDS's registered checksums accept. CIFAR-10 is
synthetic: the mirror holds no cifar-10-binary.tar.gz (the archive TFDS builds from), so a tiny archive in TFDS's
layout is written from the suite's tiny python-archive fixture, and a test-only builder registers its checksum in
place of the official one (the product path never changes TFDS's checksums).
"""

from __future__ import annotations

import gzip
import io
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from replicate_suite.cli import main
from replicate_suite.data import cifar10, mnist, tfds_source
from replicate_suite.data.files import sha256_of
from replicate_suite.paths import mirror_dirs

try:
    import tensorflow_datasets as tfds
except ImportError as exc:  # noqa: F841 - the reason is shown in the skip
    tfds = None
    TFDS_MISSING = f"tensorflow-datasets is not importable ({exc}); pip install -e '.[tfds]'"
else:
    TFDS_MISSING = ""

needs_tfds = pytest.mark.skipif(tfds is None, reason=TFDS_MISSING)
MNIST_FILES = tuple(mnist.MNIST.sha256)


def error_line(capsys) -> str:
    """The one line the command printed on stderr (the test fails if there are more)."""
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


# --- selection and errors that need no tensorflow-datasets --------------------------------------------------------


def test_unknown_source_is_one_error_line(capsys, monkeypatch, tiny_mnist):
    monkeypatch.setenv("REPLICATE_DATA_SOURCE", "hub")
    assert main(["verify-data", "mnist"]) == 1
    assert "REPLICATE_DATA_SOURCE='hub': expected one of files, tfds" in error_line(capsys)


def test_default_source_is_the_files(monkeypatch, tiny_mnist):
    monkeypatch.delenv("REPLICATE_DATA_SOURCE", raising=False)
    assert mnist.load_mnist().variant == "synthetic test fixture"
    monkeypatch.setenv("REPLICATE_DATA_SOURCE", "files")
    assert mnist.load_mnist().variant == "synthetic test fixture"


def test_tfds_not_installed_is_one_error_line(capsys, monkeypatch, tiny_mnist):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # import now raises ImportError
    monkeypatch.setenv("REPLICATE_DATA_SOURCE", "tfds")
    assert main(["verify-data", "mnist"]) == 1
    line = error_line(capsys)
    assert "REPLICATE_DATA_SOURCE=tfds needs tensorflow-datasets" in line and "'.[tfds]'" in line


def test_jpeg75_is_not_a_tfds_variant(monkeypatch):
    monkeypatch.setenv("REPLICATE_DATA_SOURCE", "tfds")
    with pytest.raises(Exception, match="variant 'jpeg75' exists only as the suite's mirror file"):
        cifar10.load_cifar10("jpeg75")


# --- offline failures through TFDS ---------------------------------------------------------------------------------


@needs_tfds
def test_missing_offline_is_one_error_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("REPLICATE_DATA_SOURCE", "tfds")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setenv("REPLICATE_DATA_MIRROR", str(tmp_path / "empty-mirror"))
    monkeypatch.setenv("REPLICATE_OFFLINE", "1")
    assert main(["verify-data", "mnist"]) == 1
    line = error_line(capsys)
    assert "tensorflow-datasets mnist:3.0.1 is not prepared in" in line and "downloads are off" in line, line


@needs_tfds
def test_wrong_mirror_file_fails_tfds_registered_checksum(capsys, monkeypatch, tmp_path):
    """A mirror folder with MNIST's file names but other bytes: TFDS's registered checksum refuses it."""
    folder = tmp_path / "mirror" / "mnist"
    folder.mkdir(parents=True)
    for name in MNIST_FILES:
        with gzip.open(folder / name, "wb") as handle:
            handle.write(b"not mnist")
    monkeypatch.setenv("REPLICATE_DATA_SOURCE", "tfds")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setenv("REPLICATE_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("REPLICATE_OFFLINE", "1")
    assert main(["verify-data", "mnist"]) == 1
    line = error_line(capsys)
    assert line.startswith("error: checksum mismatch for mnist (mnist:3.0.1)") and "wrong checksum" in line, line
    assert not (tmp_path / "tfds" / "mnist" / "3.0.1").exists()


# --- MNIST: the real files, through TFDS, byte for byte -------------------------------------------------------------


def _official_mnist_mirror() -> Path | None:
    """A mirror folder holding the four official MNIST files (checked against the suite's pinned sums), or None."""
    for mirror in mirror_dirs():
        for folder in (mirror / "mnist", mirror):
            if all((folder / name).is_file() for name in MNIST_FILES) and all(
                sha256_of(folder / name) == digest for name, digest in mnist.MNIST.sha256.items()
            ):
                return folder
    return None


@pytest.fixture(scope="module")
def mnist_both(tmp_path_factory):
    """(TFDS arrays, the suite's IDX arrays, TFDS arrays read again, the stored TFDS train labels, data dir): TFDS
    prepared offline from the mirror into a fresh data dir (the slow part: about 70k PNG encodes, once per module)."""
    if tfds is None:
        pytest.skip(TFDS_MISSING)
    folder = _official_mnist_mirror()
    if folder is None:
        pytest.skip("the official MNIST files are in no offline mirror (REPLICATE_DATA_MIRROR or ../shared/data)")
    root = tmp_path_factory.mktemp("tfds_mnist")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REPLICATE_DATA_MIRROR", str(folder))
        patch.setenv("REPLICATE_DATA_DIR", str(root / "cache"))
        patch.setenv("REPLICATE_OFFLINE", "1")
        patch.setenv("TFDS_DATA_DIR", str(root / "tfds"))
        patch.setenv("REPLICATE_DATA_SOURCE", "tfds")
        via_tfds = mnist.load_mnist()
        again = mnist.load_mnist()  # now from TFDS's prepared copy
        builder = tfds.builder("mnist", data_dir=str(root / "tfds"))
        stored_labels = tfds.as_numpy(builder.as_dataset(split="train", batch_size=-1, shuffle_files=False))["label"]
        patch.setenv("REPLICATE_DATA_SOURCE", "files")
        via_files = mnist.load_mnist()
    return via_tfds, via_files, again, stored_labels, root / "tfds"


@needs_tfds
@pytest.mark.parametrize("field", ["x_train", "y_train", "x_test", "y_test"])
def test_mnist_via_tfds_equals_the_idx_loader(mnist_both, field):
    via_tfds, via_files = mnist_both[0], mnist_both[1]
    ours, theirs = getattr(via_tfds, field), getattr(via_files, field)
    assert ours.dtype == theirs.dtype == np.uint8 and ours.shape == theirs.shape
    assert ours.tobytes() == theirs.tobytes()


@needs_tfds
def test_mnist_tfds_stores_another_order_which_is_restored(mnist_both):
    """TFDS keeps MNIST sorted by its key hash, not in IDX order: the restored order is the loader's doing."""
    via_files, stored_labels = mnist_both[1], mnist_both[3]
    assert sorted(stored_labels.tolist()) == sorted(via_files.y_train.tolist())
    assert not np.array_equal(stored_labels, via_files.y_train)
    order = tfds_source.hash_order("train", len(stored_labels))
    assert np.array_equal(stored_labels, via_files.y_train[order])


@needs_tfds
def test_mnist_tfds_records_its_source(mnist_both):
    via_tfds, via_files, again, _, data_dir = mnist_both
    assert via_tfds.variant == (
        "official MNIST via tensorflow-datasets mnist:3.0.1 (TFDS registered checksums; IDX order restored)"
    )
    assert via_files.variant == mnist.MNIST.variant
    (key,) = via_tfds.sources
    assert key == "tfds:mnist:3.0.1"
    assert via_tfds.sources[key].startswith("mirror:") and str(data_dir) in via_tfds.sources[key]
    assert again.sources[key] == f"tfds-cache:{data_dir / 'mnist' / '3.0.1'}"
    assert again.y_test.tobytes() == via_files.y_test.tobytes()


@needs_tfds
def test_verify_data_via_tfds(capsys, monkeypatch, mnist_both):
    monkeypatch.setenv("REPLICATE_DATA_SOURCE", "tfds")
    monkeypatch.setenv("TFDS_DATA_DIR", str(mnist_both[4]))
    monkeypatch.setenv("REPLICATE_DATA_MIRROR", "")
    monkeypatch.setenv("REPLICATE_OFFLINE", "1")
    assert main(["verify-data", "mnist"]) == 0
    out = capsys.readouterr().out
    assert "ok  mnist  tfds:mnist:3.0.1: 60000 training, 10000 test images  (tfds-cache:" in out
    assert "variant: official MNIST via tensorflow-datasets mnist:3.0.1" in out


# --- CIFAR-10: a synthetic binary archive in TFDS's layout ----------------------------------------------------------

CIFAR_BINARY_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"

if tfds is not None:
    from tensorflow_datasets.core.download import checksums
    from tensorflow_datasets.core.utils import classproperty
    from tensorflow_datasets.image_classification.cifar import Cifar10

    class ReplicateSyntheticCifar10(Cifar10):
        """TFDS's CIFAR-10 builder, test only: the synthetic archive's checksum is registered for the official URL
        in place of the official archive's; everything else (download manager, checksum check, generator) is
        TFDS's own."""

        archive: Path | None = None

        @classproperty
        @classmethod
        def url_infos(cls):
            size = cls.archive.stat().st_size
            info = checksums.UrlInfo(size=size, checksum=sha256_of(cls.archive), filename="cifar-10-binary.tar.gz")
            return {CIFAR_BINARY_URL: info}


def write_cifar_binary_archive(path: Path, data: cifar10.Cifar10Data, train_batches: int = 5) -> None:
    """cifar-10-binary.tar.gz as Krizhevsky ships it: cifar-10-batches-bin/data_batch_{1..5}.bin and test_batch.bin,
    records of 1 label byte + 3072 channel-planar pixel bytes, and batches.meta.txt with the class names."""

    def records(x: np.ndarray, y: np.ndarray) -> bytes:
        planar = x.transpose(0, 3, 1, 2).reshape(len(x), 3072)
        return np.concatenate([y.astype(np.uint8)[:, None], planar], axis=1).tobytes()

    members = {
        f"data_batch_{i + 1}.bin": records(x, y)
        for i, (x, y) in enumerate(
            zip(np.array_split(data.x_train, train_batches), np.array_split(data.y_train, train_batches), strict=True)
        )
    }
    members["test_batch.bin"] = records(data.x_test, data.y_test)
    members["batches.meta.txt"] = "\n".join(cifar10.CLASS_NAMES).encode() + b"\n"
    with tarfile.open(path, "w:gz") as archive:
        for name, payload in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))


def use_synthetic_builder(monkeypatch, registered: Path, mirror: Path, data_dir: Path) -> None:
    """Read CIFAR-10 through the test builder (registered sum: that of `registered`), fed from `mirror`."""
    monkeypatch.setattr(ReplicateSyntheticCifar10, "archive", registered)
    spec = tfds_source.TfdsSpec("cifar10", "replicate_synthetic_cifar10", "cifar10")
    monkeypatch.setattr(tfds_source, "CIFAR10", spec)
    monkeypatch.setenv("REPLICATE_DATA_MIRROR", str(mirror))
    monkeypatch.setenv("TFDS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("REPLICATE_DATA_SOURCE", "tfds")


@needs_tfds
def test_cifar10_via_tfds_equals_the_files_loader(capsys, monkeypatch, tmp_path, tiny_cifar):
    """The tiny python archive (400 train, 100 test) read by the suite's loader, then the same images as a binary
    archive read through TFDS (prepared offline from the mirror): equal byte for byte, in the same order."""
    via_files = cifar10.load_cifar10("official")
    mirror = tmp_path / "binary-mirror"
    (mirror / "cifar10").mkdir(parents=True)
    archive = mirror / "cifar10" / "cifar-10-binary.tar.gz"
    write_cifar_binary_archive(archive, via_files)
    use_synthetic_builder(monkeypatch, registered=archive, mirror=mirror, data_dir=tmp_path / "tfds")

    via_tfds = cifar10.load_cifar10("auto")

    for field in ("x_train", "y_train", "x_test", "y_test"):
        ours, theirs = getattr(via_tfds, field), getattr(via_files, field)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, field
        assert ours.tobytes() == theirs.tobytes(), field
    assert via_tfds.variant.startswith("official CIFAR-10 binary archive via tensorflow-datasets")
    assert via_tfds.sources == {
        "tfds:replicate_synthetic_cifar10:3.0.2": f"mirror:{mirror / 'cifar10'} -> tfds:"
        f"{tmp_path / 'tfds' / 'replicate_synthetic_cifar10' / '3.0.2'}"
    }
    # The CIFAR path restores order from each example's id; TFDS stored them hashed, not in order.
    builder = tfds.builder("replicate_synthetic_cifar10", data_dir=str(tmp_path / "tfds"))
    stored = tfds.as_numpy(builder.as_dataset(split="train", batch_size=-1, shuffle_files=False))
    assert [bytes(i).decode() for i in stored["id"]] != [f"train_{i:05d}" for i in range(400)]


@needs_tfds
def test_cifar10_tfds_checksum_still_checked(capsys, monkeypatch, tmp_path, tiny_cifar):
    """The test builder registers the synthetic archive's sum; a different archive under that name is refused."""
    via_files = cifar10.load_cifar10("official")
    registered = tmp_path / "registered.tar.gz"
    write_cifar_binary_archive(registered, via_files)
    mirror = tmp_path / "binary-mirror"
    (mirror / "cifar10").mkdir(parents=True)
    write_cifar_binary_archive(mirror / "cifar10" / "cifar-10-binary.tar.gz", via_files, train_batches=4)
    use_synthetic_builder(monkeypatch, registered=registered, mirror=mirror, data_dir=tmp_path / "tfds")
    with pytest.raises(Exception, match=r"^checksum mismatch for cifar10 \(replicate_synthetic_cifar10:3.0.2\)"):
        cifar10.load_cifar10("auto")
