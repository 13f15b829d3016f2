"""Content digests of dataset image files, memoised so that each file is read once per machine.

A :class:`~fewshot_clce.data.base.FileSplit`'s fingerprint covers the content of its files, so
that a changed image changes it (and with it the feature cache key), while a copy or clone of the
same images, with new paths and new timestamps, keeps it. Reading every file each time a
fingerprint is needed would cost a full pass over the dataset per command; instead each file's
SHA-256 is kept in a small JSON file per dataset folder under ``$FEWSHOT_CLCE_CACHE/file-digests``,
keyed by the file's size, modification time, change time (ns) and inode. Any write to a file
changes its change time (which no tool can set back), so a memoised digest is only reused for a
file that has not been touched since it was read.

A file modified within :data:`RACY_NS` of being read is not memoised: timestamps are coarse
(a few ms), and a second write within the same tick would otherwise go unseen.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from ..utils.files import cache_dir, write_text_atomic

MEMO_VERSION = 1
RACY_NS = 2_000_000_000
MISSING, NOT_A_FILE = "missing", "not-a-regular-file"


def _sha256(path: Path) -> str:
    """SHA-256 of a regular file's bytes (opened non-blocking: a FIFO swapped in is not waited on)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return NOT_A_FILE
        h = hashlib.sha256()
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _signature(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _memo_path(root: Path) -> Optional[Path]:
    """The memo file of the folder ``root`` (absolute), or None when the cache is not writable."""
    try:
        folder = cache_dir("file-digests")
    except PermissionError:
        return None
    return folder / f"{hashlib.sha256(str(root).encode()).hexdigest()[:20]}.json"


def _read_memo(path: Optional[Path], root: Path) -> dict[str, list]:
    if path is None or not path.is_file():
        return {}
    try:
        memo = json.loads(path.read_text(encoding="utf-8"))
        if memo.get("version") == MEMO_VERSION and memo.get("root") == str(root):
            return {k: v for k, v in memo["files"].items() if isinstance(v, list) and len(v) == 5}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        pass  # a damaged memo only costs a re-read
    return {}


def file_digests(root: Path, paths: Sequence[Path]) -> list[str]:
    """The SHA-256 (hex) of each file ``root / path``, ``"missing"`` for a file that is not there
    and ``"not-a-regular-file"`` for a FIFO, device or folder (never opened for reading)."""
    root = Path(root).resolve()
    memo_path = _memo_path(root)
    memo = _read_memo(memo_path, root)
    fresh: dict[str, list] = {}
    done: dict[str, str] = {}  # a path listed more than once (Omniglot's rotations) is read once
    out = []
    for p in paths:
        rel, full = Path(p).as_posix(), root / p
        if rel in done:
            out.append(done[rel])
            continue
        try:
            st = os.stat(full)
        except FileNotFoundError:
            out.append(MISSING)
            continue
        if not stat.S_ISREG(st.st_mode):
            out.append(NOT_A_FILE)
            continue
        sig = _signature(st)
        known = memo.get(rel)
        if known is not None and known[:4] == sig:
            out.append(done.setdefault(rel, known[4]))
            continue
        digest = _sha256(full)
        out.append(done.setdefault(rel, digest))
        settled = time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > RACY_NS
        if settled and _signature(os.stat(full)) == sig:  # not written to while it was read
            fresh[rel] = sig + [digest]
    if fresh and memo_path is not None:
        # Merge with what other processes may have added meanwhile; the last writer wins.
        merged = {**_read_memo(memo_path, root), **fresh}
        try:
            write_text_atomic(
                memo_path, json.dumps({"version": MEMO_VERSION, "root": str(root), "files": merged})
            )
        except OSError:
            pass  # the memo saves time only; the digests above are right either way
    return out
