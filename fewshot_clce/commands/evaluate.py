"""``fewshot-clce evaluate``: a run on episode manifests -> per-episode CSV and a summary table."""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ..heads import list_heads
from ..report.tables import fmt_interval, seeds_flag
from ..stats.intervals import CI_METHODS, DEFAULT_CI_METHOD


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def add_common(p: argparse.ArgumentParser) -> None:
    """Options shared by ``evaluate`` and ``compare``."""
    p.add_argument("--episodes", nargs="+", required=True, metavar="MANIFEST",
                   help="episode manifests (.npz or .csv) of the run's dataset")
    p.add_argument("--head", nargs="+", default=["centroid", "logistic"], choices=list_heads(),
                   help="heads fitted on each episode's support set (default: centroid logistic)")
    p.add_argument("--which", default="best", choices=("best", "last"), help="checkpoint to evaluate")
    p.add_argument("--flip", action="store_true", help="average features over a horizontal flip")
    p.add_argument("--batch-size", type=_positive_int, default=256, help="images per forward pass")
    p.add_argument("--device", default="cpu", help="where the backbone runs (cpu, cuda, cuda:N, auto)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")
    # --root as in `datasets`, `show` and `episodes`; --data-root as in `train`
    p.add_argument("--data-root", "--root", dest="data_root", default=None,
                   help="dataset folder (default: the run's)")


def evaluate_kwargs(args: argparse.Namespace) -> dict:
    return dict(which=args.which, flip=args.flip, batch_size=args.batch_size, device=args.device,
                cache=not args.no_cache, data_root=args.data_root)


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="evaluate a trained run on episode manifests",
                       description="Extract features once per image, fit each head on every episode, write "
                                   "one CSV row per (episode, head) and print mean accuracy with its CI.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="folder written by `fewshot-clce train`")
    add_common(p)
    p.add_argument("--out", default=None, metavar="CSV",
                   help="per-episode results file (default: RUN_DIR/evaluation.csv)")
    p.add_argument("--force", action="store_true", help="replace an existing results file")
    p.add_argument("--ci", default=DEFAULT_CI_METHOD, choices=CI_METHODS,
                   help=f"confidence-interval method over episodes (default: {DEFAULT_CI_METHOD})")
    p.set_defaults(func=run)


def ci_footer(summary: pd.DataFrame) -> str:
    """Which interval the table shows, and what it leaves out."""
    lines = [f"{c:.0%} CI: {m}" for c, m in dict.fromkeys(zip(summary["confidence"], summary["ci_method"]))]
    if (summary["ci_kind"] == "episode").any():
        lines.append("one training seed per run: the CI measures episode noise only, not seed-to-seed noise "
                     f"(a seed-level CI needs a benchmark with several seeds: fewshot-clce benchmark {seeds_flag()})")
    return "\n".join(lines)


def format_summary(summary: pd.DataFrame) -> str:
    """The printed table: dataset, split, ways, shots, head, episodes, mean and CI (percent), then the
    interval method in words.

    Args:
        summary: rows of :func:`fewshot_clce.stats.summary.summarize` (``by="run"``).
    """
    table = summary[["dataset", "split", "ways", "shots", "head", "n_episodes"]].rename(columns={"n_episodes": "episodes"})
    table["accuracy (%)"] = [fmt_interval(*r) for r in zip(summary["mean"], summary["ci_low"], summary["ci_high"],
                                                        summary["ci_kind"])]
    return table.to_string(index=False) + "\n" + ci_footer(summary)


def run(args: argparse.Namespace) -> int:
    from ..utils import files as _io
    from ..evaluation import evaluate_run, summarize

    out = Path(args.out) if args.out else Path(args.run_dir) / "evaluation.csv"
    _io.check_output_file(out, "--out")  # before the evaluation, not after it
    if out.exists() and not args.force:
        raise FileExistsError(f"{str(out)!r} exists; pass --force to replace it or --out to write elsewhere")
    results = evaluate_run(args.run_dir, args.episodes, args.head, **evaluate_kwargs(args))
    _io.write_csv(results, out, overwrite=args.force)
    print(format_summary(summarize(results, method=args.ci)))
    print(f"per-episode results: {out}")
    return 0
