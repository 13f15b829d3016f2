"""The benchmark's starting weights: one set for every loss (``init``), and those weights evaluated
without fine-tuning (``baseline_backbone``).

- ``init``: a weights file or ``timm:NAME``. It is read (or fetched) and its digest taken before any
  work; every training starts from it (``TrainConfig.checkpoint`` / ``pretrained``) and records the
  digest (``derived.init_digest`` of its config), ``config.json`` records it, and a benchmark folder
  started from other weights is refused, naming both digests.
- ``baseline_backbone``: the starting weights evaluated with the preprocessing the fine-tuned runs
  use, as the loss ``init`` (run ``init``), on the same episodes (and on every ``eval_datasets``
  entry, :mod:`fewshot_clce.benchmark.cross_domain`); its rows repeat under every seed, so that it
  pairs with every loss seed by seed (it has no training noise: its seeds agree).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pandas as pd

from ..losses.hparams import CONFIG_COLUMNS
from ..utils import checks as _checks
from .config import INIT_LOSS, BenchmarkConfig
from .plan import RunSpec, dataset_folder
from .result_cache import cached, evaluation_key


@dataclass(frozen=True)
class InitWeights:
    """The starting weights of a benchmark: as given, their digest, and where they come from."""

    source: str
    digest: str
    checkpoint: Optional[Path]  # the weights file; None for timm's pretrained weights
    timm: Optional[str]  # the timm model name; None for a file

    def record(self) -> dict[str, str]:
        """What ``config.json`` (and the report) records of them."""
        return {"init": self.source, "init_digest": self.digest}


def prepare_init(cfg: BenchmarkConfig, datasets: dict) -> Optional[InitWeights]:
    """Read (or fetch) ``cfg.init`` and take its digest; a file must fit the backbone for every dataset.

    Raises:
        SettingError: for a file that holds no weights (one that does not exist: BenchmarkConfig.check).
        ValueError: for weights that do not fit ``cfg.backbone`` (naming missing and unexpected keys).
        WeightsUnavailableError: for timm weights that are neither cached nor downloadable.
    """
    import pickle

    from ..backbones.factory import backbone_from_weights, pretrained_digest
    from ..backbones.weights import backbone_weights, file_id

    if cfg.init is None:
        return None
    if cfg.init_timm:
        return InitWeights(cfg.init, pretrained_digest(cfg.init_timm), None, cfg.init_timm)
    path = Path(cfg.init).expanduser()  # a file: BenchmarkConfig.check saw it
    try:
        state = backbone_weights(path, *init_location(cfg))
    except (ValueError, pickle.UnpicklingError) as e:
        raise _checks.SettingError(
            "init", "{setting} " + f"{cfg.init!r} is not a weights file ({e})"
        ) from None
    for ds in datasets.values():
        channels = ds.split("base").image_shape[0]
        # another codebase's layout (easyfsl, RFS, ...) is read as training will read it
        backbone_from_weights(cfg.backbone, state, in_chans=channels, source=path)
    return InitWeights(cfg.init, file_id(path), path.resolve(), None)


def init_location(cfg: BenchmarkConfig) -> tuple[str, Optional[str]]:
    """Where the backbone sits in the ``init`` file: ``--checkpoint-prefix`` and
    ``--checkpoint-key`` (training options, as ``train`` takes them), ``("", None)`` by default."""
    options = cfg.train_options
    return str(options.get("checkpoint_prefix") or ""), options.get("checkpoint_key") or None


def check_init_digest(out: Path, init: Optional[InitWeights], force: bool) -> None:
    """Refuse a benchmark folder whose runs started from other weights (unless ``force``).

    Raises:
        FileExistsError: naming both digests.
    """
    path = Path(out) / "config.json"
    try:
        old = json.loads(path.read_text())
    except (
        OSError,
        ValueError,
        UnicodeDecodeError,
    ):  # none yet, or unreadable: prepare_output says so
        return
    if not isinstance(old, dict) or force:
        return
    was, now = old.get("init_digest"), init.digest if init else None
    if was != now:
        before = (
            f"weights with digest {was} (--init {old.get('init')})"
            if was
            else "a random initialisation"
        )
        after = f"--init {init.source} has digest {now}" if init else "no --init is given"
        raise FileExistsError(
            f"{str(out)!r} holds a benchmark whose runs started from {before}, but {after}; "
            "give the weights it started from, another --out, or --force to train every run "
            "again from these"
        )


def check_run_inits(
    specs: list[RunSpec], out: Path, init: Optional[InitWeights], states: dict, force: bool
) -> None:
    """Every trained (or interrupted) run in ``out`` started from ``init``; with ``force`` the others are
    trained again (their state becomes ``different``).

    A run whose config records no digest is taken as it is.

    Raises:
        ValueError: naming the run and both digests.
    """
    from ..training.run_folder import read_config

    now = init.digest if init else None
    for s in specs:
        key = (s.dataset_id, s.name)
        if states[key] not in ("finished", "partial"):
            continue
        derived = read_config(s.run_dir(out)).get("derived") or {}
        if "init_digest" not in derived or derived["init_digest"] == now:
            continue
        if not force:
            raise ValueError(
                f"run {str(s.run_dir(out))!r} started from weights with digest {derived['init_digest']}, "
                f"not {now} ({init.source if init else 'a random initialisation'}); move it away, or "
                "pass --force to train it again"
            )
        states[key] = "different"


def evaluate_init(
    cfg: BenchmarkConfig,
    out: Path,
    specs: list[RunSpec],
    init: InitWeights,
    datasets: dict,
    manifests: dict,
    targets: dict,
    cross: dict,
    log: Callable[[str], None],
) -> list[pd.DataFrame]:
    """The starting weights without fine-tuning, per training dataset, on its episodes and on every other
    ``eval_datasets`` entry: rows of the loss ``init``, repeated under every seed.

    The preprocessing is the one the dataset's fine-tuned runs use (read from the first run's
    config), so that the rows differ from theirs by the training alone.
    """
    from ..evaluation import evaluate_backbone
    from ..training.run_folder import read_config

    prefix, entry = init_location(cfg)  # where the backbone sits in the file (-> the cache key)
    where = {"weights_at": [prefix, entry]} if prefix or entry else {}
    frames = []
    for d in dict.fromkeys(s.dataset_id for s in specs):
        derived = read_config(next(s for s in specs if s.dataset_id == d).run_dir(out))["derived"]
        pre = {k: derived[k] for k in ("image_size", "mean", "std", "in_chans")}
        places = [(d, datasets[d], manifests[d])] + [
            (e, ds, cross[e]) for e, (_, ds) in targets.items() if e != d
        ]
        for on, ds, mans in places:

            def compute(ds=ds, mans=mans, pre=pre, d=d, on=on):
                df = evaluate_backbone(
                    cfg.backbone,
                    [eps for eps, _ in mans.values()],
                    checkpoint=init.checkpoint,
                    checkpoint_prefix=prefix,
                    checkpoint_key=entry,
                    pretrained=init.timm is not None,
                    image_size=pre["image_size"],
                    mean=pre["mean"],
                    std=pre["std"],
                    in_chans=pre["in_chans"] if init.timm else None,
                    heads=cfg.heads,
                    dataset=ds,
                    run_name=INIT_LOSS,
                    device=cfg.device,
                )
                return annotate_init(df, d, on, cfg.backbone)

            folder = Path(out) / "results" / dataset_folder(d)
            csv = (folder / f"on-{dataset_folder(on)}" if on != d else folder) / f"{INIT_LOSS}.csv"
            key = evaluation_key(init.digest, mans, cfg.heads, preprocess=pre, **where)
            df, _ = cached(csv, key, compute, log)
            frames.append(pd.concat([df.assign(seed=int(s)) for s in cfg.seeds], ignore_index=True))
    return frames


def annotate_init(
    df: pd.DataFrame, train_dataset: str, dataset: str, backbone: str
) -> pd.DataFrame:
    """The results schema's run columns for the starting weights: loss and run ``init``, no hyper-parameters."""
    df = df.copy()
    df["run"], df["loss"], df["backbone"] = INIT_LOSS, INIT_LOSS, backbone
    df["train_dataset"], df["dataset"] = train_dataset, dataset
    for c in CONFIG_COLUMNS:  # batch_size included
        df[c] = math.nan
    return df
