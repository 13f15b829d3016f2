"""Backbones: ``conv4`` and ``resnet12`` (registered into timm), any timm model, local weights."""
from .factory import (FEWSHOT_BACKBONES, Conv4, ResNet12, WeightsUnavailableError, check_backbone_name, conv4,
                      create_backbone, embedding_dim, list_backbones, load_weights, read_state_dict, resnet12)

__all__ = ["FEWSHOT_BACKBONES", "Conv4", "ResNet12", "WeightsUnavailableError", "check_backbone_name", "conv4",
           "create_backbone", "embedding_dim", "list_backbones", "load_weights", "read_state_dict", "resnet12"]
