"""Decoded-image caches: file splits decode each image once (in memory or a memory-mapped file),
serve exactly the pixels a fresh decode gives, and never serve a changed file from an old cache."""

from collections import Counter

import numpy as np
import pytest
import torch
from _cli import argv
from PIL import Image

from fewshot_clce.data.folder import folder_dataset


def _folder(root, n_classes=6, per_class=4, size=(9, 7), mode="L", seed=0):
    """Class folders of random PNGs (distinct pixels everywhere, so any mix-up shows)."""
    rng = np.random.default_rng(seed)
    shape = size if mode == "L" else (*size, 3)
    for c in range(n_classes):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(
                root / f"class{c}" / f"{i}.png"
            )
    return root


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FEWSHOT_CLCE_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_in_memory_cache_serves_the_decoded_pixels(tmp_path, mode):
    split = folder_dataset(_folder(tmp_path / "d", mode=mode)).split("base")
    want = split.get_images(range(len(split)))  # decoded from the files
    assert not split.preloaded
    assert split.preload() == "memory" and split.preloaded
    torch.testing.assert_close(split.get_images(range(len(split))), want, rtol=0, atol=0)
    torch.testing.assert_close(split[3][0], want[3], rtol=0, atol=0)
    order = [5, 0, 5, 2]
    torch.testing.assert_close(split.get_images(order), want[order], rtol=0, atol=0)


def test_memory_mapped_cache_is_reused_and_keyed_by_content(tmp_path):
    root = _folder(tmp_path / "d")
    split = folder_dataset(root, size=(8, 8)).split("base")
    want = split.get_images(range(len(split)))
    where = split.preload(memory_limit=0)  # too large for memory: a file under the cache
    assert where.endswith(".npy") and str(tmp_path / "cache" / "decoded") in where
    torch.testing.assert_close(split.get_images(range(len(split))), want, rtol=0, atol=0)

    # Another process (a new split object over the same files) opens the file, decoding nothing.
    again = folder_dataset(root, size=(8, 8)).split("base")
    again._read = None  # any decode would fail
    assert again.preload(memory_limit=0) == where
    torch.testing.assert_close(again.get_images(range(len(again))), want, rtol=0, atol=0)

    # A changed image (same size, new pixels) changes the fingerprint: a new file, the new pixels.
    path = split.root / split.paths[1]
    Image.fromarray(np.full((9, 7), 17, dtype=np.uint8), "L").save(path)
    changed = folder_dataset(root, size=(8, 8)).split("base")
    assert changed.fingerprint != split.fingerprint
    new_where = changed.preload(memory_limit=0)
    assert new_where != where
    img = changed.get_images([1])[0]
    assert torch.equal(img, torch.full_like(img, 17 / 255))
    assert len(list((tmp_path / "cache" / "decoded").glob("*.npy"))) == 2


def test_a_damaged_cache_file_is_rewritten(tmp_path):
    split = folder_dataset(_folder(tmp_path / "d")).split("base")
    want = split.get_images(range(len(split)))
    where = split.preload(memory_limit=0)
    with open(where, "r+b") as f:
        f.truncate(100)
    again = folder_dataset(tmp_path / "d").split("base")
    assert again.preload(memory_limit=0) == where
    torch.testing.assert_close(again.get_images(range(len(again))), want, rtol=0, atol=0)


def test_decoding_pass_in_worker_processes(tmp_path):
    split = folder_dataset(_folder(tmp_path / "d", n_classes=10, per_class=60)).split("base")
    want = split.get_images(range(len(split)))
    split.preload(workers=2)
    torch.testing.assert_close(split.get_images(range(len(split))), want, rtol=0, atol=0)


def test_images_of_another_size_are_named(tmp_path):
    from fewshot_clce.data import FileSplit

    root = _folder(tmp_path / "d", n_classes=2, per_class=2)
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8), "L").save(root / "class1" / "1.png")
    paths = [f"class{c}/{i}.png" for c in range(2) for i in range(2)]
    split = FileSplit(
        "toy", "base", root, paths, [0, 0, 1, 1], ["a", "b"], mode="L"
    )  # no common size
    with pytest.raises(
        ValueError, match=r"class1/1.png' decodes to shape \(4, 4\), sample 0 to \(9, 7\)"
    ):
        split.preload()
    assert not split.preloaded


def test_rotated_omniglot_split_caches_its_rotations(tmp_path):
    from _dataset_fixtures import write_omniglot

    from fewshot_clce import create_dataset

    write_omniglot(tmp_path / "data")
    base = create_dataset("omniglot[rotations=true]", root=tmp_path / "data").split("base")
    assert (base.quarter_turns % 4 != 0).any()
    want = base.get_images(range(len(base)))
    base.preload()
    torch.testing.assert_close(base.get_images(range(len(base))), want, rtol=0, atol=0)


def test_training_on_a_folder_decodes_once(tmp_path, monkeypatch, capsys):
    """`fewshot-clce train` on a folder dataset: two epochs read more images than the base split
    holds, so they are decoded once before training; each file is opened once by the training."""
    from fewshot_clce.cli import main
    from fewshot_clce.data import base as data_base

    root = _folder(tmp_path / "d", n_classes=10, per_class=8, size=(12, 12))
    opened = []
    real = data_base.read_array
    monkeypatch.setattr(
        data_base,
        "read_array",
        lambda path, *a, **k: opened.append(str(path)) or real(path, *a, **k),
    )
    monkeypatch.chdir(tmp_path)
    assert (
        main(
            argv(
                "train --dataset {dataset} --backbone conv4 --loss ce --out "
                "run --epochs 2 --steps-per-epoch 6 --batch-size 8 --val-ways "
                "2 --val-shots 1 --val-queries 2 --val-episodes 3 --device "
                "cpu --no-progress",
                dataset=f"folder:{root}",
            )
        )
        == 0
    )
    err = capsys.readouterr().err
    base = folder_dataset(root).split("base")
    assert f"decoding the {len(base):,} images of folder:d/base once" in err
    files = [str(base.root / p) for p in base.paths]
    counts = Counter(p for p in opened if p in set(files))
    # 2 epochs x 6 steps x 8 = 96 images read from 48 files: each decoded once (the first file
    # also by the probes of the image shape), not once per read.
    assert set(counts) == set(files)
    assert all(counts[f] == 1 for f in files[1:]), counts.most_common(3)
