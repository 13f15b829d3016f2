"""The loss registry: the built-in loss classes under their names.

Each class declares its hyper-parameters, defaults and default grids itself
(:class:`~fewshot_clce.losses.declare.HyperParam`); losses of one's own are named by reference
instead of being registered (:mod:`fewshot_clce.losses.plugins`).
"""

from __future__ import annotations

from typing import Any

from ..utils.registry import Registry
from .declare import declared
from .margins import ArcFaceLoss, BaselinePPLoss, CosFaceLoss, NegMarginLoss, ProtoLoss
from .modules import CELoss, CLCELoss, LabelSmoothingCELoss, LACLNLoss, SupConLoss

LOSSES: Registry = Registry("loss")

for _cls in (
    CELoss,
    SupConLoss,
    LACLNLoss,
    CLCELoss,
    LabelSmoothingCELoss,
    BaselinePPLoss,
    NegMarginLoss,
    CosFaceLoss,
    ArcFaceLoss,
    ProtoLoss,
):
    LOSSES.register(
        _cls.name,
        _cls,
        uses_logits=getattr(_cls, "uses_logits", False),
        uses_projection=getattr(_cls, "uses_projection", False),
    )

# Each built-in loss's default grid, as its class declares it (read-only view, by loss name).
GRIDS = {
    name: {k: list(h.grid) for k, h in declared(LOSSES.get(name)).items() if h.grid}
    for name in LOSSES.list()
}


def create_loss(name: str, **hparams: Any):
    """Build a loss from a reference (a registered name, ``package.module:Class``,
    ``./file.py:Class``, ``pml:Name``; options may follow in brackets) with its hyper-parameters
    checked against its declaration.

    Raises:
        LossError: for an unknown or unusable loss, an undeclared hyper-parameter or a value out
            of range, naming the loss, the parameter and what it accepts.
    """
    from .plugins import build_loss

    return build_loss(name, hparams)[0]


def list_losses() -> list[str]:
    """Registered loss names, sorted."""
    return LOSSES.list()
