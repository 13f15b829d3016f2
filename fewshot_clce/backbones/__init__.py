"""Backbones: ``conv4`` and ``resnet12`` (registered into timm), any timm model, and weights:
reading weights files (:mod:`.weights`), other codebases' layouts (:mod:`.layouts`), a backbone
from a weights file or timm's pretrained weights ready to evaluate (:mod:`.external`).

The names below are imported on first use (they pull in timm); ``import fewshot_clce`` only
arranges for the two few-shot backbones to join timm's registry whenever timm is imported
(:mod:`fewshot_clce.backbones.timm_hook`).
"""

from .._lazy import lazy_dir, lazy_exports

_NAMES = {
    "FEWSHOT_BACKBONES": ".nets",
    "Conv4": ".nets",
    "ResNet12": ".nets",
    "WeightsUnavailableError": ".nets",
    "conv4": ".nets",
    "resnet12": ".nets",
    "check_backbone_name": ".factory",
    "create_backbone": ".factory",
    "embedding_dim": ".factory",
    "list_backbones": ".factory",
    "load_weights": ".weights",
    "pretrained_digest": ".factory",
    "read_state_dict": ".weights",
    "state_digest": ".weights",
    "load_checkpoint": ".weights",
    "backbone_weights": ".weights",
    "load_backbone": ".external",
    "LoadedRun": ".external",
    "backbone_from_weights": ".factory",
    "LAYOUTS": ".layouts",
    "import_weights": ".layouts",
}
__all__ = list(_NAMES)
__getattr__ = lazy_exports(__name__, _NAMES)
__dir__ = lazy_dir([], _NAMES)
