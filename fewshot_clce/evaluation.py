"""Episodic evaluation: features once, batched heads, one row per (episode, head).

The per-episode DataFrame has the columns of the results schema: ``run``, ``loss``,
``seed``, ``dataset``, ``split``, ``head``, ``ways``, ``shots``, ``queries``, ``episode``,
``accuracy`` (in [0, 1]), hyper-parameter columns when known (``lam``, ``temperature``,
``beta``, ``batch_size``, ``backbone``), and ``manifest``: a digest of the episode arrays,
so that a paired comparison can refuse results from different episodes.
"""
from __future__ import annotations

import hashlib
import shlex
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from .utils.checks import MIN_WAYS
from .utils.distributed import resolve_device
from .episodes.manifest import EpisodeSet
from .features import FeatureTable, extract_features
from .losses.hparams import CONFIG_COLUMNS
from .heads import HEADS, Head, create_head, episode_accuracies, head_needs_base_mean
from .stats.intervals import DEFAULT_CI_METHOD
from .stats.summary import summarize as _summarize

# Settings of a run copied onto its result rows: the configuration columns and the backbone.
RUN_COLUMNS = (*CONFIG_COLUMNS, "backbone")
# Columns that identify an episode of a result; a paired comparison joins on them.
EPISODE_KEYS = ["dataset", "split", "ways", "shots", "queries", "head", "manifest", "episode"]

EpisodesArg = Union[EpisodeSet, str, Path, Sequence[Union[EpisodeSet, str, Path]]]


def manifest_digest(episodes: EpisodeSet) -> str:
    """16 hex digits identifying the episodes (their split and every index)."""
    h = hashlib.sha256(f"{episodes.dataset}\0{episodes.split}\0{episodes.fingerprint}\0".encode())
    for a in (episodes.classes, episodes.support, episodes.query):
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a, dtype="<i8").tobytes())
    return h.hexdigest()[:16]


def _as_episode_sets(episodes: EpisodesArg) -> List[EpisodeSet]:
    items = [episodes] if isinstance(episodes, (EpisodeSet, str, Path)) else list(episodes)
    if not items:
        raise ValueError("no episodes given; pass at least one manifest (fewshot-clce episodes make)")
    sets = [e if isinstance(e, EpisodeSet) else EpisodeSet.load(e) for e in items]
    for item, es in zip(items, sets):
        if es.ways < MIN_WAYS:  # a head fitted on one class predicts it for every query: 100% says nothing
            where = f"manifest {str(item)!r}" if not isinstance(item, EpisodeSet) else f"episodes {es!r}"
            raise ValueError(f"{where} holds {es.ways}-way episodes; a classification episode needs at least "
                             f"{MIN_WAYS} classes: make them with `fewshot-clce episodes make --ways 5` (or any "
                             f"--ways of at least {MIN_WAYS})")
    return sets


def _as_heads(heads, base_mean=None) -> Dict[str, Head]:
    """Head objects keyed by their label (``logistic[C=0.1]``): what the results' ``head`` column holds."""
    if isinstance(heads, (str, Head)):
        heads = [heads]
    out: Dict[str, Head] = {}
    for h in heads:
        if not isinstance(h, Head):
            if head_needs_base_mean(h) and base_mean is None:
                raise ValueError(f"head {h!r} needs the base-class mean feature; pass base_mean "
                                 "(evaluate_run computes it from the base split)")
            h = create_head(h, base_mean=base_mean)
        if h.label in out:
            raise ValueError(f"two heads are both {h.label!r}; give each head once (differently configured "
                             "heads of one kind are told apart by their options, e.g. logistic[C=0.1])")
        out[h.label] = h
    if not out:
        raise ValueError(f"no heads given; choose from {', '.join(HEADS.list())}")
    return out


def heads_need_base_mean(heads) -> bool:
    names = [heads] if isinstance(heads, (str, Head)) else list(heads)
    return any(head_needs_base_mean(h) for h in names)


def evaluate_features(features: FeatureTable, episodes: EpisodesArg, heads=("centroid", "logistic"),
                      base_mean=None, meta: Optional[Mapping] = None) -> pd.DataFrame:
    """Evaluate heads on episodes from precomputed features.

    Args:
        features: features of (at least) every sample the episodes use.
        episodes: an :class:`EpisodeSet`, a manifest path, or a list of them (same split).
        heads: head names (see ``HEADS``) or :class:`Head` objects.
        base_mean: ``[D]`` base-class mean feature, for heads that centre (``centroid_cl2n``).
        meta: run columns (``run``, ``loss``, ``seed``, hyper-parameters) repeated on every row.

    Returns:
        One row per (episode set, head, episode); see the module docstring for the columns.
    """
    meta = dict(meta or {})
    meta.setdefault("run", "")
    meta.setdefault("loss", "")
    meta.setdefault("seed", -1)
    frames = []
    for es in _as_episode_sets(episodes):
        digest = manifest_digest(es)
        for name, head in _as_heads(heads, base_mean).items():
            acc = episode_accuracies(features, es, head)
            frames.append(pd.DataFrame({
                **{k: [v] * len(es) for k, v in meta.items()},
                "dataset": es.dataset, "split": es.split, "head": name, "ways": es.ways,
                "shots": es.shots, "queries": es.queries, "manifest": digest,
                "episode": np.arange(len(es)), "accuracy": acc}))
    return pd.concat(frames, ignore_index=True)


def _run_meta(run_dir: Path, config: Mapping) -> dict:
    meta = {"run": run_dir.name, "loss": str(config.get("loss", "")), "seed": int(config.get("seed", -1))}
    for k in RUN_COLUMNS:
        if k in config:  # kept even when None (CE has no temperature) so runs stack into one table
            meta[k] = config[k]
    return meta


def evaluate_run(run_dir: str | Path, episodes: EpisodesArg, heads=("centroid", "logistic"),
                 which: str = "best", flip: bool = False, batch_size: int = 256,
                 device: str = "cpu", cache: bool | str | Path = True, data_root=None) -> pd.DataFrame:
    """Evaluate a trained run on episode manifests: features once per split, then every head.

    Args:
        run_dir: folder written by ``fewshot-clce train``.
        episodes: manifests (objects or paths) of the run's dataset; several splits allowed.
        heads: head names or objects.
        which: checkpoint, "best" or "last".
        flip: test-time horizontal-flip averaging of features.
        batch_size: images per forward pass.
        device: where the backbone runs: cpu, cuda, cuda:N or auto (a GPU when visible).
        cache: feature cache (True: the toolkit cache folder; a folder; False: none).
        data_root: dataset folder (default: the one the run was trained with).

    Raises:
        FileNotFoundError: when the run folder has no checkpoint.
        ValueError: for episodes of another dataset or split, non-finite features, or an unknown or
            absent device.
    """
    from .data import create_dataset
    from .training.run_folder import load_run

    run_dir = Path(run_dir).expanduser()
    device = resolve_device(str(device))  # a bad or absent device is named before any work
    sets = _as_episode_sets(episodes)
    loaded = load_run(run_dir, which=which)
    for es in sets:  # by canonical identity (folder name, options); the fingerprints are checked below
        if es.dataset and es.dataset != loaded.dataset_id:
            raise ValueError(f"episodes of dataset {es.dataset!r} cannot evaluate run {run_dir.name!r}, "
                             f"which was trained on {loaded.dataset_id!r}; make episodes of its data with "
                             f"`fewshot-clce episodes make --dataset {shlex.quote(loaded.dataset)}`")
    dataset = create_dataset(loaded.dataset, root=data_root or loaded.config.get("data_root"))
    backbone = loaded.backbone.to(device)
    common = dict(preprocess=loaded.preprocess, batch_size=batch_size, flip=flip,
                  checkpoint_id=loaded.checkpoint_id, preprocess_id=repr(loaded.preprocess),
                  cache=cache, device=device)
    base_mean = None
    if heads_need_base_mean(heads):
        base = dataset.split("base")
        base_mean = extract_features(backbone, base, None, **common).mean()
    meta = _run_meta(run_dir, loaded.config)
    frames = []
    for split_name in dict.fromkeys(es.split for es in sets):
        split = dataset.split(split_name)
        group = [es for es in sets if es.split == split_name]
        for es in group:
            es.check(split)
        used = np.unique(np.concatenate([es.used_indices() for es in group]))
        feats = extract_features(backbone, split, used, **common)
        frames.append(evaluate_features(feats, group, heads, base_mean=base_mean, meta=meta))
    return pd.concat(frames, ignore_index=True)


def summarize(results: pd.DataFrame, method: str = DEFAULT_CI_METHOD, confidence: float = 0.95,
              by: str = "run", baseline: Optional[str] = None) -> pd.DataFrame:
    """Mean accuracy with its CI per run and episode setting, every split.

    The entry point of ``fewshot-clce evaluate`` onto the one summary,
    :func:`fewshot_clce.stats.summary.summarize` (its columns; ``ci_method`` names the interval
    next to the numbers).

    Args:
        results: per-episode results (results schema).
        method: episode-level interval, ``"t"`` (default) or ``"normal"``.
        by: ``"run"`` (each run on its own) or ``"config"`` (a configuration's seeds pooled, with
            the seed-level interval from two seeds on).
        baseline: a run (or configuration, or loss) to compare every other one with; None: none.
    """
    return _summarize(results, baseline=baseline, split=None, ci_method=method, confidence=confidence, by=by)


def compare_results(a: pd.DataFrame, b: pd.DataFrame, method: str = DEFAULT_CI_METHOD,
                    confidence: float = 0.95) -> pd.DataFrame:
    """Paired comparison of two per-episode result tables, per (dataset, split, ways, shots, head).

    The entry point of ``fewshot-clce compare`` onto the one summary: the rows of run A in
    :func:`fewshot_clce.stats.summary.summarize` grouped by run with run B as the baseline
    (``mean`` is A's, ``baseline_mean`` B's, ``delta`` A − B with its interval, p-value and
    wins/ties/losses; ``*_kind`` columns say they are episode-level for single-seed runs).

    Raises:
        ValueError: when the two tables do not hold the same episodes.
    """
    keys = [k for k in EPISODE_KEYS if k in a.columns and k in b.columns]
    for df, name in ((a, "A"), (b, "B")):
        if df.duplicated(keys).any():
            raise ValueError(f"results of run {name} list some episodes twice; compare one run at a time")
    merged = a[keys + ["accuracy"]].merge(b[keys + ["accuracy"]], on=keys, how="outer",
                                          suffixes=("_a", "_b"), indicator=True)
    if (merged["_merge"] != "both").any():
        only = merged[merged["_merge"] != "both"]
        side = only["_merge"].iloc[0].replace("_only", "").replace("left", "A").replace("right", "B")
        raise ValueError(f"the runs were not evaluated on the same episodes: {len(only)} (episode, head) rows "
                         f"are in one table only (e.g. {only[keys].iloc[0].to_dict()} only in run {side}); "
                         "evaluate both runs with the same manifests and heads")
    names = [str(df["run"].iloc[0]) if "run" in df.columns and len(df) else "" for df in (a, b)]
    if names[0] == names[1]:  # two folders of one name: told apart, or B would be its own baseline
        names = [f"{names[0]} (A)".lstrip(), f"{names[1]} (B)".lstrip()]
    both = pd.concat([a.assign(run=names[0]), b.assign(run=names[1])], ignore_index=True)
    table = _summarize(both, baseline=names[1], split=None, ci_method=method, confidence=confidence, by="run")
    return table[table["run"] == names[0]].reset_index(drop=True)


def compare_runs(run_a: str | Path, run_b: str | Path, episodes: EpisodesArg, heads=("centroid", "logistic"),
                 method: str = DEFAULT_CI_METHOD, confidence: float = 0.95, **evaluate_kw) -> pd.DataFrame:
    """Evaluate two runs on the same episodes and compare them pairwise (see :func:`compare_results`)."""
    sets = _as_episode_sets(episodes)
    a = evaluate_run(run_a, sets, heads, **evaluate_kw)
    b = evaluate_run(run_b, sets, heads, **evaluate_kw)
    return compare_results(a, b, method=method, confidence=confidence)
