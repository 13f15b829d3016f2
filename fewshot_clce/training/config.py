"""``TrainConfig``: everything that defines a training run; the ``train`` command is built from it.

Kept apart from ``training`` (which imports timm) so that building the CLI stays light.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional

from ..data.transforms import PRESETS

# Fields that say how to run, not what is trained: they may differ when resuming.
RUNTIME_FIELDS = (
    "out",
    "resume",
    "force",
    "device",
    "num_workers",
    "progress",
    "data_root",
    "threads",
    "precision",
)


def _f(default: Any, help: str, **meta: Any):
    return field(default=default, metadata={"help": help, **meta})


@dataclass
class TrainConfig:
    """Everything that defines a training run; the CLI ``fewshot-clce train`` is built from it."""

    dataset: str = _f(None, "dataset name (fewshot-clce datasets lists them)", required=True)
    backbone: str = _f(
        None,
        "conv4, resnet12 or any timm model name, options as "
        "NAME[key=value,...] (conv4[global_pool=flatten]: the 1,600-d Conv-4)",
        required=True,
    )
    loss: str = _f(
        None,
        "a registered loss (ce, clce, arcface, ...: the losses), "
        "package.module:Class, ./file.py:Class or pml:Name; hyper-parameters may "
        "follow in brackets: 'clce[detach_weights=false]'",
        required=True,
        flag="--losses",
        aliases=("--loss",),
        metavar="LOSS",
    )
    out: str = _f(
        None, "run folder to write (config.yaml, metrics.csv, checkpoints)", required=True
    )
    epochs: int = _f(10, "training epochs", minimum=1)
    batch_size: int = _f(
        64, "images per batch and process (each gives `views` augmented views)", minimum=1
    )
    steps_per_epoch: Optional[int] = _f(
        None, "train on at most this many batches per epoch (quick runs)", minimum=1
    )
    steps_as_batch: Optional[int] = _f(
        None,
        "take per epoch the optimizer steps of one pass at this batch size "
        "(equal steps across batch sizes: a smaller batch sees a random part "
        "of the base split each epoch); at most the batch size's own pass",
        metavar="BATCH_SIZE",
        minimum=1,
    )
    lr: Optional[float] = _f(
        None, "peak learning rate (default 0.05 for sgd, 0.001 for adamw)", check="positive"
    )
    optimizer: str = _f("sgd", "optimizer", choices=("sgd", "adamw"), choice_of="an optimizer")
    momentum: float = _f(0.9, "SGD momentum (Nesterov)", within=(0, 1, "open"))
    weight_decay: Optional[float] = _f(
        None, "weight decay (default 5e-4 for sgd, 0.05 for adamw)", check="non_negative"
    )
    warmup_epochs: float = _f(1.0, "linear warm-up before the cosine decay, in epochs")
    # a negative norm bound flips the gradient (the loss climbs); zero stops training
    grad_clip: Optional[float] = _f(
        None,
        "clip the gradient norm to this value",
        check="positive",
        hint=" (omit it to train without clipping)",
    )
    lam: Optional[float] = _f(
        None, "CLCE weight of the contrastive term (loss default when omitted)", flag="--lambda"
    )
    temperature: Optional[float] = _f(None, "contrastive temperature (loss default when omitted)")
    beta: Optional[float] = _f(
        None, "hard-negative weighting of LACLN/CLCE (loss default when omitted)"
    )
    label_smoothing: Optional[float] = _f(
        None, "label smoothing of the CE term (loss default when omitted)"
    )
    loss_options: dict[str, Any] = field(
        default_factory=dict,
        metadata={
            "help": "the loss's other declared hyper-parameters by name "
            "(on the command line: --hp NAME=VALUE)",
            "api_only": True,
        },
    )
    views: int = _f(
        2,
        "augmented views per image (with 1, contrastive positives are only other images of the "
        "same class in the batch)",
        minimum=1,
    )
    augment: str = _f(
        "auto",
        "augmentation preset",
        choices=("auto", *PRESETS),
        choice_of="an augmentation preset",
    )
    image_size: Optional[int] = _f(
        None, "square input size (default: the dataset's own)", check="image_size"
    )
    projection_dim: int = _f(128, "output width of the projection head", minimum=1)
    drop_block_rate: float = _f(
        0.0, "DropBlock rate of resnet12 (and timm models that take it)", within=(0, 1, "open")
    )
    pretrained: bool = _f(
        False, "start from timm's pretrained weights (needs them cached or a network)"
    )
    checkpoint: Optional[str] = _f(
        None,
        "start from local backbone weights (.safetensors or state "
        "dict; RFS, MetaOptNet, FEAT, easyfsl, learn2learn and "
        "ProtoNet files are recognised)",
    )
    checkpoint_prefix: str = _f(
        "",
        "with --checkpoint: keep the weights under this key prefix, "
        "without it (Lightning: model.backbone.)",
        metavar="PREFIX",
    )
    checkpoint_key: Optional[str] = _f(
        None,
        "with --checkpoint: the checkpoint entry holding "
        "the weights (state_dict, params, ema.model)",
        metavar="KEY",
    )
    val_ways: int = _f(5, "validation episodes: classes", check="ways")
    val_shots: int = _f(5, "validation episodes: support images per class", minimum=1)
    val_queries: int = _f(15, "validation episodes: query images per class", minimum=1)
    val_episodes: int = _f(200, "validation episodes per evaluation", minimum=1)
    val_seed: int = _f(0, "seed of the fixed validation episodes", check="seed")
    seed: int = _f(
        0,
        "seed of initialisation, data order and augmentation",
        flag="--seeds",
        aliases=("--seed",),
        metavar="SEED",
        check="seed",
    )
    data_root: Optional[str] = _f(
        None, "folder holding downloaded datasets (default $FEWSHOT_CLCE_DATA)", aliases=("--root",)
    )
    device: str = _f(
        "auto", "auto, cpu, cuda or cuda:N (under torchrun each rank takes cuda:LOCAL_RANK)"
    )
    num_workers: int = _f(0, "data-loading worker processes (helps for image files)", minimum=0)
    threads: Optional[int] = _f(
        None,
        "intra-op CPU threads of this training (torch.set_num_threads; default: "
        "torch's, the cores or $OMP_NUM_THREADS); CPU results depend on it in the "
        "last bits, so config.yaml records the number used",
        minimum=1,
    )
    precision: str = _f(
        "auto",
        "autocast precision of the backbone's forward pass: auto (bfloat16 on CUDA and on "
        "CPUs with native bfloat16 arithmetic, AVX512-BF16 or AMX; float32 elsewhere), float32 "
        "or bfloat16; weights, gradients and losses stay float32, and config.yaml records the "
        "precision used",
        choices=("auto", "float32", "bfloat16"),
    )
    progress: bool = _f(
        True,
        "show a progress bar",
        flag="--no-progress",
        action="store_false",
        cli_help="hide the progress bar",
        on_flag="--progress",
        on_help="show the progress bar even when stderr is not a terminal "
        "(default: only on a terminal)",
    )
    resume: bool = _f(False, "continue the run in --out from its last checkpoint")
    force: bool = _f(
        False, "start over in an --out that already holds a run (deletes its checkpoints)"
    )

    def identity(self) -> dict[str, Any]:
        """The fields that define what is trained (all but the runtime ones)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in RUNTIME_FIELDS}


def with_loss_defaults(config: dict[str, Any], loss_cls) -> dict[str, Any]:
    """A saved run configuration with every hyper-parameter ``loss_cls`` declares that it does not
    record at its default (what the loss trained with when the run did not set it)."""
    from ..losses.declare import declared
    from ..losses.hparams import LOSS_HPARAMS

    config = dict(config)
    options = dict(config.get("loss_options") or {})
    for name, h in declared(loss_cls).items():
        if name in LOSS_HPARAMS:
            if config.get(name) is None:
                config[name] = h.default
        else:
            options.setdefault(name, h.default)
    config["loss_options"] = options
    return config


def default_lr(optimizer: str) -> float:
    """The peak learning rate training uses when none is given."""
    return 0.05 if optimizer == "sgd" else 1e-3


def default_weight_decay(optimizer: str) -> float:
    """The weight decay training uses when none is given."""
    return 5e-4 if optimizer == "sgd" else 0.05


def resolved_settings(values: dict[str, Any]) -> dict[str, Any]:
    """What a training of these settings trains: every field of :meth:`TrainConfig.identity`, a
    missing one at its default (what training used for a setting the file does not record),
    and the defaults training fills in itself (learning rate, weight decay, the loss's
    hyper-parameters) resolved. ``augment="auto"`` stays as it is: it depends on the data.

    Works the same on a :class:`TrainConfig`'s fields and on a run's saved config.yaml, so that the
    two compare equal exactly when the run trained what the config would.
    """
    from ..losses.plugins import load_loss_class, split_reference

    defaults = {
        f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        for f in dataclasses.fields(TrainConfig)
    }
    out = {k: values.get(k, default) for k, default in defaults.items() if k not in RUNTIME_FIELDS}
    if out["lr"] is None:
        out["lr"] = default_lr(out["optimizer"])
    if out["weight_decay"] is None:
        out["weight_decay"] = default_weight_decay(out["optimizer"])
    try:
        loss_cls = load_loss_class(split_reference(out["loss"])[0])
    except (
        ValueError,
        LookupError,
        ImportError,
        OSError,
    ):  # an unknown loss: compared on its given values
        return out
    return with_loss_defaults(out, loss_cls)
