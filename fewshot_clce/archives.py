"""Extracting tar and zip archives without letting them write outside the target folder.

Every member is checked before anything is written: absolute paths, ``..`` components, links
that point outside the target, device files and FIFOs make the whole extraction fail, naming
the member. Extraction goes to a temporary folder beside the target that is renamed into place
at the end, so an interrupted extraction never leaves a half-filled folder behind.
"""
from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import List


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the target folder, or is not a plain file."""


def _check_name(archive: Path, name: str) -> PurePosixPath:
    """The member's path, normalised, after refusing absolute paths and ``..`` components."""
    clean = name.replace("\\", "/")
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":"):
        raise UnsafeArchiveError(f"refusing to extract {archive}: member {name!r} has an absolute path")
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"refusing to extract {archive}: member {name!r} points outside the "
                                 "target folder ('..' in its path)")
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def _check_link(archive: Path, member: PurePosixPath, target: str, hard: bool) -> None:
    """Refuse a link whose target, resolved inside the extraction folder, leaves it."""
    if target.startswith("/") or (len(target) > 1 and target[1] == ":"):
        raise UnsafeArchiveError(f"refusing to extract {archive}: link {str(member)!r} points to the "
                                 f"absolute path {target!r}")
    # Hard-link targets are relative to the archive root, symlink targets to the link's folder.
    base = "" if hard else posixpath.dirname(str(member))
    resolved = posixpath.normpath(posixpath.join(base, target))
    if resolved == ".." or resolved.startswith("../"):
        raise UnsafeArchiveError(f"refusing to extract {archive}: link {str(member)!r} points outside the "
                                 f"target folder ({target!r})")


def list_tar_members(archive: Path, tf: tarfile.TarFile) -> List[tarfile.TarInfo]:
    """The members of an open tar, each checked (see :func:`extract`)."""
    members = tf.getmembers()
    for m in members:
        path = _check_name(archive, m.name)
        if m.issym() or m.islnk():
            _check_link(archive, path, m.linkname, hard=m.islnk())
        elif not (m.isfile() or m.isdir()):
            raise UnsafeArchiveError(f"refusing to extract {archive}: member {m.name!r} is a device file "
                                     "or FIFO, which a dataset archive has no use for")
    return members


def _extract_tar(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as tf:
        members = list_tar_members(archive, tf)
        # The members were checked above; the "data" filter (Python >= 3.11.4) checks again and
        # drops permission bits such as setuid.
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tf.extractall(dest, members=members, **kwargs)


def _extract_zip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:
            _check_name(archive, info.filename)
            # Unix mode bits live in the high 16 bits of external_attr; 0o12 is a symlink.
            if (info.external_attr >> 28) == 0o12:
                raise UnsafeArchiveError(f"refusing to extract {archive}: member {info.filename!r} is a "
                                         "symbolic link")
        for info in infos:
            rel = _check_name(archive, info.filename)
            out = dest.joinpath(*rel.parts)
            if info.is_dir():
                out.mkdir(parents=True, exist_ok=True)
                continue
            out.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def extract(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Extract a ``.tar``, ``.tar.gz``/``.tgz`` or ``.zip`` archive into ``dest``.

    The archive's top-level entries must not exist in ``dest`` yet: nothing there is overwritten.

    Returns:
        ``dest``.

    Raises:
        UnsafeArchiveError: naming the member, for absolute paths, ``..`` components, links leading
            outside ``dest``, device files; nothing is written then.
        ValueError: when the file is neither a tar nor a zip archive, or is truncated or damaged.
        FileExistsError: when one of the archive's top-level entries is already in ``dest``.
    """
    archive, dest = Path(archive), Path(dest)
    if zipfile.is_zipfile(archive):
        extractor = _extract_zip
    elif tarfile.is_tarfile(archive):
        extractor = _extract_tar
    else:
        raise ValueError(f"{archive} is neither a tar nor a zip archive; re-download it")
    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest, prefix=".extract-"))
    try:
        try:
            extractor(archive, tmp)
        except (EOFError, tarfile.ReadError, zipfile.BadZipFile, zlib.error) as e:
            raise ValueError(f"{archive} is truncated or damaged ({type(e).__name__}: {e}); nothing was "
                             "extracted; re-download it") from None
        entries = sorted(tmp.iterdir())
        for entry in entries:
            target = dest / entry.name
            if target.exists() or target.is_symlink():
                raise FileExistsError(f"{target} already exists; extracting {archive.name} would overwrite it. "
                                      "Use that folder as it is, or move it away and try again")
        for entry in entries:
            os.replace(entry, dest / entry.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
