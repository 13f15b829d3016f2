"""Sanity checks of a benchmark's results, as warnings for the console and REPORT.md.

- **Training made it better.** Every benchmark evaluates the backbone before any training (the loss
  ``untrained``: the initialisation of each training seed, or ``init``: the ``--init`` weights
  without fine-tuning). A chosen configuration whose paired Δ against that row does not lie above 0
  in some cell (the headline interval: seed level with two or more seeds) is named: its training
  made the features no better, measurably, than the starting point.
- **Enough novel classes.** With fewer than ``2 x ways`` classes in the novel split, every episode
  holds nearly the same classes: episodes are not independent draws of the task, and episode-level
  intervals and p-values (which treat them so) overstate the evidence.
- **Novel classes unseen in pretraining.** A backbone pretrained on ImageNet (the ``pretrained_on``
  column) evaluated on mini-ImageNet or tiered-ImageNet, whose classes are ImageNet classes
  (:func:`~fewshot_clce.backbones.provenance.imagenet_overlap_warning`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Optional

import pandas as pd

from ..stats import selection
from ..stats.summary import summarize
from .analysis import Analysis
from .claims import REFERENCE_LOSSES
from .tables import fmt_interval

WARNING = "WARNING: "


def reference_loss(an: Analysis) -> Optional[str]:
    """The row of the backbone before training (``untrained``, else ``init``); None when the run has
    none."""
    present = set(an.main["loss"])
    return next((name for name in REFERENCE_LOSSES if name in present), None)


def untrained_warnings(an: Analysis) -> list[str]:
    """One warning per (dataset, chosen configuration) that does not beat the untrained row in some
    cell."""
    ref = reference_loss(an)
    if ref is None:
        return []
    table = summarize(
        selection.restrict(an.per_episode, an.chosen),
        baseline=ref,
        ci_method=an.ci_method,
        n_boot=an.n_boot,
        boot_seed=an.boot_seed,
        seed_method=an.seed_method,
    )
    table = table[~table["loss"].isin(REFERENCE_LOSSES) & table["delta"].notna()]
    what = (
        "the untrained backbone (same initialisation, no training)"
        if ref == "untrained"
        else "the --init weights without fine-tuning"
    )
    out = []
    for (dataset, config), g in table.groupby(["dataset", "config"], sort=False):
        bad = g[~(g["delta_ci_low"] > 0)]
        if bad.empty:
            continue
        cells = "; ".join(
            f"{r['head']} {r['shots']}-shot: Δ "
            + fmt_interval(
                r["delta"], r["delta_ci_low"], r["delta_ci_high"], r["delta_ci_kind"], signed=True
            )
            for _, r in bad.iterrows()
        )
        out.append(
            f"{WARNING}{dataset}: {config} does not beat {what} in {len(bad)} of {len(g)} cells "
            f"({cells} "
            f"points, 95% CI): its training made the features no better, measurably, than the "
            f"starting point"
        )
    return out


def few_classes_warning(where: str, n_classes: int, ways: int) -> str:
    """The warning for a split of ``n_classes`` classes drawn into ``ways``-way episodes; "" when
    enough."""
    if n_classes >= 2 * ways:
        return ""
    return (
        f"{WARNING}{where} has {n_classes} classes for {ways}-way episodes (fewer than "
        f"2 x {ways}): every episode holds nearly the same classes, so the episodes are not "
        "independent draws and episode-level p-values and intervals overstate the evidence; use a "
        "split of at least "
        f"{2 * ways} classes, and read "
        f"seed-level numbers"
    )


def episode_set_warnings(episode_sets) -> list[str]:
    """The small-split warning for each distinct (dataset, split, ways) of loaded episode manifests.

    The split's class count is the one a bound manifest records; else the classes its episodes
    use (a lower bound: the episodes then repeat those classes whatever the split holds).
    """
    import numpy as np

    out = []
    seen = set()
    for es in episode_sets:
        key = (es.dataset, es.split, es.ways)
        if key in seen:
            continue
        seen.add(key)
        n_classes = es.meta.get("num_classes") or len(np.unique(es.classes))
        where = (
            f"the {es.split or 'episodes'} split of {es.dataset}"
            if es.dataset
            else "the episodes' split"
        )
        text = few_classes_warning(where, int(n_classes), es.ways)
        if text:
            out.append(text)
    return out


def small_split_warnings(an: Analysis, novel_classes: Optional[Mapping[str, int]]) -> list[str]:
    """One warning per dataset whose novel split has fewer than ``2 x ways`` classes."""
    out = []
    df = an.per_episode[an.per_episode["split"] == "novel"]
    for dataset, n_classes in (novel_classes or {}).items():
        for ways in sorted(int(w) for w in df.loc[df["dataset"] == dataset, "ways"].unique()):
            text = few_classes_warning(f"the novel split of {dataset}", int(n_classes), ways)
            if text:
                out.append(text)
    return out


def pretraining_warnings(an: Analysis) -> list[str]:
    """One warning per dataset of ImageNet classes evaluated with a backbone pretrained on ImageNet,
    as the per-episode rows record it (``pretrained_on``), naming the losses concerned."""
    from ..backbones.provenance import imagenet_overlap_warning

    df = an.all_episodes
    if "pretrained_on" not in df.columns:
        return []
    out = []
    rows = df[df["pretrained_on"].notna()]
    for (dataset, pretrained_on), g in rows.groupby(["dataset", "pretrained_on"], sort=False):
        text = imagenet_overlap_warning(str(dataset), str(pretrained_on))
        if text:
            losses = ", ".join(str(loss) for loss in pd.unique(g["loss"]))
            out.append(f"{WARNING}{dataset} ({losses}): {text}")
    return out


def sanity_warnings(an: Analysis, novel_classes: Optional[Mapping[str, int]] = None) -> list[str]:
    """Every sanity warning of a benchmark's results (see the module docstring)."""
    return (
        pretraining_warnings(an) + small_split_warnings(an, novel_classes) + untrained_warnings(an)
    )


def sanity_sections(an: Analysis, novel_classes: Optional[Mapping[str, int]] = None) -> list[str]:
    """REPORT.md's section of sanity checks: the warnings, or what was checked and passed."""
    warnings = sanity_warnings(an, novel_classes)
    ref = reference_loss(an)
    checked = []
    if ref is not None and not any("does not beat" in w for w in warnings):
        checked.append(
            f"every chosen configuration beats the row `{ref}` (the backbone before training) in "
            "every cell"
        )
    if novel_classes and not any("classes for" in w for w in warnings):
        checked.append("every novel split has at least 2 x ways classes")
    if ref is None:
        checked.append(
            "no row of the backbone before training in these results: whether training helped "
            "is not checked"
        )
    lines = [f"- **{w}**" for w in warnings] + [f"- {c}." for c in checked]
    return ["## Sanity checks\n\n" + "\n".join(lines)] if lines else []


def novel_class_counts(datasets: Mapping[str, object]) -> dict[str, int]:
    """dataset -> number of classes of its novel split (loaded datasets keyed by identity)."""
    return {
        d: int(ds.split("novel").num_classes) for d, ds in datasets.items() if "novel" in ds.splits
    }
