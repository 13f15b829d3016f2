"""Finding the fixed episode manifests a benchmark evaluates on, or making and saving them.

Committed manifests in the repository's ``episodes/`` folder are used when one matches the
dataset, split, ways, shots, queries and the split's fingerprint and holds at least as many
episodes as asked (its first N are used). Otherwise episodes are drawn with the benchmark's
``episode_seed`` and saved into the output folder, so a re-run and every loss use the same ones.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, Optional, Tuple

from ..episodes.manifest import EpisodeSet, file_safe, sample_episodes



def committed_dir() -> Path:
    """The committed manifests, shipped as package data (``fewshot_clce/episodes/committed``, which is
    the repository's top-level ``episodes/`` folder): found the same way from a checkout, an
    editable install or a wheel."""
    from importlib.resources import files

    return Path(str(files("fewshot_clce.episodes") / "committed"))


def _matches(eps: EpisodeSet, split, ways: int, shots: int, queries: int, count: int) -> bool:
    return (eps.dataset == split.dataset and eps.split == split.name and eps.fingerprint == split.fingerprint
            and (eps.ways, eps.shots, eps.queries) == (ways, shots, queries) and len(eps) >= count)


def find_committed(split, ways: int, shots: int, queries: int, count: int,
                   folders: Iterable[Path]) -> Optional[Tuple[EpisodeSet, Path]]:
    """The first manifest in ``folders`` that fits, cut to ``count`` episodes, with its path."""
    for folder in folders:
        if not Path(folder).is_dir():
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


def manifest_name(split, ways: int, shots: int, queries: int, count: int, seed: int) -> str:
    """File name of generated episodes, after the split's dataset identity: two variants of one
    dataset (``omniglot[rotations=true]``) get two files, and a ``folder:`` dataset one name
    wherever its data lies."""
    safe = file_safe(split.dataset)
    return f"{safe}_{split.name}_{ways}way_{shots}shot_{queries}query_{count}ep_seed{seed}.npz"


def get_manifest(split, ways: int, shots: int, queries: int, count: int, seed: int, out_dir: Path,
                 search: Iterable[Path] = ()) -> Tuple[EpisodeSet, str]:
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
        raise ValueError(f"cannot make {ways}-way {shots}-shot {queries}-query episodes on "
                         f"{split.dataset}/{split.name}: {e}") from None
    eps.save(path, overwrite=False)
    return eps, str(path)


def benchmark_manifests(dataset, splits, ways: int, shots, queries: int, counts: Dict[str, int], seed: int,
                        out_dir: Path, search: Iterable[Path] = ()
                        ) -> Dict[Tuple[str, int], Tuple[EpisodeSet, str]]:
    """(split name, shots) -> (episodes, source) for every split with a positive count."""
    out = {}
    for split_name in splits:
        if counts.get(split_name, 0) < 1:
            continue
        split = dataset.split(split_name)
        for k in shots:
            out[(split_name, k)] = get_manifest(split, ways, k, queries, counts[split_name], seed, out_dir,
                                                list(search))
    return out
