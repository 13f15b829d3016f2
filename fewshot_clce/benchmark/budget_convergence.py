"""Whether the trainings of a budget study have converged: the gain in val accuracy over the
last epochs of each chosen configuration, with a t interval over its seeds.

The val curves come from :func:`fewshot_clce.benchmark.budget_report.val_curves`; the result is
the ``convergence.csv`` and the convergence section of ``BUDGET.md``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

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
    from scipy import stats

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
        gain = float(np.mean(gains)) if gains else math.nan
        if len(gains) >= 2:
            half = (
                stats.t.ppf(0.975, len(gains) - 1) * np.std(gains, ddof=1) / math.sqrt(len(gains))
            )
            low, high = gain - half, gain + half
            state = "still rising" if low > 0 else ("falling" if high < 0 else "flat")
        else:
            low = high = math.nan
            state = "one seed: not judged"
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
