"""Episodic evaluation: features once, batched heads, one row per (episode, head).

The per-episode DataFrame has the columns of the results schema: ``run``, ``loss``,
``seed``, ``dataset``, ``split``, ``head``, ``ways``, ``shots``, ``queries``, ``episode``,
``accuracy`` (in [0, 1]), hyper-parameter columns when known (``lam``, ``temperature``,
``beta``, ``batch_size``, ``backbone``), and ``manifest``: a digest of the episode arrays,
so that a paired comparison can refuse results from different episodes. A backbone's evaluation
adds ``train_dataset`` (what it was trained on; ``dataset`` is what it is evaluated on) and
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
from ..features import FeatureTable, extract_features
from ..heads import HEADS, Head, create_head, head_needs_base_mean
from ..losses.hparams import CONFIG_COLUMNS
from ..utils.checks import MIN_WAYS
from ..utils.distributed import resolve_device
from .episodic import episode_accuracies

# Settings of a run copied onto its result rows: the configuration columns and the backbone.
RUN_COLUMNS = (*CONFIG_COLUMNS, "backbone")

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


def _run_meta(run_dir: Path, config: Mapping) -> dict:
    meta = {
        "run": run_dir.name,
        "loss": str(config.get("loss", "")),
        "seed": int(config.get("seed", -1)),
    }
    for k in RUN_COLUMNS:
        if k in config:  # kept even when None (CE has no temperature) so runs stack into one table
            meta[k] = config[k]
    return meta


def _eval_dataset(sets: list[EpisodeSet], dataset, loaded, data_root):
    """The dataset the episodes index: ``dataset`` (a spec or a loaded one), else the run's own when the
    episodes are of its data, else the episodes' dataset by its identity (a registered name).

    Raises:
        ValueError: for episodes of several datasets, episodes of another dataset than ``dataset``,
            or episodes of a ``folder:`` dataset other than the run's (its path is needed).
    """
    from ..data import FewShotDataset, create_dataset, dataset_id

    named = sorted({es.dataset for es in sets if es.dataset})
    if dataset is not None:
        identity = dataset.name if isinstance(dataset, FewShotDataset) else dataset_id(str(dataset))
        other = [d for d in named if d != identity]
        if other:
            raise ValueError(
                f"the episodes were drawn from dataset {other[0]!r}, not from --dataset {identity!r}; "
                f"pass --dataset {other[0]} (or its folder:PATH), or episodes of {identity!r}"
            )
        if isinstance(dataset, FewShotDataset):
            return dataset
        return create_dataset(str(dataset), root=data_root)
    if len(named) > 1:
        raise ValueError(
            f"the episodes come from {len(named)} datasets ({', '.join(named)}); evaluate one "
            "dataset at a time"
        )
    identity = named[0] if named else loaded.dataset_id
    if identity == loaded.dataset_id and loaded.dataset:
        return create_dataset(loaded.dataset, root=data_root)
    if not named:
        raise ValueError(
            "the episodes do not name their dataset and the backbone has no training data to assume; "
            "pass --dataset"
        )
    if identity.startswith("folder:"):
        raise ValueError(
            f"the episodes are of the folder dataset {identity!r}, which the run was not trained on: "
            f"pass its path, --dataset folder:PATH[::SPLITFILE]"
        )
    return create_dataset(identity, root=data_root)


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


def _evaluate_loaded(
    loaded,
    sets: list[EpisodeSet],
    heads,
    meta: dict,
    dataset,
    data_root,
    flip: bool,
    batch_size: int,
    device,
    cache,
    pretrained_on: Optional[str] = None,
) -> pd.DataFrame:
    """Evaluate a loaded backbone (a run, or weights from elsewhere) on ``sets``: every check first
    (dataset, fingerprints, channels), then features once per split, then every head.

    The result's ``attrs["warnings"]`` lists what makes its numbers misleading
    (:func:`~fewshot_clce.backbones.provenance.comparability_warnings`)."""
    from ..backbones.provenance import comparability_warnings
    from ..data import create_dataset

    ds = _eval_dataset(sets, dataset, loaded, data_root)
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
                f"backbone {meta['run']!r}",
            ),
        )
    backbone = loaded.backbone.to(device)
    common = dict(
        batch_size=batch_size,
        flip=flip,
        checkpoint_id=loaded.checkpoint_id,
        cache=cache,
        device=device,
    )
    base_mean = None
    if heads_need_base_mean(heads):
        # the base classes the backbone was trained on (SimpleShot's centring); for weights from
        # elsewhere, those of the evaluation dataset
        own = ds.name == loaded.dataset_id or not loaded.dataset
        base = (ds if own else create_dataset(loaded.dataset, root=data_root)).split("base")
        pre = loaded.preprocess.adapted_to(base.image_shape)
        base_mean = extract_features(
            backbone, base, None, preprocess=pre, preprocess_id=repr(pre), **common
        ).mean()
    frames, warnings = [], []
    pretraining = _pretrained_on(loaded.config, pretrained_on)
    for split_name, (split, pre) in splits.items():
        group = [es for es in sets if es.split == split_name]
        used = np.unique(np.concatenate([es.used_indices() for es in group]))
        feats = extract_features(
            backbone, split, used, preprocess=pre, preprocess_id=repr(pre), **common
        )
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
    torch_device = resolve_device(str(device))  # a bad or absent device is named before any work
    sets = load_episode_sets(episodes)
    loaded = load_run(run_dir, which=which)
    return _evaluate_loaded(
        loaded,
        sets,
        heads,
        _run_meta(run_dir, loaded.config),
        dataset,
        data_root or loaded.config.get("data_root"),
        flip,
        batch_size,
        torch_device,
        cache,
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
    from ..data import FewShotDataset, create_dataset

    torch_device = resolve_device(str(device))
    sets = load_episode_sets(episodes)
    if dataset is None:  # the images' shape gives defaults of the preprocessing: load them first
        named = sorted({es.dataset for es in sets if es.dataset})
        if len(named) != 1 or named[0].startswith("folder:"):
            raise ValueError(
                "pass --dataset: the evaluation dataset cannot be told from the episodes "
                f"({', '.join(named) or 'they name none'})"
            )
        dataset = named[0]
    ds = (
        dataset
        if isinstance(dataset, FewShotDataset)
        else create_dataset(str(dataset), root=data_root)
    )
    shape = ds.split(sets[0].split or "novel").image_shape
    loaded = load_backbone(
        backbone,
        checkpoint,
        pretrained,
        image_size,
        mean,
        std,
        image_shape=shape,
        in_chans=in_chans,
        checkpoint_prefix=checkpoint_prefix,
        checkpoint_key=checkpoint_key,
        **backbone_kwargs,
    )
    name = run_name or (
        Path(checkpoint).name if checkpoint is not None else f"{backbone}-pretrained"
    )
    meta = {
        "run": name,
        "loss": str(loaded.config.get("loss", "")),
        "seed": int(loaded.config.get("seed", -1)),
        **{k: loaded.config[k] for k in RUN_COLUMNS if k in loaded.config},
        "backbone": backbone,
    }
    results = _evaluate_loaded(
        loaded,
        sets,
        heads,
        meta,
        ds,
        data_root,
        flip,
        batch_size,
        torch_device,
        cache,
        pretrained_on,
    )
    if loaded.config.get("checkpoint_layout"):
        results.attrs["checkpoint_layout"] = loaded.config["checkpoint_layout"]
    return results
