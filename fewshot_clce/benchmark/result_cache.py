"""Reuse of evaluation results: a result file is read back instead of evaluating again when its
key file says it was made from the same weights, heads and episodes and it holds every row.

Each result file ``<name>.csv`` has a key file ``<name>.json`` next to it: :func:`evaluation_key`
of what made it. A file whose key differs, or that is unreadable or incomplete, is evaluated
again, and the log says why.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

import pandas as pd

from ..utils.files import write_json_atomic


def evaluation_key(weights: str, manifests: dict, heads: list[str], **extra: Any) -> dict:
    """What results depend on: the weights (a checkpoint's id, a digest), the heads, the episodes
    (by content, not path) and any ``extra`` (e.g. the preprocessing), as JSON gives it back.

    Each episodes entry is ``[split, shots, manifest digest, number of episodes]``: the result
    file holds one row per (manifest, head) and episode ``0 .. number - 1``.
    """
    from ..episodes import manifest_digest

    key = {
        "checkpoint": weights,
        "heads": list(heads),
        **extra,
        "episodes": sorted(
            [s, k, manifest_digest(eps), len(eps)] for (s, k), (eps, _) in manifests.items()
        ),
    }
    return json.loads(json.dumps(key))


def read_results(csv: Path) -> pd.DataFrame:
    """A result file, with the manifest digests kept as text (``"0123456789012345"`` is no number)."""
    from ..utils.files import read_csv

    return read_csv(csv, dtype={"manifest": str, "run": str, "head": str, "split": str})


def incomplete_results(df: pd.DataFrame, key: dict) -> str:
    """Why ``df`` is not the complete result of the evaluation ``key`` describes; empty when it is.

    Complete means: exactly one row per (manifest, head, episode) for every manifest and head of
    ``key``, episodes numbered ``0 .. E - 1``, and every accuracy a number in [0, 1].
    """
    needed = ("split", "shots", "head", "manifest", "episode", "accuracy")
    missing = [c for c in needed if c not in df.columns]
    if missing:
        return f"no column(s) {', '.join(missing)}"
    expected = sum(n for *_, n in key["episodes"]) * len(key["heads"])
    episode = pd.to_numeric(df["episode"], errors="coerce")
    acc = pd.to_numeric(df["accuracy"], errors="coerce")
    for split, shots, digest, n in key["episodes"]:
        for head in key["heads"]:
            mine = episode[(df["manifest"] == digest) & (df["head"] == head)]
            if len(mine) != n or sorted(mine.tolist()) != list(range(n)):
                have = mine[mine.isin(range(n))].nunique()
                twice = ", some of them twice" if mine.duplicated().any() else ""
                return f"{have} of {n} episodes for {split} {shots}-shot, head {head}{twice}"
    if len(df) != expected:
        return f"{len(df)} rows where {expected} are expected"
    bad = ~(acc.between(0.0, 1.0))  # NaN is not between: caught too
    if bad.any():
        return (
            f"{int(bad.sum())} accuracies that are not numbers in [0, 1] "
            f"(e.g. row {int(bad.idxmax()) + 2})"
        )
    return ""


def reusable(csv: Path, key: dict) -> Union[pd.DataFrame, str]:
    """The result file as a DataFrame when it may be reused, else why not (a phrase for the log)."""
    key_path = csv.with_suffix(".json")
    try:
        old_key = json.loads(key_path.read_text())
    except (OSError, ValueError):
        return f"has no readable key file {key_path.name}"
    if old_key != key:
        return "was made from another checkpoint, other heads or other episodes"
    try:
        df = read_results(csv)
    except (OSError, ValueError, UnicodeDecodeError) as e:  # pandas' parser errors are ValueErrors
        text = str(e).strip()
        return f"is unreadable ({type(e).__name__}: {text.splitlines()[0] if text else ''})"
    why = incomplete_results(df, key)
    return f"is incomplete ({why})" if why else df


def cached(
    csv: Path, key: dict, compute: Callable[[], pd.DataFrame], log: Callable[[str], None]
) -> tuple[pd.DataFrame, bool]:
    """``(rows, reused)``: the rows of ``csv`` when :func:`reusable`, else ``compute()`` written
    there with its key file (``log`` says why the file was not reused)."""
    from ..report.writer import write_csv

    if csv.is_file():
        why = reusable(csv, key)
        if isinstance(why, pd.DataFrame):
            return why, True
        log(f"{csv} {why}; re-evaluating")
    df = compute()
    write_csv(df, csv)
    write_json_atomic(csv.with_suffix(".json"), key)
    return df, False
