"""Training losses: CE, SupCon (L_out), LACLN and CLCE, as functions, modules and a registry.

``create_loss(name, **hparams)`` builds a module whose ``forward(logits, z, labels)`` returns a
``LossOutput(total, parts)``; ``uses_logits`` / ``uses_projection`` say which inputs it reads.
The hyper-parameters they take are declared once in :mod:`fewshot_clce.losses.hparams`.
"""
from __future__ import annotations

from .functional import BETA, LAM, SUPCON_TEMPERATURE, TEMPERATURE, ce_loss, clce_loss, lacln_loss, supcon_loss
from .modules import CELoss, CLCELoss, LACLNLoss, LossOutput, SupConLoss
from .registry import LOSSES, create_loss, list_losses

__all__ = [
    "BETA", "LAM", "SUPCON_TEMPERATURE", "TEMPERATURE", "ce_loss", "clce_loss", "lacln_loss", "supcon_loss",
    "CELoss", "CLCELoss", "LACLNLoss", "LossOutput", "SupConLoss", "LOSSES", "create_loss", "list_losses",
]
