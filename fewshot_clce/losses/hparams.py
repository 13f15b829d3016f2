"""The hyper-parameters a comparison of losses varies, declared once.

Training configs, the benchmark's sweeps and its command line, result columns and every table
label take their names, flags, checks and label keys from here:

=================  =====  ==================  ===========================================
name               label  flag                meaning
=================  =====  ==================  ===========================================
``lam``            lam    ``--lambda``        CLCE's weight of the contrastive term
``temperature``    t      ``--temperature``   temperature of the contrastive terms
``beta``           beta   ``--beta``          hard-negative concentration of LACLN / CLCE
``label_smoothing``  ls   ``--label-smoothing``  label smoothing of the CE term
``batch_size``     bs     ``--batch-size``    training batch size (a training setting)
=================  =====  ==================  ===========================================

A configuration is a loss with its values: ``clce(lam=0.1,t=0.1,beta=1,bs=64)``
(:func:`config_label`); a value the loss does not take is left out, and so is a label smoothing
of 0.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Optional

from ._contrastive import check_beta, check_lam, check_smoothing, check_temperature


def _check_batch_size(value: object) -> None:
    if not (
        isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= 1
    ):
        raise ValueError(f"batch_size must be an integer of at least 1; got {value!r}")


@dataclass(frozen=True)
class HParam:
    """One hyper-parameter of the vocabulary.

    Attributes:
        name: field of the training and benchmark configs, and column of result tables.
        short: key in configuration labels and run names.
        flag: command-line flag.
        help: one line for help texts.
        check: raises ValueError for a value that cannot work.
        scale: axis scale in sensitivity plots ("log" or "linear").
        loss: a keyword of the losses (else a training setting).
        bounds: values a grid cannot go beyond (``None``: unbounded); a grid whose chosen value
            sits at such a bound is not "at the edge".
    """

    name: str
    short: str
    flag: str
    help: str
    check: Callable[[object], None]
    scale: str = "log"
    loss: bool = True
    bounds: tuple[Optional[float], Optional[float]] = (None, None)


HPARAMS: dict[str, HParam] = {
    h.name: h
    for h in (
        HParam(
            "lam",
            "lam",
            "--lambda",
            "CLCE: weight λ of the contrastive term (0 = CE, 1 = LACLN)",
            check_lam,
            "log",
            bounds=(0.0, 1.0),
        ),
        HParam(
            "temperature",
            "t",
            "--temperature",
            "temperature τ of the contrastive terms",
            check_temperature,
            "log",
        ),
        HParam(
            "beta",
            "beta",
            "--beta",
            "hard-negative concentration β of LACLN/CLCE (0 = SupCon's denominator)",
            check_beta,
            "linear",
            bounds=(0.0, None),
        ),
        HParam(
            "label_smoothing",
            "ls",
            "--label-smoothing",
            "label smoothing of the CE term",
            check_smoothing,
            "linear",
            bounds=(0.0, 1.0),
        ),
        HParam(
            "batch_size",
            "bs",
            "--batch-size",
            "training batch size (images per step and process)",
            _check_batch_size,
            "log",
            loss=False,
            bounds=(1.0, None),
        ),
    )
}
LOSS_HPARAMS: tuple[str, ...] = tuple(n for n, h in HPARAMS.items() if h.loss)
# Columns of result tables that define a configuration, in label order.
CONFIG_COLUMNS: tuple[str, ...] = tuple(HPARAMS)


def flag(name: str) -> str:
    """The command-line flag of a setting: ``lam`` -> ``--lambda``, ``val_episodes`` -> ``--val-episodes``."""
    return HPARAMS[name].flag if name in HPARAMS else "--" + name.replace("_", "-")


def check_value(name: str, value) -> float:
    """``value`` if it is a valid ``name``; else a :class:`~fewshot_clce.utils.checks.SettingError`."""
    from ..utils.checks import SettingError

    try:
        HPARAMS[name].check(value)
    except ValueError as e:
        raise SettingError(name, "{setting} " + f"{value!r}: {e}") from None
    return value


def _fmt(v) -> str:
    return f"{v:g}" if isinstance(v, (float, int)) and not isinstance(v, bool) else str(v)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def config_label(loss: str, values: Mapping[str, object]) -> str:
    """``"clce(lam=0.5,t=0.1,beta=1,bs=64)"``: a loss with the hyper-parameters it was trained with.

    Missing values (NaN/None: the loss does not take them) and a label smoothing of 0 are left out.
    """
    parts = [
        f"{HPARAMS[k].short if k in HPARAMS else k}={_fmt(v)}"
        for k, v in values.items()
        if not _missing(v) and not (k == "label_smoothing" and v == 0)
    ]
    return f"{loss}({','.join(parts)})" if parts else loss


def run_name_parts(values: Mapping[str, object], loss: Optional[str] = None) -> list[str]:
    """``["lam0.5", "t0.1"]``: the values in run-folder names (a stable format: finished runs are
    found again by it).

    With ``loss``, keys are the loss's declared labels, and a value the loss declares as not named
    at its default (``detach_weights=True``) is left out there.
    """
    decl = _declared(loss) if loss is not None else {}
    parts = []
    for k, v in values.items():
        if _missing(v):
            continue
        h = decl.get(k)
        if h is not None and not h.named_at_default and v == h.default:
            continue
        key = h.key if h is not None else (HPARAMS[k].short if k in HPARAMS else k)
        parts.append(f"{key}{_name_value(v)}")
    return parts


def _name_value(v) -> str:
    return str(int(v)) if isinstance(v, bool) else _fmt(v)


def _declared(loss: str):
    """What ``loss`` declares: a loss reference, else the name a loss goes by in result tables
    (a loaded loss's, or one read back from results: :mod:`.recorded`)."""
    from .declare import declared
    from .plugins import LossError, load_loss_class, split_reference
    from .recorded import known_by_name

    ref = split_reference(loss)[0]
    try:
        return declared(load_loss_class(ref))
    except LossError:
        decl = known_by_name(ref)  # the loader has just been tried: loaded or remembered only
        if decl is None:
            raise
        return decl


def loss_takes(loss: str) -> tuple[str, ...]:
    """The hyper-parameters ``loss`` (a loss reference) declares, in declaration order.

    Raises:
        LossError: for an unknown loss, listing the valid ones.
    """
    return tuple(_declared(loss))


def loss_defaults(loss: str) -> dict[str, object]:
    """The default value of each hyper-parameter ``loss`` declares."""
    return {n: h.default for n, h in _declared(loss).items()}


def default_grid(loss: str) -> dict[str, list[object]]:
    """The values the benchmark tries for ``loss`` when the user gives none (its declaration)."""
    return {n: list(h.grid) for n, h in _declared(loss).items() if h.grid}


def declared_label(loss: str, values: Mapping[str, object], batch_size=None) -> str:
    """The configuration label of a run of ``loss`` (a reference) with its values:
    ``clce(lam=0.1,t=0.1,beta=1,bs=64)``; switches at their default and a label smoothing of 0
    are left out, as in :func:`config_label`."""
    from .plugins import load_loss_class, loss_name, split_reference

    decl = _declared(loss)
    name = loss_name(load_loss_class(split_reference(loss)[0]))
    parts = []
    for k, v in values.items():
        h = decl.get(k)
        if (
            _missing(v)
            or (h is not None and not h.named_at_default and v == h.default)
            or (k == "label_smoothing" and v == 0)
        ):
            continue
        parts.append(f"{h.key if h is not None else k}={_label_value(v)}")
    if batch_size is not None:
        parts.append(f"bs={_fmt(batch_size)}")
    return f"{name}({','.join(parts)})" if parts else name


def _label_value(v) -> str:
    return str(v).lower() if isinstance(v, bool) else _fmt(v)


def hparam_columns(columns) -> list[str]:
    """The columns of a results table that hold hyper-parameters: the vocabulary's
    (:data:`CONFIG_COLUMNS`, in label order), then those declared by known losses."""
    from .plugins import known_hparams

    present = list(columns)
    out = [c for c in CONFIG_COLUMNS if c in present]
    known = known_hparams()
    return out + [c for c in present if c in known and c not in out]


def hparam_spec(name: str):
    """The declaration of a hyper-parameter called ``name`` among the built-in losses and the losses
    loaded in this process (for plot scales and bounds); None when none declares it."""
    from .plugins import known_hparams

    return known_hparams().get(name)


def spec_of(name: str, loss: Optional[str] = None):
    """The declaration of hyper-parameter ``name`` as ``loss`` declares it (a loss's name in result
    tables: ``negmargin``, ``pml-ArcFaceLoss``; :func:`~.recorded.declared_by_name`): the same name can mean
    different things to different losses (NegMargin's margin is at most 0, CosFace's at least 0).
    The vocabulary's own hyper-parameters (:data:`HPARAMS`) come from there; a loss not known here
    falls back on :func:`hparam_spec`. None when nothing declares ``name``."""
    from .recorded import declared_by_name

    if name in HPARAMS:
        return HPARAMS[name]
    decl = (declared_by_name(loss) or {}) if loss is not None else {}
    return decl[name] if name in decl else hparam_spec(name)


def edge_of(name: str, value: float, values, loss: Optional[str] = None) -> Optional[str]:
    """``"lowest"`` / ``"highest"`` when ``value`` is at that end of the tried ``values`` (two or more)
    and the range could go further there (the range ``loss`` declares, :func:`spec_of`); None
    otherwise."""
    vals = sorted({float(v) for v in values if not _missing(v)})
    if len(vals) < 2 or _missing(value):
        return None
    spec = spec_of(name, loss)
    low, high = spec.bounds if spec is not None else (None, None)
    if float(value) == vals[0] and not (low is not None and vals[0] <= low):
        return "lowest"
    if float(value) == vals[-1] and not (high is not None and vals[-1] >= high):
        return "highest"
    return None
