"""What the committed budget study found, for the closing lines of a short benchmark.

A benchmark's verdicts hold at its budget. Where the repository's committed budget study of the
same dataset is at hand (``results/<dataset>-budget/budget.csv`` of a source checkout), the
benchmark ends with that study's Δ against the baseline per budget for the losses it compared, read
from the committed table itself (so the line follows the committed evidence, not a copy of it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Optional

import pandas as pd

from ..report.claims import REFERENCE_LOSSES
from ..report.tables import fmt_interval
from ..utils.text import epochs_text
from .budget_convergence import loss_converged_budgets

# A source checkout's committed results, beside the package.
RESULTS = Path(__file__).resolve().parents[2] / "results"


def committed_budget_lines(
    datasets: Sequence[str],
    losses: Sequence[str],
    baseline: str,
    results: Optional[Path] = None,
) -> list[str]:
    """One line per dataset with a committed budget study: each compared loss's Δ against
    ``baseline`` at 1-shot with the centroid head, per budget, with its seed-level interval;
    nothing where no study (or no such row) is at hand."""
    lines = []
    for d in datasets:
        path = (results or RESULTS) / f"{d}-budget" / "budget.csv"
        try:
            table = pd.read_csv(path)
        except (OSError, ValueError):
            continue
        cells = table[
            (table["dataset"] == d)
            & (table["head"] == "centroid")
            & (table["shots"] == 1)
            & (table["baseline"].astype(str).str.split("(").str[0] == baseline)
            & table["loss"].isin([x for x in losses if x not in (baseline, *REFERENCE_LOSSES)])
            & table["delta"].notna()
        ]
        if cells.empty:
            continue
        parts = []
        for loss, rows in cells.groupby("loss", sort=False):
            rows = rows.sort_values("epochs")
            budgets = ", ".join(
                f"{fmt_interval(r.delta, r.delta_ci_low, r.delta_ci_high, r.delta_ci_kind, signed=True)} "
                f"at {epochs_text(int(r.epochs))}"
                for r in rows.itertuples()
            )
            parts.append(f"{loss} − {baseline} {budgets}")
        seeds = int(cells["n_seeds"].max())
        compared = [baseline, *dict.fromkeys(cells["loss"])]
        lines.append(
            f"The committed budget study on {d} (results/{path.parent.name}/BUDGET.md; {seeds} seeds, each "
            f"loss re-chosen on val at each budget), Δ at 1-shot centroid: "
            + "; ".join(parts)
            + "."
            + _convergence_text(path.parent / "budget_gains.csv", d, compared)
        )
    return lines


def _convergence_text(path: Path, dataset: str, losses: Sequence[str]) -> str:
    """The sentence on which compared losses a longer budget gains nothing, from the study's
    ``budget_gains.csv`` (empty when it is not at hand)."""
    try:
        gains = pd.read_csv(path)
    except (OSError, ValueError):
        return ""
    gains = gains[(gains["dataset"] == dataset) & gains["loss"].isin(losses)]
    found = loss_converged_budgets(gains)
    if not found:
        return ""
    done = [f"{loss} from {epochs_text(b)}" for (_, loss), b in found.items() if b is not None]
    longest = epochs_text(int(gains["to_epochs"].max()))
    waiting = [loss for (_, loss), b in found.items() if b is None]
    parts = ([", ".join(done)] if done else []) + (
        [f"not shown for {', '.join(waiting)} by {longest}"] if waiting else []
    )
    return (
        " Converged (a longer budget gains nothing beyond the seed noise): "
        + "; ".join(parts)
        + "."
    )
