"""dvc.yaml is complete: every stage's deps cover the project code its command imports and the files it reads, the
report declares what it writes, and the top-level metrics and plots point at what the report writes.

The imports are found by static analysis, not listed by hand: the `replicate` subcommand's function in shared/cli.py
(and the helpers it calls) names the project modules it imports; modulefinder follows them (imports inside functions
included); the replication modules the runner and the report load by path (run.py, report.py) are added from the
command line. Stages are read through DVC's own API, so `foreach`/`matrix` and `${...}` are expanded as DVC does.
"""

from __future__ import annotations

import ast
import modulefinder
import shlex
import tempfile
from functools import cache
from pathlib import Path

import pytest
import yaml

from replicate_suite.paths import PROJECT_ROOT

dvc_repo = pytest.importorskip("dvc.repo")

PACKAGE, PACKAGE_DIR = "replicate_suite", "shared"  # the import name and its folder (pyproject's package-dir)
CLI = PROJECT_ROOT / PACKAGE_DIR / "cli.py"
DISPATCH_ONLY = {"run", "sweep"}
"""Subcommands whose stages may leave shared/cli.py out of their deps: for them it only parses arguments and calls
the runner, and a stage that listed it would re-train every replication when a help text changes."""


@cache
def stages() -> tuple[tuple[str, str, tuple[str, ...], tuple[tuple[str, bool, bool], ...]], ...]:
    """(name, command, deps incl. params files, outs as (path, cached, persist)) of every pipeline stage, as DVC
    expands them; data tracked by a .dvc file has no command and is not a stage here."""
    with dvc_repo.Repo(str(PROJECT_ROOT)) as repo:
        return tuple(
            (
                stage.addressing,
                stage.cmd,
                tuple(dep.def_path for dep in stage.deps),
                tuple((out.def_path, out.use_cache, out.persist) for out in stage.outs),
            )
            for stage in repo.index.stages
            if stage.cmd
        )


def _module_file(name: str) -> Path | None:
    """replicate_suite.x.y -> shared/x/y.py or shared/x/y/__init__.py (None when it is not a project module)."""
    package, *rest = name.split(".")
    if package != PACKAGE:
        return None
    base = PROJECT_ROOT.joinpath(PACKAGE_DIR, *rest)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def cli_modules(subcommand: str) -> set[str]:
    """Project modules the subcommand's code in cli.py imports: module-level imports, imports in main/build_parser,
    and imports in cmd_<subcommand> and every cli function it calls (transitively)."""
    tree = ast.parse(CLI.read_text())
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}

    def imports(node: ast.AST, recurse: bool) -> set[str]:
        found = set()
        for child in ast.walk(node) if recurse else ast.iter_child_nodes(node):
            if isinstance(child, ast.ImportFrom) and child.module and child.module.split(".")[0] == PACKAGE:
                found.add(child.module)
                found |= {f"{child.module}.{a.name}" for a in child.names if _module_file(f"{child.module}.{a.name}")}
            elif isinstance(child, ast.Import):
                found |= {a.name for a in child.names if a.name.split(".")[0] == PACKAGE}
        return found

    modules = imports(tree, recurse=False) | imports(functions["main"], True) | imports(functions["build_parser"], True)
    todo, seen = [f"cmd_{subcommand.replace('-', '_')}"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        modules |= imports(functions[name], recurse=True)
        todo += [n.id for n in ast.walk(functions[name]) if isinstance(n, ast.Name) and n.id in functions]
    return modules


@cache
def _import_root() -> Path:
    """A folder where `replicate_suite` is the project's shared/ folder (a symlink), so that modulefinder, which knows
    nothing of setuptools' package-dir mapping, follows the package's imports to the files in shared/."""
    root = Path(tempfile.mkdtemp(prefix="import-root-"))
    (root / PACKAGE).symlink_to(PROJECT_ROOT / PACKAGE_DIR, target_is_directory=True)
    return root


def imported_files(entry_files: set[Path]) -> set[str]:
    """Every project file the entry files import, transitively (modulefinder; project root only on its path, so
    third-party imports are not followed), as paths relative to the project root."""
    found = set()
    for entry in sorted(entry_files):
        finder = modulefinder.ModuleFinder(path=[str(_import_root()), str(PROJECT_ROOT)])
        finder.run_script(str(entry))
        found |= {m.__file__ for m in finder.modules.values() if m.__file__}
        found.add(str(entry))
    return {
        str(Path(f).resolve().relative_to(PROJECT_ROOT))
        for f in found
        if Path(f).resolve().is_relative_to(PROJECT_ROOT)
    }


def _option(words: list[str], name: str) -> list[str]:
    """The values after --name (nargs='+' style: up to the next option)."""
    if name not in words:
        return []
    values = []
    for word in words[words.index(name) + 1 :]:
        if word.startswith("--"):
            break
        values.append(word)
    return values


def _replication_files(replication: str, module: str) -> set[Path]:
    """replications/<id>/<module>.py, and the .py files beside it when it loads siblings by path (lecture_examples)."""
    path = PROJECT_ROOT / "replications" / replication / f"{module}.py"
    if not path.is_file():
        return set()
    if "spec_from_file_location" in path.read_text():
        return {p for p in path.parent.glob("*.py") if p.name != "report.py"}  # report.py: the report's, not the run's
    return {path}


def _read_by_name(path: Path) -> set[str]:
    """Data files a replication module reads beside itself: string constants naming a .yaml/.json/.csv file."""
    names = {
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.endswith((".yaml", ".json", ".csv"))
    }
    return {str((path.parent / n).relative_to(PROJECT_ROOT)) for n in names if (path.parent / n).is_file()}


def required_inputs(command: str) -> set[str]:
    """The project files a `replicate ...` stage command imports or reads (relative paths)."""
    words = shlex.split(command)
    assert words[0] == "replicate", f"a stage command that is not `replicate`: {command}"
    sub = words[1]
    # `sweep` runs each task as `replicate run ...` in a child process: it imports what `run` imports as well.
    modules = cli_modules(sub) | (cli_modules("run") if sub == "sweep" else set())
    entries = {_module_file(m) for m in modules} - {None}
    reads: set[str] = set()
    known = sorted(p.parent.name for p in (PROJECT_ROOT / "replications").glob("*/run.py"))
    if sub == "run":
        ids = [words[2]]
    elif sub == "sweep":
        ids = _option(words, "--replications") or known
    else:
        ids = []
    for rid in ids:
        entries |= _replication_files(rid, "run")
        reads.add(f"replications/{rid}/config.yaml")
    if sub in ("report", "clips"):  # both judge every replication's claim (clips: to rank the seeds)
        reads |= {f"replications/{rid}/claim.yaml" for rid in known}
    if sub == "report":
        for rid in known:
            entries |= _replication_files(rid, "report")
            report = PROJECT_ROOT / "replications" / rid / "report.py"
            if report.is_file():
                reads |= _read_by_name(report)
    # cli.py itself, but not through modulefinder: it would follow every subcommand's imports.
    files = imported_files(entries) | reads | {str(CLI.relative_to(PROJECT_ROOT))}
    if sub in DISPATCH_ONLY:
        files.discard("shared/cli.py")
    return files


def _covered(path: str, deps: tuple[str, ...]) -> bool:
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


def test_the_analysis_finds_what_a_run_imports():
    """The analysis itself: a LeNet-5 run imports the runner, the MNIST loader (through shared/data/__init__, which
    also imports the CIFAR loader), the model and the replication's run.py; `run` needs no report code."""
    found = required_inputs("replicate run lenet5_mnist --profile cpu --seed 0")
    for path in (
        "shared/runner.py",
        "shared/data/__init__.py",
        "shared/data/mnist.py",
        "shared/data/cifar10.py",
        "shared/models/lenet5.py",
        "shared/backend.py",
        "replications/lenet5_mnist/run.py",
        "replications/lenet5_mnist/config.yaml",
    ):
        assert path in found, path
    assert "shared/report.py" not in found and "shared/cli.py" not in found
    report = required_inputs("replicate report --profile cpu")
    for path in ("shared/cli.py", "shared/report.py", "replications/dqn_atari2013/peers.yaml"):
        assert path in report, path


def test_a_missing_dep_is_caught():
    """Dropping one imported module from a stage's deps is reported (the check can fail)."""
    name, cmd, deps, _ = next(s for s in stages() if s[0].startswith("run@lenet5_mnist"))
    missing = [p for p in required_inputs(cmd) if not _covered(p, tuple(d for d in deps if d != "shared/training.py"))]
    assert "shared/training.py" in missing


@pytest.mark.parametrize("stage", [s[0] for s in stages()])
def test_stage_deps_cover_what_its_command_imports(stage):
    name, cmd, deps, _ = next(s for s in stages() if s[0] == stage)
    missing = sorted(p for p in required_inputs(cmd) if not _covered(p, deps))
    assert not missing, f"dvc.yaml stage {name} ({cmd}): add to its deps (or params): {missing}"


def test_the_report_declares_what_it_writes():
    """`report --readme X` rewrites X: X is an output of the stage, kept in git (no cache) and not deleted before
    the stage runs (persist), as is the report folder (it keeps its verdict history)."""
    for name, cmd, _, outs in stages():
        words = shlex.split(cmd)
        if words[1] != "report":
            continue
        written = _option(words, "--readme") + [f"reports/{_option(words, '--profile')[0]}"]
        for path in written:
            assert (path, False, True) in outs, f"{name}: {path} must be an out with cache: false, persist: true"


def test_the_report_reads_the_clips_that_their_own_stage_writes():
    """`replicate clips` writes <reports>/clips/<profile>/ (replicate_suite.clip_index.clips_dir): an output of its own
    stage, kept in git, outside the report's folder (DVC refuses overlapping outputs; the report swaps its folder
    whole); the report stage depends on its clips.json, so `dvc repro` films before it reports."""
    from replicate_suite.clip_index import INDEX_FILE, clips_dir

    by_command = {shlex.split(cmd)[1]: (name, deps, outs) for name, cmd, deps, outs in stages()}
    profile = next(_option(shlex.split(c), "--profile")[0] for _, c, _, _ in stages() if " clips " in f"{c} ")
    folder = str(clips_dir(Path("reports"), profile))
    _, _, clip_outs = by_command["clips"]
    assert clip_outs == ((folder, False, False),)
    _, report_deps, report_outs = by_command["report"]
    assert f"{folder}/{INDEX_FILE}" in report_deps
    assert not any(_covered(folder, (out,)) for out, _, _ in report_outs)


def test_metrics_and_plots_point_at_the_report():
    """The top-level metrics and plots name the files `replicate report` writes (not run folders: those are stage
    outputs already), and the plots use the committed template for long-format curves."""
    from replicate_suite.dvc_views import CURVES_DIR, METRICS_DIR

    pipeline = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())
    assert pipeline["metrics"] == [f"reports/${{profile}}/{METRICS_DIR}"]
    ((path, props),) = pipeline["plots"][0].items()
    assert path == f"reports/${{profile}}/{CURVES_DIR}"
    template = PROJECT_ROOT / ".dvc" / "plots" / f"{props['template']}.json"
    assert template.is_file() and "<DVC_METRIC_DATA>" in template.read_text()


def test_a_run_stage_owns_single_run_folders_never_a_whole_profile():
    """DVC deletes a stage's (non-persistent) outputs before it runs the stage: an output that is a whole
    results/<id>/<profile>/ folder would delete committed runs no stage recreates (e.g. an earlier registration's
    seeds). Every output under results/ is one run folder, seed_<n> or seed_<n>@<part>."""
    for name, _, _, outs in stages():
        for path, _, _ in outs:
            if path.startswith("results/"):
                assert Path(path).name.startswith("seed_"), f"{name}: output {path} is not a single run folder"


@pytest.mark.parametrize(
    "param, rep_id, key",
    [("ddpg_tasks", "ddpg_continuous", "tasks"), ("cifar10_nets", "resnet_depth_cifar10", "nets"),
     ("atari_parts", "dqn_atari2013", "parts"), ("dropout_nets", "dropout_mnist", "nets")],
)  # fmt: skip
def test_per_part_stages_cover_the_default_profiles_parts(param, rep_id, key):
    """run_ddpg, run_cifar10, run_atari and run_dropout_own_lr are one stage per (part, seed) from params.yaml: the
    part list must be the profile's own, or `dvc repro` would silently leave a part of the registered protocol unrun."""
    from replicate_suite.runner import resolve_config, variant_name

    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    parts = [variant_name(part) for part in resolve_config(rep_id, params["profile"]).values[key]]
    assert params[param] == [part for part in parts if part != "random"]  # the Random row has a stage of its own


def test_every_committed_run_folder_is_what_a_stage_writes():
    """`dvc repro` must recreate the committed results in the same layout: a run folder that no stage writes (e.g.
    seed_0@Breakout while the stage writes seed_0) would sit beside the stage's output, and the report would merge
    both as one seed. Exempt: the runs of a registration older than the claim's newest at this profile (kept as
    committed; no stage writes them, since the profile's config is the newest registration's)."""
    from replicate_suite.claims import load_claim
    from replicate_suite.paths import replications_dir

    params = yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text())
    profile = params["profile"]
    written = {path for _, _, _, outs in stages() for path, _, _ in outs if path.startswith("results/")}
    unwritten = []
    for folder in sorted((PROJECT_ROOT / "results").glob(f"*/{profile}/seed_*")):
        rep_id, seed = folder.parent.parent.name, int(folder.name.removeprefix("seed_").split("@")[0])
        claim = load_claim(replications_dir() / rep_id / "claim.yaml")
        named = [t.seeds_for(profile) for t in claim.targets if t.seeds_for(profile) is not None]
        older = {s for seeds in named[:-1] for s in seeds if seeds != named[-1]} if len(set(named)) > 1 else set()
        if str(folder.relative_to(PROJECT_ROOT)) not in written and seed not in older:
            unwritten.append(str(folder.relative_to(PROJECT_ROOT)))
    assert not unwritten, f"committed run folders no dvc stage writes at the default params: {unwritten}"
