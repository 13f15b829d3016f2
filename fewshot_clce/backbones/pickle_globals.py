"""The globals a checkpoint's pickle asks for, read without running anything from it.

When ``torch.load(weights_only=True)`` refuses a checkpoint
(:func:`~fewshot_clce.backbones.weights.load_checkpoint`), the error names what the file itself
asks for, never torch's advice (which leads to loading the file unsafely).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

# How much of a checkpoint's pickle is read to name what it asks for (tensors live outside it).
_SCAN_BYTES = 64 << 20
_STRING_OPS = frozenset(
    {
        "SHORT_BINUNICODE",
        "BINUNICODE",
        "BINUNICODE8",
        "UNICODE",
        "STRING",
        "BINSTRING",
        "SHORT_BINSTRING",
    }
)


def _pickle_bytes(path: Path) -> bytes | None:
    """The pickle of a checkpoint: ``*/data.pkl`` of torch's zip format, else the file's first bytes;
    None when it cannot be read here (no such member, or too large to scan)."""
    import zipfile

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                if info.filename.endswith("data.pkl"):
                    return z.read(info) if info.file_size <= _SCAN_BYTES else None
        return None
    with open(path, "rb") as f:
        return f.read(_SCAN_BYTES)


def _pickle_globals(data: bytes) -> list[str] | None:
    """``module.name`` of every global the pickles in ``data`` name, read without running anything.

    Covers GLOBAL and INST (text arguments) and STACK_GLOBAL (two strings pushed or fetched from
    the memo before it). None when the data holds neither a whole pickle nor a global (it is no pickle).
    """
    import pickletools

    names: list[str] = []
    pushed: list[str | None] = []  # values pushed so far, None for anything but a string
    memo: dict[Any, str | None] = {}
    stream = io.BytesIO(data)
    whole = 0
    while stream.tell() < len(data):  # an old-style file holds several pickles one after another
        try:
            for op, arg, _ in pickletools.genops(stream):
                if op.name in ("GLOBAL", "INST"):
                    names.append(_python3_name(*str(arg).split(" ", 1)))
                elif op.name == "STACK_GLOBAL" and len(pushed) >= 2 and None not in pushed[-2:]:
                    names.append(f"{pushed[-2]}.{pushed[-1]}")
                if op.name in _STRING_OPS:
                    pushed.append(arg if isinstance(arg, str) else arg.decode("latin1"))
                elif op.name in ("GET", "BINGET", "LONG_BINGET"):
                    pushed.append(memo.get(arg))
                elif op.name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
                    memo[arg if op.name != "MEMOIZE" else len(memo)] = (
                        pushed[-1] if pushed else None
                    )
                elif op.name != "FRAME":
                    pushed.append(None)
        except Exception:  # noqa: BLE001 - a damaged or foreign stream: keep what was read before
            break
        whole += 1
    return names if whole or names else None


def _python3_name(module: str, name: str = "") -> str:
    """``module.name`` as Python 3 (and torch) resolve it: protocol-2 pickles say ``__builtin__.eval``."""
    import _compat_pickle

    module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
    return f"{_compat_pickle.IMPORT_MAPPING.get(module, module)}.{name}"


def refused_globals(path: Path) -> list[str] | None:
    """The globals of the checkpoint that ``torch.load(weights_only=True)`` does not allow, in order.

    None when the file holds no readable pickle.
    """
    import zipfile

    try:
        data = _pickle_bytes(path)
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError):
        return []
    if data is None:  # not scanned: unknown, which is not "no pickle"
        return []
    names = _pickle_globals(data)
    if names is None:
        return None
    allowed = _torch_allowed_globals()
    return list(dict.fromkeys(n for n in names if n not in allowed))


def _torch_allowed_globals() -> frozenset:
    """Names torch's weights_only unpickler admits (its own list and the user's), as far as it tells."""
    try:
        from torch import _weights_only_unpickler as wo

        return frozenset(wo._get_allowed_globals()) | frozenset(wo._get_user_allowed_globals())
    except (ImportError, AttributeError):  # private API: without it every global is named
        return frozenset()


def globals_named_in(message: str) -> list[str]:
    """Dotted names that torch's error text gives after the word GLOBAL (the fallback when the file
    itself could not be scanned); only the names are kept, never the surrounding text."""
    import re

    return list(dict.fromkeys(re.findall(r"GLOBAL\s+([A-Za-z_][\w.]*[\w])", message)))


def plain_reason(message: str) -> str:
    """The first phrase of torch's error that is neither advice nor a pointer (at most 160 characters).

    Phrases that mention ``weights_only``, allowlisting, trust, arbitrary code, issues or links are
    dropped whatever their wording: all of them lead to loading the file unsafely or away from here.
    """
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", message)  # terminal colour codes
    drop = re.compile(
        r"weights.?only|safe.?globals|allowlist|trust|arbitrary|issue|documentation|https?:|"
        r"load failed|you have two options|unpickler error",
        re.IGNORECASE,
    )
    for phrase in re.split(r"(?<=[.!?:])\s+|\n+", text):
        phrase = phrase.strip(" \t.:")
        if phrase and not drop.search(phrase):
            return phrase[:160]
    return ""
