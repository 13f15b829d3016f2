"""``fewshot-clce compare``: two runs on the same episodes, paired per episode."""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ..stats.intervals import CI_METHODS
from .evaluate import add_common, episodes_of, evaluate_kwargs


def add_parser(sub) -> None:
    p = sub.add_parser("compare", help="paired comparison of two runs on the same episodes",
                       description="Evaluate two runs on the same manifests and report, per head and "
                                   "episode setting, the mean accuracy difference A - B with its CI, the "
                                   "Wilcoxon signed-rank p-value and wins/ties/losses of A.")
    p.add_argument("run_a", metavar="RUN_A")
    p.add_argument("run_b", metavar="RUN_B")
    add_common(p)
    p.add_argument("--ci", default="t", choices=CI_METHODS, help="CI method of the mean difference")
    p.add_argument("--out", default=None, metavar="CSV", help="also write the comparison table here")
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.set_defaults(func=run)


def format_comparison(table: pd.DataFrame) -> str:
    shown = table[["dataset", "split", "ways", "shots", "head", "n"]].copy()
    shown["A (%)"] = (100 * table["mean_a"]).map("{:.2f}".format)
    shown["B (%)"] = (100 * table["mean_b"]).map("{:.2f}".format)
    shown["A-B (%)"] = [f"{100 * d:+.2f} ± {100 * h:.2f}" for d, h in zip(table["diff"], table["diff_half_width"])]
    shown["ci"] = [f"{conf:.0%} {m}" for conf, m in zip(table["confidence"], table["method"])]
    shown["wilcoxon p"] = table["p_wilcoxon"].map("{:.3g}".format)
    shown["W/T/L"] = [f"{w}/{t}/{l}" for w, t, l in zip(table["wins"], table["ties"], table["losses"])]
    return shown.to_string(index=False)


def run(args: argparse.Namespace) -> int:
    from ..utils import files as _io
    from ..evaluation import compare_runs

    if args.out:
        _io.check_output_file(args.out, "--out")  # before the evaluations, not after them
    if args.out and Path(args.out).exists() and not args.force:
        raise FileExistsError(f"{args.out!r} exists; pass --force to replace it")
    table = compare_runs(args.run_a, args.run_b, episodes_of(args), args.head, method=args.ci,
                         **evaluate_kwargs(args))
    print(f"A = {table['run_a'].iloc[0]}, B = {table['run_b'].iloc[0]}")
    print(format_comparison(table))
    if args.out:
        _io.write_csv(table, args.out, overwrite=args.force)
    return 0
