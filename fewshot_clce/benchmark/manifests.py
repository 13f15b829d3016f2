"""Finding the fixed episode manifests a benchmark evaluates on, or making and saving them.

Committed manifests in the repository's ``episodes/`` folder are used when one matches the
dataset, split, ways, shots, queries and the split's fingerprint and holds at least as many
episodes as asked (its first N are used). Otherwise episodes are drawn with the benchmark's
``episode_seed`` and saved into the output folder, so a re-run and every loss use the same ones.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Optional

from ..episodes import EpisodeSet, file_safe, sample_episodes


def committed_dir() -> Path:
    """The committed manifests, shipped as package data (``fewshot_clce/episodes/committed``, which is
    the repository's top-level ``episodes/`` folder): found the same way from a checkout, an
    editable install or a wheel."""
    from importlib.resources import files

    return Path(str(files("fewshot_clce.episodes") / "committed"))


def _matches(eps: EpisodeSet, split, ways: int, shots: int, queries: int, count: int) -> bool:
    return (
        eps.dataset == split.dataset
        and eps.split == split.name
        and eps.fingerprint == split.fingerprint
        and (eps.ways, eps.shots, eps.queries) == (ways, shots, queries)
        and len(eps) >= count
    )


def _user_manifest(
    path: Path, split, ways: int, shots: int, queries: int, count: int
) -> Optional[EpisodeSet]:
    """A manifest the user put in ``--manifests``: the episodes when it is for this cell (dataset,
    split, ways, shots) and fits, None when it is for another cell.

    Raises:
        ValueError: naming the file, when it cannot be read, or is for this cell but does not fit
            (other queries, other data, too few episodes): it is never skipped without a word.
    """
    from ..episodes.table import read_header

    fix = "remove it from --manifests, or make a fitting one with `fewshot-clce episodes make`"
    if path.suffix.lower() == ".csv":
        header = read_header(path)
        names = (header.get("dataset"), header.get("split"))
        if names not in ((split.dataset, split.name), (None, None)):
            return None
    try:
        eps = EpisodeSet.load(path, split=split if path.suffix.lower() == ".csv" else None)
    except ValueError as e:
        raise ValueError(f"--manifests: {e}; {fix}") from None
    if (eps.dataset, eps.split, eps.ways, eps.shots) != (split.dataset, split.name, ways, shots):
        return None
    what = f"--manifests file {str(path)!r} ({eps.dataset}/{eps.split} {ways}-way {shots}-shot)"
    if eps.queries != queries:
        raise ValueError(
            f"{what} has {eps.queries} queries per class; the benchmark evaluates "
            f"with {queries}: pass --queries {eps.queries}, or {fix}"
        )
    if eps.fingerprint != split.fingerprint:
        raise ValueError(
            f"{what} was drawn from other data (split fingerprint {eps.fingerprint}, "
            f"this split's is {split.fingerprint}); {fix}"
        )
    if len(eps) < count:
        raise ValueError(
            f"{what} holds {len(eps)} episodes; the benchmark evaluates {count}: pass "
            f"--episodes {len(eps)} (or --val-episodes for a val manifest), or {fix}"
        )
    eps.check(split)
    return eps[:count]


def user_manifest_files(folder: Path) -> list:
    """The manifests in a ``--manifests`` folder (``.npz`` and ``.csv`` episode tables)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".npz", ".csv"))


def unused_manifests(folder: Path, used: Iterable[str]) -> list:
    """The manifests of a ``--manifests`` folder that no cell of the benchmark used."""
    used_paths = {str(Path(u).resolve()) for u in used}
    return [p for p in user_manifest_files(folder) if str(p.resolve()) not in used_paths]


def find_committed(
    split, ways: int, shots: int, queries: int, count: int, folders: Iterable[Path]
) -> Optional[tuple[EpisodeSet, Path]]:
    """The first manifest in ``folders`` that fits, cut to ``count`` episodes, with its path.

    Committed manifests that do not fit are passed over; a folder the user gave (any other than
    :func:`committed_dir`) is read strictly (:func:`_user_manifest`).
    """
    for folder in folders:
        is_committed = Path(folder).resolve() == committed_dir().resolve()
        if not Path(folder).is_dir():
            if is_committed:
                _warn_no_committed(Path(folder))
            continue
        if not is_committed:
            for path in user_manifest_files(Path(folder)):
                eps = _user_manifest(path, split, ways, shots, queries, count)
                if eps is not None:
                    return eps, path
            continue
        for path in sorted(Path(folder).glob("*.npz")):
            try:
                eps = EpisodeSet.load(path)
            except ValueError:  # a foreign or corrupt file is not ours to use
                continue
            if _matches(eps, split, ways, shots, queries, count):
                eps.check(split)
                return eps[:count], path
    return None


def _warn_no_committed(folder: Path) -> None:
    """Say (once per folder) that the package's committed manifests are missing, e.g. a copy of
    ``fewshot_clce/`` without the repository's ``episodes/`` folder, where ``committed`` is a
    broken link: the benchmark then draws its own episodes, which are not the committed ones."""
    if str(folder) in _WARNED:
        return
    _WARNED.add(str(folder))
    how = "a broken link" if folder.is_symlink() else "absent"
    warnings.warn(
        f"the committed episode manifests are missing ({folder} is {how}; a copy of "
        "fewshot_clce/ without the repository's episodes/ folder?): episodes are drawn with the "
        "episode seed instead, so these results are not on the committed episodes and do not "
        "pair with results that are; install the package or copy episodes/ beside it",
        UserWarning,
        stacklevel=3,
    )


_WARNED: set[str] = set()


def manifest_name(split, ways: int, shots: int, queries: int, count: int, seed: int) -> str:
    """File name of generated episodes, after the split's dataset identity: two variants of one
    dataset (``omniglot[rotations=true]``) get two files, and a ``folder:`` dataset one name
    wherever its data lies."""
    safe = file_safe(split.dataset)
    return f"{safe}_{split.name}_{ways}way_{shots}shot_{queries}query_{count}ep_seed{seed}.npz"


def get_manifest(
    split,
    ways: int,
    shots: int,
    queries: int,
    count: int,
    seed: int,
    out_dir: Path,
    search: Iterable[Path] = (),
) -> tuple[EpisodeSet, str]:
    """Episodes for one (split, shots), and where they came from (a path, for the record).

    Looks in ``search`` (committed manifests), then in ``out_dir`` (made by an earlier run of
    this benchmark), and otherwise draws them with ``seed`` and saves them in ``out_dir``.

    Raises:
        ValueError: when the split cannot give such episodes (too few classes or samples); the
            message names the class and the counts.
    """
    found = find_committed(split, ways, shots, queries, count, search)
    if found is not None:
        return found[0], str(found[1])
    path = Path(out_dir) / manifest_name(split, ways, shots, queries, count, seed)
    if path.is_file():
        return EpisodeSet.load(path, split=split), str(path)
    try:
        eps = sample_episodes(split, ways, shots, queries, count, seed=seed)
    except ValueError as e:
        raise ValueError(
            f"cannot make {ways}-way {shots}-shot {queries}-query episodes on "
            f"{split.dataset}/{split.name}: {e}"
        ) from None
    eps.save(path, overwrite=False)
    return eps, str(path)


def benchmark_manifests(
    dataset,
    splits,
    ways: int,
    shots,
    queries: int,
    counts: dict[str, int],
    seed: int,
    out_dir: Path,
    search: Iterable[Path] = (),
) -> dict[tuple[str, int], tuple[EpisodeSet, str]]:
    """(split name, shots) -> (episodes, source) for every split with a positive count."""
    out = {}
    for split_name in splits:
        if counts.get(split_name, 0) < 1:
            continue
        split = dataset.split(split_name)
        for k in shots:
            out[(split_name, k)] = get_manifest(
                split, ways, k, queries, counts[split_name], seed, out_dir, list(search)
            )
    return out
