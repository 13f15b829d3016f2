"""Loading files that could run code: pickles through a restricted unpickler, checkpoints with
``torch.load(weights_only=True)``.

A pickle names the functions it calls to rebuild its objects, so ``pickle.load`` on a file from
the internet runs whatever the file asks for. :func:`load_pickle` admits only what datasets are
made of: plain containers, numbers, strings, bytes and numpy arrays (and numpy scalars). Any
other global is refused before it is called, with an error naming it.

Admitted globals can still ask for memory a small file does not hold (``bytes(10**12)``, an array
of shape ``(10**6, 10**6)``, ``list(range(10**12))``). Each admitted constructor is wrapped: it
estimates what it would allocate before it runs, and the estimates of one file add up against a
budget of :data:`ALLOCATION_FACTOR` times the file's size, at least :data:`ALLOCATION_FLOOR`.
A genuine pickle stays far below it, because its arrays and strings are stored in the file
itself; only a file that makes constructors invent data goes past it, and is refused.
"""
from __future__ import annotations

import builtins
import codecs
import collections
import io
import os
import pickle
from pathlib import Path
from typing import IO, Any, Callable, Dict, Tuple, Union

import numpy as np

PathOrFile = Union[str, os.PathLike, IO[bytes]]


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global outside the allowed set, or asked admitted ones to build more
    than its size allows; nothing it asked for was run."""


# What the admitted constructors of one pickle may allocate in total, in bytes: ALLOCATION_FACTOR
# times the file's size, and at least ALLOCATION_FLOOR. A protocol-2 set of small ints costs about
# 2 bytes of file per 8-byte pointer, so a factor of 16 leaves room for every genuine layout.
ALLOCATION_FACTOR = 16
ALLOCATION_FLOOR = 256 << 20
_POINTER = 8  # bytes one container slot costs, for estimates


def _latin1_encode(obj: str, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    # Python 3 writes ``bytes`` at pickle protocol <= 2 as _codecs.encode(text, "latin1"); any
    # other codec is refused because codecs are looked up by name at run time.
    if codecs.lookup(encoding).name != "iso8859-1":
        raise UnsafePickleError(f"refusing _codecs.encode with encoding {encoding!r}; only latin1 is allowed")
    return codecs.encode(obj, "latin1", errors)


def _numpy_globals() -> Dict[Tuple[str, str], Any]:
    """The functions numpy's own pickles call, under both module names (numpy 1.x ``numpy.core``
    and numpy 2.x ``numpy._core``): arrays, dtypes and scalars, nothing else."""
    try:
        from numpy._core import multiarray, numeric  # numpy >= 2
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray, numeric
    allowed = {}
    for mod in ("numpy.core", "numpy._core"):
        allowed[(f"{mod}.multiarray", "_reconstruct")] = multiarray._reconstruct
        allowed[(f"{mod}.multiarray", "scalar")] = multiarray.scalar
        # Protocol-5 pickles of arrays go through numeric._frombuffer.
        if hasattr(numeric, "_frombuffer"):
            allowed[(f"{mod}.numeric", "_frombuffer")] = numeric._frombuffer
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    return allowed


_PLAIN = {
    ("builtins", n): getattr(builtins, n)
    for n in ("list", "dict", "tuple", "set", "frozenset", "bytearray", "bytes", "str", "int", "float",
              "complex", "bool", "range", "slice")
}
_PLAIN.update({("__builtin__", key[1]): v for key, v in list(_PLAIN.items())})  # Python 2 module name
_PLAIN.update({
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): collections.defaultdict,
    ("_codecs", "encode"): _latin1_encode,
    ("codecs", "encode"): _latin1_encode,
})

_ALLOWED: Dict[Tuple[str, str], Any] = {}


def allowed_globals() -> Dict[Tuple[str, str], Any]:
    """``{(module, name): object}`` every global a safe pickle may use."""
    if not _ALLOWED:
        _ALLOWED.update(_PLAIN)
        _ALLOWED.update(_numpy_globals())
    return dict(_ALLOWED)


class _Budget:
    """Bytes the admitted constructors of one pickle may still allocate; refuses when spent."""

    def __init__(self, limit: int, source: str):
        self.left, self.limit, self.source = limit, limit, source

    def spend(self, n: int, what: str) -> None:
        if n > self.left:
            total = self.limit - self.left + n
            raise UnsafePickleError(
                f"refusing to load {self.source}: it asks for {n} bytes ({what}), which would bring what "
                f"its constructors build to {total} bytes, past the {self.limit} a pickle of its size may "
                f"build ({ALLOCATION_FACTOR} x its size, at least {ALLOCATION_FLOOR}); the file is damaged "
                "or crafted")
        self.left -= n


def _length(obj: Any) -> int:
    """How many items or bytes ``obj`` holds (a buffer counts its bytes); 0 when it has no size."""
    if isinstance(obj, (bool, float, complex)):
        return 0
    if isinstance(obj, int):
        return obj  # bytes(n) / bytearray(n)
    if isinstance(obj, (np.ndarray, memoryview)):
        return obj.nbytes
    try:
        return len(obj)
    except OverflowError:  # len(range(10**30))
        return 1 << 63
    except TypeError:
        return 0


def _nbytes(shape: Any, dtype: Any) -> int:
    """Bytes of an array of ``shape`` and ``dtype``, computed without allocating it."""
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    n = np.dtype(dtype).itemsize
    for d in dims:
        n *= max(int(d), 0)
    return n


def _checks(budget: _Budget) -> Dict[str, Callable]:
    """For each admitted global that can allocate in proportion to its arguments, a function of
    those arguments that charges ``budget`` with an estimate, or refuses."""
    def reconstruct(subtype, shape, dtype, *rest):
        budget.spend(_nbytes(shape, dtype), f"an array of shape {shape}")

    def array(shape=(), dtype=float, buffer=None, *rest, **kw):
        if buffer is None:  # an array over a given buffer allocates nothing
            budget.spend(_nbytes(shape, dtype), f"an array of shape {shape}")

    def scalar(dtype, *rest):
        budget.spend(np.dtype(dtype).itemsize, "a numpy scalar")

    def text(obj="", *rest):
        # str() of anything but text would build its repr, which repeats shared objects.
        if not isinstance(obj, (str, bytes, bytearray)):
            raise UnsafePickleError(f"refusing to load {budget.source}: it calls str() on a "
                                    f"{type(obj).__name__}, which no data file needs")
        budget.spend(len(obj), "a string")

    def buffer(name):
        return lambda obj=b"", *rest: budget.spend(_length(obj), f"{name}() of {_length(obj)} bytes")

    def container(name):
        return lambda obj=(), *rest, **kw: budget.spend(_length(obj) * _POINTER,
                                                        f"{name}() of {_length(obj)} items")

    checks = {"_reconstruct": reconstruct, "ndarray": array, "scalar": scalar, "str": text}
    checks.update({n: buffer(n) for n in ("bytes", "bytearray", "encode", "_frombuffer")})
    checks.update({n: container(n) for n in ("list", "tuple", "set", "frozenset", "dict", "OrderedDict")})
    return checks


class _Guarded:
    """An admitted global that checks its arguments before it runs (see :func:`_checks`).

    A guarded global passed as an argument to another (``numpy.ndarray`` as the subtype of
    ``_reconstruct``, ``list`` as a ``defaultdict`` factory) is handed over as the original.
    """

    __slots__ = ("original", "check")

    def __init__(self, original: Callable, check: Callable):
        self.original, self.check = original, check

    def __call__(self, *args, **kwargs):
        args = tuple(a.original if isinstance(a, _Guarded) else a for a in args)
        kwargs = {k: v.original if isinstance(v, _Guarded) else v for k, v in kwargs.items()}
        self.check(*args, **kwargs)
        return self.original(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<guarded {self.original!r}>"


def _guarded_globals(budget: _Budget) -> Dict[Tuple[str, str], Any]:
    """:func:`allowed_globals`, each wrapped so that it charges ``budget`` or unwraps its arguments."""
    checks = _checks(budget)
    no_check = lambda *args, **kwargs: None  # noqa: E731 - numbers, range, slice, dtype, defaultdict
    return {key: _Guarded(func, checks.get(key[1], no_check)) for key, func in allowed_globals().items()}


def _size(f: IO[bytes]) -> int:
    """Bytes in the pickle ``f`` (0 when that cannot be told)."""
    if isinstance(f, io.BytesIO):
        return f.getbuffer().nbytes
    try:
        return os.fstat(f.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        return 0


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :func:`allowed_globals`, bounding what they allocate.

    Args:
        file: binary file to read.
        source: what to name in error messages (the file path).
        encoding: how to decode Python 2 ``str`` objects; ``latin1`` (the default) is what numpy
            arrays from Python 2 need and also reads Python 3 pickles unchanged.
    """

    def __init__(self, file: IO[bytes], source: str = "<pickle>", encoding: str = "latin1"):
        super().__init__(file, encoding=encoding)
        self._source = source
        budget = _Budget(max(ALLOCATION_FACTOR * _size(file), ALLOCATION_FLOOR), source)
        self._allowed = _guarded_globals(budget)

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load {self._source}: it asks for the global '{module}.{name}', and only "
                "plain containers, numbers, strings, bytes and numpy arrays are allowed (a pickle can run "
                "code through such globals); if the file is yours, re-save its arrays with numpy.save"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"refusing to load {self._source}: it uses persistent ids ({pid!r})")


def load_pickle(source: PathOrFile, encoding: str = "latin1") -> Any:
    """Unpickle ``source`` (a path, or a binary file object) with :class:`RestrictedUnpickler`.

    Raises:
        UnsafePickleError: naming the refused global; nothing it asked for was called.
        ValueError: naming the file when it is not a pickle or is truncated.
        FileNotFoundError: when the path does not exist.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        with open(path, "rb") as f:
            return _load(f, str(path), encoding)
    return _load(source, getattr(source, "name", "<pickle>"), encoding)


def load_pickle_bytes(data: bytes, source: str = "<bytes>", encoding: str = "latin1") -> Any:
    """:func:`load_pickle` for a pickle already in memory (e.g. a member read from an archive)."""
    return _load(io.BytesIO(data), source, encoding)


def _load(f: IO[bytes], source: str, encoding: str) -> Any:
    try:
        return RestrictedUnpickler(f, source=source, encoding=encoding).load()
    except UnsafePickleError:
        raise
    except MemoryError:
        # An opcode declaring a huge length (BINBYTES8) allocates before anything is read.
        raise ValueError(f"{source} is not a readable pickle: it declares more data than memory holds; "
                         "the file is damaged or crafted") from None
    except Exception as e:  # noqa: BLE001 - only admitted constructors ran: any failure is the file's
        detail = str(e).strip().splitlines()[0] if str(e).strip() else "no detail"
        raise ValueError(f"{source} is not a readable pickle ({type(e).__name__}: {detail}); "
                         "re-download it or check that it is the file the loader expects") from None


def load_checkpoint(path: str | os.PathLike, map_location: Union[str, Callable, None] = "cpu") -> Any:
    """``torch.load`` restricted to tensors and plain containers (``weights_only=True``).

    Raises:
        FileNotFoundError: naming the path.
        ValueError: when the file holds anything but tensors, numbers, strings and containers,
            or is not a checkpoint at all; the message names the file.
    """
    import argparse
    import warnings

    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols it may not read; the error below says what matters
            warnings.filterwarnings("ignore", message=".*pickle protocol", category=UserWarning)
            # RFS and other scripts save their argparse options beside the weights: a Namespace
            # is an attribute bag (restored by setting attributes, whose values stay
            # restricted), never code
            with torch.serialization.safe_globals([argparse.Namespace]):
                return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's text advises loading the file unsafely (weights_only=False, allowlisting the
        # global), which would run its code; its wording changes between versions. None of it is
        # passed on: the message is built from what the file itself asks for.
        refused = _refused_globals(path)
        if refused is None:  # no pickle could be read from it: an image, a text file, ...
            raise ValueError(f"cannot read checkpoint {str(path)!r}: it is not a PyTorch checkpoint") from None
        refused = refused or _globals_named_in(str(e))
        if refused:
            what = (f"it asks for the global{'s' if len(refused) > 1 else ''} {', '.join(refused[:3])}"
                    f"{' and more' if len(refused) > 3 else ''}")
        else:
            reason = _plain_reason(str(e))
            what = "torch's safe loader cannot read it" + (f" ({reason})" if reason else "")
        raise ValueError(f"refusing to load checkpoint {str(path)!r}: {what}; a checkpoint may only hold tensors, "
                         "numbers, strings and plain containers, because unpickling anything else can run code "
                         "(nothing from the file was run)") from None
    except (RuntimeError, EOFError, KeyError, IndexError) as e:
        detail = str(e).strip().splitlines()[0] if str(e).strip() else "the file is empty or truncated"
        raise ValueError(f"cannot read checkpoint {str(path)!r}: it is not a complete PyTorch checkpoint "
                         f"({type(e).__name__}: {detail})") from None


# How much of a checkpoint's pickle is read to name what it asks for (tensors live outside it).
_SCAN_BYTES = 64 << 20
_STRING_OPS = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING",
                         "SHORT_BINSTRING"})


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
    memo: Dict[Any, str | None] = {}
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
                    memo[arg if op.name != "MEMOIZE" else len(memo)] = pushed[-1] if pushed else None
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


def _refused_globals(path: Path) -> list[str] | None:
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


def _globals_named_in(message: str) -> list[str]:
    """Dotted names that torch's error text gives after the word GLOBAL (the fallback when the file
    itself could not be scanned); only the names are kept, never the surrounding text."""
    import re

    return list(dict.fromkeys(re.findall(r"GLOBAL\s+([A-Za-z_][\w.]*[\w])", message)))


def _plain_reason(message: str) -> str:
    """The first phrase of torch's error that is neither advice nor a pointer (at most 160 characters).

    Phrases that mention ``weights_only``, allowlisting, trust, arbitrary code, issues or links are
    dropped whatever their wording: all of them lead to loading the file unsafely or away from here.
    """
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", message)  # terminal colour codes
    drop = re.compile(r"weights.?only|safe.?globals|allowlist|trust|arbitrary|issue|documentation|https?:|"
                      r"load failed|you have two options|unpickler error", re.IGNORECASE)
    for phrase in re.split(r"(?<=[.!?:])\s+|\n+", text):
        phrase = phrase.strip(" \t.:")
        if phrase and not drop.search(phrase):
            return phrase[:160]
    return ""
