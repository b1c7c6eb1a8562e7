"""A regular (non-editable) install: the wheel holds the `replicate_suite` package (built from the shared/ folder by
pyproject's package-dir mapping), imports from its install folder, and runs `replicate list` from inside a checkout;
outside one it stops with one error line. See shared/paths.py for the supported installs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from replicate_suite.paths import PROJECT_ROOT

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")


def test_every_subpackage_of_shared_is_packaged():
    """pyproject lists packages by hand (package-dir mapping): a sub-folder with an __init__.py that is not listed
    would be missing from wheels while editable installs still work."""
    tool = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert tool["package-dir"] == {"replicate_suite": "shared"}
    folders = {
        ".".join(("replicate_suite", *init.parent.relative_to(PROJECT_ROOT / "shared").parts))
        for init in (PROJECT_ROOT / "shared").rglob("__init__.py")
    }
    assert set(tool["packages"]) == folders


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The project built as a wheel from a copy of its packaging files and installed with --target (no deps)."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(PROJECT_ROOT / name, src / name)
    shutil.copytree(PROJECT_ROOT / "shared", src / "shared", ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"), str(src)],
        check=True,
        capture_output=True,
        text=True,
    )
    wheels = list((tmp / "dist").glob("replicate_suite-*.whl"))
    assert len(wheels) == 1, wheels
    site = tmp / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheels[0])],
        check=True,
        capture_output=True,
        text=True,
    )
    return site


def _python(site: Path, code_or_args: list[str], cwd: Path, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != "REPLICATE_PROJECT_ROOT"}
    environ.update(PYTHONPATH=str(site), **env)
    return subprocess.run(
        [sys.executable, *code_or_args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=300
    )


def test_regular_install_imports_from_its_own_folder(installed, tmp_path):
    out = _python(
        installed,
        ["-c", "import replicate_suite.cli, replicate_suite.rl.agents; print(replicate_suite.__file__)"],
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()).is_relative_to(installed)
    assert not (installed / "shared").exists()  # the folder name is not an import name


def test_regular_install_runs_replicate_list_from_a_checkout(installed):
    script = installed / "bin" / "replicate"
    assert script.is_file()
    for args in ([str(script), "list"], ["-m", "replicate_suite.cli", "list"]):
        # the console script is run by this python (its shebang may be long); cwd is a folder inside the checkout
        out = subprocess.run(
            [sys.executable, *args],
            cwd=PROJECT_ROOT / "replications",
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONPATH": str(installed)},
        )
        assert out.returncode == 0, out.stderr
        assert "lenet5_mnist" in out.stdout and "ddpg_continuous" in out.stdout


def test_regular_install_outside_a_checkout_is_one_error_line(installed, tmp_path):
    out = _python(installed, ["-m", "replicate_suite.cli", "list"], cwd=tmp_path)
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no replications/ folder in "), out.stderr
    assert "REPLICATE_PROJECT_ROOT" in lines[0]
    named = _python(
        installed, ["-m", "replicate_suite.cli", "list"], cwd=tmp_path, REPLICATE_PROJECT_ROOT=str(PROJECT_ROOT)
    )
    assert named.returncode == 0, named.stderr
    assert "lenet5_mnist" in named.stdout
