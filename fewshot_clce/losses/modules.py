"""Loss modules with one calling convention, ``forward(logits, z, labels) -> LossOutput``."""

from __future__ import annotations

from typing import NamedTuple, Optional

from torch import Tensor, nn

from . import functional as Fn
from ._contrastive import (
    check_beta,
    check_lam,
    check_smoothing,
    check_temperature,
    flatten_views,
)
from .declare import HyperParam

# The declarations the built-in losses share (labels and ranges are those of run names already
# on disk: ``clce-lam0.1-t0.1-beta1-bs64-s0``). Default grids bracket the committed ablation's
# choices on val (functional.py's docstring); SupCon and CE train once by default.
_SMOOTHING = HyperParam(
    "label_smoothing",
    float,
    0.0,
    low=0.0,
    high=1.0,
    high_open=True,
    label="ls",
    help="label smoothing ε of the CE term",
    named_at_default=False,
)
_BETA = HyperParam(
    "beta",
    float,
    Fn.BETA,
    low=0.0,
    label="beta",
    help="hard-negative concentration β (0 = SupCon's denominator)",
)
_DETACH = HyperParam(
    "detach_weights",
    bool,
    True,
    label="detach",
    named_at_default=False,
    help="treat the hard-negative weights as constants in the backward pass",
)


def _temperature(default: float, grid=()) -> HyperParam:
    return HyperParam(
        "temperature",
        float,
        default,
        grid=tuple(grid),
        low=0.0,
        low_open=True,
        label="t",
        scale="log",
        help="temperature τ of the contrastive term",
    )


class LossOutput(NamedTuple):
    """A loss value and its named terms.

    Attributes:
        total: scalar to call ``backward`` on.
        parts: named terms for logging (detached), e.g. ``{"lacln": .., "ce": ..}``.
    """

    total: Tensor
    parts: dict[str, Tensor]


class _Loss(nn.Module):
    """Common input checks; subclasses set ``name``, ``uses_logits`` and ``uses_projection``."""

    name = ""
    uses_logits = False
    uses_projection = False

    def _logits(self, logits: Optional[Tensor]) -> Tensor:
        """``logits``, refused when missing."""
        if logits is None:
            raise ValueError(
                f"loss {self.name!r} needs classifier logits [B, C] or [B, V, C]; got None"
            )
        return logits

    def _projections(self, z: Optional[Tensor]) -> Tensor:
        """``z``, refused when missing."""
        if z is None:
            raise ValueError(
                f"loss {self.name!r} needs projections z [B, d] or [B, V, d]; got None"
            )
        return z


class FeatureLoss(nn.Module):
    """A loss on the backbone features of every view.

    Subclasses set ``name`` and :meth:`loss_of_features`; :meth:`forward` refuses missing
    features, turns views into samples and reports the value under the loss's name.
    """

    name = ""
    uses_features = True

    def loss_of_features(self, features: Tensor, labels: Tensor) -> Tensor:
        """The scalar loss of ``features [N, D]`` (one row a view) with ``labels [N]``."""
        raise NotImplementedError

    def forward(
        self,
        logits: Optional[Tensor],
        z: Optional[Tensor],
        labels: Tensor,
        features: Optional[Tensor] = None,
    ) -> LossOutput:
        """features [B, D] or [B, V, D]; labels [B]."""
        if features is None:
            raise ValueError(
                f"loss {self.name!r} needs backbone features [B, D] or [B, V, D]; got None"
            )
        flat, flat_labels = flatten_views(features, labels, what="features")  # [B*V, D], [B*V]
        loss = self.loss_of_features(flat, flat_labels)
        return LossOutput(loss, {self.name: loss.detach()})


def _parts(**terms: Tensor) -> dict[str, Tensor]:
    return {k: v.detach() for k, v in terms.items()}


class CELoss(_Loss):
    """Cross-entropy on the classifier logits (see ``ce_loss``); ``z`` is ignored."""

    name, uses_logits = "ce", True
    hyperparams = (_SMOOTHING,)

    def __init__(self, label_smoothing: float = 0.0):
        super().__init__()
        check_smoothing(label_smoothing)
        self.label_smoothing = label_smoothing

    def forward(self, logits: Optional[Tensor], z: Optional[Tensor], labels: Tensor) -> LossOutput:
        """logits [B, C] or [B, V, C]; labels [B]."""
        ce = Fn.ce_loss(self._logits(logits), labels, label_smoothing=self.label_smoothing)
        return LossOutput(ce, _parts(ce=ce))

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}"


class SupConLoss(_Loss):
    """Supervised contrastive loss L_out (see ``supcon_loss``); ``logits`` are ignored."""

    name, uses_projection = "supcon", True
    hyperparams = (_temperature(Fn.SUPCON_TEMPERATURE),)

    def __init__(self, temperature: float = Fn.SUPCON_TEMPERATURE):
        super().__init__()
        check_temperature(temperature)
        self.temperature = temperature

    def forward(self, logits: Optional[Tensor], z: Optional[Tensor], labels: Tensor) -> LossOutput:
        """z [B, d] or [B, V, d]; labels [B]."""
        loss = Fn.supcon_loss(self._projections(z), labels, temperature=self.temperature)
        return LossOutput(loss, _parts(supcon=loss))

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


class LACLNLoss(_Loss):
    """SupCon with hardness-weighted negatives (see ``lacln_loss``); ``logits`` are ignored."""

    name, uses_projection = "lacln", True
    hyperparams = (_temperature(Fn.TEMPERATURE, (0.05, 0.1, 0.2)), _BETA, _DETACH)

    def __init__(
        self,
        temperature: float = Fn.TEMPERATURE,
        beta: float = Fn.BETA,
        detach_weights: bool = True,
    ):
        super().__init__()
        check_temperature(temperature)
        check_beta(beta)
        self.temperature, self.beta, self.detach_weights = temperature, beta, detach_weights

    def forward(self, logits: Optional[Tensor], z: Optional[Tensor], labels: Tensor) -> LossOutput:
        """z [B, d] or [B, V, d]; labels [B]."""
        loss = Fn.lacln_loss(
            self._projections(z), labels, self.temperature, self.beta, self.detach_weights
        )
        return LossOutput(loss, _parts(lacln=loss))

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, beta={self.beta}, "
            f"detach_weights={self.detach_weights}"
        )


class CLCELoss(_Loss):
    """λ·LACLN + (1−λ)·CE (see ``clce_loss``); parts ``lacln`` and ``ce``."""

    name, uses_logits, uses_projection = "clce", True, True
    hyperparams = (
        HyperParam(
            "lam",
            float,
            Fn.LAM,
            grid=(0.05, 0.1, 0.2),
            low=0.0,
            high=1.0,
            label="lam",
            scale="log",
            help="weight λ of the contrastive term (0 = CE, 1 = LACLN)",
        ),
        _temperature(Fn.TEMPERATURE),
        _BETA,
        _SMOOTHING,
        _DETACH,
    )

    def __init__(
        self,
        lam: float = Fn.LAM,
        temperature: float = Fn.TEMPERATURE,
        beta: float = Fn.BETA,
        label_smoothing: float = 0.0,
        detach_weights: bool = True,
    ):
        super().__init__()
        check_lam(lam)
        check_temperature(temperature)
        check_beta(beta)
        check_smoothing(label_smoothing)
        self.lam, self.temperature, self.beta = lam, temperature, beta
        self.label_smoothing, self.detach_weights = label_smoothing, detach_weights

    def forward(self, logits: Optional[Tensor], z: Optional[Tensor], labels: Tensor) -> LossOutput:
        """logits [B, C] or [B, V, C]; z [B, d] or [B, V, d]; labels [B]."""
        logits, z = self._logits(logits), self._projections(z)
        total, parts = Fn.clce_terms(
            logits,
            z,
            labels,
            self.lam,
            self.temperature,
            self.beta,
            self.label_smoothing,
            self.detach_weights,
        )
        return LossOutput(total, _parts(**parts))

    def extra_repr(self) -> str:
        return (
            f"lam={self.lam}, temperature={self.temperature}, beta={self.beta}, "
            f"label_smoothing={self.label_smoothing}, detach_weights={self.detach_weights}"
        )


class LabelSmoothingCELoss(CELoss):
    """Cross-entropy with label smoothing on by default (ε = 0.1, Szegedy et al. 2016)."""

    name = "lsce"
    hyperparams = (
        HyperParam(
            "label_smoothing",
            float,
            0.1,
            grid=(0.05, 0.1, 0.2),
            low=0.0,
            high=1.0,
            high_open=True,
            label="ls",
            help="label smoothing ε",
        ),
    )

    def __init__(self, label_smoothing: float = 0.1):
        super().__init__(label_smoothing)
