"""Episodic evaluation of features: batched heads, one row per (episode, head).

The per-episode DataFrame has the columns of the results schema: ``run``, ``loss``,
``seed``, ``dataset``, ``split``, ``head``, ``ways``, ``shots``, ``queries``, ``episode``,
``accuracy`` (in [0, 1]), hyper-parameter columns when known (``lam``, ``temperature``,
``beta``, ``batch_size``, ``backbone``), and ``manifest``: a digest of the episode arrays,
so that a paired comparison can refuse results from different episodes. A backbone's evaluation
(:mod:`fewshot_clce.evaluation.backbone`) adds ``train_dataset`` (what it was trained on; ``dataset`` is what it is evaluated on) and
``adaptation`` (what was done to the images to fit it: ``none``, ``8x8 -> 28x28``,
``3 -> 1 channels (ITU-R BT.601 luminance)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Optional, Union

import numpy as np
import pandas as pd

from ..episodes import EpisodeSet, manifest_digest
from ..features import FeatureTable
from ..heads import HEADS, Head, create_head, head_needs_base_mean
from ..utils.checks import MIN_WAYS
from .episodic import episode_accuracies

EpisodesArg = Union[EpisodeSet, str, Path, Sequence[Union[EpisodeSet, str, Path]]]


def load_episode_sets(episodes: EpisodesArg) -> list[EpisodeSet]:
    """The episode sets of ``episodes`` (objects, or manifest paths read), each of two ways or more.

    Raises:
        ValueError: for no episodes, or a set of fewer than two ways.
    """
    items = [episodes] if isinstance(episodes, (EpisodeSet, str, Path)) else list(episodes)
    if not items:
        raise ValueError(
            "no episodes given; pass at least one manifest (fewshot-clce episodes make)"
        )
    sets = [e if isinstance(e, EpisodeSet) else EpisodeSet.load(e) for e in items]
    for item, es in zip(items, sets):
        if (
            es.ways < MIN_WAYS
        ):  # a head fitted on one class predicts it for every query: 100% says nothing
            where = (
                f"manifest {str(item)!r}"
                if not isinstance(item, EpisodeSet)
                else f"episodes {es!r}"
            )
            raise ValueError(
                f"{where} holds {es.ways}-way episodes; a classification episode needs at least "
                f"{MIN_WAYS} classes: make them with `fewshot-clce episodes make --ways 5` (or any "
                f"--ways of at least {MIN_WAYS})"
            )
    return sets


def _as_heads(heads, base_mean=None) -> dict[str, Head]:
    """Head objects keyed by their label (``logistic[C=0.1]``): what the results' ``head`` column holds."""
    if isinstance(heads, (str, Head)):
        heads = [heads]
    out: dict[str, Head] = {}
    for h in heads:
        if not isinstance(h, Head):
            if head_needs_base_mean(h) and base_mean is None:
                raise ValueError(
                    f"head {h!r} needs the base-class mean feature; pass base_mean "
                    "(evaluate_run computes it from the base split)"
                )
            h = create_head(h, base_mean=base_mean)
        if h.label in out:
            raise ValueError(
                f"two heads are both {h.label!r}; give each head once (differently configured "
                "heads of one kind are told apart by their options, e.g. logistic[C=0.1])"
            )
        out[h.label] = h
    if not out:
        raise ValueError(f"no heads given; choose from {', '.join(HEADS.list())}")
    return out


def heads_need_base_mean(heads) -> bool:
    names = [heads] if isinstance(heads, (str, Head)) else list(heads)
    return any(head_needs_base_mean(h) for h in names)


def evaluate_features(
    features: FeatureTable,
    episodes: EpisodesArg,
    heads=("centroid", "logistic"),
    base_mean=None,
    meta: Optional[Mapping] = None,
) -> pd.DataFrame:
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
    for es in load_episode_sets(episodes):
        digest = manifest_digest(es)
        for name, head in _as_heads(heads, base_mean).items():
            acc = episode_accuracies(features, es, head)
            frames.append(
                pd.DataFrame(
                    {
                        **{k: [v] * len(es) for k, v in meta.items()},
                        "dataset": es.dataset,
                        "split": es.split,
                        "head": name,
                        "ways": es.ways,
                        "shots": es.shots,
                        "queries": es.queries,
                        "manifest": digest,
                        "episode": np.arange(len(es)),
                        "accuracy": acc,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)
