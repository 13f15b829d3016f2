"""Few-shot heads fitted on each episode's support set, batched over many episodes at once:
one module per head, an abstract base class, and a registry of head classes."""

from .base import Head
from .centroid import CentroidHead, CL2NCentroidHead, CosineCentroidHead, class_means
from .logistic import LogisticHead
from .registry import HEADS, create_head, head_needs_base_mean, list_heads, parse_head

__all__ = [
    "HEADS",
    "CentroidHead",
    "CL2NCentroidHead",
    "CosineCentroidHead",
    "Head",
    "LogisticHead",
    "class_means",
    "create_head",
    "head_needs_base_mean",
    "list_heads",
    "parse_head",
]
