"""Datasets: split objects, the registry, embedded and benchmark loaders."""

# Importing the loader modules registers them.
from . import cifar, cub, digits, glyphs, mini_imagenet, omniglot, tiered_imagenet  # noqa: F401,E402
from ._download import DatasetNotFoundError
from .base import SPLIT_NAMES, ArraySplit, FewShotDataset, FileSplit, Split
from .folder import folder_dataset
from .image_files import read_image
from .registry import (
    DATASETS,
    create_dataset,
    dataset_id,
    dataset_info,
    default_root,
    list_datasets,
    register_dataset,
    reload_spec,
)

__all__ = [
    "DatasetNotFoundError",
    "SPLIT_NAMES",
    "ArraySplit",
    "FewShotDataset",
    "FileSplit",
    "Split",
    "read_image",
    "DATASETS",
    "create_dataset",
    "dataset_info",
    "default_root",
    "folder_dataset",
    "list_datasets",
    "register_dataset",
    "dataset_id",
    "reload_spec",
]
