"""fewshot-clce: few-shot episodic evaluation of CLCE and other losses."""

from ._lazy import lazy_exports
from ._version import __version__
from .backbones import timm_hook as _timm_hook
from .backbones.weights import load_checkpoint
from .comparison import compare_results, compare_runs
from .data import (
    ArraySplit,
    FewShotDataset,
    FileSplit,
    Split,
    create_dataset,
    list_datasets,
    register_dataset,
)
from .episodes import EpisodeBatchSampler, EpisodeSet, EpisodeStream, sample_episodes
from .evaluation import evaluate_backbone, evaluate_features, evaluate_run
from .features import FeatureTable, extract_features
from .heads import HEADS, create_head, list_heads
from .losses import (
    LOSSES,
    HyperParam,
    LossError,
    LossOutput,
    create_loss,
    list_losses,
    load_loss_class,
)
from .stats import mean_ci, paired_comparison
from .stats.summary import summarize
from .utils.registry import Registry, UnknownNameError
from .utils.safe_pickle import UnsafePickleError, load_pickle

__all__ = [
    "__version__",
    "ArraySplit",
    "FewShotDataset",
    "FileSplit",
    "Split",
    "create_dataset",
    "list_datasets",
    "register_dataset",
    "Registry",
    "UnknownNameError",
    "EpisodeBatchSampler",
    "EpisodeSet",
    "EpisodeStream",
    "sample_episodes",
    "LOSSES",
    "LossOutput",
    "create_loss",
    "list_losses",
    "HyperParam",
    "LossError",
    "load_loss_class",
    "UnsafePickleError",
    "load_checkpoint",
    "load_pickle",
    "FeatureTable",
    "extract_features",
    "HEADS",
    "create_head",
    "list_heads",
    "mean_ci",
    "paired_comparison",
    "evaluate_features",
    "evaluate_run",
    "evaluate_backbone",
    "compare_runs",
    "compare_results",
    "summarize",
]

# Training pulls in timm, the benchmark layer pandas and matplotlib: imported on first use so that
# light commands stay quick.
_LAZY = {
    "TrainConfig": ".training.config",
    "train": ".training.trainer",
    "load_run": ".training.run_folder",
    "LoadedRun": ".training.run_folder",
    "create_backbone": ".backbones.factory",
    "embedding_dim": ".backbones.factory",
    "BenchmarkConfig": ".benchmark.config",
    "predict": ".prediction",
    "run_benchmark": ".benchmark.run",
    "analyse": ".report.analysis",
    "write_report": ".report.writer",
    "hierarchical_bootstrap": ".stats.seeds",
    "seed_level": ".stats.seeds",
    "seed_paired": ".stats.seeds",
}
__all__ += list(_LAZY)
__getattr__ = lazy_exports(__name__, _LAZY)
_timm_hook.install()
