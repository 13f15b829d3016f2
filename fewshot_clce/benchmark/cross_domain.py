"""Cross-domain evaluation (``eval_datasets``): every run, trained on one dataset, is also
evaluated on the novel split of other datasets.

The episodes are fixed manifests (committed ones where they fit, else drawn with the episode seed
and saved in ``episodes/``). Those rows have ``train_dataset`` (where the run was trained and its
configuration chosen on val) different from ``dataset``. Result files:
``results/<train>/on-<dataset>/<run>.csv``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..utils import checks as _checks
from .config import BenchmarkConfig
from .plan import RunSpec
from .result_cache import cached, evaluation_key


def cross_datasets(cfg: BenchmarkConfig, datasets: dict) -> dict[str, tuple[str, object]]:
    """The ``eval_datasets`` by identity: ``(spec, loaded dataset)``, each with a novel split whose images
    every trained backbone can take.

    Raises:
        ValueError: for a dataset without a novel split, two specs of one dataset, or images whose
            channels cannot be adapted to a backbone trained on another dataset.
    """
    from ..data import create_dataset
    from ..data.transforms import check_channels

    out: dict[str, tuple[str, object]] = {}
    for spec in cfg.eval_datasets or []:
        ds = create_dataset(spec, root=cfg.data_root)
        if ds.name in out:
            raise _checks.SettingError(
                "eval_datasets",
                "{setting} " + f"names {ds.name!r} twice ({out[ds.name][0]!r} and {spec!r})",
            )
        if "novel" not in ds.splits:
            raise ValueError(
                f"--eval-datasets {spec!r} has no 'novel' split to evaluate on (it has "
                f"{', '.join(ds.splits)})"
            )
        shape = ds.split("novel").image_shape
        for d, trained in datasets.items():
            if d != ds.name:
                check_channels(
                    shape[0],
                    trained.split("base").image_shape[0],
                    f"the images of {ds.name}/novel",
                    f"a backbone trained on {d}",
                )
        out[ds.name] = (spec, ds)
    return out


def cross_manifests(cfg: BenchmarkConfig, targets: dict, out_dir: Path, search) -> dict[str, dict]:
    """Fixed novel-split manifests of every ``eval_datasets`` entry, as :func:`benchmark_manifests` gives them."""
    from .manifests import benchmark_manifests

    return {
        d: benchmark_manifests(
            ds,
            ("novel",),
            cfg.ways,
            cfg.shots,
            cfg.queries,
            {"novel": cfg.episodes},
            cfg.episode_seed,
            out_dir,
            search,
        )
        for d, (_, ds) in targets.items()
    }


def evaluate_cross(
    spec: RunSpec,
    cfg: BenchmarkConfig,
    out: Path,
    targets: dict,
    cross: dict,
    log: Callable[[str], None],
) -> list[tuple]:
    """``(dataset, rows, reused)`` of one run on the novel split of every other ``eval_datasets`` entry."""
    from ..evaluation import evaluate_run
    from ..training.run_folder import checkpoint_id

    run_dir = spec.run_dir(out)
    done = []
    for d, (_, ds) in targets.items():
        if d == spec.dataset_id:
            continue

        def compute(ds=ds, d=d):
            df = evaluate_run(
                run_dir,
                [eps for eps, _ in cross[d].values()],
                heads=cfg.heads,
                device=cfg.device,
                dataset=ds,
            )
            return spec.annotate(df, run_dir, cfg.backbone, on=d)

        key = evaluation_key(checkpoint_id(run_dir), cross[d], cfg.heads)
        df, reused = cached(spec.result_path(out, on=d), key, compute, log)
        done.append((d, df, reused))
    return done
