"""The report of a budget study (:mod:`fewshot_clce.benchmark.budget`), across its folders
``OUT/epochs-E``:

- ``BUDGET.md``: each claim's verdict per budget, each loss's Δ against the baseline per budget
  with its seed-level interval, the configuration chosen at each budget, and whether the longest
  budget is long enough (each loss's final val accuracy from one budget to the next);
- ``budget.csv`` (one row per budget, dataset, loss, head and shots), ``convergence.csv`` and
  ``budget_gains.csv``;
- ``plots/budget_<dataset>.png`` (Δ against the budget, one panel per head and shots) and
  ``plots/val_curves_<dataset>.png`` (val accuracy per epoch of the chosen configurations).

Whether a training converged: :mod:`fewshot_clce.benchmark.budget_convergence`; the plots:
:mod:`fewshot_clce.benchmark.budget_plots`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

import pandas as pd

from ..report.tables import fmt_interval
from ..utils.text import epochs_text
from .budget_convergence import (
    budget_gains,
    convergence,
    convergence_lines,
    loss_converged_budgets,
)
from .plan import dataset_folder

BUDGET_FILE = "budget.json"
REPORT = "BUDGET.md"


def budget_folder(out: Path, epochs: int) -> Path:
    """The benchmark folder of one budget."""
    return Path(out) / f"epochs-{int(epochs)}"


def is_budget_study(folder: Path) -> bool:
    return (Path(folder) / BUDGET_FILE).is_file()


# ---------------------------------------------------------------- reading the budget folders


def _read_csv(folder: Path, name: str) -> Optional[pd.DataFrame]:
    for path in (folder / name, folder / f"{name}.gz"):
        if path.is_file():
            return pd.read_csv(path)
    return None


def read_budgets(out: Path) -> dict[int, Path]:
    """The budgets of the study in ``out`` whose benchmark has finished (holds ``summary.csv``)."""
    record = json.loads((Path(out) / BUDGET_FILE).read_text(encoding="utf-8"))
    found = {}
    for epochs in record.get("budgets", []):
        folder = budget_folder(out, epochs)
        if (folder / "summary.csv").is_file():
            found[int(epochs)] = folder
    return found


COLUMNS = [
    "epochs",
    "dataset",
    "loss",
    "config",
    "head",
    "shots",
    "n_seeds",
    "mean",
    "ci_low",
    "ci_high",
    "baseline",
    "delta",
    "delta_ci_low",
    "delta_ci_high",
    "delta_ci_kind",
    "p_value",
    "p_kind",
    "seeds_positive",
    "seeds_negative",
]


def budget_table(folders: dict[int, Path]) -> pd.DataFrame:
    """One row per budget, dataset, loss, head and shots: the chosen configuration on novel classes."""
    frames = []
    for epochs, folder in sorted(folders.items()):
        summary = pd.read_csv(folder / "summary.csv")
        summary = summary[summary["split"] == "novel"] if "split" in summary else summary
        summary = summary.assign(epochs=epochs)
        frames.append(summary[[c for c in COLUMNS if c in summary.columns]])
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True)


def claims_table(folders: dict[int, Path]) -> pd.DataFrame:
    """Each claim's verdict at each budget (from each budget's ``claims.csv``), with what it
    compares (the ``what`` of its rows, e.g. ``clce − ce``, joined by ``; ``)."""
    rows = []
    for epochs, folder in sorted(folders.items()):
        claims = _read_csv(folder, "claims.csv")
        if claims is None or claims.empty:
            continue
        for claim, group in claims.groupby("claim", sort=False):
            what = "; ".join(dict.fromkeys(group["what"].astype(str))) if "what" in group else ""
            rows.append(
                {
                    "epochs": epochs,
                    "claim": claim,
                    "verdict": str(group["verdict"].iloc[0]),
                    "what": what,
                }
            )
    return pd.DataFrame(rows, columns=["epochs", "claim", "verdict", "what"])


def val_curves(folders: dict[int, Path]) -> pd.DataFrame:
    """Val accuracy per epoch of every run of the chosen configurations.

    Columns: epochs (the budget), dataset, loss, config, run, seed, epoch, val_acc.
    """
    rows = []
    for epochs, folder in sorted(folders.items()):
        episodes = _read_csv(folder, "per_episode.csv")
        selection = _read_csv(folder, "selection.csv")
        if episodes is None or selection is None:
            continue
        chosen = selection[selection["chosen"].astype(bool)]
        chosen_keys = set(zip(chosen["dataset"], chosen["loss"], chosen["config"]))
        runs = episodes[["run", "loss", "seed", "config", "train_dataset"]].drop_duplicates()
        for run in runs.itertuples(index=False):
            if (run.train_dataset, run.loss, run.config) not in chosen_keys:
                continue
            metrics = folder / "runs" / dataset_folder(run.train_dataset) / run.run / "metrics.csv"
            if not metrics.is_file():
                continue
            m = pd.read_csv(metrics).dropna(subset=["val_acc"])
            for row in m.itertuples(index=False):
                rows.append(
                    {
                        "epochs": epochs,
                        "dataset": run.train_dataset,
                        "loss": run.loss,
                        "config": run.config,
                        "run": run.run,
                        "seed": int(run.seed),
                        "epoch": int(row.epoch),
                        "val_acc": float(row.val_acc),
                    }
                )
    return pd.DataFrame(
        rows, columns=["epochs", "dataset", "loss", "config", "run", "seed", "epoch", "val_acc"]
    )


# ---------------------------------------------------------------- writing


def _claim_lines(claims: pd.DataFrame, budgets: list[int]) -> list[str]:
    lines = []
    for claim, group in claims.groupby("claim", sort=False):
        by_budget = dict(zip(group["epochs"], group["verdict"]))
        verdicts: dict[str, list[int]] = {}
        for e in budgets:
            verdicts.setdefault(by_budget.get(e, "not measured"), []).append(e)
        if len(budgets) == 1:
            lines.append(
                f"- **{claim}**: {by_budget.get(budgets[0], 'not measured')} at {budgets[0]} epochs "
                "(the only budget finished so far)"
            )
        elif len(verdicts) == 1:
            ((verdict, _),) = verdicts.items()
            lines.append(
                f"- **{claim}**: {verdict} at every budget ({', '.join(map(str, budgets))} epochs)"
            )
        else:
            parts = "; ".join(f"{v} at {epochs_text(es)}" for v, es in verdicts.items())
            lines.append(f"- **{claim}**: depends on the budget: {parts}")
    return lines


def converged_claim_lines(claims: pd.DataFrame, gains: pd.DataFrame) -> list[str]:
    """Each claim's verdict at the budgets where every loss it compares has converged (a longer
    budget gains it nothing: :func:`~.budget_convergence.loss_converged_budgets`). A claim whose
    losses are not all shown converged at any budget measured says so; a claim that names no loss
    of the study (e.g. β = 1 against β = 0) is left out."""
    ready: dict[str, int | None] = {}
    for (_, loss), budget in loss_converged_budgets(gains).items():
        if loss in ready and ready[loss] is None:
            continue  # not converged on another dataset
        ready[loss] = None if budget is None else max(budget, ready.get(loss) or 0)
    lines = []
    for claim, group in claims.groupby("claim", sort=False):
        what = " ".join(group["what"].astype(str)) if "what" in group else ""
        found = {
            loss: m.start()
            for loss in ready
            if (m := re.search(rf"(?<![\w-]){re.escape(loss)}(?![\w-])", what))
        }
        named = sorted(found, key=lambda loss: found[loss])  # in the order the claim names them
        if not named:
            continue
        waiting = [loss for loss in named if ready[loss] is None]
        if waiting:
            lines.append(
                f"- **{claim}**: no converged verdict: {' and '.join(waiting)} "
                f"{'is' if len(waiting) == 1 else 'are'} not shown converged at any budget measured"
            )
            continue
        start = max(ready[loss] or 0 for loss in named)
        at = group[group["epochs"] >= start]
        verdicts: dict[str, list[int]] = {}
        for r in at.itertuples(index=False):
            verdicts.setdefault(str(r.verdict), []).append(int(r.epochs))
        parts = "; ".join(f"{v} at {epochs_text(es)}" for v, es in verdicts.items()) or (
            "not checked at any of those budgets"
        )
        lines.append(
            f"- **{claim}**: {parts} ({' and '.join(named)} converged from {epochs_text(start)})"
        )
    return lines


def compared_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of compared losses that have a Δ against the baseline (not the reference rows,
    such as the untrained backbone)."""
    from ..report.claims import REFERENCE_LOSSES

    if "delta" not in table:
        return table.iloc[0:0]
    return table[table["delta"].notna() & ~table["loss"].isin(REFERENCE_LOSSES)]


def budget_markdown(
    out: Path,
    table: pd.DataFrame,
    claims: pd.DataFrame,
    conv: pd.DataFrame,
    gains: pd.DataFrame,
    record: dict,
    plots: list[Path],
) -> str:
    """The text of ``BUDGET.md``."""
    budgets = sorted(int(e) for e in table["epochs"].unique()) if len(table) else []
    baseline = _baseline_name(table)
    lines = _head_lines(out, table, record, budgets, baseline)
    if not budgets:
        return "\n".join(lines)
    lines += ["## Claims per budget", ""]
    lines += _claim_lines(claims, budgets) if len(claims) else ["No claims were checked."]
    at_convergence = converged_claim_lines(claims, gains) if len(claims) else []
    lines += [
        "",
        "A claim that holds at one budget and not at another is a statement about the budget, not "
        "about the loss: "
        + (
            "the verdict to quote is the one at a budget where the claim's losses have converged "
            "(a longer budget gains none of them anything beyond the seed noise; Convergence, below):"
            if at_convergence
            else "the longest budget that has converged (below) is the one to quote."
        ),
        "",
        *at_convergence,
        *([""] if at_convergence else []),
    ]
    lines += _delta_lines(table, budgets, baseline)
    lines += _accuracy_lines(table, budgets)
    lines += convergence_lines(conv, gains)
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in plots]
    return "\n".join(lines) + "\n"


def _baseline_name(table: pd.DataFrame) -> str:
    """The baseline loss the budget table's Δ are against ("" when none)."""
    if len(table) and table["baseline"].notna().any():
        return str(table["baseline"].dropna().iloc[0]).split("(")[0]
    return ""


def _head_lines(
    out: Path, table: pd.DataFrame, record: dict, budgets: list[int], baseline: str
) -> list[str]:
    """The title and the paragraph naming the command and the budgets finished and to run."""
    missing = [e for e in record.get("budgets", []) if e not in budgets]
    losses = list(dict.fromkeys(compared_rows(table)["loss"])) if len(table) else []
    title = f"{', '.join(losses)} against {baseline}" if losses else "no finished budget"
    return [
        f"# Budget study: {title}",
        "",
        f"Generated from `{out}`. Command: `{record.get('command', '')}`. Budgets finished: "
        f"{epochs_text(budgets) if budgets else 'none'}"
        + (
            f"; still to run: {epochs_text(missing)} (rerun the command to resume)"
            if missing
            else ""
        )
        + ". Each budget is a complete benchmark in `epochs-E/` (its own REPORT.md); every "
        "loss's configuration is chosen on val at each budget, and every number below is on novel classes.",
        "",
    ]


def _budget_columns(budgets: list[int]) -> list[str]:
    """Header and rule of a table with one column per budget."""
    return [
        "| dataset | loss | head | shots | " + " | ".join(epochs_text(e) for e in budgets) + " |",
        "|" + "---|" * (4 + len(budgets)),
    ]


def _delta_lines(table: pd.DataFrame, budgets: list[int], baseline: str) -> list[str]:
    """The section of each compared loss's Δ against the baseline, one column per budget."""
    lines = [
        "## Δ against the baseline per budget (points, seed-level 95% CI where the seeds allow)",
        "",
        *_budget_columns(budgets),
    ]
    for (dataset, loss, head, shots), group in compared_rows(table).groupby(
        ["dataset", "loss", "head", "shots"], sort=False
    ):
        cells = []
        for e in budgets:
            g = group[group["epochs"] == e]
            cells.append(
                fmt_interval(
                    *g[["delta", "delta_ci_low", "delta_ci_high"]].iloc[0], "seed", signed=True
                )
                if len(g)
                else "—"
            )
        lines.append(
            f"| {dataset} | {loss} − {baseline} | {head} | {shots} | " + " | ".join(cells) + " |"
        )
    return lines


def _accuracy_lines(table: pd.DataFrame, budgets: list[int]) -> list[str]:
    """The section of every loss's accuracy and chosen configuration, one column per budget."""
    lines = ["", "## Accuracy and the configuration chosen on val, per budget", ""]
    lines += _budget_columns(budgets)
    for (dataset, loss, head, shots), group in table.groupby(
        ["dataset", "loss", "head", "shots"], sort=False
    ):
        cells = []
        for e in budgets:
            g = group[group["epochs"] == e]
            if not len(g):
                cells.append("—")
                continue
            r = g.iloc[0]
            cells.append(
                f"{100 * r['mean']:.2f} [{100 * r['ci_low']:.2f}, {100 * r['ci_high']:.2f}] {r['config']}"
            )
        lines.append(f"| {dataset} | {loss} | {head} | {shots} | " + " | ".join(cells) + " |")
    return lines


def write_budget_report(out: Path) -> list[Path]:
    """Write ``BUDGET.md``, ``budget.csv``, ``convergence.csv``, ``budget_gains.csv`` and the plots
    from the finished budgets."""
    from .budget_plots import plot_budget, plot_val_curves

    out = Path(out)
    record = json.loads((out / BUDGET_FILE).read_text(encoding="utf-8"))
    folders = read_budgets(out)
    table = budget_table(folders)
    claims = claims_table(folders)
    curves = val_curves(folders)
    conv = convergence(curves)
    gains = budget_gains(curves)
    written = []
    plots = []
    for dataset in dict.fromkeys(table["dataset"]) if len(table) else []:
        for p in (
            plot_budget(table, dataset, out / "plots" / f"budget_{dataset}.png"),
            plot_val_curves(curves, dataset, out / "plots" / f"val_curves_{dataset}.png"),
        ):
            if p is not None:
                plots.append(p)
    table.to_csv(out / "budget.csv", index=False)
    conv.to_csv(out / "convergence.csv", index=False)
    gains.to_csv(out / "budget_gains.csv", index=False)
    (out / REPORT).write_text(
        budget_markdown(out, table, claims, conv, gains, record, plots), encoding="utf-8"
    )
    written += [out / REPORT, out / "budget.csv", out / "convergence.csv", out / "budget_gains.csv"]
    written += plots
    return written
