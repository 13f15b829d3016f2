"""``fewshot-clce compare``: two runs on the same episodes, paired per episode."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from ..report.tables import CELL_LEVEL, P_HEADER, WTL_HEADER, fmt_interval
from ..stats.intervals import CI_METHODS, DEFAULT_CI_METHOD
from .evaluate import ci_footer
from .evaluation_options import add_common, episodes_of, evaluate_kwargs


def add_parser(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="paired comparison of two runs on the same episodes",
        description="Evaluate two runs on the same manifests and report, per head and "
        "episode setting, the mean accuracy difference A - B with its CI, the "
        "Wilcoxon signed-rank p-value and wins/ties/losses of A over the episodes "
        "(episode-level: one run of one seed each leaves seed-to-seed noise out).",
    )
    p.add_argument("run_a", metavar="RUN_A")
    p.add_argument("run_b", metavar="RUN_B")
    add_common(p)
    p.add_argument(
        "--ci",
        default=DEFAULT_CI_METHOD,
        choices=CI_METHODS,
        help=f"CI method of the mean difference over episodes (default: {DEFAULT_CI_METHOD})",
    )
    p.add_argument(
        "--out", default=None, metavar="CSV", help="also write the comparison table here"
    )
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=run)


def format_comparison(table: pd.DataFrame) -> str:
    """The printed table: setting, A, B, A − B with its CI, p-value and W/T/L, each labelled with its
    level (episode-level for single-seed runs), then the interval method in words.

    Args:
        table: rows of :func:`fewshot_clce.compare_results` (the summary schema).
    """
    shown = (
        table[["dataset", "split", "ways", "shots", "head", "paired_episodes"]]
        .rename(columns={"paired_episodes": "episodes"})
        .astype({"episodes": int})
    )
    shown["A (%)"] = (100 * table["mean"]).map("{:.2f}".format)
    shown["B (%)"] = (100 * table["baseline_mean"]).map("{:.2f}".format)
    shown["A-B (%)"] = [
        fmt_interval(*r, signed=True)
        for r in zip(
            table["delta"], table["delta_ci_low"], table["delta_ci_high"], table["delta_ci_kind"]
        )
    ]
    kinds = set(table["p_kind"])
    level = kinds.pop() if len(kinds) == 1 else "mixed"
    cell = (lambda k: CELL_LEVEL.get(k, "")) if level == "mixed" else (lambda k: "")
    shown[P_HEADER[level]] = [
        f"{p:.3g}{cell(k)}" for p, k in zip(table["p_value"], table["p_kind"])
    ]
    shown[WTL_HEADER[level]] = [
        f"{int(w)}/{int(t)}/{int(lost)}{cell(k)}"
        for w, t, lost, k in zip(table["wins"], table["ties"], table["losses"], table["wtl_kind"])
    ]
    footer = ci_footer(
        table.assign(ci_method=table["delta_ci_method"], ci_kind=table["delta_ci_kind"])
    )
    if (table["p_kind"] == "episode").any():
        footer += "; p and W/T/L are episode-level too (seed noise ignored)"
    return shown.to_string(index=False) + "\n" + footer


def run(args: argparse.Namespace) -> int:
    from ..comparison import compare_runs
    from ..episodes import EpisodeSet
    from ..report.sanity import episode_set_warnings
    from ..utils import files as _io

    if args.out:
        _io.check_output_file(args.out, "--out")  # before the evaluations, not after them
    if args.out and Path(args.out).exists() and not args.force:
        raise FileExistsError(f"{args.out!r} exists; pass --force to replace it")
    episodes = [e if isinstance(e, EpisodeSet) else EpisodeSet.load(e) for e in episodes_of(args)]
    table = compare_runs(
        args.run_a, args.run_b, episodes, args.head, method=args.ci, **evaluate_kwargs(args)
    )
    for warning in episode_set_warnings(episodes):  # after compare_runs found the episodes fit
        print(warning, file=sys.stderr)
    print(f"A = {table['run'].iloc[0]}, B = {table['baseline'].iloc[0]}")
    print(format_comparison(table))
    if args.out:
        _io.write_csv(table, args.out, overwrite=args.force)
    return 0
