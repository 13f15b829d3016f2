"""Episodes as a plain table (CSV), for episode lists written by hand or by another tool.

One row per (episode, role, class, sample)::

    # dataset: digits
    # split: novel
    episode,role,class,sample
    0,support,7@90,1021
    0,query,7@90,1034
    ...

- ``episode``: an integer id; episodes are numbered 0.. in ascending id order.
- ``role``: ``support`` or ``query``.
- ``class``: the split-local class label (an integer), or the class name (then the split, or a
  ``class_names`` header, is needed to resolve it).
- ``sample``: index of the sample in the split.

Within an episode, the episode-local label of a class is the order in which the class first
appears; within (episode, role, class) samples keep their row order. Every class of every
episode needs the same number of support rows (K) and of query rows (Q). Optional leading
``# key: value`` lines carry metadata (``dataset``, ``split``, ``fingerprint``, ``seed``);
other columns are ignored.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..utils.files import atomic_path, loads_json

COLUMNS = ("episode", "role", "class", "sample")
ROLES = ("support", "query")


def write_episode_table(episodes, path: str | os.PathLike, overwrite: bool = True) -> Path:
    """Write an :class:`~fewshot_clce.episodes.episode_set.EpisodeSet` as the CSV table, atomically.

    Raises:
        FileExistsError: if ``path`` exists and ``overwrite`` is False.
    """
    header = {
        "dataset": episodes.dataset,
        "split": episodes.split,
        "fingerprint": episodes.fingerprint,
        "seed": "" if episodes.seed is None else episodes.seed,
    }
    if "class_names" in episodes.meta:
        header["class_names"] = json.dumps(episodes.meta["class_names"])
    parts = []
    for role, idx in zip(ROLES, (episodes.support, episodes.query)):
        e, n, k = idx.shape
        parts.append(
            pd.DataFrame(
                {
                    "episode": np.repeat(np.arange(e), n * k),
                    "role": role,
                    "class": np.repeat(episodes.classes.ravel(), k),
                    "sample": idx.ravel(),  # [E, N, K] -> [E*N*K], episode-major like the columns above
                    "_order": np.tile(np.arange(n * k), e) + (0 if role == "support" else 1 << 32),
                }
            )
        )
    table = pd.concat(parts).sort_values(["episode", "_order"], kind="stable")
    buf = io.StringIO()
    for key, value in header.items():
        buf.write(f"# {key}: {value}\n")
    table[list(COLUMNS)].to_csv(buf, index=False)
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(buf.getvalue())
    return Path(path)


def read_header(path: Path) -> dict[str, str]:
    """The ``# key: value`` lines at the top of an episode table (a byte-order mark is allowed).

    Raises:
        ValueError: naming the file when it is not UTF-8 text (a binary file named .csv).
    """
    header = {}
    try:
        with open(path, encoding="utf-8-sig") as f:
            for line in f:
                if not line.startswith("#"):
                    break
                key, sep, value = line[1:].partition(":")
                if sep:
                    header[key.strip()] = value.strip()
            f.read(1 << 16)  # the start of the data too: a binary file fails here, with its name
    except UnicodeDecodeError as e:
        raise ValueError(
            f"episode table {str(path)!r} is not UTF-8 text ({e.reason} in its first "
            "64 KiB): give a CSV table (as `fewshot-clce episodes make` writes) or "
            "convert it"
        ) from None
    return header


def read_episode_table(path: str | os.PathLike, split=None):
    """Read the CSV table into an :class:`~fewshot_clce.episodes.episode_set.EpisodeSet`.

    Args:
        path: the CSV file.
        split: the split the samples index; needed for class names, and checked against.

    Raises:
        ValueError: naming the row, episode or class at fault, for missing columns, unknown roles,
            unknown class names, unequal shots or queries, or episodes that fail
            :func:`~fewshot_clce.episodes.validation.validate_episodes` (a sample used twice in
            an episode, ...).
    """
    from .episode_set import EpisodeSet

    path = Path(path)
    header = read_header(path)
    where = f"episode table {str(path)!r}"
    classes, support, query = _episode_arrays(_read_rows(path, split, header, where), where)
    seed = header.get("seed", "")
    meta = {"source": path.name}
    # the integrity checks every manifest gets (distinct classes and samples per episode, ...)
    episodes = EpisodeSet._from_file(
        where,
        classes,
        support,
        query,
        header.get("dataset") or (split.dataset if split is not None else ""),
        header.get("split") or (split.name if split is not None else ""),
        header.get("fingerprint", ""),
        int(seed) if seed.isdigit() else None,
        meta,
    )
    if split is not None:
        episodes.bind(split)  # checked, and bound to the split by its fingerprint
    return episodes


def _read_rows(path: Path, split, header: dict[str, str], where: str) -> pd.DataFrame:
    """The table's rows with integer ``episode`` and ``sample``, lower-case ``role`` and the
    split-local class ``label`` of each row.

    Raises:
        ValueError: naming the row at fault.
    """
    try:
        df = pd.read_csv(
            path, comment="#", dtype={"class": str}, skipinitialspace=True, encoding="utf-8-sig"
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ValueError(f"episode table {str(path)!r} is not a readable CSV ({e})") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"{where} lacks the column(s) {', '.join(missing)}; it needs {', '.join(COLUMNS)}"
        )
    if df.empty:
        raise ValueError(f"{where} has no rows")
    for col in ("episode", "sample"):
        values = pd.to_numeric(df[col], errors="coerce")
        bad = values.isna() | (values < 0) | (values != values.round())
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{where}, data row {row + 1}: {col} {df[col].iloc[row]!r} is not a "
                f"non-negative integer"
            )
        df[col] = values.astype(np.int64)
    df["role"] = df["role"].str.strip().str.lower()
    bad_role = ~df["role"].isin(ROLES)
    if bad_role.any():
        row = int(np.flatnonzero(bad_role)[0])
        raise ValueError(
            f"{where}, data row {row + 1}: role {df['role'].iloc[row]!r} is neither "
            f"'support' nor 'query'"
        )
    df["label"] = _class_labels(df["class"].str.strip(), split, header, where)
    return df


def _episode_arrays(df: pd.DataFrame, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classes ``[E, N]``, support ``[E, N, K]`` and query ``[E, N, Q]`` of the rows of
    :func:`_read_rows`: episodes in ascending id order, classes in order of first appearance.

    Raises:
        ValueError: for episodes of unequal ways, or classes of unequal shots or queries.
    """
    df["ep"] = np.unique(df["episode"].to_numpy(), return_inverse=True)[1]
    first = df.drop_duplicates(
        ["ep", "label"]
    ).copy()  # one row per (episode, class), in file order
    first["way"] = first.groupby("ep").cumcount()
    df = df.join(first.set_index(["ep", "label"])["way"], on=["ep", "label"])
    df["rank"] = df.groupby(["ep", "role", "way"]).cumcount()
    sizes = (
        df.groupby(["ep", "way", "role"])
        .size()
        .unstack("role")
        .reindex(columns=list(ROLES))
        .fillna(0)
    )
    ways_per_ep = first.groupby("ep").size()
    if ways_per_ep.nunique() != 1:
        raise ValueError(
            f"{where}: episodes have different numbers of classes "
            f"({sorted(ways_per_ep.unique().tolist())}); every episode needs the same ways"
        )
    for role in ROLES:
        if sizes[role].max() == 0:
            raise ValueError(
                f"{where} has no {role} rows; every class of every episode needs at "
                f"least one {role} sample: add rows with role {role!r}"
            )
        if sizes[role].nunique() != 1 or sizes[role].iloc[0] == 0:
            ep, w = sizes[role].idxmin()
            name = first.loc[(first["ep"] == ep) & (first["way"] == w), "class"].iloc[0]
            raise ValueError(
                f"{where}: class {name!r} of "
                f"episode {ep} has {int(sizes[role].min())} {role} rows but another class has "
                f"{int(sizes[role].max())}; every class of every episode needs the same "
                f"number of {role} samples (at least 1)"
            )
    e, n = len(ways_per_ep), int(ways_per_ep.iloc[0])
    k, q = int(sizes["support"].iloc[0]), int(sizes["query"].iloc[0])
    classes = np.empty((e, n), np.int64)
    classes[first["ep"].to_numpy(), first["way"].to_numpy()] = first["label"].to_numpy()
    arrays: dict[str, np.ndarray] = {}
    for role, m in (("support", k), ("query", q)):
        part = df[df["role"] == role]
        arrays[role] = np.empty((e, n, m), np.int64)
        arrays[role][part["ep"].to_numpy(), part["way"].to_numpy(), part["rank"].to_numpy()] = part[
            "sample"
        ]
    return classes, arrays["support"], arrays["query"]


def _class_labels(classes: pd.Series, split, header: dict[str, str], where: str) -> np.ndarray:
    """``[rows]`` int64 labels from a column of integer labels or class names."""
    if classes.str.fullmatch(r"\d+").all():
        return classes.astype(np.int64).to_numpy()
    if split is not None:
        names = list(split.class_names)
    elif "class_names" in header:
        names = loads_json(header["class_names"], f"{where}: its class_names header")
    else:
        raise ValueError(
            f"{where} names its classes; pass the split (--dataset) so the names can be "
            f"resolved to labels"
        )
    lookup = {name: i for i, name in enumerate(names)}
    unknown = sorted(set(classes) - set(lookup))
    labels = classes.str.fullmatch(r"\d+")
    if unknown and labels.any():
        # integer labels with a few other cells: those cells are the fault, not the labels
        odd = classes[~labels & ~classes.isin(list(lookup))]
        if len(odd):
            row = int(np.flatnonzero((classes == odd.iloc[0]).to_numpy())[0])
            formula = " (a spreadsheet formula?)" if str(odd.iloc[0])[:1] in "=+-@" else ""
            raise ValueError(
                f"{where}, data row {row + 1}: class {odd.iloc[0]!r} is neither an "
                "integer label, as the other class cells are, nor a class name of "
                f"the split{formula}; write that class's label there"
            )
    if unknown:
        raise ValueError(
            f"{where}: unknown class name(s) {', '.join(map(repr, unknown[:5]))}; the "
            f"split's classes are {', '.join(map(repr, names[:10]))}"
            f"{' ...' if len(names) > 10 else ''}"
        )
    return classes.map(lookup).to_numpy(np.int64)
