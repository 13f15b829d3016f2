import io
import tarfile
import zipfile

import pytest
from _dataset_fixtures import cve_2025_4517_tar

from fewshot_clce.utils.archives import UnsafeArchiveError, extract


def _tar(path, members):
    """members: (name, kind, payload) with kind 'file' (payload bytes) / 'sym' / 'hard' (payload target)."""
    with tarfile.open(path, "w:gz") as tf:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload))
            else:
                info.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
                info.linkname = payload
                tf.addfile(info)
    return path


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, payload in members:
            zf.writestr(name, payload)
    return path


def test_plain_tar_and_zip(tmp_path):
    t = _tar(
        tmp_path / "a.tar.gz", [("data/x.txt", "file", b"1"), ("data/sub/y.txt", "file", b"2")]
    )
    out = extract(t, tmp_path / "out")
    assert (out / "data" / "sub" / "y.txt").read_bytes() == b"2"
    z = _zip(tmp_path / "a.zip", [("zdata/x.txt", b"3")])
    assert (extract(z, tmp_path / "out") / "zdata" / "x.txt").read_bytes() == b"3"


@pytest.mark.parametrize(
    "members,message",
    [
        (
            [("data/ok.txt", "file", b"1"), ("../evil.txt", "file", b"x")],
            "'../evil.txt' points outside",
        ),
        ([("data/../../evil.txt", "file", b"x")], "points outside"),
        ([("/tmp/evil_abs.txt", "file", b"x")], "has an absolute path"),
        ([("data/link", "sym", "/etc/passwd")], "'data/link' is a symbolic link"),
        ([("data/link", "sym", "../../evil.txt")], "'data/link' is a symbolic link"),
        ([("data/hard", "hard", "../evil.txt")], "'data/hard' is a hard link"),
    ],
)
def test_tar_escapes_refused(tmp_path, members, message):
    dest = tmp_path / "a" / "b"
    archive = _tar(tmp_path / "evil.tar.gz", members)
    with pytest.raises(UnsafeArchiveError, match=message):
        extract(archive, dest)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "a" / "evil.txt").exists()
    assert not dest.exists() or not any(p.is_file() for p in dest.rglob("*"))


def test_tar_device_refused(tmp_path):
    archive = tmp_path / "dev.tar"
    with tarfile.open(archive, "w") as tf:
        info = tarfile.TarInfo("data/fifo")
        info.type = tarfile.FIFOTYPE
        tf.addfile(info)
    with pytest.raises(UnsafeArchiveError, match="device file or FIFO"):
        extract(archive, tmp_path / "out")


@pytest.mark.parametrize(
    "name,message",
    [
        ("../evil.txt", "points outside"),
        ("/evil.txt", "absolute path"),
        ("C:/evil.txt", "absolute path"),
    ],
)
def test_zip_escapes_refused(tmp_path, name, message):
    archive = _zip(tmp_path / "evil.zip", [("data/ok.txt", b"1"), (name, b"x")])
    with pytest.raises(UnsafeArchiveError, match=message):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "evil.txt").exists()
    assert not (tmp_path / "out" / "data").exists()


def test_existing_folder_not_overwritten(tmp_path):
    (tmp_path / "out" / "data").mkdir(parents=True)
    (tmp_path / "out" / "data" / "mine.txt").write_text("keep")
    archive = _tar(tmp_path / "a.tar.gz", [("data/x.txt", "file", b"1")])
    with pytest.raises(FileExistsError, match="data already exists"):
        extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "data" / "mine.txt").read_text() == "keep"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["data"]  # no temporary folder left


def test_not_an_archive(tmp_path):
    p = tmp_path / "x.tgz"
    p.write_bytes(b"plain text")
    with pytest.raises(ValueError, match="neither a tar nor a zip"):
        extract(p, tmp_path / "out")


@pytest.mark.parametrize("kind", ["tgz", "zip"])
def test_truncated_archive_is_a_clear_error_and_leaves_nothing(tmp_path, kind):
    import os

    src = tmp_path / "src" / "top"
    src.mkdir(parents=True)
    for i in range(8):
        (src / f"{i}.bin").write_bytes(
            os.urandom(20000)
        )  # incompressible, so the cut lands in the data
    whole = tmp_path / f"whole.{kind}"
    if kind == "tgz":
        with tarfile.open(whole, "w:gz") as tf:
            tf.add(src, arcname="top")
    else:
        with zipfile.ZipFile(whole, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(src.iterdir()):
                zf.write(f, f"top/{f.name}")
    data = whole.read_bytes()
    cut = tmp_path / f"cut.{kind}"
    if kind == "zip":
        # keep the central directory, damage a member's compressed bytes
        damaged = bytearray(data)
        for i in range(200, 2200):
            damaged[i] ^= 0x5A
        cut.write_bytes(bytes(damaged))
    else:
        cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    with pytest.raises(
        ValueError, match=rf"cut.{kind} is truncated or damaged.*nothing was extracted"
    ):
        extract(cut, out)
    assert not out.exists() or not list(out.iterdir())


@pytest.mark.parametrize("kind,what", [("sym", "symbolic link"), ("hard", "hard link")])
def test_tar_links_refused_even_when_inside(tmp_path, kind, what):
    # Dataset archives hold no links, so even one that stays inside the target is refused: the
    # lexical checks cannot see where a chain of links really leads (CVE-2025-4517).
    archive = _tar(
        tmp_path / "links.tgz",
        [
            ("data/a.txt", "file", b"1"),
            ("data/b", kind, "data/a.txt" if kind == "hard" else "a.txt"),
            ("data/z.txt", "file", b"2"),
        ],
    )
    dest = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError) as err:
        extract(archive, dest)
    message = str(err.value)
    assert "\n" not in message and str(archive) in message and f"'data/b' is a {what}" in message
    assert (
        not dest.exists() or list(dest.iterdir()) == []
    )  # nothing half-extracted, no temporary folder


def test_cve_2025_4517_pattern_refused(tmp_path):
    archive = cve_2025_4517_tar(tmp_path / "CUB_200_2011.tgz")
    dest = tmp_path / "root" / "inner"
    with pytest.raises(UnsafeArchiveError, match="is a symbolic link"):
        extract(archive, dest)
    assert not any(p.name == "owned.txt" for p in tmp_path.rglob("*"))
    assert not dest.exists() or list(dest.iterdir()) == []
