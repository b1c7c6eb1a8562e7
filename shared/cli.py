"""The `replicate` command: list the claims and their verdicts, run a replication, sweep a profile's runs, write
the report, verify the datasets. Every command that reads or writes run folders takes the results root as
--results (default: results/ in the checkout)."""

from __future__ import annotations

import _thread
import argparse
import contextlib
import importlib.util
import json
import os
import shlex
import signal
import sys
import threading
from pathlib import Path

from replicate_suite.errors import Interrupted, ReplicateError, brief

MAX_SEED = 2**32 - 1  # NumPy's and TensorFlow's seeds are unsigned 32-bit
MAX_SEEDS = 10_000  # a longer list is a typo (0-10000000), not a plan
MAX_WORKERS = 256  # local runs at a time: far above any one machine's cores; more is a typo
MAX_RETRIES = 100


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one `error:` line (exit 2), like every other bad input (exit 1)."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def _seed(text: str) -> int:
    """One seed: a whole number in [0, 2^32 - 1], written in ASCII digits (int() also takes '1_0' and other
    scripts' digits, which would name a seed folder other than the one typed)."""
    if not (text.isascii() and text.strip().removeprefix("-").isdigit()):
        raise argparse.ArgumentTypeError(f"bad seed {text!r} (expected a whole number >= 0)")
    value = int(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"seed {value} is out of range (expected 0 to {MAX_SEED})")
    return value


def _count(low: int, high: int):
    """An argparse type: a whole number in [low, high] (sweep's --workers, --retries)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"bad number {text!r} (expected a whole number from {low} to {high})"
            ) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range (expected {low} to {high})")
        return value

    return parse


def _parse_seeds(text: str) -> list[int]:
    """'0,1,2' or '0-2' -> [0, 1, 2]; repeats are run once; a reversed range (2-0) or a negative seed is an error."""
    seeds: list[int] = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if not dash:
            seeds.append(_seed(low))
            continue
        if not low.strip():
            raise argparse.ArgumentTypeError(f"bad seed list {text!r}: seeds are >= 0 (expected e.g. 0,1,2 or 0-2)")
        first, last = _seed(low), _seed(high)
        if first > last:
            raise argparse.ArgumentTypeError(f"reversed seed range {part.strip()!r} (write it low-high, e.g. 0-2)")
        if last - first >= MAX_SEEDS:
            raise argparse.ArgumentTypeError(f"seed range {part.strip()!r} holds more than {MAX_SEEDS} seeds")
        seeds.extend(range(first, last + 1))
    return list(dict.fromkeys(seeds))


def _check_profile(profile: str) -> None:
    from replicate_suite.config import PROFILES

    if profile not in PROFILES:
        raise ReplicateError(f"unknown profile {profile!r} (expected one of: {', '.join(PROFILES)})")


def _check_writable_folder(folder: Path, what: str) -> None:
    """A folder a command will write into: it may not exist yet (its nearest existing parent must then be a
    writable folder); else one ReplicateError naming it."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ReplicateError(f"{what} {folder}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ReplicateError(f"{what} {folder}: {existing} is not writable")


def _check_results_folder(results: str) -> None:
    """Reading commands (list, report, clips) need an existing results folder: a misspelt --results would otherwise
    read as 'no runs anywhere' and `report` would overwrite the committed reports with that. A missing project
    (no replications/ folder) is reported first, as the more basic fault."""
    from replicate_suite.runner import known_replications

    known_replications()
    if not Path(results).is_dir():
        what = "is not a folder" if Path(results).exists() else "does not exist"
        raise ReplicateError(f"results folder {results} {what} (--results names the root that holds <id>/<profile>/)")


def cmd_list(args: argparse.Namespace) -> None:
    from replicate_suite.config import overrides_text
    from replicate_suite.report import evaluate

    _check_profile(args.profile)
    _check_results_folder(args.results)

    reports = evaluate(args.profile, Path(args.results))
    width = max((len(r.claim.replication) for r in reports), default=10)
    print(f"{'id':<{width}}  seeds  targets ({args.profile})")
    for rep in reports:
        print(f"{rep.claim.replication:<{width}}  {len(rep.runs):>5}  {rep.counts}")
        for run in rep.runs:
            if run.problems:
                print(f"{'':<{width}}    invalid seed {run.seed}: {'; '.join(run.problems)}")
        for run in rep.set_runs:
            print(
                f"{'':<{width}}    not counted: {run.path.name} ran with --set {overrides_text(run.meta['overrides'])}"
            )
        for out in rep.fixed_out:
            status = "counted, unverified" if out.unknown else "not counted"
            print(f"{'':<{width}}    {status}: {out.label} for {len(out.targets)} target(s): {out.why}")
        flagged = [r for r in rep.targets if r.uncommitted]
        if flagged:
            print(
                f"{'':<{width}}    ⚠ uncommitted code behind {len(flagged)} verdict(s) (the report's notes name them)"
            )
        if args.targets:
            for result in rep.targets:
                label = result.target.name
                why = f"  [{result.detail}]" if result.verdict == "not_run" else ""
                print(f"{'':<{width}}    {result.verdict:<15} {label}{why}")


def _run_name(args: argparse.Namespace, seed: int) -> str:
    return f"{args.id} {args.profile} seed {seed}" + (f" variant {args.variant}" if args.variant else "")


def _interrupted(args: argparse.Namespace, seed: int) -> str:
    """What an interrupted run left and how to continue it (where the replication checkpoints)."""
    from replicate_suite.paths import results_dir
    from replicate_suite.runner import checkpoint_folder

    checkpoints = checkpoint_folder(Path(args.results), args.id, args.profile, seed, args.variant)
    stopped = f"{_run_name(args, seed)} stopped; nothing was written to results"
    if not any(checkpoints.rglob("LATEST")):
        return f"{stopped} (it left no checkpoint: run it again to start over)"
    again = f"replicate run {args.id} --profile {args.profile} --seed {seed}"
    again += f" --variant {args.variant}" if args.variant else ""
    again += "".join(f" --set {shlex.quote(text)}" for text in args.set_texts)
    again += f" --results {args.results}" if Path(args.results).resolve() != results_dir().resolve() else ""
    return f"{stopped}; `{again} --resume` continues it from its checkpoint in {checkpoints}"


def _overrides(texts: list[str]) -> dict:
    """The --set texts as {"key.path": value} (values read as config.yaml reads them), or a ReplicateError."""
    from replicate_suite.config import nest_overrides, parse_override

    pairs = [parse_override(text) for text in texts]
    nest_overrides(pairs)  # a key set twice, or as a value and as a block, fails here
    return dict(pairs)


def cmd_run(args: argparse.Namespace) -> None:
    from replicate_suite.claim_schema import check_registration_seed
    from replicate_suite.config import nest_overrides, overrides_text
    from replicate_suite.results import has_run_files, run_folder
    from replicate_suite.runner import check_variant, replication_path

    replication_path(args.id)  # unknown ids, profiles and variants fail before the backend is imported
    _check_profile(args.profile)
    overrides = _overrides(args.set_texts)
    if args.variant is not None:
        check_variant(args.id, args.profile, args.variant, overrides)
    if overrides:  # validated before anything else, even when every result exists already
        from replicate_suite.backend import import_backend_quietly
        from replicate_suite.runner import resolve_config

        import_backend_quietly()
        resolve_config(args.id, args.profile, nest_overrides(list(overrides.items())))
        print(f"--set {overrides_text(overrides)}: not the registered protocol; no verdict will count this run")
    seeds = []
    for seed in args.seeds:
        folder = run_folder(Path(args.results), args.id, args.profile, seed, args.variant)
        if has_run_files(folder) and not args.force:
            from replicate_suite.results import META_FILE, read_object

            made_with = read_object(folder / META_FILE).get("overrides") or {}
            if made_with != overrides:  # keeping it would answer this command with another protocol's result
                was = f"--set {overrides_text(made_with)}" if made_with else "no --set"
                now = f"--set {overrides_text(overrides)}" if overrides else "no --set"
                # a run with --set never replaces a registered one (runner), so --force helps only the other way
                way_out = (
                    "--results writes elsewhere"
                    if overrides and not made_with
                    else ("--force replaces it, or --results writes elsewhere")
                )
                raise ReplicateError(f"{folder} holds a run made with {was}, not {now}: {way_out}")
            print(f"{_run_name(args, seed)}: kept the existing result in {folder} (--force replaces it)")
        else:
            check_registration_seed(args.id, args.profile, seed)  # before the backend is imported
            seeds.append(seed)
    if not seeds:
        return

    from replicate_suite.backend import import_backend_quietly
    from replicate_suite.runner import resolve_config, run_replication

    import_backend_quietly()
    resolve_config(args.id, args.profile)
    for seed in seeds:
        try:
            folder = run_replication(
                args.id,
                args.profile,
                seed,
                results_root=Path(args.results),
                deterministic=not args.no_determinism,
                resume=args.resume,
                variant=args.variant,
                force=args.force,
                overrides=overrides,
            )
        except KeyboardInterrupt as exc:
            raise Interrupted(getattr(exc, "signal_name", "SIGINT"), _interrupted(args, seed)) from None
        print(f"{_run_name(args, seed)}: wrote {folder}")


def cmd_sweep(args: argparse.Namespace) -> None:
    from replicate_suite.backend import import_backend_quietly
    from replicate_suite.runner import known_replications, replication_path
    from replicate_suite.sweep import summary_table, sweep

    _check_profile(args.profile)
    ids = args.replications or known_replications()
    for rid in ids:
        replication_path(rid)
    _check_writable_folder(Path(args.results), "results folder")  # else every run fails, and is retried
    import_backend_quietly()  # expanding the tasks reads configs, which loads Keras
    outcomes = sweep(
        args.profile,
        ids,
        args.seeds,
        Path(args.results),
        engine=args.engine,
        workers=args.workers,
        retries=args.retries,
        address=args.address,
    )
    print(summary_table(outcomes))
    if any(o.status == "failed" for o in outcomes):
        raise ReplicateError(f"{sum(o.status == 'failed' for o in outcomes)} run(s) failed; see the table above")


def cmd_report(args: argparse.Namespace) -> None:
    from replicate_suite.report import check_readme, evaluate, readme_table, update_readme, write_report

    _check_profile(args.profile)
    _check_results_folder(args.results)
    if args.readme:
        check_readme(Path(args.readme))

    reports = evaluate(args.profile, Path(args.results))
    out = write_report(
        args.profile, Path(args.results), Path(args.reports), figures=not args.no_figures, reports=reports
    )
    print(f"wrote {out / 'comparison.md'}, {out / 'claims.json'} and {out / 'verdict_history.csv'}")
    if args.readme:
        update_readme(Path(args.readme), readme_table(args.profile, reports))
        print(f"updated the claims table in {args.readme}")


def cmd_verify_data(args: argparse.Namespace) -> None:
    from replicate_suite.data import dataset_specs
    from replicate_suite.data.files import data_source, fetch_preferred

    specs = dataset_specs()
    names = args.datasets or sorted(specs)
    for name in names:
        if name not in specs:
            raise ReplicateError(f"unknown dataset {name!r} (known: {', '.join(sorted(specs))})")
    if data_source() == "tfds":
        from replicate_suite.data.tfds_source import LOADERS

        for name in names:
            data = LOADERS[name]()
            for key, where in data.sources.items():
                print(f"ok  {name}  {key}: {len(data.x_train)} training, {len(data.x_test)} test images  ({where})")
            print(f"    variant: {data.variant}")
        return
    for name in names:
        spec, paths, sources = fetch_preferred(specs[name])
        for file_name, path in paths.items():
            print(f"ok  {name}/{file_name}  sha256 verified  ({sources[file_name]}) -> {path}")
        print(f"    variant: {spec.variant}")


def _no_agent_hint(folder: Path, args: argparse.Namespace) -> str:
    """What to do when a seed's agent folder holds no agent: name the seed's variant folders that hold agents (a seed
    split into parts keeps one per part), or say the run kept none (an RL run from before agents were committed, or
    not an RL run), or that the run is yet to be made."""
    from replicate_suite.rl.saved import AGENT_FILE
    from replicate_suite.runner import run_folder

    seed_folder = folder.name.split("@", 1)[0]
    variants = sorted(
        p.name.split("@", 1)[1] for p in folder.parent.glob(f"{seed_folder}@*") if any(p.glob(f"*/{AGENT_FILE}"))
    )
    if variants and args.variant is None:
        return f"this seed's parts hold agents: choose one with --variant {' | '.join(variants)}"
    result = run_folder(Path(args.results), args.id, args.profile, args.seed, args.variant)
    parts = sorted(p.name for p in result.parent.glob(f"{result.name}@*") if (p / "run_meta.json").is_file())
    if parts and args.variant is None:
        return f"the seed's parts {', '.join(parts)} left no agent here (runs before 2026-12-04 did not commit theirs)"
    if (result / "run_meta.json").is_file():
        return (
            f"its run {result} left no agent here (runs before 2026-12-04 did not commit theirs; only RL runs save one)"
        )
    return "run `replicate run` for it first; only RL runs save agents"


def cmd_play(args: argparse.Namespace) -> None:
    from replicate_suite.rl.saved import AGENT_FILE, VIDEO_SUFFIXES, load_agent, play, write_video
    from replicate_suite.runner import agents_folder, replication_path

    _check_profile(args.profile)
    replication_path(args.id)  # an unknown id fails with the known ones
    if args.episodes < 1 or args.max_steps < 1 or args.fps < 1:
        raise ReplicateError("--episodes, --max-steps and --fps must be >= 1")
    if Path(args.video).suffix not in VIDEO_SUFFIXES:
        raise ReplicateError(f"video file must end in {' or '.join(VIDEO_SUFFIXES)}, got {Path(args.video).name!r}")
    _check_writable_folder(Path(args.video).parent, "video folder")  # before the agent plays, not after
    from replicate_suite.backend import import_backend_quietly

    import_backend_quietly()
    folder = agents_folder(Path(args.results), args.id, args.profile, args.seed, args.variant)
    labels = sorted(p.parent.name for p in folder.glob(f"*/{AGENT_FILE}"))
    if not labels:
        raise ReplicateError(f"no saved agent in {folder} ({_no_agent_hint(folder, args)})")
    label = args.label or (labels[0] if len(labels) == 1 else None)
    if label not in labels:
        raise ReplicateError(f"{folder} holds the agents {', '.join(labels)}: choose one with --label")
    agent = load_agent(folder / label)
    frames, returns = play(agent, args.episodes, args.seed, args.max_steps)
    out = write_video(frames, Path(args.video), args.fps)
    scores = ", ".join(f"{r:g}" for r in returns)
    print(f"{out}: {len(frames)} frames of {args.episodes} episode(s) of {agent.kind} {label} (returns: {scores})")


def cmd_clips(args: argparse.Namespace) -> None:
    from replicate_suite.clips import FRAMES, HEIGHT, MAX_STEPS, SELECTION_RULE, make_clips

    _check_profile(args.profile)
    _check_results_folder(args.results)
    from replicate_suite.backend import import_backend_quietly

    import_backend_quietly()  # the agents load Keras: without TensorFlow's start-up lines on stderr
    out, clips = make_clips(args.profile, Path(args.results), Path(args.reports))
    print(f"rule: {SELECTION_RULE}")
    print(f"each clip: one evaluation episode cut at {MAX_STEPS} agent steps, {FRAMES} frames, {HEIGHT} px high")
    for entry in clips:
        task = f"{entry['id']} {entry['label']}"
        if "file" in entry:
            print(
                f"{task}: seed {entry['seed']} ({entry['why']}): return {entry['episode_return']:g} in "
                f"{entry['episode_steps']} steps -> {out / entry['file']}"
            )
        else:
            print(f"{task}: no clip: {entry['reason']}")
    print(f"wrote {out / 'clips.json'} ({sum('file' in e for e in clips)} of {len(clips)} RL tasks have a clip)")


def build_parser() -> argparse.ArgumentParser:
    from replicate_suite.config import PROFILES
    from replicate_suite.paths import PROJECT_ROOT, reports_dir, results_dir

    def shown(path: Path) -> str:
        return f"{path.relative_to(PROJECT_ROOT)}/" if path.is_relative_to(PROJECT_ROOT) else str(path)

    def profile_option(p: argparse.ArgumentParser, what: str, required: bool = False) -> None:
        default = "" if required else " (default: cpu)"
        p.add_argument(
            "--profile",
            required=required,
            default=None if required else "cpu",
            metavar="{" + ",".join(PROFILES) + "}",
            help=f"{what}: smoke (seconds, for tests), cpu (reduced, 2-core laptop) or paper (the paper's protocol)"
            + default,
        )

    def results_option(p: argparse.ArgumentParser, what: str) -> None:
        p.add_argument(
            "--results",
            type=_folder,
            default=str(results_dir()),
            metavar="DIR",
            help=f"results root {what} (<DIR>/<id>/<profile>/seed_<n>/; default: {shown(results_dir())})",
        )
        # The old spelling of --results for run/sweep, kept working but no longer shown.
        p.add_argument("--out", dest="results", type=_folder, default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    parser = _Parser(prog="replicate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    about = "the replications and the mix of their target verdicts, computed from the run folders"
    p = sub.add_parser(
        "list",
        help=about,
        description=f"List {about} (as `report` computes them, without writing anything); runs made with --set and "
        "runs with non-finite values are named, not counted.",
    )
    profile_option(p, "profile whose results are judged")
    results_option(p, "to read")
    p.add_argument("--targets", action="store_true", help="one line per target, with why a target does not apply")
    p.set_defaults(func=cmd_list)

    about = "run one replication for one or more seeds"
    p = sub.add_parser(
        "run", help=about, description=f"{about[0].upper()}{about[1:]}, into <results>/<id>/<profile>/seed_<n>/."
    )
    p.add_argument("id", help="replication id (replicate list shows them)")
    profile_option(p, "protocol to run")
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--seed", type=_seed, dest="seeds", action="append", metavar="N", help="one seed (repeatable; default: 0)"
    )
    group.add_argument(
        "--seeds", type=_parse_seeds, dest="seed_list", metavar="LIST", help="several seeds, e.g. 0,1,2 or 0-2"
    )
    results_option(p, "to write")
    p.add_argument(
        "--set",
        dest="set_texts",
        action="append",
        default=[],
        metavar="KEY.PATH=VALUE",
        help="change one config value of the profile, e.g. --set train.epochs=1 (repeatable; validated as "
        "config.yaml is; recorded in run_meta.json as `overrides`): such a run is not the registered protocol, "
        "reports list it apart and no verdict counts it",
    )
    p.add_argument("--no-determinism", action="store_true", help="allow non-deterministic (faster) kernels")
    p.add_argument(
        "--resume", action="store_true", help="continue a killed run from its last checkpoint (if it left one)"
    )
    p.add_argument("--force", action="store_true", help="replace an existing complete result (by default it is kept)")
    p.add_argument("--variant", help="run one variant only (an Atari game, a ResNet depth...) into seed_<n>@<variant>/")
    p.set_defaults(func=cmd_run)

    about = "run every missing (replication x variant x seed) of a profile, locally or on a Ray cluster"
    p = sub.add_parser("sweep", help=about, description=f"{about[0].upper()}{about[1:]}; finished runs are skipped.")
    profile_option(p, "protocol to run", required=True)
    p.add_argument("--replications", nargs="+", metavar="ID", help="ids to run (default: all)")
    p.add_argument("--seeds", type=_parse_seeds, default=[0, 1, 2], help="e.g. 0-4 or 0,2,5 (default: 0-2)")
    p.add_argument(
        "--engine", choices=["local", "ray"], default="local", help="local process pool or Ray (default: local)"
    )
    p.add_argument("--address", help="Ray cluster address, e.g. auto or ray://HEAD:10001 (default: start a local Ray)")
    p.add_argument(
        "--workers", type=_count(1, MAX_WORKERS), default=None, help="local engine: runs at a time (default: 1)"
    )
    p.add_argument(
        "--retries",
        type=_count(0, MAX_RETRIES),
        default=2,
        help="re-run a failed run this many times; RL runs resume (default: 2)",
    )
    results_option(p, "to write")
    p.set_defaults(func=cmd_sweep)

    about = "write reports/<profile>/: comparison.md, claims.json, verdict history, figures"
    p = sub.add_parser(
        "report",
        help=about,
        description="Compute every target's verdict from the run folders and write comparison.md, claims.json, "
        "verdict_history.csv, figures, and metrics/ and curves/ (what `dvc metrics show` and `dvc plots show` read) "
        "into <reports>/<profile>/.",
    )
    profile_option(p, "profile whose results are reported")
    results_option(p, "to read")
    p.add_argument(
        "--reports",
        type=_folder,
        default=str(reports_dir()),
        metavar="DIR",
        help=f"reports root to write <DIR>/<profile>/ into (default: {shown(reports_dir())})",
    )
    p.add_argument("--readme", metavar="FILE", help="also rewrite the claims table between the markers in FILE")
    p.add_argument(
        "--no-figures",
        action="store_true",
        help="write the report without figures (faster); the report replaces the previous one, so that one's "
        "figures go with it",
    )
    p.set_defaults(func=cmd_report)

    about = "play a saved RL agent (the final networks of a run) and write a short video"
    p = sub.add_parser(
        "play",
        help=about,
        description=f"{about[0].upper()}{about[1:]} (GIF, or MP4 with imageio-ffmpeg) of its episodes, rendered "
        "headless (ALE's screen for Atari; MuJoCo through MUJOCO_GL=egl). The agent acts as in the run's "
        "evaluations (DQN: its evaluation epsilon; DDPG: mu(s), no noise).",
    )
    p.add_argument("id", help="replication id")
    profile_option(p, "profile of the run that saved the agent")
    p.add_argument("--seed", type=_seed, default=0, metavar="N", help="seed of that run (default: 0)")
    p.add_argument("--variant", help="variant of that run (its seed_<n>@<variant>/ folder)")
    p.add_argument("--label", help="which of the run's agents (a game or task), when it saved several")
    p.add_argument("--episodes", type=_count(1, 1000), default=1, help="episodes to play (default: 1)")
    p.add_argument(
        "--max-steps", type=_count(1, 10**7), default=1000, help="agent steps per episode at most (default: 1000)"
    )
    p.add_argument("--fps", type=_count(1, 240), default=25, help="frames per second of the video (default: 25)")
    p.add_argument("--video", required=True, metavar="FILE", help="output file: .gif, or .mp4 (needs imageio-ffmpeg)")
    results_option(
        p, "whose agents to read (saved agents: artifacts/ beside the default results/, else DIR/.artifacts)"
    )
    p.set_defaults(func=cmd_play)

    about = "film each RL task's chosen saved agent: a strip of frames per task for the report"
    p = sub.add_parser(
        "clips",
        help=about,
        description="For each RL task of the profile's counted runs, choose one saved agent by a fixed rule (the "
        "seed whose final evaluation return, as the claim judges it, is the median; the lower median for an even "
        "count), play one evaluation episode headless (cut at 1000 agent steps; ALE's screen for Atari, MuJoCo "
        "through MUJOCO_GL=egl, MinAtar drawn from its observation grid) and write 8 evenly spaced frames in one "
        "row, with their step numbers, to <reports>/clips/<profile>/<id>__<task>.png, and clips.json (the chosen "
        "seed, why, its commit, the episode's return and steps, or why a task has no clip). `replicate report` "
        "shows them; it never plays an environment itself.",
    )
    profile_option(p, "profile whose runs' agents are filmed")
    results_option(p, "to read (saved agents: artifacts/ beside the default results/, else DIR/.artifacts)")
    p.add_argument(
        "--reports",
        type=_folder,
        default=str(reports_dir()),
        metavar="DIR",
        help=f"reports root to write <DIR>/clips/<profile>/ into (default: {shown(reports_dir())})",
    )
    p.set_defaults(func=cmd_clips)

    about = "fetch (cache, offline mirror, download) and checksum-verify datasets"
    p = sub.add_parser(
        "verify-data",
        help=about,
        description="Fetch each dataset into the cache (data/, or REPLICATE_DATA_DIR) from, in order: the cache, "
        "the offline mirror (REPLICATE_DATA_MIRROR, else ../shared/data beside the checkout), the official "
        "download; check every file against its pinned SHA-256 and print where it came from. With "
        "REPLICATE_DATA_SOURCE=tfds (extra: pip install -e '.[tfds]'), prepare and read them through "
        "tensorflow-datasets instead (its registered checksums; its data dir TFDS_DATA_DIR, default "
        "~/tensorflow_datasets; fed offline from a mirror folder that holds TFDS's files), as every run then does.",
    )
    p.add_argument("datasets", nargs="*", metavar="DATASET", help="mnist, cifar10 (default: all)")
    p.set_defaults(func=cmd_verify_data)
    return parser


def _raise_interrupted(signum: int, frame) -> None:
    raise Interrupted(signal.Signals(signum).name)


@contextlib.contextmanager
def interruptions_kept(delay: float = 0.02):
    """Within it, a Ctrl-C or SIGTERM whose KeyboardInterrupt Python had to drop is delivered again.

    Python raises the KeyboardInterrupt (or Interrupted) wherever the main thread is when the signal arrives. Inside
    a gc callback, a __del__ or a weakref callback it cannot propagate: Python reports it as an "Exception ignored"
    (sys.unraisablehook) and goes on, and the interruption is lost. JAX registers a gc callback
    (jax._src.lib._xla_gc_callback) and importing it collects often, so under KERAS_BACKEND=jax a Ctrl-C in the
    first seconds of a run was dropped silently (the import runs with stderr silenced) and the run went on to the
    end. The hook here raises the same signal again in the main thread `delay` seconds later, from a timer thread
    (_thread.interrupt_main): raised at once, it would land in the hook itself, where it is dropped too. Should it
    land in such a place again, the hook catches it again. Other unraisable exceptions go to the hook that was in
    place; a redelivery still pending when the block ends is cancelled."""
    previous = sys.unraisablehook
    pending: list[threading.Timer] = []

    def hook(unraisable) -> None:
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            name = getattr(unraisable.exc_value, "signal_name", "SIGINT")
            timer = threading.Timer(delay, _thread.interrupt_main, (getattr(signal, name, signal.SIGINT),))
            timer.daemon = True
            pending.append(timer)
            timer.start()
        else:
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous
        for timer in pending:
            timer.cancel()


def _os_error(exc: OSError) -> str:
    """An OSError (read-only folder, full disk, permission) as one line naming the path."""
    where = f"{exc.filename}: " if exc.filename else ""
    return f"{where}{exc.strerror or exc} (errno {exc.errno})" if exc.errno else f"{where}{exc}"


def _unexpected(exc: Exception, args: argparse.Namespace) -> str:
    """The one line for a failure no check foresaw: what it was, where it most likely came from (--set values the
    replication cannot run with, when there are any; else a bug), and how to see the traceback."""
    where = "".join(str(exc).split("\n")[:1])[:300]
    cause = (
        "probably a --set value this replication cannot run with"
        if getattr(args, "set_texts", None)
        else "a bug or a config value this replication cannot run with"
    )
    return f"{type(exc).__name__}: {where} ({cause}; REPLICATE_TRACEBACK=1 shows the traceback)"


def _folder(text: str) -> str:
    """An argparse type: a folder path that is not empty (an empty one would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path: name a folder (. for the current one)")
    return text


KERAS_BACKENDS = ("tensorflow", "jax")
"""The Keras backends this suite runs on (README: TensorFlow, or JAX on the GPU machines)."""


def _configured_backend() -> tuple[str, object] | None:
    """(where, backend) as Keras 3 will choose it (keras/src/backend/config.py): a non-empty KERAS_BACKEND, else the
    `backend` of keras.json in KERAS_HOME (read as given, even empty) or ~/.keras (/tmp/.keras when home is not
    writable); None when neither says (Keras's default, TensorFlow) or keras.json is not valid JSON (Keras then
    uses its defaults). A keras.json that is JSON but not an object is a ReplicateError: Keras fails on it."""
    backend = os.environ.get("KERAS_BACKEND")
    if backend:  # Keras ignores an empty one
        return "KERAS_BACKEND", backend
    if "KERAS_HOME" in os.environ:
        base = os.environ["KERAS_HOME"]
    else:
        home = os.path.expanduser("~")
        base = os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")
    config = os.path.expanduser(os.path.join(base, "keras.json"))
    try:
        with open(config) as handle:
            values = json.load(handle)
    except (OSError, ValueError):
        return None
    if not isinstance(values, dict):
        raise ReplicateError(f"{config}: Keras's config must be a JSON object, got {type(values).__name__}")
    return (f"{config} (backend)", values["backend"]) if "backend" in values else None


def _check_keras_backend() -> None:
    """The backend Keras will load (KERAS_BACKEND, else keras.json) is a supported one that is installed; else one
    ReplicateError (Keras itself would raise a ValueError or ModuleNotFoundError at its import, deep inside a
    command, or load torch, which crashes a process that holds TensorFlow)."""
    configured = _configured_backend()
    if configured is None:
        return
    where, backend = configured
    said = f"KERAS_BACKEND={backend!r}" if where == "KERAS_BACKEND" else f"{where} is {brief(backend)}"
    if backend not in KERAS_BACKENDS:
        hint = "" if where == "KERAS_BACKEND" else " (KERAS_BACKEND=tensorflow overrides it)"
        raise ReplicateError(f"{said}: this suite runs on {' or '.join(KERAS_BACKENDS)}{hint}")
    if importlib.util.find_spec(backend) is None:
        extra = " (pip install -e '.[jax]')" if backend == "jax" else ""
        raise ReplicateError(f"{said}, but {backend} is not installed{extra}")


def main(argv: list[str] | None = None) -> int:
    """Entry point. Every failure prints one `error:` line: a bad command line exits 2, bad input or an OS error
    (read-only folder, full disk) 1, an interruption 130 (Ctrl-C) or 143 (SIGTERM), after cleaning up."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "sweep" and args.address is not None and args.engine != "ray":
        parser.error("argument --address: only for --engine ray (the local engine runs here)")
    if args.command == "sweep" and args.engine == "ray" and args.workers is not None:
        parser.error("argument --workers: only for --engine local (Ray places runs by their resources blocks)")
    if args.command == "sweep" and args.workers is None:
        args.workers = 1
    if args.command == "run":
        args.seeds = list(dict.fromkeys(args.seed_list or args.seeds or [0]))
    previous = signal.signal(signal.SIGTERM, _raise_interrupted)  # SIGTERM cleans up as Ctrl-C does
    try:
        with interruptions_kept():
            _check_keras_backend()
            args.func(args)
    except ReplicateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (`replicate list | head`): stop quietly, as SIGPIPE would
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:
        print(f"error: {_os_error(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - an unforeseen failure is still one line (the traceback on request)
        if os.environ.get("REPLICATE_TRACEBACK"):
            raise
        print(f"error: {_unexpected(exc, args)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        name = getattr(exc, "signal_name", "SIGINT")
        context = getattr(exc, "context", "") or f"replicate {args.command} stopped"
        print(f"error: interrupted ({name}): {context}", file=sys.stderr)
        return Interrupted.EXIT_CODES.get(name, 130)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


if __name__ == "__main__":
    sys.exit(main())
