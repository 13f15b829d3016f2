"""The training model: backbone -> pooled feature, plus a classifier and/or a projection head."""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import nn


class ModelOutput(NamedTuple):
    """``features [B, D]`` (what evaluation uses), ``logits [B, num_classes]``, ``z [B, projection_dim]``.

    ``logits`` / ``z`` are None when the loss does not use them (the head is then not built).
    """

    features: torch.Tensor
    logits: Optional[torch.Tensor]
    z: Optional[torch.Tensor]


class TrainingModel(nn.Module):
    """Backbone with the heads a loss needs during base-class training.

    Only the heads the loss uses are built: a head without gradients would make DDP fail and
    would waste optimizer state.

    Args:
        backbone: maps ``[B, C, H, W]`` to ``[B, feature_dim]``.
        feature_dim: the backbone's embedding width.
        num_classes: base classes, for the linear classifier.
        use_logits: build the linear classifier (CE-style terms).
        use_projection: build the projection head (contrastive terms).
        projection_dim: output width of the projection MLP; the loss L2-normalises it.
        use_features: the loss reads the backbone features themselves (with class weights of its
            own, if any: the trainer attaches such a loss as ``criterion``, so that its weights are
            trained and saved with the model).
    """

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        num_classes: int,
        use_logits: bool,
        use_projection: bool,
        projection_dim: int = 128,
        use_features: bool = False,
    ):
        super().__init__()
        if not (use_logits or use_projection or use_features):
            raise ValueError(
                "the loss uses neither logits, projections nor features; nothing would be trained"
            )
        self.backbone = backbone
        self.classifier = nn.Linear(feature_dim, num_classes) if use_logits else None
        # A two-layer MLP as in SupCon (Khosla et al. 2020); hidden width = feature width.
        self.projection = (
            nn.Sequential(
                nn.Linear(feature_dim, feature_dim),
                nn.ReLU(inplace=True),
                nn.Linear(feature_dim, projection_dim),
            )
            if use_projection
            else None
        )

    def forward(self, x: torch.Tensor) -> ModelOutput:
        """``x [B, C, H, W]`` -> :class:`ModelOutput` (``features [B, D]``, logits, z)."""
        features = self.backbone(x)
        logits = self.classifier(features) if self.classifier is not None else None
        z = self.projection(features) if self.projection is not None else None
        return ModelOutput(features, logits, z)
