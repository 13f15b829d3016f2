"""What a backbone was pretrained on, and the warnings for numbers that would mislead.

- A backbone pretrained on ImageNet and evaluated on mini-ImageNet or tiered-ImageNet: their
  novel classes are ImageNet classes, so the "novel" classes were seen in pretraining.
- Evaluation images far smaller than the size the backbone was trained at (under a quarter of
  its side): upsampled 8x8 digits say little about an ImageNet ResNet.

The pretraining comes from timm's pretrained configuration (its tag: ``a1_in1k``,
``in12k_ft_in1k``, ``in21k``) or from the user (``--pretrained-on imagenet``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

# Datasets whose classes are ImageNet classes (registered names).
IMAGENET_SUBSETS = ("mini-imagenet", "tiered-imagenet")
# Evaluation image sides under this share of the training side are flagged.
MIN_SIZE_RATIO = 0.25


def timm_pretraining(name: str) -> Optional[str]:
    """``"imagenet (timm tag a1_in1k)"`` for a timm model whose published weights come from an
    ImageNet variant, the tag for other data, None for a name timm has no weights for."""
    import timm

    from .factory import split_backbone

    base, _ = split_backbone(name)
    cfg = (
        timm.models.get_pretrained_cfg(base)
        if timm.is_model(timm.models.get_arch_name(base))
        else None
    )
    if cfg is None:
        return None
    tag = getattr(cfg, "tag", None) or ""
    hub = getattr(cfg, "hf_hub_id", None) or ""
    text = f"{tag} {hub}".lower()
    if (
        any(mark in text for mark in ("in1k", "in12k", "in21k", "in22k", "imagenet"))
        or cfg.num_classes == 1000
    ):
        return f"imagenet (timm tag {tag})" if tag else "imagenet"
    return f"timm tag {tag}" if tag else None


def is_imagenet(pretrained_on: Optional[str]) -> bool:
    return bool(pretrained_on) and "imagenet" in str(pretrained_on).lower()


def imagenet_overlap_warning(dataset: str, pretrained_on: Optional[str]) -> str:
    """The warning for a backbone pretrained on ImageNet evaluated on a dataset of ImageNet
    classes (:data:`IMAGENET_SUBSETS`, with or without options in brackets); "" otherwise.

    Args:
        dataset: the evaluation dataset's identity (``mini-imagenet``, ``digits``).
        pretrained_on: what the backbone was pretrained on (:func:`timm_pretraining`, or the
            user's word); empty or None when unknown.
    """
    if dataset.split("[")[0] not in IMAGENET_SUBSETS or not is_imagenet(pretrained_on):
        return ""
    return (
        f"the backbone was pretrained on {pretrained_on}, and the classes of {dataset} are "
        "ImageNet classes: its novel classes are not novel to it, so the accuracy is not "
        "comparable with few-shot results that learn them from the base classes only"
    )


def comparability_warnings(
    dataset: str,
    pretrained_on: Optional[str],
    trained_side: Optional[int],
    image_shape: Sequence[int],
    input_side: Optional[int],
) -> list[str]:
    """The warnings for one evaluation, one line each (empty when nothing misleads).

    Args:
        dataset: the evaluation dataset's identity (``mini-imagenet``, ``digits``).
        pretrained_on: what the backbone was pretrained on (:func:`timm_pretraining`, or the
            user's word).
        trained_side: the smaller side of the images the backbone was trained at, when known.
        image_shape: ``[C, H, W]`` of the evaluation images as stored.
        input_side: the smaller side the images are resized to for the backbone, when resized.
    """
    overlap = imagenet_overlap_warning(dataset, pretrained_on)
    out = [overlap] if overlap else []
    if trained_side:
        native = min(int(s) for s in image_shape[1:])
        seen = min(native, input_side) if input_side else native
        if seen < MIN_SIZE_RATIO * trained_side:
            out.append(
                f"the images of {dataset} are {seen} px on their smaller side, under a quarter "
                f"of the {trained_side} px the backbone was trained at: the accuracy says little "
                "about the backbone (pick a dataset of larger images, or a backbone trained at "
                "their size)"
            )
    return out
