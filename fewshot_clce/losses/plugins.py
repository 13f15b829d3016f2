"""Finding a loss class from what a user typed, and recording where it came from.

A loss reference is one of:

- a registered name (``ce``, ``clce``, ``arcface``: :func:`fewshot_clce.losses.list_losses`);
- a name published by an installed package in the entry-point group ``fewshot_clce.losses``;
- ``package.module:Class``, an importable class;
- ``./my_loss.py:Class`` (any path ending in ``.py``), a class in a file;
- ``pml:Name``, a pytorch-metric-learning loss through :mod:`fewshot_clce.losses.pml`.

Hyper-parameter values may follow in brackets (``clce[detach_weights=false]``), parsed by
:func:`split_reference`. A loss class has ``forward(logits, z, labels)`` returning a
:class:`~fewshot_clce.losses.modules.LossOutput`, says what it reads (``uses_logits``,
``uses_projection``, ``uses_features``) and declares its hyper-parameters in ``hyperparams``
(:class:`~fewshot_clce.losses.declare.HyperParam`).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any, Optional

from torch import nn

from ..utils.registry import UnknownNameError, parse_spec
from .declare import HyperParam, declared

ENTRY_POINT_GROUP = "fewshot_clce.losses"
PML_PREFIX = "pml:"
FORMS = (
    "a registered name, an entry point of group 'fewshot_clce.losses', package.module:Class, "
    "./file.py:Class or pml:Name"
)


class LossError(ValueError):
    """A loss reference that cannot be used; one line naming the loss and what it accepts."""


class UnknownLossError(LossError, UnknownNameError):
    """A loss name that nothing registers or publishes; the message lists the valid names."""

    def __str__(self) -> str:
        return str(self.args[0])


def split_reference(text: str) -> tuple[str, dict[str, Any]]:
    """``"clce[lam=0.2]"`` -> ``("clce", {"lam": 0.2})``."""
    return parse_spec(str(text).strip(), kind="loss", example="clce[lam=0.2,detach_weights=false]")


@functools.lru_cache(maxsize=1)
def _entry_points() -> dict[str, Any]:
    """The installed packages' losses by name (read once per process)."""
    from importlib.metadata import entry_points

    found: dict[str, Any] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found and found[ep.name].value != ep.value:
            raise LossError(
                f"two losses are published under the name {ep.name!r} (entry points "
                f"{found[ep.name].value} and {ep.value}); uninstall one, or name the "
                "class as package.module:Class"
            )
        found[ep.name] = ep
    return found


def available() -> list[str]:
    """Registered names and entry-point names, sorted."""
    from .registry import LOSSES

    return sorted(set(LOSSES.list()) | set(_entry_points()))


def _is_file(module: str) -> bool:
    return module.endswith(".py") or "/" in module or "\\" in module


@functools.cache
def _load_file(path: str, digest: str):
    """The module of a ``.py`` file, imported once per (path, content)."""
    module_name = f"{_FILE_MODULE}{digest[:16]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise LossError("cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # the user's code: any error is reported as one line
        sys.modules.pop(module_name, None)
        raise LossError(f"fails to import ({type(e).__name__}: {e})") from None
    return module


_LOADED: dict[str, Any] = {}
# Modules imported from loss files are named this, then the start of the file's sha256.
_FILE_MODULE = "fewshot_clce_user_loss_"


def known_hparams() -> dict[str, HyperParam]:
    """Every hyper-parameter declared by a built-in loss, a loss loaded in this process or a loss
    whose declaration was read back from results (:mod:`.recorded`), by name (the first
    declaration of a name wins)."""
    from .recorded import remembered
    from .registry import LOSSES

    out: dict[str, HyperParam] = {}
    decls = [
        declared(cls) for cls in [LOSSES.get(n) for n in LOSSES.list()] + list(_LOADED.values())
    ]
    for decl in decls + list(remembered().values()):
        for name, h in decl.items():
            out.setdefault(name, h)
    return out


def loaded_by_name(name: str):
    """The loss class loaded in this process that goes by ``name`` in tables (None if none)."""
    return next((cls for cls in _LOADED.values() if loss_name(cls) == name), None)


def load_loss_class(reference: str):
    """The loss class a reference (without bracket options) names; see the module docstring.

    Raises:
        LossError: an unknown name, a file or module that does not import, a name that is not a
            loss class, or a class whose ``hyperparams`` are malformed.
    """
    cls = _load_loss_class(reference)
    _LOADED.setdefault(str(reference).strip(), cls)
    return cls


def _load_loss_class(reference: str):
    """The loss class a reference (without bracket options) names; see the module docstring.

    Raises:
        LossError: an unknown name, a file or module that does not import, a name that is not a
            loss class, or a class whose ``hyperparams`` are malformed.
    """
    from .registry import LOSSES

    ref = str(reference).strip()
    if ref.startswith(PML_PREFIX):
        from .pml import pml_loss_class

        return pml_loss_class(ref[len(PML_PREFIX) :])
    if ref in LOSSES:
        if ref in _entry_points():
            raise LossError(
                f"two losses under the name {ref!r}: the built-in one and the entry point "
                f"{_entry_points()[ref].value}; name the latter as package.module:Class"
            )
        return LOSSES.get(ref)
    if ":" in ref:
        module_text, _, attr = ref.rpartition(":")
        if not attr or not module_text:
            raise LossError(f"loss {ref!r}: write package.module:Class or ./file.py:Class")
        if _is_file(module_text):
            path = Path(module_text).expanduser().resolve()
            if not path.is_file():
                raise LossError(f"loss {ref!r}: file {module_text!r} does not exist")
            try:
                module = _load_file(str(path), hashlib.sha256(path.read_bytes()).hexdigest())
            except LossError as e:
                raise LossError(f"loss {ref!r}: file {module_text!r} {e}; fix the file") from None
        else:
            try:
                module = importlib.import_module(module_text)
            except Exception as e:
                raise LossError(
                    f"loss {ref!r}: module {module_text!r} fails to import "
                    f"({type(e).__name__}: {e})"
                ) from None
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                raise LossError(f"loss {ref!r}: {module_text!r} has no attribute {attr!r}")
        return check_loss_class(obj, ref)
    eps = _entry_points()
    if ref in eps:
        try:
            obj = eps[ref].load()
        except Exception as e:
            raise LossError(
                f"loss {ref!r}: entry point {eps[ref].value} fails to load "
                f"({type(e).__name__}: {e})"
            ) from None
        return check_loss_class(obj, ref)
    raise UnknownLossError(
        f"unknown loss {ref!r}; valid names: {', '.join(available())}; or give {FORMS}"
    )


def check_loss_class(obj: Any, ref: str):
    """``obj`` if it is a loss class (an ``nn.Module`` subclass that reads logits, projections or
    features and declares valid hyper-parameters)."""
    if not (inspect.isclass(obj) and issubclass(obj, nn.Module)):
        raise LossError(
            f"loss {ref!r} names {getattr(obj, '__name__', type(obj).__name__)!r}, which is not "
            "a loss class (a torch.nn.Module subclass with forward(logits, z, labels))"
        )
    if not any(getattr(obj, k, False) for k in ("uses_logits", "uses_projection", "uses_features")):
        raise LossError(
            f"loss {ref!r} is not a loss class: set uses_logits, uses_projection or uses_features "
            "to True on it, to say what it reads"
        )
    try:
        declared(obj)
    except ValueError as e:
        raise LossError(str(e)) from None
    return obj


def loss_name(cls) -> str:
    """The short name a loss goes by in run names, tables and ``--hp``: its ``name`` attribute,
    else its class name in lower case."""
    return str(getattr(cls, "name", "") or cls.__name__.lower())


def is_builtin(cls) -> bool:
    """Whether the class is one of this package's own losses (versioned with the package)."""
    return cls.__module__.startswith("fewshot_clce.")


def source_record(reference: str, cls) -> dict[str, Optional[str]]:
    """Where a loss came from: ``reference`` as given, ``import_path`` (module:Class), and the
    ``sha256`` of its source file (None when there is no file)."""
    record: dict[str, Optional[str]] = {
        "reference": reference,
        "import_path": f"{cls.__module__}:{cls.__qualname__}",
        "sha256": None,
    }
    try:
        path = inspect.getsourcefile(cls)
    except TypeError:
        path = None
    if path and Path(path).is_file():
        record["sha256"] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        if cls.__module__.startswith(
            _FILE_MODULE
        ):  # a module named after the file's content: the file says more
            record["import_path"] = f"{Path(path).resolve()}:{cls.__qualname__}"
    return record


def hparams_of(reference: str) -> dict[str, HyperParam]:
    """The hyper-parameters the loss ``reference`` declares (bracket options ignored)."""
    return declared(load_loss_class(split_reference(reference)[0]))


def describe(hparams: dict[str, HyperParam]) -> str:
    """``"margin (a number in [0, 1], default 0.35), scale (...)"``; ``"no hyper-parameters"``."""
    if not hparams:
        return "no hyper-parameters"
    return ", ".join(f"{h.name} ({h.accepts()}, default {h.default!r})" for h in hparams.values())


def resolve(reference: str, given: Optional[dict[str, Any]] = None):
    """``(class, reference without options, values)``: the loss a reference names and the value of
    every hyper-parameter it declares (bracket options and ``given`` over its defaults).

    Raises:
        LossError: an unusable reference, an undeclared hyper-parameter or a value out of range.
    """
    ref, bracket = split_reference(reference)
    cls = load_loss_class(ref)
    decl = declared(cls)
    name = loss_name(cls)
    merged = {**bracket, **(given or {})}
    unknown = sorted(k for k in merged if k not in decl)
    if unknown:
        raise LossError(
            f"loss {name!r} does not take {', '.join(unknown)}; it takes {describe(decl)}"
        )
    try:
        values = {k: _check(name, h, merged.get(k, h.default)) for k, h in decl.items()}
    except ValueError as e:
        raise LossError(str(e)) from None
    return cls, ref, values


def _check(name: str, h: HyperParam, value: Any) -> Any:
    from .declare import check_hparam

    return check_hparam(name, h, value)


def build_loss(reference: str, given: Optional[dict[str, Any]] = None):
    """``(module, values, reference, class)``: the loss built with its checked hyper-parameters."""
    cls, ref, values = resolve(reference, given)
    try:
        module = cls(**values)
    except Exception as e:  # the user's code: reported as one line
        raise LossError(
            f"loss {loss_name(cls)!r} cannot be built with {values} ({type(e).__name__}: {e})"
        ) from None
    return module, values, ref, cls


def parse_hp(text: str) -> tuple[Optional[str], str, list[Any]]:
    """``"clce.lam=0.05,0.1"`` -> ``("clce", "lam", [0.05, 0.1])``; no loss before the dot: None.

    The loss is named by its short name or its reference (``pml:ArcFaceLoss.margin=20``): the text
    up to the last dot before ``=``. Values read as numbers, ``true``/``false`` or text.

    Raises:
        ValueError: for text that is not ``[LOSS.]NAME=V1[,V2...]``.
    """
    from ..utils.registry import option_value

    key, eq, values = str(text).partition("=")
    loss, dot, name = key.strip().rpartition(".")
    if (
        not eq
        or not name
        or (dot and not loss)
        or not values.strip()
        or not all(v.strip() for v in values.split(","))
    ):
        raise ValueError(
            f"--hp {text!r}: write LOSS.NAME=V1,V2 (e.g. clce.lam=0.05,0.1 or "
            "arcface.margin=0.3,0.5)"
        )
    return (loss or None), name, [option_value(v.strip()) for v in values.split(",")]
