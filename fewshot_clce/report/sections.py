"""The markdown of a benchmark's analysis: its summary tables per dataset and per cross-domain
pair, and the sections of REPORT.md (also the markdown cells of report.ipynb).

Files are written by :mod:`fewshot_clce.report.writer`; this module only builds the text.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import pandas as pd

from ..stats import seeds as seedstats
from ..stats.intervals import episode_method_text
from ..stats.summary import hparam_columns
from .analysis import Analysis
from .claims import NOT_MEASURED, PAPER, REFERENCE_LOSSES, Finding, compared_losses
from .paper_claims import unchecked_paper_claims
from .sanity import sanity_sections
from .tables import (
    ci_legend,
    selection_markdown,
    sentence,
    summary_markdown,
    transfer_markdown,
    trust_text,
)
from .tuning import common_settings, grid_edges, tuning_markdown


def dataset_tables(an: Analysis) -> dict[str, str]:
    """dataset -> markdown of the main table and its legend."""
    out = {}
    for d in an.datasets:
        s = an.main[an.main["dataset"] == d]
        out[d] = summary_markdown(s, an.baseline) + "\n\n" + ci_legend(s)
    return out


def transfer_tables(an: Analysis) -> dict[tuple[str, str], str]:
    """(trained on, evaluated on) -> markdown of the cross-domain table and its legend."""
    out = {}
    for x, y in an.transfers:
        s = an.cross[(an.cross["train_dataset"] == x) & (an.cross["dataset"] == y)]
        out[(x, y)] = summary_markdown(s, an.baseline) + "\n\n" + ci_legend(s)
    return out


def transfer_overview(an: Analysis) -> list[str]:
    """Per training dataset with cross-domain rows: its chosen configurations on every dataset, one column each."""
    return [
        f"## trained on {x}: accuracy % on the novel classes of each dataset (95% CI; configurations "
        f"chosen on {x}'s val split)\n\n" + transfer_markdown(an.main, an.cross, x)
        for x in dict.fromkeys(x for x, _ in an.transfers)
    ]


def _claim_md(i: int, f: Finding) -> str:
    disagree = f" {sentence(f.disagreement)}." if f.disagreement else ""
    return f"### Claim {i}: {f.claim}\n\n**This run: {f.verdict}.**{disagree} {f.text}\n\n{f.table}".rstrip()


def report_title(an: Analysis, findings: list[Finding]) -> str:
    """``"Loss comparison: clce, supcon against ce"``, naming the CLCE paper when its claims are
    checked."""
    losses = compared_losses(an)
    trained = [loss for loss in pd.unique(an.main["loss"]) if loss not in REFERENCE_LOSSES]
    title = (
        f"Loss comparison: {', '.join(losses)} against {an.baseline}"
        if losses
        else f"Loss comparison: {', '.join(trained or pd.unique(an.main['loss']))}"
    )
    if any(f.source == "paper" for f in findings):
        title += f", with the claims of {PAPER}"
    return title


def claims_sections(an: Analysis, findings: list[Finding]) -> list[str]:
    """The verdicts in a list each: the compared losses against the baseline, the paper's claims."""
    out = []
    mine = [f for f in findings if f.source == "losses"]
    title = f"## Each loss against {an.baseline}\n\n"
    if mine:
        out.append(title + "\n".join(f"- **{f.claim}**: {f.headline}" for f in mine))
    elif not (an.main["loss"] == an.baseline).any():
        out.append(
            title + f"The baseline `{an.baseline}` is not in this run: no loss is compared "
            "with it (pass --baseline with a loss of the run)."
        )
    else:
        out.append(
            title + f"Only the baseline `{an.baseline}` was trained: no other loss to "
            "compare with it."
        )
    paper = [f for f in findings if f.source == "paper"]
    unchecked = unchecked_paper_claims(an, findings)
    if paper or unchecked:
        lines = [f"- **{f.claim}**: {f.headline}" for f in paper]
        lines += [f"- {u}: {NOT_MEASURED}" for u in unchecked]
        out.append(f"## The claims of {PAPER}\n\n" + "\n".join(lines))
    return out


def _fmt_seconds(s) -> str:
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "unknown"
    return f"{s / 60:.1f} min" if s >= 90 else f"{s:.0f} s"


def method_lines(an: Analysis) -> list[str]:
    """The statistics behind every table and verdict, one line each (REPORT.md)."""
    seed_ci = seedstats.method_text(an.seed_method, an.n_boot, an.boot_seed)
    seed_test = (
        "the seed-level t test of the crossed seeds x episodes model"
        if an.seed_method == "crossed"
        else "the seed-level bootstrap's (its percentile interval inverted)"
    )
    return [
        f"Episode-level CI: {episode_method_text(an.ci_method)} of the per-episode accuracies (averaged over "
        "seeds); it leaves seed-to-seed noise out.",
        f"Seed-level CI (two or more seeds): {seed_ci}. {sentence(trust_text(len(an.seeds)))}.",
        "Δ: paired on the same episodes, seed by seed. With two or more seeds its p-value is "
        f"{seed_test} and W/T/L counts seeds whose own Δ is above / equal to / below 0; "
        "the episode-level Wilcoxon signed-rank p and W/T/L over episodes, which ignore seed noise, are only in "
        "summary.csv (p_episode, ep_wins, ep_ties, ep_losses). With one seed, p and W/T/L are those episode-level "
        "ones, and the tables say so.",
        f"Verdicts: from the seed-level test of Δ = 0 with at least {seedstats.TRUSTED_SEEDS} "
        "seeds, its p Holm-adjusted over the cells a claim looks at: a cell is supported when the "
        "adjusted p is below 0.05 and Δ > 0, contradicted when below 0.05 and Δ < 0, else "
        "inconclusive; with fewer seeds there is no verdict and the claim shows the episode-level "
        "numbers (t interval and paired t test over episodes). A cell's interval and p always come "
        "from one method. When the seeds' own Δ disagree in sign, the verdict says so.",
    ]


def report_sections(
    an: Analysis,
    findings: list[Finding],
    config: dict,
    timing: dict,
    folder: Path,
    novel_classes: Optional[dict[str, int]] = None,
) -> list[str]:
    """The report as markdown sections (also the notebook's markdown cells).

    Args:
        novel_classes: dataset -> classes of its novel split, for the small-split warning (None:
            unknown, no warning).
    """
    sections = [
        _head(an, findings, config, timing, folder),
        *claims_sections(an, findings),
        *sanity_sections(an, novel_classes),
        _tuning_section(an, config),
    ]
    sections += [_claim_md(i + 1, f) for i, f in enumerate(findings)]
    sections += _dataset_sections(an, folder)
    sections += _cross_domain_sections(an, folder)
    hp = hparam_columns(an.chosen.columns)
    sections.append("## Chosen hyper-parameters (on val)\n\n" + selection_markdown(an.chosen, hp))
    sections += _sweep_sections(an, folder)
    sections.append(
        "## How the numbers are computed\n\n" + "\n".join(f"- {line}" for line in method_lines(an))
    )
    return sections


def _head(an: Analysis, findings: list[Finding], config: dict, timing: dict, folder: Path) -> str:
    """The title and the paragraph saying where the numbers come from."""
    cmd = config.get("command") or "(not recorded)"
    head = (
        f"# {report_title(an, findings)}\n\n"
        f"Generated from `{folder}`. Command: `{cmd}`. Training seeds: {an.seeds} "
        f"({len(an.seeds)}). Wall time: {_fmt_seconds(timing.get('total_s'))}. "
        f"Datasets: {', '.join(an.datasets)}. Hyper-parameters are chosen on the val split's episodes "
        f"and every number below is on novel classes."
    )
    if config.get("init_digest"):
        head += (
            f" Every loss fine-tuned from the same weights: `{config.get('init')}` (sha256 digest "
            f"{config['init_digest']})"
            + (
                "; the row `init` is them without fine-tuning."
                if (an.per_episode["loss"] == "init").any()
                else "."
            )
        )
    return head


def _tuning_section(an: Analysis, config: dict) -> str:
    """What was tuned on val and what was fixed, per trained loss, and the choices at a grid's
    edge."""
    edges = grid_edges(an.chosen, an.per_episode)
    trained = an.chosen[~an.chosen["loss"].isin(REFERENCE_LOSSES)]  # references: never trained
    return (
        "## What was tuned on val and what was fixed, per loss\n\n"
        + tuning_markdown(trained, an.per_episode, common_settings(config))
        + (
            "\n\n**Choices at the edge of their grid** (the best may lie beyond it):\n\n"
            + "\n".join(f"- {e.text()}" for e in edges)
            if edges
            else "\n\nNo choice sits at an open end of its grid."
        )
    )


def _dataset_sections(an: Analysis, folder: Path) -> list[str]:
    """Per dataset: its table of all losses and the plots drawn for it."""
    sections = []
    for d, table in dataset_tables(an).items():
        imgs = [
            p
            for p in (
                f"plots/accuracy_{d}.png",
                f"plots/differences_{d}.png",
                f"plots/batch_size_{d}.png",
                f"plots/tsne_{d}.png",
            )
            if (folder / p).is_file()
        ]
        sections.append(
            f"## {d}: all losses\n\n{table}\n\n"
            + "\n\n".join(f"![{Path(p).stem}]({p})" for p in imgs)
        )
    return sections


def _cross_domain_sections(an: Analysis, folder: Path) -> list[str]:
    """The cross-domain overview per training dataset, then each (trained on, evaluated on) pair's
    table and plot."""
    sections = []
    if an.transfers:
        sections += [s.replace("## ", "## Cross-domain: ", 1) for s in transfer_overview(an)]
    for (x, y), table in transfer_tables(an).items():
        img = f"plots/accuracy_{x}_on_{y}.png"
        sections.append(
            f"## Trained on {x}, evaluated on {y}\n\n{table}"
            + (f"\n\n![{Path(img).stem}]({img})" if (folder / img).is_file() else "")
        )
    return sections


def _sweep_sections(an: Analysis, folder: Path) -> list[str]:
    """The sensitivity plots per dataset and the ablation table of each swept hyper-parameter."""
    sections = []
    for d in an.datasets:
        imgs = sorted(
            p.relative_to(folder).as_posix()
            for p in (folder / "plots").glob(f"sensitivity_{d}_*.png")
        )
        if imgs:
            sections.append(
                f"## {d}: sensitivity (val and novel accuracy against each swept value)\n\n"
                + "\n\n".join(f"![{Path(p).stem}]({p})" for p in imgs)
            )
    for name in an.profiles:
        sections.append(
            f"## Ablation: {name}\n\nThe losses that tried two or more values of {name} "
            f"({', '.join(an.swept_by(name))}), beside the baseline {an.baseline}; at each value "
            f"the other hyper-parameters are chosen on val.\n\n"
            + summary_markdown(an.profile_of(name), an.baseline, extra=[name])
        )
    return sections
