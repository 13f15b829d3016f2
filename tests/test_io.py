import os
import stat

from fewshot_clce._io import write_text_atomic


def test_atomic_write_permissions_follow_umask(tmp_path):
    old = os.umask(0o022)
    try:
        p = write_text_atomic(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(p.stat().st_mode) == 0o644
    assert p.read_text() == "x" and [f.name for f in tmp_path.iterdir()] == ["a.txt"]
