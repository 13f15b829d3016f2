"""The benchmark's sanity row: every training seed's backbone before any training.

For a benchmark trained from a random initialisation, the loss ``untrained`` (run
``untrained-s<seed>``) is the backbone exactly as training seed ``s`` initialised it (the same
seed derivation and constructor as :mod:`fewshot_clce.training.trainer`), evaluated without
training, with the preprocessing of that seed's runs, on the same episodes. It costs one feature
pass per seed and no training. The report warns when a chosen configuration does not beat it
(:mod:`fewshot_clce.report.sanity`).

Runs that start from given weights (``--init``, or ``checkpoint`` / ``pretrained`` in the
training options) have those weights as their starting point instead: their reference is the
``init`` row of ``--baseline-backbone``, and no ``untrained`` row is made.

Result files: ``results/<dataset>/untrained-s<seed>.csv``, reused when their key file matches.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..losses.hparams import CONFIG_COLUMNS
from .config import BenchmarkConfig
from .plan import RunSpec, dataset_folder

UNTRAINED_LOSS = "untrained"


def initial_backbone(train_config: dict, seed: int):
    """The backbone a training of ``train_config`` (a run's resolved config.yaml) starts from with
    ``seed``.

    Returns:
        The freshly initialised module (the global torch generator is left as it was).
    """
    import torch

    from ..backbones.factory import create_backbone
    from ..training.loop import INIT, derive_seed

    derived = train_config["derived"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, INIT))
        return create_backbone(
            train_config["backbone"],
            in_chans=int(derived["in_chans"]),
            **(derived.get("backbone_kwargs") or {}),
        )


def evaluate_untrained(
    cfg: BenchmarkConfig,
    out: Path,
    specs: list[RunSpec],
    datasets: dict,
    manifests: dict,
    log: Callable[[str], None],
) -> list[pd.DataFrame]:
    """Rows of the loss ``untrained`` for every (training dataset, seed), on that dataset's
    episodes.

    Args:
        specs: the benchmark's trainings (finished: each seed's first run gives the preprocessing).
        datasets, manifests: by dataset identity, as the benchmark loaded and drew them.
    """
    import torch

    from ..backbones.weights import state_digest
    from ..evaluation import evaluate_backbone
    from ..training.run_folder import read_config
    from .result_cache import cached, evaluation_key

    if cfg.init is not None:
        return []
    frames: list[pd.DataFrame] = []
    for d in dict.fromkeys(s.dataset_id for s in specs):
        for seed in dict.fromkeys(s.seed for s in specs if s.dataset_id == d):
            spec = next(s for s in specs if s.dataset_id == d and s.seed == seed)
            config = read_config(spec.run_dir(out))
            if config.get("checkpoint") or config.get("pretrained"):
                log(
                    f"{d}: the runs start from given weights; their untrained reference is "
                    "--baseline-backbone's "
                    "'init' row, so no 'untrained' row is evaluated"
                )
                return frames
            derived = config["derived"]
            pre = {k: derived[k] for k in ("image_size", "mean", "std", "in_chans")}
            backbone = initial_backbone(config, seed)
            name = f"{UNTRAINED_LOSS}-s{seed}"

            def compute(
                backbone=backbone,
                d=d,
                seed=seed,
                name=name,
                pre=pre,
                config=config,
                derived=derived,
            ):
                with tempfile.TemporaryDirectory() as tmp:
                    weights = Path(tmp) / f"{name}.pt"
                    torch.save(backbone.state_dict(), weights)
                    df = evaluate_backbone(
                        config["backbone"],
                        [eps for eps, _ in manifests[d].values()],
                        checkpoint=weights,
                        image_size=pre["image_size"],
                        mean=pre["mean"],
                        std=pre["std"],
                        heads=cfg.heads,
                        dataset=datasets[d],
                        run_name=name,
                        device=cfg.device,
                        **(derived.get("backbone_kwargs") or {}),
                    )
                return annotate_untrained(df, d, seed, config["backbone"])

            csv = Path(out) / "results" / dataset_folder(d) / f"{name}.csv"
            key = evaluation_key(
                f"{UNTRAINED_LOSS}:{state_digest(backbone.state_dict())}",
                manifests[d],
                cfg.heads,
                preprocess=pre,
            )
            df, _ = cached(csv, key, compute, log)
            frames.append(df)
    return frames


def annotate_untrained(df: pd.DataFrame, dataset: str, seed: int, backbone: str) -> pd.DataFrame:
    """The results schema's run columns of an untrained backbone: loss ``untrained``, its seed, no
    hyper-parameters."""
    df = df.copy()
    df["run"], df["loss"], df["seed"], df["backbone"] = (
        f"{UNTRAINED_LOSS}-s{seed}",
        UNTRAINED_LOSS,
        int(seed),
        backbone,
    )
    df["train_dataset"], df["dataset"] = dataset, dataset
    for c in CONFIG_COLUMNS:  # batch_size included
        df[c] = math.nan
    return df
