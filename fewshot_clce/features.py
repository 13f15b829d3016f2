"""Feature extraction: one forward pass per image the episodes use, cached on disk.

A cache entry is keyed by what determines the features: the checkpoint (its id), the
split (its fingerprint, which covers the content of its images, so a changed image is never
served from an old entry), the preprocessing (an id string), test-time flip averaging and
the feature format. The entry also stores these fields, and they are checked on load: an
entry that belongs to another checkpoint (a renamed or copied file, a hash collision) is
reported and recomputed, never used. An entry that lacks some of the requested samples is
completed with a forward pass over the missing ones only.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .utils import files as _io

log = logging.getLogger(__name__)

# bump when the stored layout or the extraction semantics change (2: 16-bit images scaled)
FORMAT = 2


@dataclass
class FeatureTable:
    """Features of a set of samples of one split.

    Attributes:
        indices: ``[n]`` int64 sorted unique sample indices into the split.
        features: ``[n, D]`` float32 features, row ``i`` for sample ``indices[i]``.
    """

    indices: np.ndarray
    features: torch.Tensor

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    def __len__(self) -> int:
        return len(self.indices)

    def rows(self, sample_indices) -> torch.Tensor:
        """Row positions (same shape as ``sample_indices``) of the given sample indices.

        Raises:
            KeyError: naming samples that have no features in this table.
        """
        idx = np.asarray(sample_indices, dtype=np.int64)
        positions = self._positions()
        inside = (idx >= 0) & (idx < len(positions))
        pos = (
            positions[np.where(inside, idx, 0)]
            if len(positions)
            else np.full(idx.shape, -1, np.int64)
        )
        missing = ~inside | (pos < 0)
        if missing.any():
            bad = np.unique(idx[missing])
            raise KeyError(
                f"{len(bad)} samples have no features (e.g. {bad[:5].tolist()}); "
                "extract features for every index the episodes use"
            )
        return torch.from_numpy(pos)

    def _positions(self) -> np.ndarray:
        """Row of each sample index up to the largest (-1 where none): built once, then one gather
        per lookup instead of a binary search per sample."""
        cached = self.__dict__.get("_position_of")
        if cached is None or cached[0] is not self.indices:
            size = int(self.indices[-1]) + 1 if len(self.indices) else 0
            table = np.full(size, -1, dtype=np.int64)
            table[self.indices] = np.arange(len(self.indices))
            cached = (self.indices, table)
            self.__dict__["_position_of"] = cached
        return cached[1]

    def lookup(self, sample_indices, out: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Features ``[*shape, D]`` of sample indices of any shape.

        Args:
            sample_indices: sample indices, any shape.
            out: optional contiguous ``[*shape, D]`` tensor of the features' dtype to fill (a
                buffer reused across calls saves allocating, and first touching, fresh memory).
        """
        rows = self.rows(sample_indices)
        shape = (*rows.shape, self.features.shape[1])
        # index_select on the flat rows: several times faster than indexing with an n-d tensor.
        flat_out = None if out is None else out.view(-1, shape[-1])
        return torch.index_select(self.features, 0, rows.reshape(-1), out=flat_out).view(shape)

    def mean(self) -> torch.Tensor:
        """``[D]`` mean feature (e.g. the base-class mean used by CL2N)."""
        return self.features.mean(0)


def check_finite(features: torch.Tensor, indices: np.ndarray, where: str = "") -> None:
    """Raise if any feature row is NaN or infinite, naming the samples.

    Raises:
        ValueError: "3 of 500 samples have non-finite features (sample indices [4, 9, 17]) ..."
    """
    bad = ~torch.isfinite(features).all(1)
    if bad.any():
        idx = np.asarray(indices)[bad.numpy()]
        raise ValueError(
            f"{len(idx)} of {len(indices)} samples{where} have non-finite (NaN/inf) features "
            f"(sample indices {idx[:10].tolist()}{'...' if len(idx) > 10 else ''}); the backbone or "
            "its checkpoint is broken (diverged training?) - they are not averaged away"
        )


def cache_key(checkpoint_id: str, split_fingerprint: str, preprocess_id: str, flip: bool) -> dict:
    """The fields that identify a cache entry (stored inside it and hashed into its name)."""
    return {
        "checkpoint": str(checkpoint_id),
        "split": str(split_fingerprint),
        "preprocess": str(preprocess_id),
        "flip": bool(flip),
        "format": FORMAT,
    }


def _entry_path(folder: Path, key: dict) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return folder / f"features-{key['split']}-{digest}.npz"


def _load_entry(path: Path, key: dict) -> Optional[FeatureTable]:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            stored = json.loads(str(z["key"]))
            indices, feats = z["indices"].astype(np.int64), z["features"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        warnings.warn(
            f"feature cache {str(path)!r} is unreadable ({type(e).__name__}: {e}); recomputing it",
            stacklevel=2,
        )
        return None
    if stored != key:
        diff = {k: (stored.get(k), v) for k, v in key.items() if stored.get(k) != v}
        warnings.warn(
            f"feature cache {str(path)!r} was computed for another "
            f"{', '.join(diff)} ({'; '.join(f'{k}: stored {a!r}, wanted {b!r}' for k, (a, b) in diff.items())}); "
            "recomputing it",
            stacklevel=2,
        )
        return None
    return FeatureTable(indices, torch.from_numpy(feats))


def _save_entry(path: Path, key: dict, table: FeatureTable) -> None:
    with _io.atomic_path(
        path, what="cache entry", then="the features are used without caching them"
    ) as tmp:
        with open(tmp, "wb") as f:
            np.savez(
                f,
                key=np.array(json.dumps(key, sort_keys=True)),
                indices=table.indices,
                features=table.features.numpy(),
            )


def _foldable_pairs(module: torch.nn.Module):
    """``(sequential, i)`` for each Conv2d at ``sequential[i]`` directly followed by an eval-mode
    BatchNorm2d with running statistics (the pairs a convolution can absorb)."""
    for seq in module.modules():
        if isinstance(seq, torch.nn.Sequential):
            for i in range(len(seq) - 1):
                conv, bn = seq[i], seq[i + 1]
                if (
                    type(conv) is torch.nn.Conv2d
                    and type(bn) is torch.nn.BatchNorm2d
                    and not bn.training
                    and bn.running_mean is not None
                    and bn.running_var is not None
                ):
                    yield seq, i


@contextlib.contextmanager
def _inference_backbone(backbone: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """The backbone (in eval mode) prepared for fast inference; the caller's module is left as it was.

    Convolutions run several times faster on channels-last tensors on the CPU (oneDNN's native
    layout; contiguous NCHW is converted at every layer), and a batch norm after a convolution
    is a per-channel affine map the convolution's weights can absorb, one pass over the
    activations less per layer. Folding changes the modules, so it happens on a copy (when
    there is anything to fold); otherwise the weights are switched to channels-last in place and
    switched back afterwards. Features change only by float rounding.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if any(True for _ in _foldable_pairs(backbone)):
        try:
            net = copy.deepcopy(backbone)
        except Exception as e:  # a module that cannot be copied is used as it is
            log.info(
                "backbone not copied for inference (%s: %s); convolutions and batch norms stay apart",
                type(e).__name__,
                e,
            )
        else:
            for seq, i in list(_foldable_pairs(net)):
                seq[i] = fuse_conv_bn_eval(seq[i], seq[i + 1])
                seq[i + 1] = torch.nn.Identity()
            yield net.to(memory_format=torch.channels_last)
            return
    switched = [
        p
        for p in backbone.parameters()
        if p.ndim == 4 and not p.is_contiguous(memory_format=torch.channels_last)
    ]
    for p in switched:
        p.data = p.data.contiguous(memory_format=torch.channels_last)
    try:
        yield backbone
    finally:
        for p in switched:
            p.data = p.data.contiguous()


@torch.inference_mode()
def _forward(
    backbone: torch.nn.Module,
    split,
    indices: np.ndarray,
    preprocess: Optional[Callable],
    batch_size: int,
    flip: bool,
    device,
) -> torch.Tensor:
    """Features ``[n, D]`` float32 of ``indices``, one backbone forward per batch."""
    out = []
    with _inference_backbone(backbone) as net:
        for start in range(0, len(indices), batch_size):
            x = split.get_images(indices[start : start + batch_size])  # [B, C, H, W] in [0, 1]
            if preprocess is not None:
                x = preprocess(x)
            x = x.to(device)
            if x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            if flip:
                # Flipped copies ride in the same forward call: [2B, C, H, W] -> [2, B, D] -> mean.
                f = net(torch.cat([x, x.flip(-1)])).float().reshape(2, len(x), -1).mean(0)
            else:
                f = net(x).float()
            out.append(f.reshape(len(x), -1).cpu())  # [B, D] (a [B, D, 1, 1] output is flattened)
    return torch.cat(out) if out else torch.zeros(0, 0)


def _sample_indices(split, indices: Optional[Sequence[int] | np.ndarray]) -> np.ndarray:
    """``[n]`` sorted unique int64 sample indices of ``split`` (all of them when None).

    Raises:
        ValueError: for an index outside the split.
    """
    wanted = np.unique(
        np.asarray(np.arange(len(split)) if indices is None else indices, dtype=np.int64)
    )
    if len(wanted) and (wanted[0] < 0 or wanted[-1] >= len(split)):
        raise ValueError(
            f"sample indices must lie in [0, {len(split)}) for split {split.name!r}; "
            f"got range [{wanted[0]}, {wanted[-1]}] - episodes from another split?"
        )
    return wanted


def _completed(
    have: Optional[FeatureTable], missing: np.ndarray, new: torch.Tensor
) -> FeatureTable:
    """A cache entry (or none) with the features ``new`` of its ``missing`` samples added, rows
    sorted by sample index."""
    if have is not None and len(have):
        all_idx = np.concatenate([have.indices, missing])
        all_feat = torch.cat([have.features, new])
        order = np.argsort(all_idx, kind="stable")
        return FeatureTable(all_idx[order], all_feat[torch.from_numpy(order)])
    return FeatureTable(missing, new)


def extract_features(
    backbone: torch.nn.Module,
    split,
    indices: Optional[Sequence[int] | np.ndarray] = None,
    preprocess: Optional[Callable] = None,
    batch_size: int = 256,
    flip: bool = False,
    checkpoint_id: Optional[str] = None,
    preprocess_id: Optional[str] = None,
    cache: bool | str | Path = True,
    device: str | torch.device = "cpu",
) -> FeatureTable:
    """Features of the given samples of ``split``, each image through the backbone once.

    Args:
        backbone: maps ``[B, C, H, W]`` to ``[B, D]``; put in eval mode here.
        split: a :class:`~fewshot_clce.data.Split` (``get_images`` and ``fingerprint`` are used).
        indices: sample indices (any order, repeats allowed); all samples when None.
        preprocess: raw ``[B, C, H, W]`` in [0, 1] -> backbone input (resize, normalisation).
        batch_size: images per forward call.
        flip: average the features of each image and its horizontal mirror.
        checkpoint_id: identity of the backbone weights; the cache is used only when given.
        preprocess_id: identity of ``preprocess`` (required with ``checkpoint_id`` when a
            preprocess is given: a callable cannot be fingerprinted reliably).
        cache: True for ``cache_dir("features")``, a folder, or False to disable.
        device: where the forward passes run.

    Returns:
        :class:`FeatureTable` over the sorted unique indices.

    Raises:
        ValueError: on non-finite features (naming the samples) or bad arguments.
    """
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    wanted = _sample_indices(split, indices)
    if preprocess is not None and checkpoint_id is not None and preprocess_id is None:
        raise ValueError(
            "pass preprocess_id (a string naming the preprocessing) so that cached "
            "features are not reused under another preprocessing"
        )
    backbone.eval()
    where = f" of {getattr(split, 'dataset', '?')}/{split.name}"
    if checkpoint_id is None or cache is False or not len(wanted):
        feats = _forward(backbone, split, wanted, preprocess, batch_size, flip, device)
        check_finite(feats, wanted, where)
        return FeatureTable(wanted, feats)

    folder = _io.cache_dir("features") if cache is True else Path(cache)
    key = cache_key(checkpoint_id, split.fingerprint, preprocess_id or "none", flip)
    path = _entry_path(folder, key)
    have = _load_entry(path, key)
    if have is not None:
        check_finite(have.features, have.indices, where + f" (cache {str(path)!r})")
        missing = np.setdiff1d(wanted, have.indices, assume_unique=True)
    else:
        missing = wanted
    if have is None or len(missing):  # no entry: every wanted sample (at least one) is missing
        log.info("extracting features of %d samples%s", len(missing), where)
        new = _forward(backbone, split, missing, preprocess, batch_size, flip, device)
        check_finite(new, missing, where)
        have = _completed(have, missing, new)
        try:
            _save_entry(path, key, have)
        except OSError as e:  # a cache that cannot be written costs the cache, not the features
            warnings.warn(f"feature cache: {e.strerror or e}", stacklevel=2)
    rows = have.rows(wanted)
    return FeatureTable(wanted, have.features[rows])
