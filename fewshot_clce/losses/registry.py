"""The loss registry: each loss class under its name, with the grid the benchmark sweeps by default.

``grid`` is each loss's *default grid*: the values of its own hyper-parameters that
``fewshot-clce benchmark`` tries (choosing on the val split) when the user gives none. The
defaults of the loss classes and these grids come from the committed ablation on ``glyphs``
(README, "Results"); :mod:`fewshot_clce.losses.hparams` reads both.
"""
from __future__ import annotations

from typing import Any, List

from ..utils.registry import Registry
from .modules import CELoss, CLCELoss, LACLNLoss, SupConLoss

LOSSES: Registry = Registry("loss")

# Default grids (see the module docstring): the values the glyphs ablation brackets, sized so that
# `make demo` (CE, SupCon, CLCE, one seed) trains 5 backbones. λ moved the CE-vs-CLCE verdict most
# (λ = 0.5 against 0.1 flipped it), so CLCE re-chooses λ on val around its default; SupCon's τ and
# CLCE's τ and β stay at the ablation's val choices (README, "Results"), so SupCon trains once.
GRIDS = {
    "ce": {},
    "supcon": {},
    "lacln": {"temperature": [0.05, 0.1, 0.2]},
    "clce": {"lam": [0.05, 0.1, 0.2]},
}

for _cls in (CELoss, SupConLoss, LACLNLoss, CLCELoss):
    LOSSES.register(_cls.name, _cls, uses_logits=_cls.uses_logits, uses_projection=_cls.uses_projection,
                    grid=GRIDS[_cls.name])


def create_loss(name: str, **hparams: Any):
    """Build the loss registered under ``name`` with its hyper-parameters.

    Hyper-parameters: ``ce`` (label_smoothing), ``supcon`` (temperature), ``lacln``
    (temperature, beta), ``clce`` (lam, temperature, beta, label_smoothing).

    Raises:
        UnknownNameError: for an unknown name, listing the valid ones.
        ValueError: for a hyper-parameter the loss does not take, listing the ones it does.
    """
    return LOSSES.create(name, **hparams)


def list_losses() -> List[str]:
    """Registered loss names, sorted."""
    return LOSSES.list()
