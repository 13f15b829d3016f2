"""Training losses: CE, SupCon (L_out), LACLN and CLCE, as functions, modules and a registry.

``create_loss(name, **hparams)`` builds a module whose ``forward(logits, z, labels)`` returns a
``LossOutput(total, parts)``; ``uses_logits`` / ``uses_projection`` say which inputs it reads.
"""
from __future__ import annotations

import inspect
from typing import Any, List

from ..utils.registry import Registry
from .functional import BETA, LAM, TEMPERATURE, ce_loss, clce_loss, lacln_loss, supcon_loss
from .modules import CELoss, CLCELoss, LACLNLoss, LossOutput, SupConLoss

LOSSES: Registry = Registry("loss")
for _cls in (CELoss, SupConLoss, LACLNLoss, CLCELoss):
    LOSSES.register(_cls.name, _cls, uses_logits=_cls.uses_logits, uses_projection=_cls.uses_projection)


def create_loss(name: str, **hparams: Any):
    """Build the loss registered under ``name`` with its hyper-parameters.

    Hyper-parameters: ``ce`` (label_smoothing), ``supcon`` (temperature), ``lacln``
    (temperature, beta), ``clce`` (lam, temperature, beta, label_smoothing).

    Raises:
        UnknownNameError: for an unknown name, listing the valid ones.
        ValueError: for a hyper-parameter the loss does not take, listing the ones it does.
    """
    factory = LOSSES.get(name)
    accepted = [p for p in inspect.signature(factory).parameters if p != "self"]
    unknown = sorted(set(hparams) - set(accepted))
    if unknown:
        raise ValueError(f"loss {name!r} takes {', '.join(accepted)}; got unknown {', '.join(unknown)}")
    return factory(**hparams)


def list_losses() -> List[str]:
    """Registered loss names, sorted."""
    return LOSSES.list()


__all__ = [
    "BETA", "LAM", "TEMPERATURE", "ce_loss", "clce_loss", "lacln_loss", "supcon_loss", "CELoss", "CLCELoss",
    "LACLNLoss", "LossOutput", "SupConLoss", "LOSSES", "create_loss", "list_losses",
]
