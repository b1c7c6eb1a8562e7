"""The `replicate` command: list, run, report, verify-data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shared.errors import ReplicateError


def _parse_seeds(text: str) -> list[int]:
    """'0,1,2' or '0-2' -> [0, 1, 2]."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part:
                low, high = (int(p) for p in part.split("-", 1))
                seeds.extend(range(low, high + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad seed list {text!r} (expected e.g. 0,1,2 or 0-2)") from None
    return seeds


def _check_profile(profile: str) -> None:
    from shared.config import PROFILES

    if profile not in PROFILES:
        raise ReplicateError(f"unknown profile {profile!r} (expected one of: {', '.join(PROFILES)})")


def cmd_list(args: argparse.Namespace) -> None:
    from shared.report import evaluate

    _check_profile(args.profile)

    reports = evaluate(args.profile, Path(args.results))
    width = max((len(r.claim.replication) for r in reports), default=10)
    print(f"{'id':<{width}}  seeds  targets ({args.profile})")
    for rep in reports:
        print(f"{rep.claim.replication:<{width}}  {len(rep.runs):>5}  {rep.counts}")
        if args.targets:
            for result in rep.targets:
                label = result.target.label or result.target.metric
                why = f"  [{result.detail}]" if result.verdict == "not_run" else ""
                print(f"{'':<{width}}    {result.verdict:<15} {label}{why}")


def cmd_run(args: argparse.Namespace) -> None:
    from shared.backend import import_backend_quietly
    from shared.runner import replication_path, resolve_config, run_replication

    replication_path(args.id)  # unknown ids and profiles fail before the backend is imported
    _check_profile(args.profile)
    import_backend_quietly()
    resolve_config(args.id, args.profile)
    for seed in args.seeds:
        folder = run_replication(
            args.id,
            args.profile,
            seed,
            results_root=Path(args.out),
            deterministic=not args.no_determinism,
            resume=args.resume,
            variant=args.variant,
        )
        print(f"{args.id} {args.profile} seed {seed}: wrote {folder}")


def cmd_sweep(args: argparse.Namespace) -> None:
    from shared.runner import known_replications, replication_path
    from shared.sweep import summary_table, sweep

    _check_profile(args.profile)
    ids = args.replications or known_replications()
    for rid in ids:
        replication_path(rid)
    outcomes = sweep(
        args.profile,
        ids,
        args.seeds,
        Path(args.out),
        engine=args.engine,
        workers=args.workers,
        retries=args.retries,
        address=args.address,
    )
    print(summary_table(outcomes))
    if any(o.status == "failed" for o in outcomes):
        raise ReplicateError(f"{sum(o.status == 'failed' for o in outcomes)} run(s) failed; see the table above")


def cmd_report(args: argparse.Namespace) -> None:
    from shared.report import evaluate, readme_table, update_readme, write_report

    _check_profile(args.profile)

    reports = evaluate(args.profile, Path(args.results))
    out = write_report(
        args.profile, Path(args.results), Path(args.reports), figures=not args.no_figures, reports=reports
    )
    print(f"wrote {out / 'comparison.md'}, {out / 'claims.json'} and {out / 'verdict_history.csv'}")
    if args.readme:
        update_readme(Path(args.readme), readme_table(args.profile, reports))
        print(f"updated the claims table in {args.readme}")


def cmd_verify_data(args: argparse.Namespace) -> None:
    from shared.data import dataset_specs
    from shared.data.files import fetch_preferred

    specs = dataset_specs()
    names = args.datasets or sorted(specs)
    for name in names:
        if name not in specs:
            raise ReplicateError(f"unknown dataset {name!r} (known: {', '.join(sorted(specs))})")
    for name in names:
        spec, paths, sources = fetch_preferred(specs[name])
        for file_name, path in paths.items():
            print(f"ok  {name}/{file_name}  sha256 verified  ({sources[file_name]}) -> {path}")
        print(f"    variant: {spec.variant}")


def build_parser() -> argparse.ArgumentParser:
    from shared.paths import reports_dir, results_dir

    parser = argparse.ArgumentParser(prog="replicate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list", help="the replications and the mix of their target verdicts")
    p.add_argument("--profile", default="cpu", help="profile whose results are judged (default: cpu)")
    p.add_argument("--results", default=str(results_dir()))
    p.add_argument("--targets", action="store_true", help="one line per target, with why a target does not apply")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="run one replication for one or more seeds")
    p.add_argument("id")
    p.add_argument("--profile", default="cpu")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--seed", type=int, dest="seeds", action="append", help="repeatable")
    group.add_argument("--seeds", type=_parse_seeds, dest="seed_list", help="e.g. 0,1,2 or 0-2")
    p.add_argument("--out", default=str(results_dir()), help="results root (default: results/)")
    p.add_argument("--no-determinism", action="store_true", help="allow non-deterministic (faster) kernels")
    p.add_argument(
        "--resume", action="store_true", help="continue a killed run from its last checkpoint (if it left one)"
    )
    p.add_argument("--variant", help="run one variant only (an Atari game, a ResNet depth...) into seed_<n>@<variant>/")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sweep", help="run every missing (replication x seed) of a profile, locally or on Ray")
    p.add_argument("--profile", required=True)
    p.add_argument("--replications", nargs="+", help="ids (default: all)")
    p.add_argument("--seeds", type=_parse_seeds, default=[0, 1, 2], help="e.g. 0-4 (default 0-2)")
    p.add_argument("--engine", choices=["local", "ray"], default="local")
    p.add_argument("--address", help="Ray cluster address (default: start a local Ray)")
    p.add_argument("--workers", type=int, default=1, help="local engine: runs at a time (default 1)")
    p.add_argument("--retries", type=int, default=2, help="re-run a failed run this many times (RL runs resume)")
    p.add_argument("--out", default=str(results_dir()), help="results root (default: results/)")
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("report", help="write reports/<profile>/comparison.md, claims.json, figures")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--results", default=str(results_dir()))
    p.add_argument("--reports", default=str(reports_dir()))
    p.add_argument("--readme", help="also rewrite the claims table in this README")
    p.add_argument("--no-figures", action="store_true")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("verify-data", help="fetch (cache, mirror, download) and checksum-verify datasets")
    p.add_argument("datasets", nargs="*", help="default: all")
    p.set_defaults(func=cmd_verify_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; bad input prints one `error:` line and returns 1."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        args.seeds = args.seed_list or args.seeds or [0]
    try:
        args.func(args)
    except ReplicateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
