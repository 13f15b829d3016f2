"""Few-shot heads fitted on each episode's support set, batched over many episodes at once."""
from .registry import HEADS, CentroidHead, Head, LogisticHead, class_means, create_head, list_heads

__all__ = ["HEADS", "CentroidHead", "Head", "LogisticHead", "class_means", "create_head", "list_heads"]
