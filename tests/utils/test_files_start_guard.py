"""utils.files.StartGuard: a failed start takes back what it wrote, and only that."""

from fewshot_clce.utils.files import StartGuard


def test_a_new_folder_is_removed_with_what_the_start_wrote(tmp_path):
    out = tmp_path / "a" / "b"
    guard = StartGuard(out, ["config.json"], added_to=["episodes"])
    (out / "episodes").mkdir(parents=True)
    (out / "config.json").write_text("{}")
    (out / "episodes" / "m.npz").write_bytes(b"x")
    guard.undo()
    assert not (tmp_path / "a").exists()


def test_an_existing_folder_gets_its_files_back_and_keeps_others(tmp_path):
    (tmp_path / "episodes").mkdir()
    (tmp_path / "episodes" / "old.npz").write_bytes(b"old")
    (tmp_path / "config.json").write_text("before")
    (tmp_path / "runs").mkdir()
    guard = StartGuard(tmp_path, ["config.json"], added_to=["episodes"])
    (tmp_path / "config.json").write_text("after")
    (tmp_path / "episodes" / "new.npz").write_bytes(b"new")
    (tmp_path / "runs" / "other-process.txt").write_text("kept")
    guard.undo()
    assert (tmp_path / "config.json").read_text() == "before"
    assert sorted(p.name for p in (tmp_path / "episodes").iterdir()) == ["old.npz"]
    assert (tmp_path / "runs" / "other-process.txt").read_text() == "kept"


def test_a_folder_that_held_a_file_is_left_alone_with_leave_held(tmp_path):
    (tmp_path / "config.yaml").write_text("a run")
    guard = StartGuard(tmp_path, ["config.yaml", "metrics.csv"], leave_held=True)
    (tmp_path / "config.yaml").write_text("changed")
    (tmp_path / "metrics.csv").write_text("epoch")
    guard.undo()
    assert (tmp_path / "config.yaml").read_text() == "changed"
    assert (tmp_path / "metrics.csv").exists()


def test_a_created_parent_that_another_process_wrote_into_stays(tmp_path):
    run = tmp_path / "runs" / "r1"
    guard = StartGuard(run, ["config.yaml"], leave_held=True)
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("x")
    (tmp_path / "runs" / "r2").mkdir()
    guard.undo()
    assert not run.exists() and (tmp_path / "runs" / "r2").is_dir()
