"""Loading pickles without running code from them: a restricted unpickler (checkpoints are read
by :func:`fewshot_clce.backbones.weights.load_checkpoint`).

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
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Union

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
        raise UnsafePickleError(
            f"refusing _codecs.encode with encoding {encoding!r}; only latin1 is allowed"
        )
    return codecs.encode(obj, "latin1", errors)


def _numpy_globals() -> dict[tuple[str, str], Any]:
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
    for n in (
        "list",
        "dict",
        "tuple",
        "set",
        "frozenset",
        "bytearray",
        "bytes",
        "str",
        "int",
        "float",
        "complex",
        "bool",
        "range",
        "slice",
    )
}
_PLAIN.update(
    {("__builtin__", key[1]): v for key, v in list(_PLAIN.items())}
)  # Python 2 module name
_PLAIN.update(
    {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("collections", "defaultdict"): collections.defaultdict,
        ("_codecs", "encode"): _latin1_encode,
        ("codecs", "encode"): _latin1_encode,
    }
)

_ALLOWED: dict[tuple[str, str], Any] = {}


def allowed_globals() -> dict[tuple[str, str], Any]:
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
                "or crafted"
            )
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


def _checks(budget: _Budget) -> dict[str, Callable]:
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
            raise UnsafePickleError(
                f"refusing to load {budget.source}: it calls str() on a "
                f"{type(obj).__name__}, which no data file needs"
            )
        budget.spend(len(obj), "a string")

    def buffer(name):
        return lambda obj=b"", *rest: budget.spend(
            _length(obj), f"{name}() of {_length(obj)} bytes"
        )

    def container(name):
        return lambda obj=(), *rest, **kw: budget.spend(
            _length(obj) * _POINTER, f"{name}() of {_length(obj)} items"
        )

    checks = {"_reconstruct": reconstruct, "ndarray": array, "scalar": scalar, "str": text}
    checks.update({n: buffer(n) for n in ("bytes", "bytearray", "encode", "_frombuffer")})
    checks.update(
        {n: container(n) for n in ("list", "tuple", "set", "frozenset", "dict", "OrderedDict")}
    )
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


def _guarded_globals(budget: _Budget) -> dict[tuple[str, str], Any]:
    """:func:`allowed_globals`, each wrapped so that it charges ``budget`` or unwraps its arguments."""
    checks = _checks(budget)
    no_check = lambda *args, **kwargs: None  # noqa: E731 - numbers, range, slice, dtype, defaultdict
    return {
        key: _Guarded(func, checks.get(key[1], no_check)) for key, func in allowed_globals().items()
    }


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
        raise UnsafePickleError(
            f"refusing to load {self._source}: it uses persistent ids ({pid!r})"
        )


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
        raise ValueError(
            f"{source} is not a readable pickle: it declares more data than memory holds; "
            "the file is damaged or crafted"
        ) from None
    except Exception as e:  # noqa: BLE001 - only admitted constructors ran: any failure is the file's
        detail = str(e).strip().splitlines()[0] if str(e).strip() else "no detail"
        raise ValueError(
            f"{source} is not a readable pickle ({type(e).__name__}: {detail}); "
            "re-download it or check that it is the file the loader expects"
        ) from None
