import numpy as np
import pytest
from _dataset_fixtures import cifar100_names, tar_folder, write_cifar100, write_metaoptnet_cifar

from fewshot_clce.data import create_dataset, dataset_info
from fewshot_clce.data._classes import split_list
from fewshot_clce.data._download import DatasetNotFoundError


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    write_cifar100(root)
    return root


@pytest.mark.parametrize(
    "name,counts,lists",
    [
        ("cifar-fs", {"base": 64, "val": 16, "novel": 20}, "cifar_fs_{}.tsv"),
        ("fc100", {"base": 60, "val": 20, "novel": 20}, "fc100_{}.txt"),
    ],
)
def test_from_cifar100_folder(cifar_root, name, counts, lists):
    ds = create_dataset(name, root=cifar_root)
    for split, f in zip(("base", "val", "novel"), ("train", "val", "test")):
        s = ds.split(split)
        assert s.num_classes == counts[split] == dataset_info(name)["classes"][split]
        assert s.class_names == list(split_list(lists.format(f)))
        # 2 training + 1 test image per class in the fixture.
        assert s.class_counts.tolist() == [3] * counts[split]
        x, y = s[0]
        assert (
            x.shape == (3, 32, 32) and x.dtype.is_floating_point and 0 <= x.min() and x.max() <= 1
        )
        assert s.images.dtype == np.uint8 and s.images.shape[1:] == (32, 32, 3)
    assert ds.split("base").labels.dtype == np.int64


def test_cifar100_pixels_and_labels_follow_the_archive(cifar_root):
    """Class 'apple' (fine label 0) gets training rows 0, 1 and test row 0, decoded from the
    [R-plane, G-plane, B-plane] row layout."""
    from fewshot_clce.utils.safe_pickle import load_pickle

    train = load_pickle(cifar_root / "cifar-100-python" / "train")
    test = load_pickle(cifar_root / "cifar-100-python" / "test")
    ds = create_dataset("cifar-fs", root=cifar_root)
    split = next(s for s in ds.splits.values() if "apple" in s.class_names)
    idx = split.indices_of(split.class_names.index("apple"))
    expect = np.concatenate([train["data"][:2], test["data"][:1]]).reshape(3, 3, 32, 32)
    got = (split.get_images(idx) * 255).round().to(int).numpy()
    np.testing.assert_array_equal(got, expect)


def test_tar_gz_gives_same_fingerprints_as_folder(cifar_root, tmp_path):
    tar_folder(cifar_root / "cifar-100-python", tmp_path / "cifar-100-python.tar.gz")
    a = create_dataset("fc100", root=cifar_root)
    b = create_dataset("fc100", root=tmp_path)
    assert not (tmp_path / "cifar-100-python").exists()  # read in place, not extracted
    for s in ("base", "val", "novel"):
        assert a.split(s).fingerprint == b.split(s).fingerprint
        assert len(a.split(s).fingerprint) == 16


def test_fingerprint_changes_with_pixels(cifar_root, tmp_path):
    write_cifar100(tmp_path, seed=5)
    a = create_dataset("cifar-fs", root=cifar_root).split("novel")
    b = create_dataset("cifar-fs", root=tmp_path).split("novel")
    assert a.class_names == b.class_names and a.fingerprint != b.fingerprint


@pytest.mark.parametrize("name", ["cifar-fs", "fc100"])
def test_metaoptnet_pickles(tmp_path, name):
    write_metaoptnet_cifar(tmp_path, name)
    ds = create_dataset(name, root=tmp_path)
    fine = cifar100_names()
    for s in ds.splits.values():
        assert s.class_counts.tolist() == [2] * s.num_classes
        assert set(s.class_names) <= set(fine)
        assert s[0][0].shape == (3, 32, 32)
    assert dataset_info(name)["available"](tmp_path)
    again = create_dataset(name, root=tmp_path)
    assert [s.fingerprint for s in again.splits.values()] == [
        s.fingerprint for s in ds.splits.values()
    ]


def test_pickles_preferred_then_source_option(cifar_root, tmp_path):
    write_cifar100(tmp_path)
    write_metaoptnet_cifar(tmp_path, "cifar-fs")
    assert create_dataset("cifar-fs", root=tmp_path).split("base").class_counts[0] == 2
    assert (
        create_dataset("cifar-fs", root=tmp_path, source="cifar100").split("base").class_counts[0]
        == 3
    )
    with pytest.raises(ValueError, match="source 'x' is not one of"):
        create_dataset("cifar-fs", root=tmp_path, source="x")


def test_pickle_with_wrong_classes_is_refused(tmp_path):
    from _dataset_fixtures import py2_pickle, rand_images

    write_metaoptnet_cifar(tmp_path, "cifar-fs")
    # Put an FC100-only class distribution into the CIFAR-FS val file.
    fine = cifar100_names()
    labels = [fine.index(c) for c in split_list("cifar_fs_train.tsv")[:16]]
    py2_pickle(
        {b"data": rand_images(16, 32, 0), b"labels": labels},
        tmp_path / "CIFAR-FS" / "CIFAR_FS_val.pickle",
    )
    with pytest.raises(
        ValueError, match=r"cifar-fs val split from .*CIFAR_FS_val.pickle: 16 of its 16 classes"
    ):
        create_dataset("cifar-fs", root=tmp_path)


def test_missing_data_names_layout(tmp_path):
    assert not dataset_info("cifar-fs")["available"](tmp_path)
    with pytest.raises(
        DatasetNotFoundError, match=r"(?s)cifar-fs not found under .*cifar-100-python/\{train,"
    ):
        create_dataset("cifar-fs", root=tmp_path)


def test_fine_names_cover_cifar100_in_label_order():
    from fewshot_clce.data.cifar import cifar100_fine_names

    names = cifar100_fine_names()
    fc100 = {c for f in ("train", "val", "test") for c in split_list(f"fc100_{f}.txt")}
    assert len(names) == 100 and set(names) == fc100
    # CIFAR-100 numbers its fine labels alphabetically: 0 apple, 1 aquarium_fish, ..., 99 worm
    assert names[:2] == ["apple", "aquarium_fish"] and names[-1] == "worm"


@pytest.mark.parametrize("kind", ["missing", "symlink", "truncated"])
def test_tar_gz_without_a_plain_member_is_a_clear_error(cifar_root, tmp_path, kind):
    import io
    import tarfile

    archive = tmp_path / "cifar-100-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for part in ("meta", "train", "test"):
            if part == "train" and kind == "missing":
                continue
            info = tarfile.TarInfo(f"cifar-100-python/{part}")
            if part == "train":
                info.type, info.linkname = tarfile.SYMTYPE, "test"
                tf.addfile(info)
            else:
                data = (cifar_root / "cifar-100-python" / part).read_bytes()
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    message = r"cifar-100-python.tar.gz has no plain file cifar-100-python/train"
    if kind == "truncated":
        tar_folder(cifar_root / "cifar-100-python", archive)
        archive.write_bytes(archive.read_bytes()[:2000])
        message = r"cifar-100-python.tar.gz is truncated or damaged .*re-download it"
    with pytest.raises(ValueError, match=message):
        create_dataset("cifar-fs", root=tmp_path, source="cifar100")
