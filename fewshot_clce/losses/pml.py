"""Any pytorch-metric-learning loss as a loss of this toolkit: ``pml:ArcFaceLoss[margin=20]``.

The adapter feeds the backbone features of every view (``[B*V, D]``) and their labels to the PML
loss. Its hyper-parameters are the PML class's own keyword options with a number or a switch as
default (their defaults are PML's, grids empty: give values with ``--hp``), plus ``miner``: the
PML miner that picks the pairs or triplets (``none`` by default). A loss with class weights
(``num_classes`` / ``embedding_size`` in its constructor: ArcFace, CosFace, ...) is built once the
trainer knows them (:meth:`setup`), so its weights are trained and saved with the model.

Needs the ``pml`` extra: ``pip install 'fewshot-clce[pml]'``.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Optional

from torch import Tensor, nn

from .declare import HyperParam
from .modules import FeatureLoss

# Miners by option value; each PML class is built with its own defaults.
MINERS = {
    "none": None,
    "triplet": "TripletMarginMiner",
    "multisimilarity": "MultiSimilarityMiner",
    "batchhard": "BatchHardMiner",
    "pairmargin": "PairMarginMiner",
}
# Keyword options of PML losses that are objects or filled in here, never hyper-parameters.
_NOT_HPARAMS = (
    "num_classes",
    "embedding_size",
    "distance",
    "reducer",
    "embedding_regularizer",
    "weight_regularizer",
    "weight_init_func",
    "collect_stats",
)


def _pml():
    try:
        import pytorch_metric_learning.losses as losses
        import pytorch_metric_learning.miners as miners
    except ImportError:
        from .plugins import LossError

        raise LossError(
            "pml: losses need pytorch-metric-learning; install it with "
            "pip install 'fewshot-clce[pml]'"
        ) from None
    return losses, miners


def _options(pml_cls) -> dict[str, inspect.Parameter]:
    """Keyword options over the constructors of ``pml_cls`` and its bases (subclasses first)."""
    out: dict[str, inspect.Parameter] = {}
    for klass in pml_cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for name, p in inspect.signature(init).parameters.items():
            if name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                out.setdefault(name, p)
    return out


@functools.cache
def pml_loss_class(name: str):
    """The adapter class of the PML loss ``name`` (one class per name).

    Raises:
        LossError: PML not installed, or no loss of that name in ``pytorch_metric_learning.losses``.
    """
    from .plugins import LossError

    losses, _ = _pml()
    pml_cls = getattr(losses, name, None)
    if not (inspect.isclass(pml_cls) and issubclass(pml_cls, nn.Module) and name.endswith("Loss")):
        valid = sorted(
            n for n in dir(losses) if n.endswith("Loss") and n != "BaseMetricLossFunction"
        )
        raise LossError(
            f"unknown loss 'pml:{name}'; pytorch-metric-learning has {', '.join(valid)}"
        )
    options = _options(pml_cls)
    hps = [
        HyperParam(k, type(p.default), p.default, named_at_default=False)
        for k, p in options.items()
        if k not in _NOT_HPARAMS and isinstance(p.default, (bool, int, float))
    ]
    hps.append(
        HyperParam(
            "miner",
            str,
            "none",
            choices=tuple(MINERS),
            named_at_default=False,
            help="the PML miner that picks pairs or triplets",
        )
    )
    needs_classes = "num_classes" in options
    attrs = dict(
        name=f"pml-{name}",
        hyperparams=tuple(hps),
        pml_class=pml_cls,
        needs_classes=needs_classes,
        __doc__=f"pytorch-metric-learning's {name} on the backbone features (adapter).",
        __module__=__name__,
        __qualname__=f"PMLLoss[{name}]",
    )
    return type(f"PML{name}", (PMLLoss,), attrs)


class PMLLoss(FeatureLoss):
    """Base of the adapters :func:`pml_loss_class` makes; reads the backbone features."""

    name = "pml"
    pml_class: Any = None
    needs_classes = False
    hyperparams: tuple = ()

    def __init__(self, **options: Any):
        super().__init__()
        self.miner_name = options.pop("miner", "none")
        self.options = options
        self.loss: Optional[nn.Module] = None if self.needs_classes else self.pml_class(**options)
        _, miners = _pml()
        miner = MINERS[self.miner_name]
        self.miner = getattr(miners, miner)() if miner else None

    def setup(self, num_classes: int, feature_dim: int) -> None:
        """Build a loss with class weights: ``num_classes`` classes of ``feature_dim`` features."""
        if self.needs_classes:
            self.loss = self.pml_class(
                num_classes=num_classes, embedding_size=feature_dim, **self.options
            )

    def loss_of_features(self, features: Tensor, labels: Tensor) -> Tensor:
        """features [B*V, D]; labels [B*V]."""
        if self.loss is None:
            raise ValueError(
                f"loss {self.name!r} has class weights: call setup(num_classes, feature_dim) first"
            )
        pairs = self.miner(features, labels) if self.miner is not None else None
        return (
            self.loss(features, labels, pairs) if pairs is not None else self.loss(features, labels)
        )
