"""Extracting tar and zip archives without letting them write outside the target folder.

Every member is checked before anything is written: absolute paths, ``..`` components,
symbolic and hard links (dataset archives hold none), device files and FIFOs make the whole
extraction fail, naming the member. Extraction goes to a temporary folder beside the target that is renamed into place
at the end, so an interrupted extraction never leaves a half-filled folder behind.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath


class UnsafeArchiveError(ValueError):
    """An archive member would be written outside the target folder, or is not a plain file."""


def _check_name(archive: Path, name: str) -> PurePosixPath:
    """The member's path, normalised, after refusing absolute paths and ``..`` components."""
    clean = name.replace("\\", "/")
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":"):
        raise UnsafeArchiveError(
            f"refusing to extract {archive}: member {name!r} has an absolute path"
        )
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(
            f"refusing to extract {archive}: member {name!r} points outside the "
            "target folder ('..' in its path)"
        )
    return PurePosixPath(*parts) if parts else PurePosixPath(".")


def list_tar_members(archive: Path, tf: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """The members of an open tar, each checked (see :func:`extract`)."""
    members = tf.getmembers()
    for m in members:
        _check_name(archive, m.name)
        # Dataset archives hold plain files and folders only. Links are refused outright, even
        # those that seem to stay inside: a chain of links through long folder names can resolve
        # outside the target although every member passes a lexical check (CVE-2025-4517).
        if m.issym() or m.islnk():
            what = "symbolic link" if m.issym() else "hard link"
            target = m.linkname if len(m.linkname) <= 60 else m.linkname[:57] + "..."
            raise UnsafeArchiveError(
                f"refusing to extract {archive}: member {m.name!r} is a {what} "
                f"(to {target!r}); dataset archives hold no links"
            )
        if not (m.isfile() or m.isdir()):
            raise UnsafeArchiveError(
                f"refusing to extract {archive}: member {m.name!r} is a device file "
                "or FIFO, which a dataset archive has no use for"
            )
    return members


def _extract_tar(archive: Path, dest: Path) -> None:
    with tarfile.open(archive) as tf:
        members = list_tar_members(archive, tf)
        # The members were checked above; the "data" filter (Python >= 3.11.4) checks again as a
        # second line of defence and drops permission bits such as setuid.
        kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        try:
            tf.extractall(dest, members=members, **kwargs)
        except tarfile.FilterError as e:
            raise UnsafeArchiveError(f"refusing to extract {archive}: {e}") from None


def _extract_zip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        for info in infos:
            _check_name(archive, info.filename)
            # Unix mode bits live in the high 16 bits of external_attr; 0o12 is a symlink.
            if (info.external_attr >> 28) == 0o12:
                raise UnsafeArchiveError(
                    f"refusing to extract {archive}: member {info.filename!r} is a symbolic link"
                )
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
        UnsafeArchiveError: naming the member, for absolute paths, ``..`` components, links of any
            kind, device files; nothing is written then.
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
            raise ValueError(
                f"{archive} is truncated or damaged ({type(e).__name__}: {e}); nothing was "
                "extracted; re-download it"
            ) from None
        entries = sorted(tmp.iterdir())
        for entry in entries:
            target = dest / entry.name
            if target.exists() or target.is_symlink():
                raise FileExistsError(
                    f"{target} already exists; extracting {archive.name} would overwrite it. "
                    "Use that folder as it is, or move it away and try again"
                )
        for entry in entries:
            os.replace(entry, dest / entry.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
