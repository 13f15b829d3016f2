"""Evaluation of a backbone on episode manifests: a trained run's (:func:`evaluate_run`) or weights
from elsewhere (:func:`evaluate_backbone`). Every check first (dataset, fingerprints, channels),
then features once per split and every head on them
(:func:`~fewshot_clce.evaluation.evaluate.evaluate_features`); the rows also say what the backbone
was trained on and what was done to the images to fit it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import torch

from ..episodes import EpisodeSet
from ..features import FeatureTable, extract_features
from ..losses.hparams import CONFIG_COLUMNS
from ..utils.distributed import resolve_device
from .datasets import evaluation_dataset, named_dataset
from .evaluate import EpisodesArg, evaluate_features, heads_need_base_mean, load_episode_sets

# Settings of a run copied onto its result rows: the configuration columns and the backbone.
RUN_COLUMNS = (*CONFIG_COLUMNS, "backbone")


@dataclass(frozen=True)
class _Extraction:
    """How features are extracted: the caller's choices among :func:`extract_features`' arguments."""

    flip: bool
    batch_size: int
    device: torch.device
    cache: bool | str | Path

    def features(self, backbone, split, indices, preprocess, checkpoint_id) -> FeatureTable:
        """Features of ``indices`` of ``split`` (all samples when None), cached under the
        checkpoint's identity and the preprocessing's ``repr``."""
        return extract_features(
            backbone,
            split,
            indices,
            preprocess=preprocess,
            preprocess_id=repr(preprocess),
            batch_size=self.batch_size,
            flip=self.flip,
            checkpoint_id=checkpoint_id,
            cache=self.cache,
            device=self.device,
        )


def _run_meta(run_name: str, config: Mapping) -> dict:
    """The run columns of a backbone's rows: its name, loss, seed and settings."""
    meta = {
        "run": run_name,
        "loss": str(config.get("loss", "")),
        "seed": int(config.get("seed", -1)),
    }
    for k in RUN_COLUMNS:
        if k in config:  # kept even when None (CE has no temperature) so runs stack into one table
            meta[k] = config[k]
    return meta


def _pretrained_on(config: Mapping, stated: Optional[str]) -> str:
    """What the backbone was pretrained on: the user's word, else timm's tag for timm's weights."""
    if stated:
        return str(stated)
    if config.get("pretrained_on"):
        return str(config["pretrained_on"])
    if config.get("pretrained") and config.get("backbone"):
        from ..backbones.provenance import timm_pretraining

        return timm_pretraining(str(config["backbone"])) or ""
    return ""


def _trained_side(loaded) -> Optional[int]:
    """The smaller side of the images the backbone was trained at, when known."""
    config = loaded.config
    size = (
        config["trained_image_size"]
        if "trained_image_size" in config
        else (config.get("derived") or {}).get("image_size")
    )
    return min(int(s) for s in size) if size else None


def _checked_splits(sets: list[EpisodeSet], ds, loaded, run_name: str) -> dict:
    """``{split name: (split, preprocessing)}`` for each split the episodes use: the episodes
    checked against it (fingerprints), the backbone's preprocessing adapted to its images."""
    splits = {}
    for split_name in dict.fromkeys(es.split for es in sets):
        split = ds.split(split_name)
        for es in sets:
            if es.split == split_name:
                es.check(split)  # the fingerprint check against the evaluation data itself
        splits[split_name] = (
            split,
            loaded.preprocess.adapted_to(
                split.image_shape,
                f"the images of {ds.name}/{split_name}",
                f"backbone {run_name!r}",
            ),
        )
    return splits


def _base_mean(loaded, ds, data_root, backbone, extraction: _Extraction) -> torch.Tensor:
    """``[D]`` mean feature of the base classes the backbone was trained on (SimpleShot's
    centring); for weights from elsewhere, of the evaluation dataset's."""
    from ..data import create_dataset

    own = ds.name == loaded.dataset_id or not loaded.dataset
    base = (ds if own else create_dataset(loaded.dataset, root=data_root)).split("base")
    pre = loaded.preprocess.adapted_to(base.image_shape)
    return extraction.features(backbone, base, None, pre, loaded.checkpoint_id).mean()


def _evaluate_loaded(
    loaded,
    sets: list[EpisodeSet],
    heads,
    meta: dict,
    dataset,
    data_root,
    extraction: _Extraction,
    pretrained_on: Optional[str] = None,
) -> pd.DataFrame:
    """Evaluate a loaded backbone (a run, or weights from elsewhere) on ``sets``: every check first
    (dataset, fingerprints, channels), then features once per split, then every head.

    The result's ``attrs["warnings"]`` lists what makes its numbers misleading
    (:func:`~fewshot_clce.backbones.provenance.comparability_warnings`)."""
    from ..backbones.provenance import comparability_warnings

    ds = evaluation_dataset(sets, dataset, loaded, data_root)
    splits = _checked_splits(sets, ds, loaded, meta["run"])
    backbone = loaded.backbone.to(extraction.device)
    base_mean = None
    if heads_need_base_mean(heads):
        base_mean = _base_mean(loaded, ds, data_root, backbone, extraction)
    frames, warnings = [], []
    pretraining = _pretrained_on(loaded.config, pretrained_on)
    for split_name, (split, pre) in splits.items():
        group = [es for es in sets if es.split == split_name]
        used = np.unique(np.concatenate([es.used_indices() for es in group]))
        feats = extraction.features(backbone, split, used, pre, loaded.checkpoint_id)
        rows = dict(
            meta,
            train_dataset=loaded.dataset_id,
            adaptation=loaded.preprocess.describe(split.image_shape),
            embedding_dim=feats.dim,
            pretrained_on=pretraining,
        )
        frames.append(evaluate_features(feats, group, heads, base_mean=base_mean, meta=rows))
        size = getattr(loaded.preprocess, "size", None)
        # a backbone evaluated on its own training data saw images of this size in training
        trained_side = None if ds.name == loaded.dataset_id else _trained_side(loaded)
        warnings += comparability_warnings(
            ds.name,
            pretraining,
            trained_side,
            split.image_shape,
            min(int(v) for v in size) if size else None,
        )
    results = pd.concat(frames, ignore_index=True)
    results.attrs["warnings"] = list(dict.fromkeys(warnings))
    return results


def evaluate_run(
    run_dir: str | Path,
    episodes: EpisodesArg,
    heads=("centroid", "logistic"),
    which: str = "best",
    flip: bool = False,
    batch_size: int = 256,
    device: str = "cpu",
    cache: bool | str | Path = True,
    data_root=None,
    dataset=None,
    pretrained_on: Optional[str] = None,
) -> pd.DataFrame:
    """Evaluate a trained run on episode manifests: features once per split, then every head.

    The episodes may be of another dataset than the run was trained on (cross-domain): the run's
    preprocessing adapts the images (its input size; grayscale repeated into RGB or RGB turned
    into luminance for its channels) and the ``adaptation`` column says what was done. Every row
    records the run's ``train_dataset`` and the evaluation ``dataset``.

    Args:
        run_dir: folder written by ``fewshot-clce train``.
        episodes: manifests (objects or paths) of one dataset; several splits allowed.
        heads: head names or objects.
        which: checkpoint, "best" or "last".
        flip: test-time horizontal-flip averaging of features.
        batch_size: images per forward pass.
        device: where the backbone runs: cpu, cuda, cuda:N or auto (a GPU when visible).
        cache: feature cache (True: the toolkit cache folder; a folder; False: none).
        data_root: dataset folder (default: the one the run was trained with).
        dataset: the evaluation dataset (a spec such as ``digits`` or ``folder:PATH``, or a loaded
            one); default: the run's own for its episodes, else the episodes' dataset by name.
        pretrained_on: what the backbone was pretrained on (``"imagenet"``), recorded in the
            ``pretrained_on`` column; default: timm's tag when the run started from timm's weights.
            ``attrs["warnings"]`` of the result flags ImageNet pretraining evaluated on
            mini-/tiered-ImageNet and images far smaller than the training size.

    Raises:
        FileNotFoundError: when the run folder has no checkpoint.
        ValueError: for episodes of another split or data (fingerprints), images whose channels
            cannot be adapted, non-finite features, or an unknown or absent device.
    """
    from ..training.run_folder import load_run

    run_dir = Path(run_dir).expanduser()
    # a bad or absent device is named before any work
    extraction = _Extraction(flip, batch_size, resolve_device(str(device)), cache)
    sets = load_episode_sets(episodes)
    loaded = load_run(run_dir, which=which)
    return _evaluate_loaded(
        loaded,
        sets,
        heads,
        _run_meta(run_dir.name, loaded.config),
        dataset,
        data_root or loaded.config.get("data_root"),
        extraction,
        pretrained_on,
    )


def evaluate_backbone(
    backbone: str,
    episodes: EpisodesArg,
    checkpoint: Optional[str | Path] = None,
    pretrained: bool = False,
    image_size: Optional[int] = None,
    mean: Optional[Sequence[float]] = None,
    std: Optional[Sequence[float]] = None,
    heads=("centroid", "logistic"),
    dataset=None,
    run_name: Optional[str] = None,
    flip: bool = False,
    batch_size: int = 256,
    device: str = "cpu",
    cache: bool | str | Path = True,
    data_root=None,
    in_chans: Optional[int] = None,
    checkpoint_prefix: str = "",
    checkpoint_key: Optional[str] = None,
    pretrained_on: Optional[str] = None,
    **backbone_kwargs,
) -> pd.DataFrame:
    """Evaluate a backbone that no run folder holds: a weights file, or timm's pretrained weights.

    A checkpoint written by a training run evaluates exactly as its run folder (its settings give
    the preprocessing). Defaults and errors: :func:`fewshot_clce.backbones.external.load_backbone`.

    Args:
        backbone: ``conv4``, ``resnet12`` or a timm model name.
        episodes: manifests of one dataset, as for :func:`evaluate_run`.
        checkpoint: a weights file (give this or ``pretrained``).
        pretrained: timm's pretrained weights of ``name`` (give this or ``checkpoint``).
        image_size: the input side or ``(height, width)``.
        mean: the normalisation mean per channel.
        std: the normalisation standard deviation per channel.
        in_chans: channels of ``pretrained`` weights (timm adapts the first convolution).
        checkpoint_prefix: the key prefix of the backbone's weights in the checkpoint.
        checkpoint_key: the checkpoint entry holding them.
        pretrained_on: what the weights were pretrained on (default: timm's tag for ``pretrained``).
        dataset: the evaluation dataset; default: the episodes' dataset by name.
        run_name: the ``run`` column (default: the checkpoint file's name, or ``NAME-pretrained``).
        **backbone_kwargs: options of the backbone's constructor (``width``, ``global_pool``, ...).

    The other arguments are as for :func:`evaluate_run`.
    """
    from ..backbones.external import load_backbone

    extraction = _Extraction(flip, batch_size, resolve_device(str(device)), cache)
    sets = load_episode_sets(episodes)
    # the images' shape gives defaults of the preprocessing: the dataset is loaded first
    ds = named_dataset(sets, dataset, data_root)
    loaded = load_backbone(
        backbone,
        checkpoint,
        pretrained,
        image_size,
        mean,
        std,
        image_shape=ds.split(sets[0].split or "novel").image_shape,
        in_chans=in_chans,
        checkpoint_prefix=checkpoint_prefix,
        checkpoint_key=checkpoint_key,
        **backbone_kwargs,
    )
    name = run_name or (
        Path(checkpoint).name if checkpoint is not None else f"{backbone}-pretrained"
    )
    meta = {**_run_meta(name, loaded.config), "backbone": backbone}
    results = _evaluate_loaded(loaded, sets, heads, meta, ds, data_root, extraction, pretrained_on)
    if loaded.config.get("checkpoint_layout"):
        results.attrs["checkpoint_layout"] = loaded.config["checkpoint_layout"]
    return results
