import errno
import os
import stat

import pytest
from _faults import disk_full, make_unwritable

from fewshot_clce.utils import files as _io
from fewshot_clce.utils.files import atomic_path, write_text_atomic


def test_atomic_write_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        p = write_text_atomic(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644
    assert p.read_text() == "x" and [f.name for f in tmp_path.iterdir()] == ["a.txt"]


def test_a_full_disk_names_the_file_and_keeps_the_previous_one(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("previous")
    with pytest.raises(OSError) as info:
        with atomic_path(path) as tmp:
            tmp.write_text("half")
            disk_full()
    assert info.value.errno == errno.ENOSPC
    assert str(path) in str(info.value) and "No space left on device" in str(info.value)
    assert "previous" in str(info.value) and "intact" in str(info.value)
    assert path.read_text() == "previous" and [p.name for p in tmp_path.iterdir()] == [
        "results.csv"
    ]


def test_an_unwritable_folder_names_the_file_not_a_temporary_one(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    make_unwritable(folder, monkeypatch)
    with pytest.raises(PermissionError) as info:
        write_text_atomic(folder / "a.txt", "x")
    assert f"'{folder / 'a.txt'}'" in str(info.value) and ".tmp" not in str(info.value)
    assert not list(folder.iterdir())


def test_a_path_under_a_regular_file_is_named(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError) as info:
        write_text_atomic(tmp_path / "file" / "sub" / "a.txt", "x")
    assert str(tmp_path / "file") in str(info.value)


def test_check_output_file_refuses_before_any_work(tmp_path, monkeypatch):
    with pytest.raises(IsADirectoryError, match="--out .* is a folder"):
        _io.check_output_file(tmp_path, "--out")
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        _io.check_output_file(tmp_path / "file" / "out.csv", "--out")
    ro = tmp_path / "ro"
    ro.mkdir()
    make_unwritable(ro, monkeypatch)
    with pytest.raises(PermissionError, match="--out .*cannot be written"):
        _io.check_output_file(ro / "new" / "out.csv", "--out")
    assert not list(ro.iterdir())
    # a writable place is accepted, and nothing is created for it yet
    assert (
        _io.check_output_file(tmp_path / "a" / "b" / "out.csv", "--out")
        == tmp_path / "a" / "b" / "out.csv"
    )
    assert not (tmp_path / "a").exists()


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(cell: str) -> bool:
    """A cell a spreadsheet reads as text or as a plain number, never as a formula."""
    try:
        float(cell)
        return True
    except ValueError:
        return not cell.startswith(FORMULA_STARTS)


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://x","y")',
        "+1+1",
        "-2+3",
        "@SUM(A1)",
        "\tx",
        "\rx",
        "'=already quoted",
        "''+x",
        "plain",
        "",
        "-0.5",
        "+3",
        "1e-3",
        "a=b",
    ],
)
def test_csv_text_round_trips_and_is_never_a_formula(text):
    written = _io.csv_escape(text)
    assert _spreadsheet_safe(written), written
    assert _io.csv_unescape(written) == text
    if not text.startswith(FORMULA_STARTS) and not text.startswith("'"):
        assert written == text  # ordinary text and plain numbers are left alone


def test_csv_frames_keep_numbers_and_escape_text(tmp_path):
    import pandas as pd

    df = pd.DataFrame(
        {"run": ["=cmd|' /C calc'!A0", "ce-s0"], "delta": [-0.5, 0.25], "note": ["-", "+1 -2"]}
    )
    path = tmp_path / "t.csv"
    _io.write_csv(df, path)
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert all(_spreadsheet_safe(c) for c in raw.to_numpy().ravel())
    assert raw["delta"].tolist() == ["-0.5", "0.25"]  # numbers stay numbers
    pd.testing.assert_frame_equal(_io.read_csv(path), df)
