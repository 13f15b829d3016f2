import numpy as np
import pytest
from _dataset_fixtures import write_mini_csv, write_mini_learn2learn, write_mini_metaoptnet

from fewshot_clce.data import create_dataset, dataset_info
from fewshot_clce.data._classes import split_list
from fewshot_clce.data._download import DatasetNotFoundError
from fewshot_clce.utils.safe_pickle import load_pickle

LISTS = {
    "base": "mini_imagenet_train.txt",
    "val": "mini_imagenet_val.txt",
    "novel": "mini_imagenet_test.txt",
}
COUNTS = {"base": 64, "val": 16, "novel": 20}


def _check_splits(ds, per_class, shape):
    for split, n in COUNTS.items():
        s = ds.split(split)
        assert s.num_classes == n == dataset_info("mini-imagenet")["classes"][split]
        assert s.class_names == list(split_list(LISTS[split]))
        assert s.class_counts.tolist() == [per_class] * n
        x, y = s[len(s) - 1]
        assert tuple(x.shape) == shape and x.dtype.is_floating_point
        assert s.get_images([0, 1]).shape == (2, *shape)


def test_learn2learn_cache(tmp_path):
    paths = write_mini_learn2learn(tmp_path / "mini-imagenet")
    ds = create_dataset("mini-imagenet", root=tmp_path)
    _check_splits(ds, 2, (3, 8, 8))
    # Sample i keeps its position; its label is the split-list index of its class_dict entry.
    raw = load_pickle(paths["val"])
    s = ds.split("val")
    for wnid, idx in raw["class_dict"].items():
        assert (s.labels[idx] == s.class_names.index(wnid)).all()
    np.testing.assert_array_equal(s.images, raw["image_data"])
    assert create_dataset("mini-imagenet", root=tmp_path).split("val").fingerprint == s.fingerprint


def test_metaoptnet_pickles(tmp_path):
    write_mini_metaoptnet(tmp_path)
    ds = create_dataset("mini-imagenet", root=tmp_path)
    _check_splits(ds, 2, (3, 8, 8))
    assert ds.split("novel").images.dtype == np.uint8


def test_images_and_csv(tmp_path):
    write_mini_csv(tmp_path / "miniImageNet")
    ds = create_dataset("mini-imagenet", root=tmp_path, image_size=16)
    _check_splits(ds, 1, (3, 16, 16))
    fp = [s.fingerprint for s in ds.splits.values()]
    # The fingerprint names files relative to images/, so a moved copy keeps it.
    (tmp_path / "miniImageNet").rename(tmp_path / "mini-imagenet")
    moved = create_dataset("mini-imagenet", root=tmp_path, image_size=16)
    assert [s.fingerprint for s in moved.splits.values()] == fp


def test_format_option_and_errors(tmp_path):
    write_mini_learn2learn(tmp_path)
    write_mini_metaoptnet(tmp_path, per_class=3)
    assert create_dataset("mini-imagenet", root=tmp_path).split("val").class_counts[0] == 2
    assert (
        create_dataset("mini-imagenet", root=tmp_path, format="metaoptnet")
        .split("val")
        .class_counts[0]
        == 3
    )
    with pytest.raises(DatasetNotFoundError, match="mini-imagenet not found"):
        create_dataset("mini-imagenet", root=tmp_path, format="csv")
    with pytest.raises(ValueError, match="format 'zip' is not one of"):
        create_dataset("mini-imagenet", root=tmp_path, format="zip")


def test_wrong_split_is_refused(tmp_path):
    paths = write_mini_learn2learn(tmp_path)
    # A test file holding the validation classes.
    paths["novel"].write_bytes(paths["val"].read_bytes())
    with pytest.raises(
        ValueError, match="mini-imagenet novel split .* 20 of its 20 classes are missing"
    ):
        create_dataset("mini-imagenet", root=tmp_path)
