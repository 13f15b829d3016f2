"""Episodic evaluation: the inner loop (a head on many episodes from precomputed features), and
the evaluation of features, trained runs and other backbones into per-episode result rows."""

from .backbone import RUN_COLUMNS, evaluate_backbone, evaluate_run
from .episodic import episode_accuracies, episode_predictions
from .evaluate import evaluate_features, load_episode_sets

__all__ = [
    "RUN_COLUMNS",
    "episode_accuracies",
    "episode_predictions",
    "evaluate_backbone",
    "evaluate_features",
    "evaluate_run",
    "load_episode_sets",
]
