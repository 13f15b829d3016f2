"""Loss declarations kept with results, so a report read in another process knows them.

A benchmark's tables name a loss by its short name (``focal``, ``pml-ArcFaceLoss``), not by the
reference it was given (``./focal.py:Focal``). The report needs each loss's declared
hyper-parameters (which columns were tuned, their ranges, their plot scales); for a loss of one's
own those come from code that ``fewshot-clce report`` does not import: a results folder is data,
and reading it never runs the code it names. So the benchmark writes every loss's declaration into
``results.json`` as plain values (:func:`records`), and reading the folder back registers them
(:func:`remember`) for :func:`declared_by_name`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from .declare import HyperParam, declared

_TYPES = {"float": float, "int": int, "bool": bool, "str": str}
# The fields of a record read back as they are (grid and choices become tuples).
_KEPT = (
    "default",
    "low",
    "high",
    "low_open",
    "high_open",
    "label",
    "scale",
    "help",
    "named_at_default",
)
# loss name -> its declarations, as read back from results.json
_REMEMBERED: dict[str, dict[str, HyperParam]] = {}


def as_record(h: HyperParam) -> dict[str, Any]:
    """A hyper-parameter's declaration as JSON values."""
    return {
        "name": h.name,
        "type": h.type.__name__,
        "default": h.default,
        "grid": list(h.grid),
        "low": h.low,
        "high": h.high,
        "low_open": h.low_open,
        "high_open": h.high_open,
        "label": h.label,
        "scale": h.scale,
        "help": h.help,
        "named_at_default": h.named_at_default,
        "choices": list(h.choices),
    }


def from_record(record: Mapping[str, Any]) -> HyperParam:
    """The declaration a record of :func:`as_record` holds.

    Raises:
        ValueError: a record without a name or with an unknown type.
    """
    if not isinstance(record, Mapping) or not isinstance(record.get("name"), str):
        raise ValueError(f"not a hyper-parameter record: {record!r}")
    kind = _TYPES.get(str(record.get("type", "float")))
    if kind is None:
        raise ValueError(f"hyper-parameter {record['name']!r}: unknown type {record.get('type')!r}")
    kwargs = {k: record[k] for k in _KEPT if k in record}
    return HyperParam(
        record["name"],
        kind,
        grid=tuple(record.get("grid") or ()),
        choices=tuple(record.get("choices") or ()),
        **kwargs,
    )


def records(names: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """The declarations of the losses called ``names`` in a results table, as JSON values; names
    that are no loss this process knows (``untrained``) are left out."""
    out = {}
    for name in dict.fromkeys(str(n) for n in names):
        decl = declared_by_name(name)
        if decl is not None:
            out[name] = [as_record(h) for h in decl.values()]
    return out


def remember(blob: Optional[Mapping[str, Any]], source: str = "results.json") -> None:
    """Register the declarations ``blob`` (``records``' output, read back) holds; a malformed one
    is warned about and skipped (the tables then lack that loss's own hyper-parameters)."""
    for name, items in (blob or {}).items():
        try:
            decl = {h.name: h for h in (from_record(r) for r in items)}
        except (TypeError, ValueError) as e:
            warnings.warn(
                f"{source}: the declaration of loss {name!r} is not readable ({e}); its own "
                "hyper-parameters are left out of the report",
                stacklevel=2,
            )
            continue
        _REMEMBERED[str(name)] = decl


def remembered() -> dict[str, dict[str, HyperParam]]:
    """The declarations read back from results, by loss name."""
    return dict(_REMEMBERED)


def _plain(name: str) -> bool:
    """A name as losses go by in tables, not a reference to a file or module (``./x.py:C``,
    ``pkg.mod:C``): looking one up must never import code named by a results file."""
    return not any(c in name for c in ":/\\") and not name.endswith(".py")


def declared_by_name(name: str) -> Optional[dict[str, HyperParam]]:
    """The declaration of the loss that goes by ``name`` in result tables: a built-in or
    published loss, a loss loaded in this process under that name, or one read back from results
    (:func:`remember`); None when none is known. A name that is a file or module reference is
    looked up among the loaded and remembered losses only, never imported."""
    from .plugins import LossError, load_loss_class

    if _plain(name):
        try:
            return declared(load_loss_class(name))
        except (LossError, ImportError):
            pass
    return known_by_name(name)


def known_by_name(name: str) -> Optional[dict[str, HyperParam]]:
    """The declaration of a loss loaded in this process that goes by ``name``, else one read back
    from results; None when neither (nothing is loaded or imported)."""
    from .plugins import loaded_by_name

    cls = loaded_by_name(name)
    return declared(cls) if cls is not None else _REMEMBERED.get(name)
