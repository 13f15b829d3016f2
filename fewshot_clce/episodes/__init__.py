"""Few-shot episodes as data: the episode set with its validation and digest, seeded sampling,
files (``.npz`` manifests bound to their split, ``.csv`` tables), a torch batch sampler for
episodic loading, and a picture of one episode."""

from .batch_sampler import EpisodeBatchSampler, EpisodeStream
from .episode_set import Episode, EpisodeSet, manifest_digest
from .io import file_safe, read_episodes, write_episodes
from .sampling import check_episode_count, sample_distinct, sample_episodes
from .validation import validate_episodes

__all__ = [
    "Episode",
    "EpisodeSet",
    "EpisodeBatchSampler",
    "EpisodeStream",
    "check_episode_count",
    "file_safe",
    "manifest_digest",
    "read_episodes",
    "sample_distinct",
    "sample_episodes",
    "validate_episodes",
    "write_episodes",
]
