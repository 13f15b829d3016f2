"""``fewshot-clce evaluate``: a run on episode manifests -> per-episode CSV and a summary table."""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ..heads import list_heads
from ..stats.intervals import CI_METHODS


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
    p.add_argument("--ci", default="normal", choices=CI_METHODS, help="confidence-interval method")
    p.set_defaults(func=run)


def format_summary(summary: pd.DataFrame) -> str:
    """The printed table: dataset, split, ways, shots, head, episodes, mean ± CI (percent)."""
    table = summary[["dataset", "split", "ways", "shots", "head", "episodes"]].copy()
    table["accuracy (%)"] = [f"{100 * m:.2f} ± {100 * c:.2f}" for m, c in zip(summary["mean"], summary["ci"])]
    table["ci"] = [f"{conf:.0%} {m}" for conf, m in zip(summary["confidence"], summary["ci_method"])]
    return table.to_string(index=False)


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
