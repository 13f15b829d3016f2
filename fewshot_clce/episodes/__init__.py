"""Few-shot episodes as data: seeded sampling, manifests (``.npz``) bound to their split, external
tables (``.csv``), a torch batch sampler for episodic loading, and a picture of one episode."""
from .manifest import (Episode, EpisodeSet, check_episode_count, file_safe, sample_distinct, sample_episodes,
                       validate_episodes)
from .sampler import EpisodeBatchSampler, EpisodeStream

__all__ = ["Episode", "EpisodeSet", "EpisodeBatchSampler", "EpisodeStream", "check_episode_count", "file_safe",
           "sample_distinct", "sample_episodes", "validate_episodes"]
