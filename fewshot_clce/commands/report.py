"""``fewshot-clce report DIR``: the reproduction report of a finished benchmark folder."""

from __future__ import annotations

import argparse
import sys

from ..stats.seeds import DEFAULT_SEED_METHOD, SEED_METHODS


def add_parser(sub) -> None:
    p = sub.add_parser(
        "report",
        help="write the reproduction report of a finished benchmark folder",
        description="Recompute every summary from DIR/per_episode.csv and write DIR/REPORT.md "
        "and DIR/report.ipynb: each compared loss against the "
        "baseline (and the CLCE paper's claims when the run holds what "
        "they need) with what this run found (numbers, 95% CIs, "
        "Holm-adjusted p, number of seeds), sanity warnings, the tables "
        "and the plots.",
    )
    p.add_argument("folder", help="the --out folder of a finished `fewshot-clce benchmark`")
    p.add_argument(
        "--seed-ci",
        default=DEFAULT_SEED_METHOD,
        choices=SEED_METHODS,
        help="seed-level interval: crossed (the seeds x episodes random-effects t interval, default) "
        "or bootstrap (the hierarchical bootstrap, for comparison)",
    )
    p.add_argument(
        "--n-boot",
        type=int,
        default=None,
        help="resamples of --seed-ci bootstrap (default: the benchmark's)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..report.writer import write_report
    from ..utils import checks as _checks

    if args.n_boot is not None:
        _checks.at_least("n_boot", args.n_boot)
    from ..benchmark.budget_report import is_budget_study, write_budget_report

    if is_budget_study(args.folder):  # the budgets' own reports: `report FOLDER/epochs-E`
        paths = write_budget_report(args.folder)
        print("wrote " + ", ".join(str(p) for p in paths))
        return 0
    paths, findings = write_report(
        args.folder,
        n_boot=args.n_boot,
        seed_method=args.seed_ci,
        log=lambda warning: print(warning, file=sys.stderr),
    )
    for f in findings:
        print(f"- {f.claim}: {f.headline}")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0
