"""The head registry: head classes by name, and ``create_head("logistic[C=0.1]")``.

Registered heads (``fewshot-clce evaluate --heads NAME[opt=value,...]``):

- ``centroid``: nearest class mean, Euclidean distance on raw features (ProtoNet's rule);
  options ``metric`` ("euclidean" or "cosine") and ``normalize`` ("none", "l2n", "cl2n").
- ``centroid_cosine``: the same with cosine similarity.
- ``centroid_cl2n``: SimpleShot's CL2N (subtract the base-class mean, L2-normalise, Euclidean).
- ``logistic``: scikit-learn's ``LogisticRegression(C=1.0)`` objective on L2-normalised features
  (the RFS protocol); options ``C``, ``normalize``, ``tol``, ``max_iter``.
"""

from __future__ import annotations

from typing import Optional

from ..utils.registry import Registry, parse_spec
from .base import Head
from .centroid import CentroidHead, CL2NCentroidHead, CosineCentroidHead
from .logistic import LogisticHead

HEADS: Registry[Head] = Registry("head")  # name -> the head class
for _cls, _text in (
    (CentroidHead, "nearest class mean, Euclidean, raw features (ProtoNet rule)"),
    (CosineCentroidHead, "nearest class mean, cosine similarity"),
    (CL2NCentroidHead, "SimpleShot CL2N: subtract base mean, L2-normalise, Euclidean"),
    (
        LogisticHead,
        "RFS logistic regression, sklearn LogisticRegression(C=1.0) objective, L2N features",
    ),
):
    HEADS.register(_cls.name, _cls, description=_text)

# Constructor arguments the toolkit fills in itself; not options of a head spec.
_DATA_ARGS = ("base_mean",)


def parse_head(spec: str):
    """``"logistic[C=0.1]"`` -> ``("logistic", {"C": 0.1})``, the name checked and the options too.

    Raises:
        UnknownNameError: for an unknown head, listing the valid ones.
        ValueError: for an option the head does not take (naming those it does), or a malformed list.
    """
    name, options = parse_spec(spec, "head", "logistic[C=0.1]")
    HEADS.check_options(name, options, exclude=_DATA_ARGS)
    return name, options


def head_needs_base_mean(spec: str | Head) -> bool:
    """Whether the head (a spec or an object) centres features on the base-class mean."""
    if isinstance(spec, Head):
        return spec.needs_base_mean
    name, options = parse_head(spec)
    defaults = HEADS.options(name)
    return options.get("normalize", defaults.get("normalize")) == "cl2n"


def create_head(spec: str, base_mean=None, **options) -> Head:
    """Build the head ``spec`` names (``"logistic"``, ``"logistic[C=0.1]"``).

    Args:
        base_mean: ``[D]`` base-class mean feature, for heads that centre on it (CL2N).
        options: more options as keywords (they win over the spec's), e.g. ``chunk_size=64``.

    Raises:
        UnknownNameError, ValueError: see :func:`parse_head`; also a CL2N head without ``base_mean``.
    """
    name, given = parse_head(spec)
    HEADS.check_options(name, options, exclude=_DATA_ARGS)
    given.update(options)
    if given.get("normalize", HEADS.options(name).get("normalize")) == "cl2n":
        given["base_mean"] = base_mean
    return HEADS.get(name)(**given)


def list_heads() -> list[str]:
    return HEADS.list()


def describe(name: str) -> Optional[str]:
    return HEADS.meta(name).get("description")
