"""Whether the trainings of a budget study have converged: the gain in val accuracy over the
last epochs of each chosen configuration, and the gain from one budget to the next, each with a t
interval over the seeds.

The learning rate decays to 0 at the end of every training, so the last epochs of a training
flatten at any budget: flat last epochs say the schedule ended, not that more epochs would not
help. Whether a budget is long enough is read across budgets (:func:`budget_gains`).

The val curves come from :func:`fewshot_clce.benchmark.budget_report.val_curves`; the result is
``convergence.csv``, ``budget_gains.csv`` and the convergence section of ``BUDGET.md``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..report.tables import fmt_interval
from ..stats.intervals import mean_ci
from ..stats.seeds import TRUSTED_SEEDS
from ..utils.text import epochs_text

# Epochs at the end of a training whose val accuracy must be flat for "converged".
FLAT_EPOCHS_MIN = 3


def convergence(curves: pd.DataFrame) -> pd.DataFrame:
    """Whether each chosen configuration's val accuracy is flat at the end of its training.

    Over the last ``k = max(3, budget // 5)`` epochs, each seed's val-accuracy curve gets a least
    squares slope; the gain over those epochs (slope x (k - 1)) is averaged over seeds with a t
    interval over the seeds (one seed: no interval). The training is *flat* when that interval
    contains 0 -- what is left to gain is within the seed-to-seed noise -- and *still rising* when
    it lies above 0.
    """
    rows = []
    for (epochs, dataset, loss, config), group in curves.groupby(
        ["epochs", "dataset", "loss", "config"]
    ):
        k = max(FLAT_EPOCHS_MIN, int(epochs) // 5)
        gains, finals = [], []
        for _, seed_curve in group.groupby("seed"):
            tail = seed_curve.sort_values("epoch").tail(k)
            finals.append(float(tail["val_acc"].iloc[-1]))
            if len(tail) >= 2:
                slope = np.polyfit(
                    tail["epoch"].to_numpy(float), tail["val_acc"].to_numpy(float), 1
                )[0]
                gains.append(slope * (len(tail) - 1))
        gain, low, high, state = _t_interval(gains)
        rows.append(
            {
                "epochs": epochs,
                "dataset": dataset,
                "loss": loss,
                "config": config,
                "last_epochs": k,
                "n_seeds": len(finals),
                "final_val_acc": float(np.mean(finals)),
                "gain": gain,
                "gain_low": low,
                "gain_high": high,
                "state": state,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "epochs",
            "dataset",
            "loss",
            "config",
            "last_epochs",
            "n_seeds",
            "final_val_acc",
            "gain",
            "gain_low",
            "gain_high",
            "state",
        ],
    )


def _t_interval(values: list[float], judged_from: int = 2) -> tuple[float, float, float, str]:
    """Mean, t interval over the values (seeds) and its state: *still rising* above 0, *falling*
    below, *flat* when it contains 0; with one value no interval, and below ``judged_from``
    values no state (the interval is shown, but too wide to call anything flat)."""
    if len(values) < 2:
        mean = float(np.mean(values)) if values else math.nan
        return mean, math.nan, math.nan, "one seed: not judged"
    ci = mean_ci(values, method="t")
    mean, low, high = ci.mean, ci.low, ci.high
    if len(values) < judged_from:
        return mean, low, high, f"{len(values)} seeds: not judged"
    return mean, low, high, "still rising" if low > 0 else ("falling" if high < 0 else "flat")


def budget_gains(curves: pd.DataFrame) -> pd.DataFrame:
    """Each loss's chosen configuration from one budget to the next: the change of its final val
    accuracy, paired by training seed, with a t interval over the seeds.

    A budget is long enough for a loss when the next budget gains nothing beyond the seed noise
    (*flat* or *falling*); *still rising*: the longer training is better. Below the seed-level
    interval's trusted number of seeds (:data:`~fewshot_clce.stats.seeds.TRUSTED_SEEDS`) the
    interval is too wide to call a budget long enough: not judged. The configuration may differ
    between budgets (each budget chooses on val).
    """
    columns = ["dataset", "loss", "from_epochs", "to_epochs", "config_from", "config_to"]
    columns += ["n_seeds", "final_from", "final_to", "gain", "gain_low", "gain_high", "state"]
    if not len(curves):
        return pd.DataFrame(columns=columns)
    last = curves.sort_values("epoch").groupby(["epochs", "dataset", "loss", "seed"]).tail(1)
    rows = []
    for (dataset, loss), group in last.groupby(["dataset", "loss"]):
        budgets = sorted(group["epochs"].unique())
        for short, long in zip(budgets, budgets[1:]):
            a, b = (group[group["epochs"] == e] for e in (short, long))
            # one chosen configuration per loss, or one per profiled value (batch sizes): averaged
            acc_a, acc_b = (g.groupby("seed")["val_acc"].mean() for g in (a, b))
            seeds = sorted(set(acc_a.index) & set(acc_b.index))
            gains = [float(acc_b[s] - acc_a[s]) for s in seeds]
            gain, low, high, state = _t_interval(gains, judged_from=TRUSTED_SEEDS)
            configs = [", ".join(sorted(set(g["config"]))) for g in (a, b)]
            rows.append(
                dict(
                    zip(
                        columns,
                        [dataset, loss, int(short), int(long), *configs, len(seeds)]
                        + [float(acc_a.mean()), float(acc_b.mean()), gain, low, high, state],
                    )
                )
            )
    return pd.DataFrame(rows, columns=columns)


def loss_converged_budgets(gains: pd.DataFrame) -> dict[tuple[str, str], int | None]:
    """Per (dataset, loss): the shortest budget from which that loss gains nothing at any longer
    budget (every step from it on *flat* or *falling*); None when none is shown (its last step
    still rises, or is not judged)."""
    found: dict[tuple[str, str], int | None] = {}
    if not len(gains):
        return found
    for (dataset, loss), group in gains.groupby(["dataset", "loss"], sort=False):
        found[(str(dataset), str(loss))] = None
        for short in sorted(group["from_epochs"].unique()):
            if group[group["from_epochs"] >= short]["state"].isin(["flat", "falling"]).all():
                found[(str(dataset), str(loss))] = int(short)
                break
    return found


def converged_budget(gains: pd.DataFrame) -> int | None:
    """The shortest budget from which no loss gains at the next budget (None: none shown)."""
    if not len(gains):
        return None
    for short in sorted(gains["from_epochs"].unique()):
        later = gains[gains["from_epochs"] >= short]
        if later["state"].isin(["flat", "falling"]).all():
            return int(short)
    return None


def convergence_lines(conv: pd.DataFrame, gains: pd.DataFrame) -> list[str]:
    """The convergence section: each chosen configuration's gain over its last epochs, and from
    one budget to the next."""
    lines = ["", "## Convergence", ""]
    if not len(conv):
        return lines + [
            "No training history was found (the run folders are not beside the results)."
        ]
    lines += [
        "Val accuracy (the training's own val episodes) of each chosen configuration over its last "
        "epochs: the gain over those epochs, averaged over seeds, with a t interval over the seeds. "
        "*flat*: the interval contains 0; *still rising*: it lies above 0.",
        "",
        "| budget | dataset | loss | configuration | final val accuracy | gain over the last epochs "
        "(points) | state |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in conv.sort_values(["epochs", "dataset", "loss"]).itertuples(index=False):
        gain = fmt_interval(r.gain, r.gain_low, r.gain_high, "seed", signed=True)
        lines.append(
            f"| {r.epochs} | {r.dataset} | {r.loss} | {r.config} | {100 * r.final_val_acc:.2f} | "
            f"{gain} over {r.last_epochs} | {r.state} |"
        )
    longest = conv[conv["epochs"] == conv["epochs"].max()]
    rising = longest[longest["state"].eq("still rising")]
    if len(rising):
        lines += [
            "",
            f"At the longest budget ({epochs_text(int(longest['epochs'].iloc[0]))}) "
            + ", ".join(rising["loss"])
            + " still gained over the last epochs while the learning rate went to 0: not converged.",
        ]
    return lines + _across_budget_lines(gains)


def _across_budget_lines(gains: pd.DataFrame) -> list[str]:
    """Each loss's final val accuracy from one budget to the next, and the converged budget."""
    lines = [
        "",
        "The learning rate decays to 0 at the end of every training, so the last epochs flatten at "
        "any budget. Whether a budget is long enough is read across budgets: the change of each "
        "loss's chosen configuration's final val accuracy at the next budget, paired by seed, with "
        "a t interval over the seeds.",
        "",
    ]
    if not len(gains):
        return lines + ["One budget with training history: nothing to compare it with yet."]
    lines += [
        "| dataset | loss | budgets | final val accuracy | gain (points) | state |",
        "|---|---|---|---|---|---|",
    ]
    for r in gains.itertuples(index=False):
        gain = fmt_interval(r.gain, r.gain_low, r.gain_high, "seed", signed=True)
        lines.append(
            f"| {r.dataset} | {r.loss} | {r.from_epochs} -> {r.to_epochs} | "
            f"{100 * r.final_from:.2f} -> {100 * r.final_to:.2f} | {gain} | {r.state} |"
        )
    converged = converged_budget(gains)
    lines += [
        "",
        f"Converged at {epochs_text(converged)}: no loss gains at a longer budget, so the "
        f"comparison at {epochs_text(converged)} is the one to quote."
        if converged is not None
        else "No budget is shown converged for every loss. Per loss:",
    ]
    if converged is None:
        lines += [""] + _per_loss_lines(gains)
    return lines


def _per_loss_lines(gains: pd.DataFrame) -> list[str]:
    """One line per loss: from which budget a longer one gains it nothing, or why none is shown."""
    lines = []
    for (dataset, loss), budget in loss_converged_budgets(gains).items():
        steps = gains[(gains["dataset"] == dataset) & (gains["loss"] == loss)]
        if budget is not None:
            later = steps[steps["from_epochs"] >= budget]
            why = ", ".join(
                f"{r.from_epochs} -> {r.to_epochs} {r.state}" for r in later.itertuples()
            )
            lines.append(f"- {dataset} {loss}: long enough from {epochs_text(budget)} ({why})")
            continue
        last = steps.sort_values("from_epochs").iloc[-1]
        why = (
            f"a longer budget still gains ({last['from_epochs']} -> {last['to_epochs']}: "
            f"{100 * last['gain']:+.2f} points)"
            if last["state"] == "still rising"
            else f"fewer than {TRUSTED_SEEDS} seeds: the change between budgets is not judged"
        )
        lines.append(f"- {dataset} {loss}: not shown converged; {why}")
    return lines
