"""fewshot-clce: few-shot episodic evaluation of CLCE and other losses."""
from ._version import __version__
from .data import ArraySplit, FewShotDataset, FileSplit, Split, create_dataset, list_datasets, register_dataset
from .episode_sampler import EpisodeBatchSampler, EpisodeStream
from .episodes import EpisodeSet, sample_episodes
from .losses import LOSSES, LossOutput, create_loss, list_losses
from .registry import Registry, UnknownNameError
from .safe_load import UnsafePickleError, load_checkpoint, load_pickle

__all__ = ["__version__", "ArraySplit", "FewShotDataset", "FileSplit", "Split", "create_dataset",
           "list_datasets", "register_dataset", "Registry", "UnknownNameError",
           "EpisodeBatchSampler", "EpisodeSet", "EpisodeStream", "sample_episodes",
           "LOSSES", "LossOutput", "create_loss", "list_losses",
           "UnsafePickleError", "load_checkpoint", "load_pickle"]
