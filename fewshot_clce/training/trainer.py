"""Base-class fine-tuning: ``train(config) -> run_dir``.

A run trains ``backbone -> pooled feature`` with a linear classifier and/or a projection head on
the base split of a dataset, with a registered loss, on two augmented views per image. After
every epoch it scores the backbone on fixed few-shot episodes of the val split, through the very
feature extraction and head code evaluation uses (:data:`VAL_HEAD`, in float32 on every device),
and writes, atomically, ``checkpoint_last.pt`` (everything needed to resume) and,
when the score improved, ``checkpoint_best.pt``. ``metrics.csv`` has one row per epoch, epoch 0
being the untrained backbone. ``config.yaml`` is the resolved configuration.

Reproducibility: the data order, the augmentations and the model's own randomness (dropout,
DropBlock) use streams re-derived from ``(seed, epoch, rank)`` at the start of every epoch, so
a run resumed at an epoch boundary continues exactly as an uninterrupted one (on CPU).
The caller's global RNG state is left untouched.
"""
from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path
from typing import Any, Dict, NamedTuple, Optional

import torch
from torch import nn

from ..utils import checks as _checks
from . import run_folder as _rundir
from ..utils.distributed import DistContext, init_distributed, maybe_seeded_devices, run_on_main, shutdown_distributed
from ..utils.files import StartGuard
from ..features import extract_features
from ..heads import CentroidHead, episode_accuracies
from .loop import (AUGMENT, INIT, MODEL_RNG, NonFiniteLossError, build_optimizer, build_scheduler, derive_seed,
                   epoch_batches, generator, resolve_precision, train_epoch)
from .._version import __version__
from ..data.transforms import Augment, Preprocess, choose_preset
from ..backbones.factory import (backbone_from_weights, check_backbone_name, create_backbone,
                                 embedding_dim)
from .model import TrainingModel
from ..losses.hparams import LOSS_HPARAMS, loss_takes
from ..losses.plugins import source_record
from .config import RUNTIME_FIELDS, TrainConfig, default_lr, default_weight_decay, with_loss_defaults

# The per-epoch validation score: cosine nearest centroid of L2-normalised features (the head that
# picks the best epoch; evaluation's heads are chosen separately).
VAL_HEAD = CentroidHead(metric="cosine", normalize="l2n")


def _check(cfg: TrainConfig) -> None:
    """Fail fast, before loading data or writing anything, on values that cannot work, naming the setting."""
    from ..episodes.manifest import check_episode_count

    _checks.check_fields(cfg)  # what each field declares: required, sizes, seeds, ranges, choices
    check_backbone_name(cfg.backbone)
    if cfg.steps_as_batch is not None and cfg.steps_as_batch < cfg.batch_size:
        raise _checks.SettingError("steps_as_batch", "{setting} " + f"{cfg.steps_as_batch} is below --batch-size "
                                   f"{cfg.batch_size}: a batch cannot take more steps than one pass over the base "
                                   "split; give the largest batch size compared")
    if cfg.checkpoint and not Path(cfg.checkpoint).expanduser().is_file():
        what = "is a folder, not a weights file" if Path(cfg.checkpoint).expanduser().is_dir() else "does not exist"
        raise _checks.SettingError("checkpoint", "{setting} " + f"{cfg.checkpoint!r} {what}")
    _checks.in_range("warmup_epochs", cfg.warmup_epochs, 0, cfg.epochs, hint=f" (--epochs is {cfg.epochs})")
    _create_loss(cfg)  # the loss, its hyper-parameters and their values, before any data is read
    if cfg.drop_block_rate:
        # the backbone is built here, before any data is read, to refuse an option it does not take
        create_backbone(cfg.backbone, drop_block_rate=cfg.drop_block_rate)
    check_episode_count(cfg.val_episodes, cfg.val_ways, cfg.val_shots, cfg.val_queries, "val_episodes")


def epoch_steps(n_images: int, global_batch: int, cap: Optional[int] = None,
                equal_to_batch: Optional[int] = None) -> int:
    """Optimizer steps per epoch: one pass over ``n_images`` at ``global_batch``, at most ``cap``,
    and at most the steps of one pass at the global batch ``equal_to_batch`` (equal steps across
    batch sizes)."""
    steps = n_images // global_batch
    if equal_to_batch is not None:
        steps = min(steps, n_images // equal_to_batch)
    return max(1, min(steps, cap or steps))


def check_config(config: TrainConfig) -> None:
    """Every check :func:`train` makes before it loads data (values, names, the loss's options).

    Raises:
        ValueError, UnknownNameError: naming the option and the value.
    """
    _check(config)


class _Loss(NamedTuple):
    """A training's loss: the module, the value of every hyper-parameter it declares, the
    reference it was named by (options stripped) and its class."""

    module: nn.Module
    values: Dict[str, Any]
    reference: str
    cls: type


def _create_loss(cfg: TrainConfig) -> _Loss:
    """The loss module and its resolved hyper-parameters (given values over the loss's defaults).

    Raises:
        ValueError: for an unknown loss, a hyper-parameter it does not declare or a value out of its
            range, naming the loss, the parameter and what it accepts.
    """
    from ..losses.plugins import build_loss, split_reference

    ref, bracket = split_reference(cfg.loss)
    takes = loss_takes(ref)
    given = {k: getattr(cfg, k) for k in LOSS_HPARAMS if getattr(cfg, k) is not None}
    for k in given:
        if k not in takes:
            raise _checks.SettingError(k, f"loss {ref!r} does not take " + "{setting}"
                                       + f"; its hyper-parameters are: {', '.join(takes) or 'none'}")
    module, values, ref, cls = build_loss(cfg.loss, {**given, **dict(cfg.loss_options or {})})
    return _Loss(module, values, ref, cls)


def resolved_loss_fields(loss: _Loss) -> Dict[str, Any]:
    """The TrainConfig fields that record a loss: ``loss`` (its reference), the vocabulary's fields
    for the hyper-parameters it declares under those names, ``loss_options`` for the others."""
    fields: Dict[str, Any] = {"loss": loss.reference}
    fields.update({k: v for k, v in loss.values.items() if k in LOSS_HPARAMS})
    fields["loss_options"] = {k: v for k, v in loss.values.items() if k not in LOSS_HPARAMS}
    return fields


def _log(ctx: DistContext, message: str) -> None:
    if ctx.is_main:
        print(message, file=sys.stderr, flush=True)


def train(config: TrainConfig) -> Path:
    """Train a backbone on the base classes; returns the run folder.

    Under ``torchrun`` every process calls this; rank 0 alone writes files.

    Raises:
        ValueError: on unusable settings (unknown names, a split smaller than a batch, ...).
        FileExistsError: when ``config.out`` holds a run and neither ``resume`` nor ``force`` is set.
        NonFiniteLossError: when the loss turns NaN/inf (the last good checkpoint is kept).
        CheckpointWriteError: when a checkpoint cannot be written (the previous one is intact).
    """
    _check(config)
    loss = _create_loss(config)
    ctx = init_distributed(config.device)
    # The thread count is process-wide state: set for this training, then given back to the caller.
    threads_before = torch.get_num_threads()
    try:
        if config.threads is not None:
            torch.set_num_threads(config.threads)
        seeded = maybe_seeded_devices(ctx.device)
        with torch.random.fork_rng(devices=seeded), _hold_run_folder(config, ctx):
            return _train(config, ctx, loss)
    finally:
        torch.set_num_threads(threads_before)
        shutdown_distributed(ctx)


def _hold_run_folder(cfg: TrainConfig, ctx: DistContext):
    """Rank 0 locks the run folder while it trains, so that a second training of it is refused."""
    from ..utils.folder_lock import folder_lock

    if not ctx.is_main:
        return contextlib.nullcontext()
    return folder_lock(cfg.out, "run folder", "train into another --out")


def _train(cfg: TrainConfig, ctx: DistContext, loss: _Loss) -> Path:
    from ..data import create_dataset, reload_spec
    from ..episodes.manifest import sample_episodes

    run_dir = Path(cfg.out).expanduser()
    dataset = create_dataset(cfg.dataset, root=cfg.data_root)
    for needed in ("base", "val"):
        if needed not in dataset.splits:
            raise ValueError(f"training needs a {needed!r} split (base classes to train on, val classes to "
                             f"pick the best epoch); dataset {cfg.dataset!r} has {', '.join(dataset.splits)}. "
                             "Folder datasets take a split file naming val classes (folder:PATH::SPLITFILE); "
                             "omniglot holds some alphabets out with --dataset 'omniglot[val_alphabets=5]'")
    base, val = dataset.split("base"), dataset.split("val")
    if val.num_classes < _checks.MIN_WAYS:
        raise ValueError(f"the val split of {cfg.dataset!r} has {val.num_classes} class; validation episodes need "
                         f"at least {_checks.MIN_WAYS} classes: give the val split more classes")
    need = cfg.batch_size * ctx.world_size
    if len(base) < need:
        raise ValueError(f"the base split of {cfg.dataset!r} has {len(base)} images; a batch of {cfg.batch_size}"
                         f" x {ctx.world_size} process(es) needs {need}; lower --batch-size")
    loss_fn = loss.module
    if getattr(loss_fn, "uses_projection", False) and cfg.views < 2 and cfg.batch_size < 2:
        raise _checks.SettingError("views", "a contrastive loss needs positives: set {setting} to 2 or raise "
                                            "{setting:batch_size}")
    channels, height, width = base.image_shape
    preset = choose_preset(base.image_shape) if cfg.augment == "auto" else cfg.augment
    size = (cfg.image_size, cfg.image_size) if cfg.image_size else (height, width)
    resolved = dataclasses.replace(
        cfg, augment=preset,
        lr=cfg.lr if cfg.lr is not None else default_lr(cfg.optimizer),
        weight_decay=(cfg.weight_decay if cfg.weight_decay is not None
                      else default_weight_decay(cfg.optimizer)),
        threads=torch.get_num_threads(), precision=resolve_precision(cfg.precision, ctx.device),
        **resolved_loss_fields(loss))

    torch.manual_seed(derive_seed(cfg.seed, INIT))
    backbone_kw = {"drop_block_rate": cfg.drop_block_rate} if cfg.drop_block_rate else {}
    if cfg.checkpoint:  # any weights file, a run's checkpoint included (the run folder module reads those)
        state = _rundir.backbone_weights(cfg.checkpoint, cfg.checkpoint_prefix, cfg.checkpoint_key)
        backbone, imported = backbone_from_weights(cfg.backbone, state, in_chans=channels,
                                                   source=cfg.checkpoint, **backbone_kw)
        # what the weights need, so that load_run rebuilds the same backbone
        backbone_kw.update(imported.options)
        if imported.layout is not None and ctx.is_main:
            print(f"{cfg.checkpoint}: {imported.describe()}", file=sys.stderr)
    else:
        backbone = create_backbone(cfg.backbone, in_chans=channels, pretrained=cfg.pretrained,
                                   **backbone_kw)
    init = init_digest(cfg, backbone, channels)
    feature_dim = embedding_dim(backbone, (channels, *size))
    augment = Augment(preset, size, channels)
    mean, std = augment.mean, augment.std
    timm_cfg = getattr(backbone, "pretrained_cfg", None) or {}
    if cfg.pretrained and timm_cfg.get("mean"):  # pretrained weights expect their own normalisation
        mean, std = _match_channels(timm_cfg["mean"], channels), _match_channels(timm_cfg["std"], channels)
        augment.mean, augment.std = mean, std
    preprocess = Preprocess(size, mean, std)
    model = TrainingModel(backbone, feature_dim, base.num_classes,
                          getattr(loss_fn, "uses_logits", False),
                          getattr(loss_fn, "uses_projection", False), cfg.projection_dim,
                          use_features=getattr(loss_fn, "uses_features", False))
    if callable(getattr(loss_fn, "setup", None)):  # class weights of its own: sized now
        loss_fn.setup(base.num_classes, feature_dim)
    if any(True for _ in loss_fn.parameters()):
        # trained by the optimizer, saved in the checkpoints, synchronised under DDP: as the model
        model.criterion = loss_fn
    model = model.to(ctx.device)
    # Channels-last on every device: on the 2-core CPU a conv4 training step at 28 px (batch 64, two views)
    # took 95 ms against 155 ms in NCHW with 2 threads, 164-175 against 323-337 ms with 1; GPUs' tensor-core
    # kernels want it too.
    model = model.to(memory_format=torch.channels_last)
    loss_fn = loss_fn.to(ctx.device)

    config_dict = dict(dataclasses.asdict(resolved), derived=dict(
        dataset_id=dataset.name, dataset_spec=reload_spec(cfg.dataset), in_chans=channels, image_size=list(size), mean=list(mean), std=list(std), embedding_dim=feature_dim,
        num_classes=base.num_classes, world_size=ctx.world_size, global_batch_size=need,
        base_fingerprint=base.fingerprint, val_fingerprint=val.fingerprint, backbone_kwargs=backbone_kw,
        init_digest=init, version=__version__, torch=str(torch.__version__),
        loss_source=source_record(loss.reference, loss.cls)))
    steps = epoch_steps(len(base), need, cfg.steps_per_epoch,
                        cfg.steps_as_batch * ctx.world_size if cfg.steps_as_batch else None)
    optimizer = build_optimizer(model, cfg.optimizer, resolved.lr, resolved.weight_decay, cfg.momentum)
    scheduler = build_scheduler(optimizer, cfg.epochs, steps, cfg.warmup_epochs)
    try:  # before the run folder is touched: too few val images for these episodes is a bad option
        val_episodes = sample_episodes(val, min(cfg.val_ways, val.num_classes), cfg.val_shots, cfg.val_queries,
                                       cfg.val_episodes, seed=cfg.val_seed)
    except ValueError as e:
        # the sampler's own advice names `episodes make` options; training's are --val-*
        reason = str(e).split(": lower --shots/--queries")[0].split("; lower --ways")[0]
        raise _checks.SettingError(
            "val_queries", f"validation episodes ({cfg.val_ways}-way {cfg.val_shots}-shot, "
            + "{setting} " + f"{cfg.val_queries}) cannot be drawn: {reason}; lower "
            + "{setting:val_shots}, {setting} or {setting:val_ways}, or give the val split more "
            "images per class") from None
    val_index = val_episodes.used_indices()

    def validate() -> float:
        feats = extract_features(model.backbone, val, val_index, preprocess, device=ctx.device, cache=False)
        return float(episode_accuracies(feats, val_episodes, VAL_HEAD).mean())

    # A start that fails before training (epoch 0 included) takes back what it wrote into a
    # folder that held no run, so the corrected command needs no --force.
    start_guard = StartGuard(run_dir, _rundir.RUN_FILES, leave_held=True) if ctx.is_main else None
    try:
        state = run_on_main(ctx, _prepare_run_dir, run_dir, cfg, config_dict, loss)
        if state is not None and state["epoch"] >= cfg.epochs:
            if not (run_dir / _rundir.BEST).is_file():
                raise FileNotFoundError(
                    f"run folder {str(run_dir)!r} finished its {cfg.epochs} epochs but has no "
                    f"{_rundir.BEST} (removed after training?), which evaluation reads; its best "
                    "epoch cannot be recovered: delete the run folder (or train with --force) to "
                    "train it again")
            _log(ctx, f"run {run_dir} already finished its {cfg.epochs} epochs; nothing to do")
            return run_dir
        remaining = cfg.epochs - (state["epoch"] if state is not None else 0)
        _decode_once(base, remaining * steps * cfg.batch_size, cfg.num_workers, ctx)
        if ctx.is_main:  # rank 0 alone validates: at every epoch end, and before the first one
            _decode_once(val, (remaining + (state is None)) * len(val_index), cfg.num_workers, ctx)
        if cfg.val_ways > val.num_classes:
            _log(ctx, f"note: the val split of {cfg.dataset!r} has {val.num_classes} classes, fewer than "
                      f"the {cfg.val_ways} val ways asked for; validating {val.num_classes}-way")
        if state is None:
            rows, best, start = [], -1.0, 1
            if ctx.is_main:
                acc0 = validate()
                rows.append({"epoch": 0, "val_acc": acc0})
                _rundir.write_metrics(run_dir, rows)
                _log(ctx, f"epoch 0 (untrained): val {val_episodes.ways}-way {val_episodes.shots}-shot "
                          f"accuracy {acc0:.4f}")
        else:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            rows, best, start = list(state["metrics"]), float(state["best_val"]), int(state["epoch"]) + 1
            _log(ctx, f"resuming {run_dir} at epoch {start} of {cfg.epochs}")
    except Exception:
        if start_guard is not None:
            start_guard.undo()
        raise

    train_model = model
    if ctx.distributed:
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
    for epoch in range(start, cfg.epochs + 1):
        torch.manual_seed(derive_seed(cfg.seed, MODEL_RNG, epoch, ctx.rank))
        batches = epoch_batches(len(base), cfg.batch_size, cfg.seed, epoch, ctx)[:steps]
        try:
            # Decoded images are sliced from memory faster than worker processes could hand them over.
            workers = 0 if getattr(base, "preloaded", False) else cfg.num_workers
            row = train_epoch(train_model, loss_fn, base, batches, augment, cfg.views, optimizer, scheduler,
                              cfg.grad_clip, generator(cfg.seed, AUGMENT, epoch, ctx.rank), ctx=ctx,
                              epoch=epoch, loader_workers=workers, progress=cfg.progress,
                              precision=resolved.precision)
        except NonFiniteLossError as e:
            kept = (f"the last good checkpoint is {run_dir / _rundir.LAST} (epoch {epoch - 1})" if epoch > 1
                    else "no checkpoint was written")
            raise NonFiniteLossError(f"{e}; {kept}") from None
        row = {"epoch": epoch, "lr": scheduler.get_last_lr()[0], **row}
        best = run_on_main(ctx, _end_epoch, run_dir, model, optimizer, scheduler, validate, row, rows, best,
                           config_dict, ctx)
    return run_dir


def init_digest(cfg: TrainConfig, backbone: Optional[nn.Module] = None, channels: int = 3) -> Optional[str]:
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
        return _rundir.file_id(Path(cfg.checkpoint).expanduser())
    if cfg.pretrained:
        return state_digest(backbone.state_dict()) if backbone is not None and channels == 3 \
            else pretrained_digest(cfg.backbone)
    return None


def _init_name(cfg: Any) -> str:
    get = cfg.get if isinstance(cfg, dict) else lambda k: getattr(cfg, k)
    return f"--checkpoint {get('checkpoint')}" if get("checkpoint") else f"timm's pretrained {get('backbone')}"
def _decode_once(split, reads: int, workers: int, ctx: DistContext) -> None:
    """Decode the images of a split that decodes files on access once, in a pass with ``workers``
    processes, when the training will read more images from it than it holds (see
    :mod:`fewshot_clce.data.decoded`); otherwise each image is decoded when read, as before."""
    if not hasattr(split, "preload") or split.preloaded or reads <= len(split):
        return
    _log(ctx, f"decoding the {len(split):,} images of {split.dataset}/{split.name} once")
    where = split.preload(workers)
    _log(ctx, "  kept in memory" if where == "memory" else f"  kept in {where}" if where
         else "  not kept (no room in memory or the cache); decoding each image when it is read")


def _match_channels(values, channels: int) -> tuple:
    values = tuple(float(v) for v in values)
    return values if len(values) == channels else (sum(values) / len(values),) * channels


def _prepare_run_dir(run_dir: Path, cfg: TrainConfig, config_dict: Dict[str, Any],
                     loss: Optional[_Loss] = None) -> Optional[Dict[str, Any]]:
    """Rank 0: check or clear the folder, write config.yaml; the checkpoint to resume from, if any."""
    state = _rundir.prepare(run_dir, cfg.resume, cfg.force)
    if state is not None and not all(torch.isfinite(t).all() for t in state["model"].values()
                                     if torch.is_tensor(t) and t.is_floating_point()):
        raise ValueError(f"cannot resume {str(run_dir)!r}: its {_rundir.LAST} (epoch "
                         f"{state['epoch']}) holds NaN or infinite weights, so there is no good "
                         "checkpoint to continue from; pass --force to start over (lower --lr or "
                         "set --grad-clip if the loss diverged)")
    if state is not None:
        if loss is not None:
            state["config"] = with_loss_defaults(state["config"], loss.cls)
            check_loss_source(run_dir, state["config"], config_dict, loss.cls)
        was, now = state["config"]["derived"].get("init_digest"), config_dict["derived"]["init_digest"]
        if "init_digest" in state["config"]["derived"] and was != now:  # runs made before it was recorded: unknown
            before = f"weights with digest {was} ({_init_name(state['config'])})" if was else "a random initialisation"
            after = f"{_init_name(cfg)} has digest {now}" if now else "no starting weights are given"
            raise ValueError(f"cannot resume {str(run_dir)!r}: it was started from {before}, but {after}; resume "
                             f"with the weights it started from, or --force to start over")
        saved, new = _comparable(state["config"]), _comparable(config_dict)
        differ = sorted(k for k in set(saved) | set(new) if saved.get(k) != new.get(k))
        if differ:
            what = "; ".join(f"{k}: {saved.get(k)!r} in the run, {new.get(k)!r} now" for k in differ)
            raise ValueError(f"cannot resume {str(run_dir)!r} with other settings ({what}); use the "
                             f"original ones, or --force to start over")
    elif cfg.resume:
        print(f"no checkpoint in {run_dir} yet; starting from epoch 1", file=sys.stderr)
    _rundir.write_config(run_dir, config_dict)
    return state


def check_loss_source(run_dir: Path, saved: Dict[str, Any], new: Dict[str, Any], loss_cls) -> None:
    """Refuse to continue a run of a loss of one's own whose source file changed since (the
    built-in losses are versioned with the package).

    Raises:
        ValueError: naming both digests.
    """
    from ..losses.plugins import is_builtin

    was = (saved.get("derived") or {}).get("loss_source") or {}
    now = new["derived"]["loss_source"]
    if is_builtin(loss_cls) or not was.get("sha256") or was.get("sha256") == now.get("sha256"):
        return
    raise ValueError(f"cannot resume {str(run_dir)!r}: its loss {now['import_path']} was trained "
                     f"from a source file with sha256 {was['sha256'][:12]}…, which now has "
                     f"{str(now['sha256'])[:12]}…; train the changed loss into another folder, or "
                     "--force to start over")


def _comparable(config: Dict[str, Any]) -> Dict[str, Any]:
    """What must match to resume: the config without runtime fields, ``derived`` flattened, versions left out
    (and the dataset's identity and absolute spec, which runs made before they were recorded lack: the
    split fingerprints already pin the data; the starting weights' digest is compared on its own, to
    name both digests)."""
    out = {k: v for k, v in config.items() if k not in RUNTIME_FIELDS and k != "derived"}
    out.update({f"derived.{k}": v for k, v in config["derived"].items()
                if k not in ("version", "torch", "dataset_id", "dataset_spec", "init_digest", "loss_source")})
    return out


def _end_epoch(run_dir: Path, model: TrainingModel, optimizer, scheduler, validate, row: Dict[str, Any],
               rows: list, best: float, config_dict: Dict[str, Any], ctx: DistContext) -> float:
    """Rank 0: validate, save the best and last checkpoints, append the metrics row; the best score."""
    acc = validate()
    improved = acc > best
    row.update(val_acc=acc, best=improved)
    rows.append(row)
    epoch = row["epoch"]
    if improved:
        best = acc
        _rundir.save_checkpoint(run_dir / _rundir.BEST, {"epoch": epoch, "val_acc": acc,
                                                         "model": model.state_dict(), "config": config_dict})
    _rundir.save_checkpoint(run_dir / _rundir.LAST, {
        "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "best_val": best, "metrics": rows, "config": config_dict})
    _rundir.write_metrics(run_dir, rows)
    parts = " ".join(f"{k[5:]}={v:.4f}" for k, v in row.items() if k.startswith("loss_"))
    _log(ctx, f"epoch {epoch}/{config_dict['epochs']}: loss {row['loss']:.4f} {parts} | "
              f"{row['images_per_s']:.0f} img/s | val acc {acc:.4f}{' (best)' if improved else ''}")
    return best
