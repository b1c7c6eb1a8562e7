"""ResNet replication: the CIFAR-10 loader, the 6n+2 builder against the paper's sizes, augmentation, smoke run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from replicate_suite.errors import ReplicateError
from replicate_suite.images import pad_crop_flip


@pytest.mark.parametrize(
    "depth, paper_millions, exact",
    # Exact trainable counts with option-A shortcuts; Table 6 rounds them to 0.27M, 0.46M, 0.66M, 0.85M, 1.7M.
    [(20, 0.27, 269_722), (32, 0.46, 464_154), (44, 0.66, 658_586), (56, 0.85, 853_018), (110, 1.7, 1_727_962)],
)
def test_resnet_parameter_counts_match_table_6(depth, paper_millions, exact):
    from replicate_suite.models.resnet import PAPER_PARAMS_M, build_cifar_resnet

    residual, plain = build_cifar_resnet(depth, "residual"), build_cifar_resnet(depth, "plain")
    trainable = sum(int(np.prod(w.shape)) for w in residual.trainable_weights)
    assert trainable == exact
    assert round(trainable / 1e6, 2 if depth < 100 else 1) == paper_millions == PAPER_PARAMS_M[depth]
    # option A shortcuts are parameter-free: plain and residual nets of one depth have the same weights
    assert sum(int(np.prod(w.shape)) for w in plain.trainable_weights) == trainable
    convs = [layer for layer in residual.layers if layer.__class__.__name__ == "Conv2D"]
    assert len(convs) + 1 == depth  # 6n+1 convolutions + the fc layer are the weighted layers


def test_resnet_builder_rejects_bad_depths_and_families():
    from replicate_suite.models.resnet import build_cifar_resnet

    with pytest.raises(ValueError, match="6n\\+2"):
        build_cifar_resnet(21)
    with pytest.raises(ValueError, match="family"):
        build_cifar_resnet(20, "dense")


def test_option_a_shortcut_subsamples_and_zero_pads():
    from replicate_suite.models.resnet import ZeroPadShortcut

    x = np.arange(2 * 4 * 4 * 3, dtype="float32").reshape(2, 4, 4, 3)
    y = np.asarray(ZeroPadShortcut(filters=6, stride=2)(x))
    assert y.shape == (2, 2, 2, 6)
    np.testing.assert_array_equal(y[..., :3], x[:, ::2, ::2, :])
    assert not y[..., 3:].any()


def test_pad_crop_flip_keeps_pixels_and_shifts_at_most_pad():
    rng = np.random.default_rng(0)
    images = rng.integers(1, 255, (64, 32, 32, 3)).astype("float32")
    out = pad_crop_flip(images, np.random.default_rng(1), pad=4, flip=True)
    assert out.shape == images.shape
    flips = 0
    for original, cropped in zip(images, out, strict=True):
        found = False
        for mirrored in (False, True):
            source = original[:, ::-1] if mirrored else original
            padded = np.pad(source, ((4, 4), (4, 4), (0, 0)))
            for dy in range(9):
                for dx in range(9):
                    if np.array_equal(padded[dy : dy + 32, dx : dx + 32], cropped):
                        found, flips = True, flips + mirrored
                        break
                if found:
                    break
            if found:
                break
        assert found
    assert 16 < flips < 48  # about half are mirrored
    again = pad_crop_flip(images, np.random.default_rng(1), pad=4, flip=True)
    np.testing.assert_array_equal(out, again)  # seeded


def test_cifar_loader_reads_the_official_layout(tiny_cifar):
    from replicate_suite.data.cifar10 import load_cifar10

    data = load_cifar10("official")
    assert data.x_train.shape == (400, 32, 32, 3) and data.x_train.dtype == np.uint8
    assert data.x_test.shape == (100, 32, 32, 3) and data.y_test.shape == (100,)
    assert data.variant == "synthetic test fixture"
    assert data.sources["cifar-10-python.tar.gz"].startswith("mirror:")
    assert load_cifar10("auto").sources["cifar-10-python.tar.gz"] == "cache"


def test_cifar_auto_falls_back_to_the_jpeg_rebuild_only_when_the_original_is_missing(tiny_cifar, tmp_path, monkeypatch):
    from replicate_suite.data import cifar10
    from replicate_suite.data.files import DataUnavailable

    (tmp_path / "mirror" / "cifar10" / "cifar-10-python.tar.gz").rename(tmp_path / "elsewhere.tar.gz")
    with pytest.raises(DataUnavailable, match="cifar-10-python-jpeg75.tar.xz"):
        cifar10.load_cifar10("auto")  # neither variant is available: the error names both
    with pytest.raises(ReplicateError, match="unknown CIFAR-10 variant"):
        cifar10.load_cifar10("png")


def test_cifar_corrupt_archive_is_an_error_not_a_fallback(tiny_cifar, tmp_path):
    from replicate_suite.data import cifar10

    archive = tmp_path / "mirror" / "cifar10" / "cifar-10-python.tar.gz"
    archive.write_bytes(archive.read_bytes()[:-10])
    with pytest.raises(ReplicateError, match="checksum mismatch"):
        cifar10.load_cifar10("auto")


def test_resnet_smoke_run(tiny_cifar, tmp_path):
    from replicate_suite.runner import run_replication

    folder = run_replication("resnet_depth_cifar10", "smoke", 0, results_root=tmp_path / "results")
    metrics = json.loads((folder / "metrics.json").read_text())
    meta = json.loads((folder / "run_meta.json").read_text())
    for net in ("plain8", "resnet8"):
        for split in ("train", "val", "test"):
            assert 0.0 <= metrics[f"{split}_error_{net}"] <= 1.0
        assert metrics[f"params_{net}"] > 0
    assert meta["data"]["cifar10"]["variant"] == "synthetic test fixture"
    curves = (folder / "curves.csv").read_text()
    assert "train_error/plain8" in curves and "test_error/resnet8" in curves


def test_unknown_net_name_is_one_clear_error():
    from replicate_suite.runner import load_module

    module = load_module("resnet_depth_cifar10")
    with pytest.raises(ReplicateError, match="unknown net 'resnet'"):
        module.parse_net("resnet")
    with pytest.raises(ReplicateError, match="6n\\+2"):
        module.parse_net("plain21")


def test_variant_runs_land_apart_and_read_back_as_one_seed(tiny_cifar, tmp_path):
    from replicate_suite.results import METRICS_FILE, read_runs, write_json
    from replicate_suite.runner import run_replication
    from replicate_suite.sweep import expand

    root = tmp_path / "results"
    a = run_replication("resnet_depth_cifar10", "smoke", 0, results_root=root, variant="plain8")
    b = run_replication("resnet_depth_cifar10", "smoke", 0, results_root=root, variant="resnet8")
    assert (a.name, b.name) == ("seed_0@plain8", "seed_0@resnet8")
    assert json.loads((a / "run_meta.json").read_text())["config"]["nets"] == ["plain8"]
    (run,) = read_runs(root, "resnet_depth_cifar10", "smoke")
    assert run.seed == 0 and run.meta["variants"] == ["plain8", "resnet8"]
    assert {"test_error_plain8", "test_error_resnet8"} <= set(run.metrics)
    assert {r["metric"] for r in run.read_curves()} >= {"train_error/plain8", "train_error/resnet8"}
    assert [t.variant for t in expand("smoke", ["resnet_depth_cifar10"], [0])] == ["plain8", "resnet8"]
    with pytest.raises(ReplicateError, match="unknown variant 'resnet9'"):
        run_replication("resnet_depth_cifar10", "smoke", 0, results_root=root, variant="resnet9")
    metrics = json.loads((b / METRICS_FILE).read_text())
    write_json(b / METRICS_FILE, {**metrics, "iterations": 7})  # a shared metric that disagrees between parts
    with pytest.raises(ReplicateError, match="conflicts"):
        read_runs(root, "resnet_depth_cifar10", "smoke")


_ALIGNMENT = """
import numpy as np
from replicate_suite.models.resnet import ZeroPadShortcut, build_cifar_resnet

def misalignment(depth):
    '''Largest |conv branch - shortcut| over every downsampling block of a residual net, with each strided conv set
    to the centre-tap identity: zero when both branches sample the same pixels.'''
    model = build_cifar_resnet(depth, "residual", weight_decay=0.0)
    worst, blocks = 0.0, 0
    for layer in model.layers:
        if not (layer.name.endswith("a_conv") and layer.strides[0] == 2):
            continue
        label = layer.name.removesuffix("_conv")
        size, channels = layer.input.shape[1] + 0, layer.kernel.shape[2]
        pad = model.get_layer(label + "_pad") if any(l.name == label + "_pad" for l in model.layers) else None
        size = size - 2 if pad is not None else size
        x = np.random.default_rng(blocks).normal(size=(1, size, size, channels)).astype("float32")
        kernel = np.zeros(tuple(layer.kernel.shape), "float32")
        kernel[1, 1, np.arange(channels), np.arange(channels)] = 1.0
        layer.kernel.assign(kernel)
        conv_out = np.asarray(layer(pad(x) if pad is not None else x))[..., :channels]
        short = np.asarray(ZeroPadShortcut(layer.filters, 2)(x))[..., :channels]
        worst = max(worst, float(np.abs(conv_out - short).max()))
        blocks += 1
    return worst, blocks
"""


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_strided_conv_and_option_a_shortcut_sample_the_same_pixels(backend):
    """Every downsampling block (s2b1a, s3b1a) of ResNet-20 and -56, on TF and on JAX (a child process each)."""
    import os
    import subprocess
    import sys

    if backend == "jax":
        pytest.importorskip("jax")
    script = _ALIGNMENT + "import json; print(json.dumps([misalignment(d) for d in (20, 56)]))\n"
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])  # [worst difference, blocks checked] per depth
    assert results == [[0.0, 2], [0.0, 2]]


def test_keras_same_padding_would_misalign_the_branches():
    """The fault the builder avoids: a stride-2 'same' conv centres its taps on x[1::2, 1::2]."""
    import keras

    from replicate_suite.models.resnet import ZeroPadShortcut

    x = np.random.default_rng(0).normal(size=(1, 32, 32, 16)).astype("float32")
    conv = keras.layers.Conv2D(16, 3, 2, "same", use_bias=False)
    conv.build(x.shape)
    kernel = np.zeros((3, 3, 16, 16), "float32")
    kernel[1, 1, np.arange(16), np.arange(16)] = 1.0
    conv.kernel.assign(kernel)
    np.testing.assert_array_equal(np.asarray(conv(x)), x[:, 1::2, 1::2])
    assert not np.allclose(np.asarray(conv(x)), np.asarray(ZeroPadShortcut(16, 2)(x)))
