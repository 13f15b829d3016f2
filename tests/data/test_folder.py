import numpy as np
import pytest
import torch
from _dataset_fixtures import png_header_only
from PIL import Image

from fewshot_clce import create_dataset
from fewshot_clce.data.folder import default_split, folder_dataset


def _png(path, value, size=(6, 5), mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 0, 255 - value)
    Image.new(mode, size[::-1], color).save(path)


def _one_level(root, n_classes=5, per_class=3, **kw):
    for c in range(n_classes):
        for i in range(per_class):
            _png(root / f"class{c}" / f"{i}.png", 10 * c + i, **kw)
    return root


def test_one_level_layout_and_default_split(tmp_path):
    root = _one_level(tmp_path / "toy")
    ds = create_dataset(f"folder:{root}")
    assert ds.name == "folder:toy"
    names = {s: split.class_names for s, split in ds.splits.items()}
    # 5 classes: one novel, one val, three base; together all, no overlap
    assert {s: len(v) for s, v in names.items()} == {"base": 3, "val": 1, "novel": 1}
    assert sorted(sum(names.values(), [])) == [f"class{c}" for c in range(5)]
    novel = ds.split("novel")
    img, label = novel[2]
    assert img.shape == (1, 6, 5) and label == 0 and img.dtype == torch.float32
    c = int(novel.class_names[0][-1])
    assert round(float(img[0, 0, 0]) * 255) == 10 * c + 2  # the file's pixel value, third file
    assert novel.get_images([0, 1]).shape == (2, 1, 6, 5)
    # same split and fingerprint again, and wherever the folder lies
    moved = tmp_path / "elsewhere" / "toy"
    _one_level(moved)
    assert folder_dataset(moved).split("novel").fingerprint == novel.fingerprint
    assert folder_dataset(root, split_seed=1).splits.keys() == ds.splits.keys()


def test_two_level_layout_splits_by_alphabet(tmp_path):
    root = tmp_path / "omni"
    for a in range(5):
        for c in range(2):
            for i in range(2):
                _png(root / f"alpha{a}" / f"char{c}" / f"{i}.png", 40 * a + c)
    ds = folder_dataset(root)
    alphabets = {s: {n.split("/")[0] for n in split.class_names} for s, split in ds.splits.items()}
    assert {s: len(v) for s, v in alphabets.items()} == {"base": 3, "val": 1, "novel": 1}
    assert ds.split("novel").class_names[0].startswith(next(iter(alphabets["novel"])) + "/char")
    assert all(split.num_classes == 2 * len(alphabets[s]) for s, split in ds.splits.items())


def test_default_split_small_and_deterministic():
    assert default_split(["a", "b"]) in (
        {"base": ["a"], "novel": ["b"]},
        {"base": ["b"], "novel": ["a"]},
    )
    classes = [f"c{i:02d}" for i in range(20)]
    s = default_split(classes)
    assert s == default_split(list(reversed(classes)))
    assert {k: len(v) for k, v in s.items()} == {"base": 12, "val": 4, "novel": 4}


def test_split_file(tmp_path):
    root = _one_level(tmp_path / "toy", n_classes=4)
    sf = root / "splits.tsv"
    sf.write_text("# split\tclass\nbase\tclass0\nbase\tclass2\n\nnovel\tclass3\n")
    ds = create_dataset(f"folder:{root}::splits.tsv")  # relative: found inside the folder
    assert {s: v.class_names for s, v in ds.splits.items()} == {
        "base": ["class0", "class2"],
        "novel": ["class3"],
    }
    assert list(ds.split("base").labels) == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "base\tclass0\nnovel\tzebra\n",
            r"line 2 names class 'zebra', which is not a class folder.*class0, class1",
        ),
        ("train\tclass0\n", r"line 1: unknown split 'train'; use one of base, val, novel"),
        ("base class0\n", r"line 1: expected 'split<TAB>class'"),
        ("base\tclass0\nnovel\tclass0\n", r"line 2: class 'class0' is already listed on line 1"),
        ("# nothing\n", r"names no class"),
    ],
)
def test_bad_split_file(tmp_path, text, message):
    root = _one_level(tmp_path / "toy", n_classes=3)
    sf = tmp_path / "s.tsv"
    sf.write_text(text)
    with pytest.raises(ValueError, match=message):
        folder_dataset(root, split_file=sf)


def test_missing_split_file_and_folder(tmp_path):
    root = _one_level(tmp_path / "toy", n_classes=3)
    with pytest.raises(FileNotFoundError, match="split file 'nope.tsv' not found"):
        folder_dataset(root, split_file="nope.tsv")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_dataset(f"folder:{tmp_path / 'absent'}")
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        folder_dataset(root / "class0" / "0.png")


def test_fewer_than_two_classes(tmp_path):
    root = _one_level(tmp_path / "toy", n_classes=1)
    with pytest.raises(
        ValueError, match=r"has 1 class folder\(s\) \('class0'\); .* needs at least 2"
    ):
        folder_dataset(root)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has 0 class folder"):
        folder_dataset(tmp_path / "empty")


def test_empty_class(tmp_path):
    root = _one_level(tmp_path / "toy", n_classes=3)
    (root / "lonely").mkdir()
    (root / "lonely" / ".hidden").write_text("ignored")
    with pytest.raises(ValueError, match=r"class folder '.*lonely' holds no images"):
        folder_dataset(root)


def test_non_image_and_unreadable_files(tmp_path):
    root = _one_level(tmp_path / "toy", n_classes=3)
    (root / "class1" / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"'.*class1/notes.txt' is not an image"):
        folder_dataset(root)
    (root / "class1" / "notes.txt").unlink()
    (root / "class2" / "broken.png").write_bytes(b"definitely not a png")
    with pytest.raises(ValueError, match=r"cannot read image '.*class2/broken.png'"):
        folder_dataset(root)


def test_damaged_body_found_by_verify_or_on_first_read(tmp_path):
    root = _one_level(tmp_path / "toy", n_classes=3, size=(20, 20))
    bad = root / "class0" / "0.png"
    data = bad.read_bytes()
    bad.write_bytes(data[:45])  # the header survives, the pixel data does not
    ds = folder_dataset(root)  # the cheap header check passes
    with pytest.raises(ValueError, match=r"cannot read image '.*class0/0.png'"):
        folder_dataset(root, verify=True)
    split = next(s for s in ds.splits.values() if "class0" in s.class_names)
    with pytest.raises(ValueError, match=r"cannot read image '.*class0/0.png'"):
        split.get_images(split.indices_of(split.class_names.index("class0")))


def test_layout_errors(tmp_path):
    root = _one_level(tmp_path / "toy", n_classes=3)
    (root / "stray.png").write_bytes((root / "class0" / "0.png").read_bytes())
    with pytest.raises(ValueError, match="is a file at the top of"):
        folder_dataset(root)
    (root / "stray.png").unlink()
    _png(root / "class0" / "sub" / "x.png", 1)
    with pytest.raises(ValueError, match=r"holds both files .* and folders \('sub'\)"):
        folder_dataset(root)


def test_rgb_and_mixed_sizes(tmp_path):
    root = tmp_path / "rgb"
    for c in range(3):
        for i in range(2):
            _png(root / f"k{c}" / f"{i}.jpg", 100, size=(10 + i, 12), mode="RGB")
    ds = folder_dataset(root)
    img, _ = ds.split("base")[0]
    assert img.shape == (3, 84, 84)
    assert np.isclose(float(img[2].mean()), 155 / 255, atol=0.05)
    assert folder_dataset(root, size=(8, 9), mode="L").split("base")[0][0].shape == (1, 8, 9)


@pytest.mark.parametrize(
    "width,height",
    [(100_000, 100_000), (10_000, 9_500), (8_200, 8_200)],
    ids=["over-pillow-error", "over-pillow-warning", "over-toolkit-limit"],
)
def test_decompression_bomb_is_a_one_line_error(tmp_path, capsys, width, height):
    import warnings

    from fewshot_clce.cli import main
    from fewshot_clce.data.image_files import read_image

    root = _one_level(tmp_path / "toy", n_classes=3)
    bomb = root / "class1" / "bomb.png"
    bomb.write_bytes(png_header_only(width, height))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning must not leak out either
        limit = r"more than the 67108864 pixels this toolkit decodes"
        with pytest.raises(ValueError, match=rf"image '.*class1/bomb.png' declares .*{limit}"):
            folder_dataset(root)
        with pytest.raises(ValueError, match=rf"bomb.png' declares .*{limit}"):
            read_image(bomb)  # the lazy path the benchmark loaders take
    assert main(["show", f"folder:{root}", "--out", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("fewshot-clce show: error:") and "bomb.png" in err


def test_largest_accepted_image_passes(tmp_path):
    from fewshot_clce.data.image_files import MAX_IMAGE_PIXELS

    root = _one_level(tmp_path / "toy", n_classes=3)
    (root / "class1" / "big.png").write_bytes(png_header_only(MAX_IMAGE_PIXELS // 4096, 4096))
    folder_dataset(root)  # the header check accepts it (its pixels are never decoded here)


def _run_python(args, timeout=60):
    """``python ARGS`` from the repository root, killed after ``timeout`` s (a hang fails the test)."""
    import subprocess
    import sys
    from pathlib import Path

    return subprocess.run(
        [sys.executable, *args],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_fifo_named_like_an_image_is_refused_without_hanging(tmp_path):
    import os

    root = _one_level(tmp_path / "toy", n_classes=3)
    os.mkfifo(root / "class1" / "000.png")  # opening it for reading would block forever
    done = _run_python(
        ["-m", "fewshot_clce", "show", f"folder:{root}", "--out", str(tmp_path / "g.png")]
    )
    assert done.returncode == 2, done.stderr
    err = done.stderr.strip()
    assert "\n" not in err and "class1/000.png" in err and "not a regular file" in err
    # the lazy read of a single file (CUB, Omniglot, mini-ImageNet images) refuses it too; in a
    # thread here, so that a read that blocks fails the test instead of hanging it
    import threading

    from fewshot_clce.data.image_files import read_image

    raised = []

    def read():
        try:
            read_image(str(root / "class1" / "000.png"))
        except Exception as e:  # noqa: BLE001 (what it raises is checked below)
            raised.append(e)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=30)
    assert not reader.is_alive(), "read_image blocked on a FIFO"
    assert len(raised) == 1 and "is not a regular file" in str(raised[0])


def _noise_same_size(path, seed):
    """Overwrite a .pgm image with noise; the byte size stays the same."""
    size = path.stat().st_size
    with Image.open(path) as im:
        shape = im.size[::-1]
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)).save(path)
    assert path.stat().st_size == size


def test_fingerprint_covers_content_and_survives_a_copy(tmp_path):
    import shutil
    import time

    root = tmp_path / "a" / "toy"
    for c in range(3):
        for i in range(2):
            _png(root / f"c{c}" / f"{i}.pgm", 40 * c + i, size=(6, 6))
    prints = {s: sp.fingerprint for s, sp in folder_dataset(root).splits.items()}
    time.sleep(0.01)
    copy = tmp_path / "b" / "toy"
    shutil.copytree(root, copy)  # new paths, new timestamps, identical images
    assert {s: sp.fingerprint for s, sp in folder_dataset(copy).splits.items()} == prints
    ds = folder_dataset(root)
    victim = ds.split("novel")
    _noise_same_size(root / victim.paths[0], seed=1)
    changed = {s: sp.fingerprint for s, sp in folder_dataset(root).splits.items()}
    assert changed["novel"] != prints["novel"]
    assert {s: f for s, f in changed.items() if s != "novel"} == {
        s: f for s, f in prints.items() if s != "novel"
    }


def test_file_digests_are_read_once_and_redone_when_a_file_changes(tmp_path, monkeypatch):
    import os

    import fewshot_clce.data._filehash as filehash

    monkeypatch.setattr(filehash, "RACY_NS", 0)  # files written a moment ago may be memoised here
    root = tmp_path / "toy"
    for c in range(3):
        for i in range(2):
            _png(root / f"c{c}" / f"{i}.pgm", 40 * c + i, size=(6, 6))
    read = []
    real = filehash._sha256
    monkeypatch.setattr(filehash, "_sha256", lambda p: read.append(p) or real(p))
    first = {s: sp.fingerprint for s, sp in folder_dataset(root).splits.items()}
    assert len(read) == 6
    read.clear()
    assert {s: sp.fingerprint for s, sp in folder_dataset(root).splits.items()} == first
    assert read == []  # memoised by size, modification and change time
    target = root / "c0" / "0.pgm"
    st = target.stat()
    _noise_same_size(target, seed=2)
    os.utime(
        target, ns=(st.st_atime_ns, st.st_mtime_ns)
    )  # even with the old modification time restored
    again = {s: sp.fingerprint for s, sp in folder_dataset(root).splits.items()}
    assert [p.name for p in read] == ["0.pgm"] and again != first


def test_array_dataset_fingerprints_are_unchanged():
    """Committed manifests are bound to these; they must never move."""
    ds = create_dataset("digits")
    assert {s: ds.split(s).fingerprint for s in ("base", "val", "novel")} == {
        "base": "973cfa0cc1b177a0",
        "val": "d89e8ee1538cb59f",
        "novel": "9996c19193871f6e",
    }


def test_a_file_listed_twice_is_read_once(tmp_path, monkeypatch):
    import fewshot_clce.data._filehash as filehash

    root = tmp_path / "toy"
    _png(root / "c0" / "0.pgm", 1)
    read = []
    real = filehash._sha256
    monkeypatch.setattr(filehash, "_sha256", lambda p: read.append(p) or real(p))
    from pathlib import Path

    digests = filehash.file_digests(root, [Path("c0/0.pgm")] * 4 + [Path("c0/missing.pgm")])
    assert len(read) == 1 and len(set(digests[:4])) == 1 and digests[4] == "missing"
