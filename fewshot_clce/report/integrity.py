"""The integrity check a per-episode results file passes before it is read as data.

A results file cut short (a full disk, a copy interrupted), edited by hand or merged from two
folders can still parse: a cell then keeps half its episodes, or vanishes, and every summary and
verdict changes without a word. :func:`check_per_episode` refuses such a file with one line
naming it and the damage.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from typing import Optional

import pandas as pd

# What identifies one evaluated cell: a run on one split, head and episode setting (a cross-domain
# row also names the dataset it was trained on).
CELL = ("train_dataset", "dataset", "run", "split", "head", "ways", "shots", "queries", "manifest")
_DIGEST = re.compile(r"[0-9a-f]{16}")


class DamagedResultsError(ValueError):
    """A results file failed its integrity check (the message names the file and the damage)."""


def _ends_with_newline(path: Path) -> bool:
    if path.suffix == ".gz":
        with gzip.open(path, "rb") as f:
            last = b""
            for chunk in iter(lambda: f.read(1 << 20), b""):
                last = chunk
            return last.endswith(b"\n") or not last
    with open(path, "rb") as f:
        f.seek(0, 2)
        if f.tell() == 0:
            return True
        f.seek(-1, 2)
        return f.read(1) == b"\n"


def damage(df: pd.DataFrame, path: Optional[Path] = None, rows: Optional[int] = None) -> str:
    """Why ``df`` (read from ``path``) is not an intact per-episode table; empty when it is.

    Checked: the file ends at a row's end; it holds ``rows`` rows when the benchmark recorded
    that number; every accuracy is a number in [0, 1]; every cell (:data:`CELL`) holds episodes
    ``0 .. E-1`` once each, with the same ``E`` for every cell on one manifest; every run of a
    dataset has the same cells as the others; each manifest digest is 16 hex digits, and every run
    of a dataset was evaluated on the same manifest for each (split, ways, shots).
    """
    if path is not None and not _ends_with_newline(Path(path)):
        return "it ends in the middle of a row (cut short)"
    if rows is not None and len(df) != rows:
        return f"it holds {len(df)} rows where the benchmark wrote {rows} (cut short or edited)"
    for column in ("run", "dataset", "split", "head", "shots", "episode", "accuracy"):
        if column not in df.columns:
            return f"it has no column {column!r}"
    if df.empty:
        return "it holds no rows"
    accuracy = pd.to_numeric(df["accuracy"], errors="coerce")
    bad = ~accuracy.between(0.0, 1.0)  # NaN is not between: caught too
    if bad.any():
        i = int(bad.to_numpy().nonzero()[0][0])
        return (
            f"{int(bad.sum())} accuracies are not numbers in [0, 1] (data row {i + 1}: "
            f"{df['accuracy'].iloc[i]!r})"
        )
    episode = pd.to_numeric(df["episode"], errors="coerce")
    if episode.isna().any() or (episode < 0).any() or (episode != episode.round()).any():
        i = int(
            (episode.isna() | (episode < 0) | (episode != episode.round()))
            .to_numpy()
            .nonzero()[0][0]
        )
        return f"data row {i + 1} has episode {df['episode'].iloc[i]!r}, not a non-negative integer"
    keys = [c for c in CELL if c in df.columns]
    table = df[keys].astype(str).assign(episode=episode.astype("int64"))
    counts = {}
    for cell, group in table.groupby(keys, sort=False, dropna=False)["episode"]:
        n = len(group)
        if group.duplicated().any() or group.min() != 0 or group.max() != n - 1:
            have = group.nunique()
            twice = " (some twice)" if group.duplicated().any() else ""
            return (
                f"cell {_name(keys, cell)} holds {have} distinct episodes numbered "
                f"{group.min()} to {group.max()}{twice}, not 0 to {have - 1}"
            )
        counts[cell] = n
    episodes_of: dict[tuple, tuple] = {}
    manifest_key = [
        k for k in ("dataset", "split", "ways", "shots", "queries", "manifest") if k in keys
    ]
    for cell, n in counts.items():
        values = dict(zip(keys, cell))
        setting = tuple(values[k] for k in manifest_key)
        if episodes_of.setdefault(setting, (n, cell))[0] != n:
            first_n, first = episodes_of[setting]
            return (
                f"cell {_name(keys, cell)} holds {n} episodes, cell {_name(keys, first)} "
                f"{first_n}, on the same episodes (cut short)"
            )
    why = _missing_cells(table, keys)
    if why:
        return why
    if "manifest" in keys:
        return _manifest_damage(table, keys)
    return ""


def _name(keys: list[str], cell) -> str:
    values = dict(zip(keys, cell if isinstance(cell, tuple) else (cell,)))
    return "/".join(str(values[k]) for k in ("dataset", "run", "split", "head") if k in values) + (
        f" {values['shots']}-shot" if "shots" in values else ""
    )


def _missing_cells(table: pd.DataFrame, keys: list[str]) -> str:
    """Every run of a dataset (and training dataset) has the cells the others have."""
    per_run = [k for k in ("train_dataset", "dataset", "run") if k in keys]
    inner = [k for k in keys if k not in per_run and k != "manifest"]
    if not inner:
        return ""
    cells = table[keys].drop_duplicates()
    for _key, group in cells.groupby([k for k in per_run if k != "run"], sort=False, dropna=False):
        everything = set(map(tuple, group[inner].drop_duplicates().to_numpy().tolist()))
        for run, mine in group.groupby("run", sort=False):
            have = set(map(tuple, mine[inner].to_numpy().tolist()))
            if have != everything:
                lost = ", ".join(f"{k} {v}" for k, v in zip(inner, sorted(everything - have)[0]))
                return f"run {run!r} has no rows for {lost}, which the other runs have (cut short)"
    return ""


def _manifest_damage(table: pd.DataFrame, keys: list[str]) -> str:
    digests = table["manifest"].astype(str)
    bad = ~digests.str.fullmatch(_DIGEST.pattern)
    if bad.any():
        return f"manifest {digests[bad].iloc[0]!r} is not a manifest digest (16 hex digits)"
    setting = [
        k for k in ("train_dataset", "dataset", "split", "ways", "shots", "queries") if k in keys
    ]
    for key, group in (
        table[setting + ["run", "manifest"]].drop_duplicates().groupby(setting, dropna=False)
    ):
        if group["manifest"].nunique() > 1:
            runs = group.drop_duplicates("manifest").head(2)
            (run_a, m_a), (run_b, m_b) = runs[["run", "manifest"]].itertuples(index=False)
            where = ", ".join(f"{k} {v}" for k, v in zip(setting, key))
            return (
                f"runs of one setting ({where}) were evaluated on different episodes: "
                f"{run_a!r} on manifest {m_a}, {run_b!r} on {m_b}"
            )
    return ""


def check_per_episode(df: pd.DataFrame, path: Path, rows: Optional[int] = None) -> pd.DataFrame:
    """``df`` if it is an intact per-episode table (:func:`damage`).

    Raises:
        DamagedResultsError: one line naming ``path`` and the damage, and how to go on.
    """
    why = damage(df, path, rows)
    if why:
        raise DamagedResultsError(
            f"results file {str(path)!r} is damaged: {why}; it is not read as data. Re-run "
            "the benchmark's command into its folder (finished trainings and evaluations are "
            "reused) to write it again"
        )
    return df
