"""What was tuned on val and what was fixed, per loss, and choices that sit at the edge of their grid.

Both are read off the per-episode results: the configurations a loss was evaluated with on the
val split are its grid (every candidate is evaluated there, that is how the choice is made), and
the chosen configuration is the analysis's. A choice at the lowest or highest value tried says
the best may lie beyond the grid, unless the grid already reaches the hyper-parameter's bound
(β = 0, λ = 1): the console, summary.md and REPORT.md say so and suggest values to add.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Optional

import pandas as pd

from ..losses.hparams import HPARAMS, edge_of, hparam_columns, spec_of
from ..losses.recorded import declared_by_name
from ..stats.selection import VAL_SPLIT
from ..utils.text import epochs_text

# What a comparison tunes per loss: its own loss hyper-parameters, and the batch size.
TUNABLE = ("lam", "temperature", "beta", "batch_size")
SYMBOL = {"lam": "λ", "temperature": "τ", "beta": "β", "batch_size": "batch size"}


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def _shown(spec, v) -> str:
    """A value as its declaration reads it: a switch as true / false (result tables hold 1.0 / 0.0)."""
    if getattr(spec, "type", None) is bool and isinstance(v, (bool, int, float)) and v in (0, 1):
        return "true" if v else "false"
    return _fmt(v)


def tried(per_episode: pd.DataFrame) -> dict[tuple, dict[str, list[float]]]:
    """``(dataset, loss) -> {hyper-parameter: sorted values tried}`` from the val rows (all rows if none)."""
    df = (
        per_episode[per_episode["split"] == VAL_SPLIT]
        if (per_episode["split"] == VAL_SPLIT).any()
        else per_episode
    )
    out: dict[tuple, dict[str, list[float]]] = {}
    for (d, loss), g in df.groupby(["dataset", "loss"], sort=False):
        takes = set(_takes(loss)) | {"batch_size"}
        names = [
            h
            for h in hparam_columns(g.columns)
            if h in takes
            and g[h].notna().any()
            and pd.api.types.is_numeric_dtype(g[h].dropna().infer_objects())
        ]
        out[(d, loss)] = {h: sorted(float(v) for v in g[h].dropna().unique()) for h in names}
    return out


def _takes(loss: str) -> Sequence[str]:
    """What the loss called ``loss`` in the table declares (by name: nothing is imported); a loss
    not known here is trusted by its columns."""
    decl = declared_by_name(loss)
    return tuple(decl) if decl is not None else TUNABLE


@dataclass(frozen=True)
class GridEdge:
    """A choice made on val at the lowest or highest value its grid tried."""

    dataset: str
    loss: str
    hparam: str
    chosen: float
    values: tuple
    end: str  # "lowest" or "highest"
    suggestion: tuple  # a wider grid to try

    def text(self) -> str:
        name = SYMBOL.get(self.hparam, self.hparam)
        if self.hparam in HPARAMS:
            wider = f"{HPARAMS[self.hparam].flag} {' '.join(_fmt(v) for v in self.suggestion)}"
        else:
            wider = f"--hp {self.loss}.{self.hparam}={','.join(_fmt(v) for v in self.suggestion)}"
        beyond = "below" if self.end == "lowest" else "above"
        return (
            f"{self.dataset}/{self.loss}: {name} = {_fmt(self.chosen)}, chosen on val, is the {self.end} value "
            f"tried ({', '.join(_fmt(v) for v in self.values)}); the best may lie {beyond} it: extend the grid, "
            f"e.g. {wider}"
        )

    def as_dict(self) -> dict:
        return dict(asdict(self), text=self.text())


def _widened(hparam: str, values: list[float], end: str, loss: Optional[str] = None) -> tuple:
    """The grid with one more value beyond ``end`` (halved/doubled on log scales, one step on
    linear ones), within the range ``loss`` declares."""
    spec = spec_of(hparam, loss)
    low, high = spec.bounds if spec else (None, None)
    if spec is None or spec.scale == "log":
        new = values[0] / 2 if end == "lowest" else values[-1] * 2
    else:
        step = (values[1] - values[0]) if end == "lowest" else (values[-1] - values[-2])
        new = values[0] - step if end == "lowest" else values[-1] + step
    if hparam == "batch_size":
        new = float(max(1, round(new)))
    if low is not None:
        new = max(new, low)
    if high is not None:
        new = min(new, high)
    out = [new, *values] if end == "lowest" else [*values, new]
    return tuple(out[:3]) if end == "lowest" else tuple(out[-3:])


def grid_edges(chosen: pd.DataFrame, per_episode: pd.DataFrame) -> list[GridEdge]:
    """Every chosen configuration's hyper-parameters that sit at an open end of their grid."""
    grids = tried(per_episode)
    out = []
    for _, row in chosen.iterrows():
        grid = grids.get((row["dataset"], row["loss"]), {})
        for h, values in grid.items():
            value = row.get(h)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            end = edge_of(h, float(value), values, loss=row["loss"])
            if end:
                out.append(
                    GridEdge(
                        row["dataset"],
                        row["loss"],
                        h,
                        float(value),
                        tuple(values),
                        end,
                        _widened(h, values, end, row["loss"]),
                    )
                )
    return out


def tuning_rows(chosen: pd.DataFrame, per_episode: pd.DataFrame) -> list[dict]:
    """Per (dataset, loss, hyper-parameter): ``tuned`` on val over its values, or ``fixed``, and the choice."""
    grids = tried(per_episode)
    rows = []
    for _, row in chosen.iterrows():
        for h, values in grids.get((row["dataset"], row["loss"]), {}).items():
            rows.append(
                dict(
                    dataset=row["dataset"],
                    loss=row["loss"],
                    hparam=h,
                    how="tuned on val" if len(values) > 1 else "fixed",
                    values=values,
                    chosen=row.get(h),
                    config=row["config"],
                )
            )
    return rows


def tuning_markdown(
    chosen: pd.DataFrame, per_episode: pd.DataFrame, fixed_for_all: Optional[str] = None
) -> str:
    """Which hyper-parameters of each loss were tuned on val (over which values) and which were fixed."""
    rows = tuning_rows(chosen, per_episode)
    lines = [
        "| dataset | loss | hyper-parameter | tuned on val or fixed | values tried | chosen |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        shown = functools.partial(_shown, spec_of(r["hparam"], r["loss"]))
        lines.append(
            f"| {r['dataset']} | {r['loss']} | {SYMBOL.get(r['hparam'], r['hparam'])} | {r['how']} | "
            f"{', '.join(shown(v) for v in r['values'])} | {shown(r['chosen'])} |"
        )
    losses = sorted(set(zip(chosen["dataset"], chosen["loss"])))
    untuned = [
        f"{loss}"
        for d, loss in losses
        if not any(
            r["loss"] == loss and r["dataset"] == d and r["how"] == "tuned on val" for r in rows
        )
    ]
    text = "\n".join(lines)
    if untuned:
        text += (
            f"\n\nNothing of {', '.join(sorted(set(untuned)))} was tuned: each was trained at a single "
            "configuration (a loss without hyper-parameters of its own, or a grid of one value)."
        )
    if fixed_for_all:
        text += f"\n\nThe same for every loss: {fixed_for_all}."
    return text


def common_settings(config: dict) -> str:
    """The training settings every loss shared, from a benchmark's ``config.json``."""
    opts = dict(config.get("train_options") or {})
    if not config:  # results without their benchmark's config.json: nothing known to list
        return ""
    # settings a config.json does not record are left out rather than shown as "None"
    parts = []
    if isinstance(config.get("epochs"), int):
        parts.append(epochs_text(config["epochs"]))
    if config.get("backbone") is not None:
        parts.append(f"{config['backbone']} backbone")
    lr = config.get("lr") or opts.get("lr")
    parts.append(
        f"peak learning rate {lr}" if lr else "training's default optimiser and learning rate"
    )
    seeds = config.get("seeds") or []
    if seeds:
        parts.append(f"training seeds {', '.join(str(s) for s in seeds)}")
    for k, v in opts.items():  # every training option the benchmark was given
        if k == "val_episodes":
            parts.append(f"{v} val episodes after each epoch")
        elif k not in ("lr", "steps_as_batch") and v is not None:
            parts.append(f"{k.replace('_', ' ')} {v}")
    if opts.get("steps_as_batch"):
        b = opts["steps_as_batch"]
        parts.append(
            f"per epoch the optimizer steps of one pass at batch {b} (--steps-as-batch {b})"
        )
    return ", ".join(parts)
