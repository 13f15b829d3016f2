"""Base-class fine-tuning: ``TrainConfig``, the epoch loop, ``train(config) -> run folder``, and the
run folder's format (``load_run`` reads it back for evaluation)."""

from .._lazy import lazy_dir, lazy_exports

_NAMES = {
    "TrainConfig": ".config",
    "train": ".trainer",
    "check_config": ".trainer",
    "load_run": ".run_folder",
    "LoadedRun": ".run_folder",
    "NonFiniteLossError": ".loop",
    "CheckpointWriteError": ".run_folder",
}
__all__ = list(_NAMES)
__getattr__ = lazy_exports(__name__, _NAMES)
__dir__ = lazy_dir([], _NAMES)
