"""Training losses as plug-ins: CE, label-smoothed CE, SupCon (L_out), LACLN, CLCE, Baseline++,
NegMargin, CosFace, ArcFace, ProtoNet's loss, any pytorch-metric-learning loss (``pml:Name``) and
losses of one's own (``package.module:Class``, ``./file.py:Class``, entry points).

``create_loss(reference, **hparams)`` builds a module whose ``forward(logits, z, labels)`` returns a
``LossOutput(total, parts)``; ``uses_logits`` / ``uses_projection`` / ``uses_features`` say which
inputs it reads, and each class declares its hyper-parameters (:class:`HyperParam`).
"""

from __future__ import annotations

from .declare import HyperParam
from .functional import (
    BETA,
    LAM,
    SUPCON_TEMPERATURE,
    TEMPERATURE,
    ce_loss,
    clce_loss,
    lacln_loss,
    supcon_loss,
)
from .margins import ArcFaceLoss, BaselinePPLoss, CosFaceLoss, NegMarginLoss, ProtoLoss
from .modules import CELoss, CLCELoss, LabelSmoothingCELoss, LACLNLoss, LossOutput, SupConLoss
from .plugins import LossError, load_loss_class
from .registry import LOSSES, create_loss, list_losses

__all__ = [
    "BETA",
    "LAM",
    "SUPCON_TEMPERATURE",
    "TEMPERATURE",
    "ce_loss",
    "clce_loss",
    "lacln_loss",
    "supcon_loss",
    "CELoss",
    "CLCELoss",
    "LACLNLoss",
    "LossOutput",
    "SupConLoss",
    "LOSSES",
    "create_loss",
    "list_losses",
    "HyperParam",
    "ArcFaceLoss",
    "BaselinePPLoss",
    "CosFaceLoss",
    "NegMarginLoss",
    "ProtoLoss",
    "LabelSmoothingCELoss",
    "LossError",
    "load_loss_class",
]
