"""The trainings a benchmark needs: one per (dataset, loss, configuration, batch size, seed).

A loss's configurations are its grid (:mod:`~fewshot_clce.benchmark.loss_grid`). Every
configuration is trained at every batch size and seed, with the same epochs and optimiser
settings. Run names spell every value out (``clce-lam0.1-t0.1-beta1-bs64-s0``) but switches a
loss declares as unnamed at their default, so a run trained under other defaults is never taken
for one of these (its config.yaml is compared too).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from ..losses.hparams import LOSS_HPARAMS, declared_label, run_name_parts
from ..training.run_folder import CONFIG, is_finished, read_config
from .config import LOSS_SWEEPS, BenchmarkConfig
from .loss_grid import benchmark_losses, loss_grid


@dataclass(frozen=True)
class RunSpec:
    """One training of the benchmark.

    Attributes:
        dataset: the dataset as the user gave it (what training loads).
        loss: the loss's short name (tables, run names).
        hparams: the value of every hyper-parameter the loss declares, in declaration order.
        reference: what the loss is imported by (default: ``loss``, a registered name).
    """

    dataset: str
    loss: str
    seed: int
    batch_size: int
    hparams: tuple[tuple[str, Any], ...]
    reference: str = ""

    @property
    def loss_reference(self) -> str:
        return self.reference or self.loss

    @property
    def name(self) -> str:
        """``clce-lam0.5-t0.1-bs64-s0``: unique within a dataset, readable in a file listing."""
        values = {k: v for k, v in self.hparams if v is not None}
        parts = run_name_parts(values, loss=self.loss_reference)
        return "-".join([self.loss, *parts, f"bs{self.batch_size}", f"s{self.seed}"])

    @property
    def config_label(self) -> str:
        """``clce(lam=0.1,t=0.1,beta=1,bs=64)``: the configuration in tables."""
        return declared_label(self.loss_reference, dict(self.hparams), self.batch_size)

    @property
    def dataset_id(self) -> str:
        """The dataset's canonical identity: results rows, run and result folders are named by it."""
        from ..data.registry import dataset_id

        return dataset_id(self.dataset)

    def run_dir(self, out: Path) -> Path:
        return Path(out) / "runs" / dataset_folder(self.dataset_id) / self.name

    def result_path(self, out: Path, on: Optional[str] = None) -> Path:
        """The run's result file; ``on``: the identity of another dataset it is evaluated on (cross-domain)."""
        folder = Path(out) / "results" / dataset_folder(self.dataset_id)
        return (folder / f"on-{dataset_folder(on)}" if on else folder) / f"{self.name}.csv"

    def annotate(
        self, df: pd.DataFrame, run_dir: Path, backbone: str, on: Optional[str] = None
    ) -> pd.DataFrame:
        """Add the results schema's run columns, with the hyper-parameters the run really used.

        The values come from the run's resolved ``config.yaml`` (so a loss default is recorded as
        its number); hyper-parameters the loss does not take are left empty (NaN). ``train_dataset``
        is this run's dataset, ``dataset`` the one evaluated on (``on``, else the same).
        """
        from ..losses.plugins import load_loss_class
        from ..training.config import with_loss_defaults

        used = with_loss_defaults(read_config(run_dir), load_loss_class(self.loss_reference))
        takes = dict(self.hparams)
        df = df.copy()
        df["train_dataset"] = self.dataset_id
        df["dataset"] = (
            on or self.dataset_id
        )  # as evaluation records it: one name per dataset everywhere
        df["run"], df["loss"], df["seed"], df["backbone"] = (
            self.name,
            self.loss,
            self.seed,
            backbone,
        )
        df["batch_size"] = int(used.get("batch_size", self.batch_size))
        # the vocabulary's columns on every row, empty where the loss lacks them
        for h in LOSS_SWEEPS:
            v = used.get(h) if h in takes else None
            df[h] = float(v) if v is not None else math.nan
        values = {}
        for h in takes:
            values[h] = used.get(h) if h in LOSS_HPARAMS else used["loss_options"].get(h)
            if h not in LOSS_SWEEPS:
                df[h] = values[h]
        batch_size = df["batch_size"].iloc[0] if len(df) else None
        df["config"] = declared_label(self.loss_reference, values, batch_size)
        return df


def dataset_folder(identity: str) -> str:
    """A dataset identity as one folder name (``folder:data``, ``cub[split=closerlook]``)."""
    return identity.replace("/", "-")


def check_names(cfg: BenchmarkConfig) -> None:
    """Fail before any training on an unknown loss, head or backbone (listing the valid names)."""
    from ..backbones.factory import check_backbone_name
    from ..heads import parse_head

    for head in cfg.heads:
        parse_head(head)
    check_backbone_name(cfg.backbone)


def plan_runs(cfg: BenchmarkConfig) -> list[RunSpec]:
    """Every training of ``cfg``, in a stable order (dataset, seed, batch size, loss, configuration).

    Seeds are the outer loop but one, so an interrupted benchmark has finished whole seeds.

    Raises:
        UnknownNameError: for an unknown loss (listing the valid ones).
    """
    entries = benchmark_losses(cfg.losses)
    grids = {name: loss_grid(cfg, name) for name in entries}
    sizes = list(dict.fromkeys(b for g in grids.values() for _, bs in g for b in bs))
    out = []
    for d, s, bs in itertools.product(cfg.datasets, cfg.seeds, sizes):
        for name, entry in entries.items():
            ref = "" if entry.reference == name else entry.reference
            for config, batch_sizes in grids[name]:
                if bs in batch_sizes:
                    out.append(RunSpec(d, name, int(s), int(bs), tuple(config.items()), ref))
    return out


def train_config(spec: RunSpec, cfg: BenchmarkConfig, out: Path):
    """The :class:`~fewshot_clce.training.trainer.TrainConfig` of one run (same budget for every loss)."""
    from ..training.config import TrainConfig

    options = dict(cfg.train_options)
    if cfg.lr is not None:
        options["lr"] = cfg.lr
    if cfg.precision is not None:
        options["precision"] = cfg.precision
    options.update(init_options(cfg))
    legacy = {k: v for k, v in spec.hparams if v is not None and k in LOSS_HPARAMS}
    loss_options = {k: v for k, v in spec.hparams if k not in LOSS_HPARAMS}
    try:
        return TrainConfig(
            dataset=spec.dataset,
            backbone=cfg.backbone,
            loss=spec.loss_reference,
            out=str(spec.run_dir(out)),
            epochs=cfg.epochs,
            batch_size=spec.batch_size,
            seed=spec.seed,
            data_root=cfg.data_root,
            device=cfg.device,
            progress=cfg.progress,
            loss_options=loss_options,
            **legacy,
            **options,
        )
    except TypeError as e:
        raise ValueError(
            f"train_options {sorted(options)} contain a setting training does not know ({e}); "
            "see `fewshot-clce train --help`"
        ) from None


def explicit_fields(spec: RunSpec, cfg: BenchmarkConfig) -> tuple[str, ...]:
    """The TrainConfig fields the benchmark sets itself (the rest are training's defaults)."""
    fields = ["dataset", "backbone", "loss", "epochs", "batch_size", "seed", "loss_options"]
    fields += [k for k, v in spec.hparams if v is not None and k in LOSS_HPARAMS]
    fields += list(cfg.train_options)
    return tuple(fields + (["lr"] if cfg.lr is not None else []) + list(init_options(cfg)))


def init_options(cfg: BenchmarkConfig) -> dict[str, object]:
    """The TrainConfig settings that start every run from ``cfg.init``: ``checkpoint`` (the file, as an
    absolute path) or ``pretrained``; none without an init."""
    if cfg.init is None:
        return {}
    if cfg.init_timm:
        return {"pretrained": True}
    return {"checkpoint": str(Path(cfg.init).expanduser().resolve())}


def run_state(run_dir: Path, tc, fields: tuple[str, ...] = ()) -> str:
    """``"absent"``, ``"partial"`` (interrupted: resume it), ``"finished"`` or ``"different"``.

    ``different``: the folder holds a run whose saved settings disagree with ``tc`` on any setting
    of the whole resolved training configuration (:func:`training_differences`), not only on the
    options given; it is retrained only under ``--force``. ``fields`` is not used (kept for
    callers).
    """
    from ..losses.plugins import is_builtin, load_loss_class, source_record, split_reference

    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file():
        return "absent"
    ref = split_reference(tc.loss)[0]
    cls = load_loss_class(ref)
    if training_differences(run_dir, tc):
        return "different"
    saved = read_config(run_dir)
    was = ((saved.get("derived") or {}).get("loss_source") or {}).get("sha256")
    if not is_builtin(cls) and was is not None and was != source_record(ref, cls)["sha256"]:
        return "different"  # the loss's source file changed since this run was trained
    return "finished" if is_finished(run_dir, tc.epochs) else "partial"


def training_differences(run_dir: Path, tc) -> list[str]:
    """The settings on which the run in ``run_dir`` trained otherwise than ``tc`` would, each as
    ``"name: value there, value now"``; empty when they train the same.

    Both sides are resolved by :func:`~fewshot_clce.training.config.resolved_settings` (a key an
    older config.yaml lacks is that setting's default); ``augment="auto"`` is resolved from the
    image shape the run recorded.
    """
    import dataclasses

    from ..data.transforms import choose_preset
    from ..training.config import resolved_settings

    raw = read_config(run_dir)
    saved, new = resolved_settings(raw), resolved_settings(dataclasses.asdict(tc))
    if new["augment"] == "auto":
        derived: dict = raw["derived"] if isinstance(raw.get("derived"), dict) else {}
        shape = derived.get("image_size")
        if (
            saved["image_size"] is None
            and "in_chans" in derived
            and isinstance(shape, list)
            and len(shape) == 2
        ):
            new["augment"] = choose_preset((derived["in_chans"], shape[0], shape[1]))
        else:
            new["augment"] = saved["augment"]
    return [f"{k}: {saved[k]!r} there, {new[k]!r} now" for k in new if saved.get(k) != new[k]]


def refuse_different_runs(
    specs: list[RunSpec], states: dict, out: Path, cfg: BenchmarkConfig, force: bool
) -> None:
    """Refuse, before any training, run folders that trained other settings (unless ``force``).

    Raises:
        FileExistsError: naming the first such run folder and its differing settings.
    """
    if force:
        return
    for s in specs:
        if states[(s.dataset_id, s.name)] == "different":
            run_dir = s.run_dir(out)
            differ = "; ".join(training_differences(run_dir, train_config(s, cfg, out)))
            differ = differ or "its starting weights"
            raise FileExistsError(
                f"run folder {str(run_dir)!r} holds a training of other settings "
                f"({differ}); pass --force to retrain it, or another --out"
            )


def train_command(spec: RunSpec, cfg: BenchmarkConfig, out: Path) -> str:
    """The ``fewshot-clce train`` command line of one run (for training it elsewhere, e.g. under torchrun).

    A run trained with it into the same folder is reused by the benchmark, as long as its
    settings match.
    """
    import dataclasses
    import shlex

    from ..training.config import TrainConfig

    tc = train_config(spec, cfg, out)
    parts = ["fewshot-clce", "train"]
    for f in dataclasses.fields(TrainConfig):
        if f.name not in explicit_fields(spec, cfg) + ("out",):
            continue
        flag = f.metadata.get("flag") or "--" + f.name.replace("_", "-")
        value = getattr(tc, f.name)
        if f.name == "loss_options":
            parts += (
                [
                    "--hp",
                    *(
                        shlex.quote(f"{k}={str(v).lower() if isinstance(v, bool) else v}")
                        for k, v in value.items()
                    ),
                ]
                if value
                else []
            )
            continue
        if isinstance(
            value, bool
        ):  # a switch: its flag turns it away from the default, or nothing does
            parts += [flag] if value != f.default else []
            continue
        parts += [flag, shlex.quote(str(value))]
    return " ".join(parts)
