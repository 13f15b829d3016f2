"""``fewshot-clce evaluate``: a run on episode manifests -> per-episode CSV and a summary table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

import pandas as pd

from ..report.tables import fmt_interval, seeds_flag
from ..stats.intervals import CI_METHODS, DEFAULT_CI_METHOD
from .evaluation_options import add_common, episodes_of, evaluate_kwargs
from .options import add_backbone_options, add_run_dir_argument, check_backbone_source, check_out


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a trained run (or any backbone's weights) on episode manifests",
        description="Extract features once per image, fit each head on every episode, write "
        "one CSV row per (episode, head) and print mean accuracy with its CI. The "
        "episodes may be of another dataset than the run was trained on: its "
        "preprocessing adapts the images (size; grayscale <-> RGB).",
        epilog="Without a run folder: --backbone NAME with --checkpoint FILE or --pretrained "
        "evaluates those weights (a run's checkpoint file gives its own preprocessing).",
    )
    add_run_dir_argument(p)
    add_common(p)
    add_backbone_options(
        p,
        checkpoint_help="its weights: a run's checkpoint, a state dict (.pt, .pth) or "
        ".safetensors; RFS, MetaOptNet, FEAT, easyfsl, learn2learn and ProtoNet "
        "files are recognised",
        image_size_help="square input side (default: the checkpoint's run, timm's, else the "
        "images')",
        channel_help=", one value or one per channel",
        pretrained_on_help="what the weights were pretrained on (e.g. imagenet), recorded with "
        "the results and flagged on mini-/tiered-ImageNet (default: timm's tag for "
        "--pretrained)",
    )
    p.add_argument(
        "--out",
        default=None,
        metavar="CSV",
        help="per-episode results file (default: RUN_DIR/evaluation.csv; required with --backbone)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing results file")
    p.add_argument(
        "--ci",
        default=DEFAULT_CI_METHOD,
        choices=CI_METHODS,
        help=f"confidence-interval method over episodes (default: {DEFAULT_CI_METHOD})",
    )
    p.set_defaults(func=run)


def ci_footer(summary: pd.DataFrame) -> str:
    """Which interval the table shows, and what it leaves out."""
    lines = [
        f"{c:.0%} CI: {m}"
        for c, m in dict.fromkeys(zip(summary["confidence"], summary["ci_method"]))
    ]
    if (summary["ci_kind"] == "episode").any():
        lines.append(
            "one training seed per run: the CI measures episode noise only, not seed-to-seed noise "
            f"(a seed-level CI needs a benchmark with several seeds: fewshot-clce benchmark {seeds_flag()})"
        )
    return "\n".join(lines)


def format_summary(summary: pd.DataFrame, results: Optional[pd.DataFrame] = None) -> str:
    """The printed table: dataset, split, ways, shots, head, episodes, embedding size, mean and CI
    (percent), then the interval method in words.

    Args:
        summary: rows of :func:`fewshot_clce.stats.summary.summarize` (``by="run"``).
        results: the per-episode rows, whose ``embedding_dim`` the table names.
    """
    table = summary[["dataset", "split", "ways", "shots", "head", "n_episodes"]].rename(
        columns={"n_episodes": "episodes"}
    )
    if results is not None and "embedding_dim" in results.columns and "run" in summary.columns:
        dims = results.groupby("run")["embedding_dim"].first()
        table["dim"] = [int(dims[r]) if r in dims.index else "" for r in summary["run"]]
    table["accuracy (%)"] = [
        fmt_interval(*r)
        for r in zip(summary["mean"], summary["ci_low"], summary["ci_high"], summary["ci_kind"])
    ]
    return table.to_string(index=False) + "\n" + ci_footer(summary)


def run(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate_backbone, evaluate_run
    from ..stats.summary import summarize
    from ..utils import files as _io

    check_backbone_source(args, "nothing to evaluate")
    if args.backbone and not args.out:
        raise ValueError(
            "--backbone has no run folder to write evaluation.csv into: pass --out CSV"
        )
    out = Path(args.out) if args.out else Path(args.run_dir) / "evaluation.csv"
    check_out(out, args.force)  # before the evaluation, not after it
    episodes = episodes_of(args)
    if args.run_dir:
        results = evaluate_run(
            args.run_dir,
            episodes,
            args.head,
            pretrained_on=args.pretrained_on,
            **evaluate_kwargs(args),
        )
    else:
        kw = evaluate_kwargs(args)
        kw.pop("which")
        results = evaluate_backbone(
            args.backbone,
            episodes,
            checkpoint=args.checkpoint,
            pretrained=args.pretrained,
            image_size=args.image_size,
            mean=args.mean,
            std=args.std,
            heads=args.head,
            checkpoint_prefix=args.checkpoint_prefix,
            checkpoint_key=args.checkpoint_key,
            pretrained_on=args.pretrained_on,
            **kw,
        )
    if results.attrs.get("checkpoint_layout"):
        print(f"{args.checkpoint}: {results.attrs['checkpoint_layout']}")
    warnings = results.attrs.get("warnings", [])
    _io.write_csv(results, out, overwrite=args.force)
    warning = base_split_warning(results)
    if warning:
        print(warning, file=sys.stderr)
    print(
        format_summary(
            summarize(results, baseline=None, split=None, ci_method=args.ci, by="run"), results
        )
    )
    print(adaptation_note(results))
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    print(f"per-episode results: {out}")
    return 0


def base_split_warning(results: pd.DataFrame) -> str:
    """A warning when a run is evaluated on episodes of the base split of the dataset it was trained
    on: its training classes, so the accuracy is no few-shot accuracy; empty otherwise."""
    if not {"split", "dataset", "train_dataset"} <= set(results.columns):
        return ""
    own = results[(results["split"] == "base") & (results["dataset"] == results["train_dataset"])]
    if own.empty:
        return ""
    return (
        f"WARNING: these episodes are drawn from the base split of {own['dataset'].iloc[0]}, "
        "the classes the run was trained on: their accuracy measures memorised classes, not "
        "few-shot learning; evaluate on the novel split (or val) for few-shot accuracy"
    )


def adaptation_note(results: pd.DataFrame) -> str:
    """``trained on glyphs, evaluated on digits (images adapted: 8x8 -> 28x28)``."""
    parts = []
    for (train, ds, how), _ in results.groupby(
        ["train_dataset", "dataset", "adaptation"], sort=False
    ):
        parts.append(f"trained on {train}, evaluated on {ds} (images adapted: {how})")
    return "; ".join(parts)
