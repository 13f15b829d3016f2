"""fewshot-clce: few-shot episodic evaluation of CLCE and other losses."""
import importlib

from ._version import __version__
from .data import ArraySplit, FewShotDataset, FileSplit, Split, create_dataset, list_datasets, register_dataset
from .episode_sampler import EpisodeBatchSampler, EpisodeStream
from .episodes import EpisodeSet, sample_episodes
from .evaluation import compare_results, compare_runs, evaluate_features, evaluate_run, summarize
from .features import FeatureTable, extract_features
from .heads import HEADS, create_head, list_heads
from .losses import LOSSES, LossOutput, create_loss, list_losses
from .registry import Registry, UnknownNameError
from .safe_load import UnsafePickleError, load_checkpoint, load_pickle
from .stats import mean_ci, paired_comparison

__all__ = ["__version__", "ArraySplit", "FewShotDataset", "FileSplit", "Split", "create_dataset",
           "list_datasets", "register_dataset", "Registry", "UnknownNameError",
           "EpisodeBatchSampler", "EpisodeSet", "EpisodeStream", "sample_episodes",
           "LOSSES", "LossOutput", "create_loss", "list_losses",
           "UnsafePickleError", "load_checkpoint", "load_pickle",
           "FeatureTable", "extract_features", "HEADS", "create_head", "list_heads", "mean_ci",
           "paired_comparison", "evaluate_features", "evaluate_run", "compare_runs", "compare_results",
           "summarize"]

# Training pulls in timm: imported on first use so that light commands stay quick.
_LAZY = {"TrainConfig": "train_config", "train": "training", "load_run": "training", "LoadedRun": "training",
         "create_backbone": "backbones", "embedding_dim": "backbones"}
# The benchmark layer (pandas, matplotlib): also on first use.
_LAZY.update({"BenchmarkConfig": "benchconfig", "run_benchmark": "benchmark", "analyse": "analysis",
              "write_report": "report", "hierarchical_bootstrap": "seedstats", "seed_level": "seedstats",
              "seed_paired": "seedstats"})
__all__ += list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
