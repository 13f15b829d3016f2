"""The claims a benchmark can check, one by one: each compared loss against the baseline, and the
CLCE paper's claims when the run holds what they need (:mod:`fewshot_clce.report.paper_claims`).

Every claim looks at several cells (dataset x head x shots, or ablation steps), each a paired
difference Δ on the same episodes and seeds. A verdict rests on the seed-level test, and only
with at least :data:`~fewshot_clce.stats.seeds.TRUSTED_SEEDS` training seeds (fewer seeds give an
interval that covered the truth less often than stated in the coverage simulation):

- per cell, the p-value of Δ = 0 is Holm-adjusted over the claim's cells
  (:func:`fewshot_clce.stats.multiplicity.holm`), so that more cells do not make a "supported"
  easier to reach by chance; a cell is ``supported`` when its adjusted p is below 0.05 and Δ > 0,
  ``contradicted`` when below 0.05 and Δ < 0, else ``inconclusive``;
- the claim: ``supported`` when every cell is, ``contradicted`` when every cell is, ``partly
  supported`` / ``partly contradicted`` / ``inconclusive`` otherwise;
- with fewer seeds: ``one seed: no verdict`` (``2 seeds: no verdict``), with the episode-level
  numbers (t interval over episodes and the paired t test over episodes, Holm-adjusted too) shown
  for what they are: they leave seed-to-seed noise out.

Interval and p-value of a cell always come from one method (the crossed seeds x episodes model's
t, the hierarchical bootstrap inverted, or the episode-level t), so the unadjusted p is below 0.05
exactly when the 95% interval leaves 0 out. When the seeds' own Δ disagree in sign, the finding
says so next to the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import pandas as pd

from ..stats import seeds as seedstats
from ..stats.multiplicity import holm
from .analysis import Analysis
from .tables import fmt_interval, fmt_p, markdown, seeds_flag

NOT_MEASURED = "not measured in this run"
NO_VERDICT = "no verdict"
PAPER = "the CLCE paper (arXiv 2402.14551)"
# Rows that are references, not losses under comparison: the backbone before any training, and the
# --init weights without fine-tuning.
REFERENCE_LOSSES = ("untrained", "init")
ALPHA = 0.05


@dataclass
class Finding:
    """What a run found about one claim.

    Attributes:
        claim: the claim in words; verdict: see the module docstring; text: how it was measured
            (the verdict rule included); table: markdown of the compared cells; rows: those cells;
            source: ``"losses"`` (a compared loss against the baseline) or ``"paper"``.
    """

    claim: str
    verdict: str
    text: str
    table: str = ""
    rows: list[dict] = field(default_factory=list)
    source: str = "losses"

    @property
    def disagreement(self) -> str:
        """``"seeds disagree in sign in 1 of 4 cells: clce − ce, centroid 5-shot: 2 of 3
        positive"``, or ""."""
        cells = [
            r
            for r in self.rows
            if r.get("n_seeds", 0) >= 2 and r.get("positive", 0) and r.get("negative", 0)
        ]
        if not cells:
            return ""
        what = "; ".join(
            f"{r['what']}, {r['head']} {r['shots']}-shot: "
            f"{r['positive']} of {r['n_seeds']} positive"
            for r in cells
        )
        return f"seeds disagree in sign in {len(cells)} of {len(self.rows)} cells: {what}"

    @property
    def headline(self) -> str:
        """The verdict, followed in words by the seeds' disagreement when they disagree."""
        return f"{self.verdict} ({self.disagreement})" if self.disagreement else self.verdict


ABOVE, BELOW, SPANS = "above 0", "below 0", "includes 0"


def measured(low: float, high: float) -> str:
    """Where a difference's 95% interval lies relative to 0."""
    if np.isnan(low) or np.isnan(high):
        return SPANS
    return ABOVE if low > 0 else BELOW if high < 0 else SPANS


def cell_verdict(delta: float, p_adjusted: float) -> str:
    """Verdict of one cell on a claim that Δ is positive, from its adjusted p-value."""
    if np.isnan(p_adjusted) or p_adjusted >= ALPHA or delta == 0:
        return "inconclusive"
    return "supported" if delta > 0 else "contradicted"


def overall(verdicts: list[str]) -> str:
    """One verdict for several cells: all supported, any contradicted, else mixed/inconclusive."""
    if not verdicts:
        return NOT_MEASURED
    if all(v == "supported" for v in verdicts):
        return "supported"
    if any(v == "contradicted" for v in verdicts):
        return (
            "contradicted" if all(v == "contradicted" for v in verdicts) else "partly contradicted"
        )
    return "partly supported" if any(v == "supported" for v in verdicts) else "inconclusive"


def no_verdict(n_seeds: int) -> str:
    """``"one seed: no verdict"``, ``"2 seeds: no verdict"``."""
    return f"{'one seed' if n_seeds == 1 else f'{n_seeds} seeds'}: {NO_VERDICT}"


def _episode_p(delta: float, low: float, high: float, n: int, ci_method: str) -> float:
    """Two-sided p of Δ = 0 from the episode-level interval's own method (t, n − 1 df, or normal).

    The interval is ``Δ ± q·se``; the test is the same statistic, so p < 0.05 exactly when the 95%
    interval leaves 0 out.
    """
    from scipy import stats as _st

    if any(np.isnan(x) for x in (delta, low, high)) or n < 2:
        return float("nan")
    dist = _st.norm() if ci_method == "normal" else _st.t(n - 1)
    se = (high - low) / 2 / dist.ppf(0.975)
    if se <= 0:
        return 1.0 if delta == 0 else 0.0
    return float(2 * dist.sf(abs(delta) / se))


def _row(what: str, dataset: str, head: str, shots: int, r, an: Analysis) -> dict:
    """One compared cell from a summary row or :func:`~fewshot_clce.stats.paired.paired_row`.

    Seed level with at least the trusted number of paired seeds, else episode level (see the module
    docstring); ``p_holm`` and ``verdict`` are set by :func:`_judge`.
    """
    n_seeds = int(r["paired_seeds"])
    seed_level = n_seeds >= seedstats.TRUSTED_SEEDS
    delta = float(r["delta"])
    if seed_level:
        low, high, p = r["delta_seed_ci_low"], r["delta_seed_ci_high"], r["p_seed"]
    else:
        low, high = r["delta_ep_ci_low"], r["delta_ep_ci_high"]
        p = _episode_p(delta, low, high, int(r["paired_episodes"]), an.ci_method)
    return dict(
        what=what,
        dataset=dataset,
        head=head,
        shots=int(shots),
        delta=delta,
        low=float(low),
        high=float(high),
        level="seed" if seed_level else "episode",
        p_value=float(p),
        n_seeds=n_seeds,
        positive=int(r["seeds_positive"]),
        negative=int(r["seeds_negative"]),
        measured=measured(float(low), float(high)),
    )


def _judge(rows: list[dict]) -> str:
    """Holm-adjust the rows' p-values over the rows, give each its verdict; the claim's verdict."""
    if not rows:
        return NOT_MEASURED
    for r, p in zip(rows, holm([r["p_value"] for r in rows])):
        r["p_holm"] = float(p)
    n_seeds = min(r["n_seeds"] for r in rows)
    if n_seeds < seedstats.TRUSTED_SEEDS:
        for r in rows:
            r["verdict"] = NO_VERDICT
        return no_verdict(n_seeds)
    for r in rows:
        r["verdict"] = cell_verdict(r["delta"], r["p_holm"])
    return overall([r["verdict"] for r in rows])


def verdict_rule(rows: list[dict], an: Analysis) -> str:
    """The interval, test and adjustment a verdict over ``rows`` rests on, in words."""
    m = len(rows)
    n_seeds = min(r["n_seeds"] for r in rows)
    holm_text = (
        f"p is Holm-adjusted over the {m} cells of this claim"
        if m > 1
        else "one cell, so no adjustment"
    )
    if n_seeds >= seedstats.TRUSTED_SEEDS:
        method = seedstats.method_text(an.seed_method, an.n_boot, an.boot_seed)
        test = (
            "the t test of the same crossed model"
            if an.seed_method == "crossed"
            else "the same bootstrap, its percentile interval inverted"
        )
        return (
            f"{n_seeds} training seeds. Verdict per cell: supported when the adjusted p is below "
            f"{ALPHA:g} and Δ > 0, contradicted when below {ALPHA:g} and Δ < 0, else inconclusive; "
            f"{holm_text}. Interval: {method}; p: {test} (unadjusted p < {ALPHA:g} when the 95% CI "
            "leaves 0 out). "
            'The seeds\' own signs are given as "k of S positive".'
        )
    seeds = "1 training seed" if n_seeds == 1 else f"{n_seeds} training seeds"
    return (
        f"{seeds}: no verdict. A verdict needs the seed-level test with at least "
        f"{seedstats.TRUSTED_SEEDS} seeds (rerun with {seeds_flag()}). Shown instead: "
        "episode-level numbers, "
        f"the t interval over episodes and the paired t test of the same ({holm_text}); they leave "
        "seed-to-seed noise out, so they overstate the evidence."
    )


def _signs(r: dict) -> str:
    if r["n_seeds"] < 2:
        return "–"
    return f"{r['positive']} of {r['n_seeds']} positive" + (
        f", {r['negative']} negative" if r["positive"] and r["negative"] else ""
    )


def _rows_table(rows: list[dict]) -> str:
    levels = {r["level"] for r in rows}
    level = levels.pop() if len(levels) == 1 else "mixed"
    name = {"seed": "seed-level", "episode": "episode-level"}.get(level)
    body = [
        [
            r["what"],
            r["dataset"],
            r["head"],
            r["shots"],
            fmt_interval(r["delta"], r["low"], r["high"], r["level"], signed=True),
            fmt_p(r["p_value"]),
            fmt_p(r["p_holm"]),
            r["n_seeds"],
            _signs(r),
            r["measured"],
            r["verdict"],
        ]
        for r in rows
    ]
    ci_head = f"Δ accuracy, points (95% CI, {name})" if name else "Δ accuracy, points (95% CI)"
    return markdown(
        body,
        [
            "comparison",
            "dataset",
            "head",
            "shots",
            ci_head,
            f"p ({name})" if name else "p",
            "p (Holm)",
            "seeds",
            "seeds' own Δ",
            "95% CI of Δ",
            "cell",
        ],
    )


def _finding(claim: str, rows: list[dict], an: Analysis, source: str, before: str = "") -> Finding:
    verdict = _judge(rows)
    text = before + verdict_rule(rows, an)
    return Finding(claim, verdict, text, _rows_table(rows), rows, source)


def compared_losses(an: Analysis) -> list[str]:
    """The losses compared with the baseline, in the order of the tables (references left out)."""
    return [
        loss
        for loss in pd.unique(an.main["loss"])
        if loss != an.baseline and loss not in REFERENCE_LOSSES
    ]


def beats_baseline(an: Analysis, loss: str) -> Finding:
    """``loss`` beats the baseline on novel classes, configurations chosen on val, every cell."""
    claim = f"{loss} beats {an.baseline}"
    m = an.main
    cells = m[(m["loss"] == loss) & m["delta"].notna()] if "delta" in m else m.iloc[:0]
    if cells.empty:
        return Finding(
            claim,
            NOT_MEASURED,
            f"No cell pairs `{loss}` with `{an.baseline}` on the same episodes.",
        )
    rows = [
        _row(f"{loss} − {an.baseline}", r["dataset"], r["head"], r["shots"], r, an)
        for _, r in cells.iterrows()
    ]
    return _finding(claim, rows, an, "losses")


def check_all(an: Analysis, config: Optional[dict] = None) -> list[Finding]:
    """Each compared loss against the baseline, then the paper's claims the run can check.

    Args:
        config: the benchmark's ``config.json``, when known: the small-batch claim then says
            whether the batch sizes trained at equal epochs or at equal optimizer steps.
    """
    from .paper_claims import paper_claims

    return [beats_baseline(an, loss) for loss in compared_losses(an)] + paper_claims(an, config)


def findings_frame(findings: list[Finding]) -> Optional[pd.DataFrame]:
    rows = [dict(claim=f.claim, **r) for f in findings for r in f.rows]
    return pd.DataFrame(rows) if rows else None
