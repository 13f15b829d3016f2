"""A training built from its configuration, before its run folder is touched: the data (checked
for what training needs), the starting backbone, the model with the heads its loss uses, the
optimisation, the fixed validation episodes and the configuration the run folder records."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any, NamedTuple, Optional

import torch
from torch import nn

from .._version import __version__
from ..backbones.factory import backbone_from_weights, create_backbone, embedding_dim
from ..backbones.weights import backbone_weights, file_id
from ..data.transforms import Augment, Preprocess, choose_preset
from ..evaluation.episodic import episode_accuracies
from ..features import extract_features
from ..heads import CentroidHead
from ..losses.hparams import LOSS_HPARAMS
from ..losses.plugins import source_record
from ..utils import checks as _checks
from ..utils.distributed import DistContext
from . import run_folder as _rundir
from .config import TrainConfig, default_lr, default_weight_decay
from .loop import (
    INIT,
    build_optimizer,
    build_scheduler,
    derive_seed,
    epoch_steps,
    resolve_precision,
)
from .model import TrainingModel

# The per-epoch validation score: cosine nearest centroid of L2-normalised features (the head that
# picks the best epoch; evaluation's heads are chosen separately).
VAL_HEAD = CentroidHead(metric="cosine", normalize="l2n")


class TrainingLoss(NamedTuple):
    """A training's loss: the module, the value of every hyper-parameter it declares, the
    reference it was named by (options stripped) and its class."""

    module: nn.Module
    values: dict[str, Any]
    reference: str
    cls: type


def resolved_loss_fields(loss: TrainingLoss) -> dict[str, Any]:
    """The TrainConfig fields that record a loss: ``loss`` (its reference), the vocabulary's fields
    for the hyper-parameters it declares under those names, ``loss_options`` for the others."""
    fields: dict[str, Any] = {"loss": loss.reference}
    fields.update({k: v for k, v in loss.values.items() if k in LOSS_HPARAMS})
    fields["loss_options"] = {k: v for k, v in loss.values.items() if k not in LOSS_HPARAMS}
    return fields


@dataclasses.dataclass
class TrainingRun:
    """A training built and ready to start: its data, model, optimisation and recorded config.

    Attributes:
        steps: optimizer steps per epoch.
        config_dict: what config.yaml and the checkpoints record.
        val_index: the val split's images that the validation episodes use.
    """

    run_dir: Path
    base: Any
    val: Any
    model: TrainingModel
    loss_fn: nn.Module
    augment: Augment
    preprocess: Preprocess
    optimizer: torch.optim.Optimizer
    scheduler: Any
    steps: int
    precision: str
    config_dict: dict[str, Any]
    val_episodes: Any
    val_index: Any

    def validate(self, ctx: DistContext) -> float:
        """The backbone's mean accuracy on the validation episodes (:data:`VAL_HEAD`)."""
        feats = extract_features(
            self.model.backbone,
            self.val,
            self.val_index,
            self.preprocess,
            device=ctx.device,
            cache=False,
        )
        return float(episode_accuracies(feats, self.val_episodes, VAL_HEAD).mean())


def build_run(cfg: TrainConfig, ctx: DistContext, loss: TrainingLoss) -> TrainingRun:
    """Everything a training needs before its run folder is touched; a bad option fails here."""
    from ..data import reload_spec

    dataset, base, val = _training_data(cfg, ctx, loss)
    channels, height, width = base.image_shape
    preset = choose_preset(base.image_shape) if cfg.augment == "auto" else cfg.augment
    size = (cfg.image_size, cfg.image_size) if cfg.image_size else (height, width)
    resolved = _resolved_config(cfg, ctx, loss, preset)
    backbone, backbone_kw = _create_initial_backbone(cfg, ctx, channels)
    init = init_digest(cfg, backbone, channels)
    feature_dim = embedding_dim(backbone, (channels, *size))
    augment = _augment(cfg, backbone, preset, size, channels)
    mean, std = augment.mean, augment.std
    model, loss_fn = _training_model(cfg, ctx, loss.module, backbone, feature_dim, base.num_classes)
    need = cfg.batch_size * ctx.world_size
    config_dict = dict(
        format_version=_rundir.FORMAT_VERSION,
        **dataclasses.asdict(resolved),
        derived=dict(
            dataset_id=dataset.name,
            dataset_spec=reload_spec(cfg.dataset),
            in_chans=channels,
            image_size=list(size),
            mean=list(mean),
            std=list(std),
            embedding_dim=feature_dim,
            num_classes=base.num_classes,
            world_size=ctx.world_size,
            global_batch_size=need,
            base_fingerprint=base.fingerprint,
            val_fingerprint=val.fingerprint,
            backbone_kwargs=backbone_kw,
            init_digest=init,
            version=__version__,
            torch=str(torch.__version__),
            loss_source=source_record(loss.reference, loss.cls),
        ),
    )
    steps = epoch_steps(
        len(base),
        need,
        cfg.steps_per_epoch,
        cfg.steps_as_batch * ctx.world_size if cfg.steps_as_batch else None,
    )
    optimizer = build_optimizer(
        model, cfg.optimizer, resolved.lr, resolved.weight_decay, cfg.momentum
    )
    scheduler = build_scheduler(optimizer, cfg.epochs, steps, cfg.warmup_epochs)
    val_episodes = _validation_episodes(cfg, val)
    return TrainingRun(
        Path(cfg.out).expanduser(),
        base,
        val,
        model,
        loss_fn,
        augment,
        Preprocess(size, mean, std),
        optimizer,
        scheduler,
        steps,
        resolved.precision,
        config_dict,
        val_episodes,
        val_episodes.used_indices(),
    )


def _resolved_config(
    cfg: TrainConfig, ctx: DistContext, loss: TrainingLoss, augment_preset: str
) -> TrainConfig:
    """``cfg`` with every default it leaves to training resolved (learning rate, weight decay,
    threads, precision, the augmentation preset) and the loss's values recorded."""
    return dataclasses.replace(
        cfg,
        augment=augment_preset,
        lr=cfg.lr if cfg.lr is not None else default_lr(cfg.optimizer),
        weight_decay=(
            cfg.weight_decay
            if cfg.weight_decay is not None
            else default_weight_decay(cfg.optimizer)
        ),
        threads=torch.get_num_threads(),
        precision=resolve_precision(cfg.precision, ctx.device),
        **resolved_loss_fields(loss),
    )


def _augment(
    cfg: TrainConfig, backbone: nn.Module, preset: str, size: tuple[int, int], channels: int
) -> Augment:
    """The training augmentation, normalised as timm's pretrained weights expect when the run
    starts from them."""
    augment = Augment(preset, size, channels)
    timm_cfg = getattr(backbone, "pretrained_cfg", None) or {}
    if cfg.pretrained and timm_cfg.get("mean"):  # pretrained weights expect their own normalisation
        augment.mean = _match_channels(timm_cfg["mean"], channels)
        augment.std = _match_channels(timm_cfg["std"], channels)
    return augment


def _training_data(cfg: TrainConfig, ctx: DistContext, loss: TrainingLoss):
    """``(dataset, base split, val split)``, refused when they cannot serve this training."""
    from ..data import create_dataset
    from ..data.registry import require_splits

    dataset = create_dataset(cfg.dataset, root=cfg.data_root)
    require_splits(
        dataset,
        ("base", "val"),
        "training",
        "base classes to train on, val classes to pick the best epoch",
        "Folder datasets take a split file naming val classes (folder:PATH::SPLITFILE); "
        "omniglot holds some alphabets out with --dataset 'omniglot[val_alphabets=5]'",
        name=cfg.dataset,
    )
    base, val = dataset.split("base"), dataset.split("val")
    if val.num_classes < _checks.MIN_WAYS:
        raise ValueError(
            f"the val split of {cfg.dataset!r} has {val.num_classes} class; validation episodes need "
            f"at least {_checks.MIN_WAYS} classes: give the val split more classes"
        )
    need = cfg.batch_size * ctx.world_size
    if len(base) < need:
        raise ValueError(
            f"the base split of {cfg.dataset!r} has {len(base)} images; a batch of {cfg.batch_size}"
            f" x {ctx.world_size} process(es) needs {need}; lower --batch-size"
        )
    if getattr(loss.module, "uses_projection", False) and cfg.views < 2 and cfg.batch_size < 2:
        raise _checks.SettingError(
            "views",
            "a contrastive loss needs positives: set {setting} to 2 or raise {setting:batch_size}",
        )
    return dataset, base, val


def _create_initial_backbone(cfg: TrainConfig, ctx: DistContext, channels: int):
    """``(backbone, backbone options)``: random, timm's pretrained, or from ``--checkpoint``; the
    options are what :func:`~fewshot_clce.training.run_folder.load_run` rebuilds it with."""
    torch.manual_seed(derive_seed(cfg.seed, INIT))
    backbone_kw: dict[str, Any] = (
        {"drop_block_rate": cfg.drop_block_rate} if cfg.drop_block_rate else {}
    )
    if not cfg.checkpoint:
        backbone = create_backbone(
            cfg.backbone, in_chans=channels, pretrained=cfg.pretrained, **backbone_kw
        )
        return backbone, backbone_kw
    # any weights file, a run's checkpoint included
    state = backbone_weights(cfg.checkpoint, cfg.checkpoint_prefix, cfg.checkpoint_key)
    backbone, imported = backbone_from_weights(
        cfg.backbone, state, in_chans=channels, source=cfg.checkpoint, **backbone_kw
    )
    backbone_kw.update(imported.options)  # what the weights need
    if imported.layout is not None and ctx.is_main:
        print(f"{cfg.checkpoint}: {imported.describe()}", file=sys.stderr)
    return backbone, backbone_kw


def _training_model(
    cfg: TrainConfig,
    ctx: DistContext,
    loss_fn: nn.Module,
    backbone: nn.Module,
    feature_dim: int,
    num_classes: int,
):
    """``(model, loss module)`` on the training's device, with the heads the loss uses."""
    model = TrainingModel(
        backbone,
        feature_dim,
        num_classes,
        getattr(loss_fn, "uses_logits", False),
        getattr(loss_fn, "uses_projection", False),
        cfg.projection_dim,
        use_features=getattr(loss_fn, "uses_features", False),
    )
    if callable(getattr(loss_fn, "setup", None)):  # class weights of its own: sized now
        loss_fn.setup(num_classes, feature_dim)
    if any(True for _ in loss_fn.parameters()):
        # trained by the optimizer, saved in the checkpoints, synchronised under DDP: as the model
        model.criterion = loss_fn
    model = model.to(ctx.device)
    # Channels-last on every device: convolutions run faster in it on the CPU, and GPUs'
    # tensor-core kernels want it (docs/performance.md).
    model = model.to(memory_format=torch.channels_last)
    return model, loss_fn.to(ctx.device)


def _validation_episodes(cfg: TrainConfig, val):
    """The fixed val episodes, drawn before the run folder is touched: too few val images for
    them is a bad option."""
    from ..episodes import sample_episodes

    try:
        return sample_episodes(
            val,
            min(cfg.val_ways, val.num_classes),
            cfg.val_shots,
            cfg.val_queries,
            cfg.val_episodes,
            seed=cfg.val_seed,
        )
    except ValueError as e:
        # the sampler's own advice names `episodes make` options; training's are --val-*
        reason = str(e).split(": lower --shots/--queries")[0].split("; lower --ways")[0]
        raise _checks.SettingError(
            "val_queries",
            f"validation episodes ({cfg.val_ways}-way {cfg.val_shots}-shot, "
            + "{setting} "
            + f"{cfg.val_queries}) cannot be drawn: {reason}; lower "
            + "{setting:val_shots}, {setting} or {setting:val_ways}, or give the val split more "
            "images per class",
        ) from None


def init_digest(
    cfg: TrainConfig, backbone: Optional[nn.Module] = None, channels: int = 3
) -> Optional[str]:
    """The digest of the weights a run starts from: of the ``checkpoint`` file's bytes, or of timm's
    ``pretrained`` weights as a 3-channel backbone (:func:`~fewshot_clce.backbones.factory.pretrained_digest`);
    None for a random initialisation.

    Args:
        backbone: the freshly created pretrained backbone, whose digest is the answer when it has 3
            channels (saves creating it twice).
    """
    from ..backbones.factory import pretrained_digest
    from ..backbones.weights import state_digest

    if cfg.checkpoint:
        return file_id(Path(cfg.checkpoint).expanduser())
    if cfg.pretrained:
        return (
            state_digest(backbone.state_dict())
            if backbone is not None and channels == 3
            else pretrained_digest(cfg.backbone)
        )
    return None


def _match_channels(values, channels: int) -> tuple:
    values = tuple(float(v) for v in values)
    return values if len(values) == channels else (sum(values) / len(values),) * channels
