import numpy as np
import pytest
import torch
from _dataset_fixtures import OMNI_BACKGROUND, OMNI_EVALUATION, write_omniglot, zip_folder

from fewshot_clce.data import create_dataset, dataset_info

N_BG = sum(OMNI_BACKGROUND.values())
N_EV = sum(OMNI_EVALUATION.values())


@pytest.fixture(scope="module")
def omni_root(tmp_path_factory):
    return write_omniglot(tmp_path_factory.mktemp("omni"))


def test_background_base_evaluation_novel(omni_root):
    ds = create_dataset("omniglot", root=omni_root)
    assert set(ds.splits) == {"base", "novel"}
    base, novel = ds.split("base"), ds.split("novel")
    assert base.num_classes == N_BG and novel.num_classes == N_EV
    assert base.class_names[:3] == ["Greek/character01", "Greek/character02", "Greek/character03"]
    assert {c.split("/")[0] for c in novel.class_names} == set(OMNI_EVALUATION)
    assert base.class_counts.tolist() == [3] * N_BG
    x, _ = novel[0]
    assert x.shape == (1, 105, 105) and x.dtype == torch.float32
    with pytest.raises(ValueError, match="has no split 'val'"):
        ds.split("val")
    assert dataset_info("omniglot")["available"](omni_root)


def test_rotations_add_base_classes(omni_root):
    plain = create_dataset("omniglot", root=omni_root, image_size=15).split("base")
    rot = create_dataset("omniglot", root=omni_root, image_size=15, rotations=True).split("base")
    assert rot.num_classes == 4 * N_BG and len(rot) == 4 * len(plain)
    assert rot.class_names[N_BG] == "Greek/character01@90"
    assert rot.class_names[3 * N_BG] == "Greek/character01@270"
    i = len(plain) + 5  # drawing 5, first rotated copy
    assert rot.labels[i] == plain.labels[5] + N_BG
    torch.testing.assert_close(rot[i][0], torch.rot90(plain[5][0], 1, dims=(1, 2)))
    assert rot.fingerprint != plain.fingerprint
    # novel classes are never rotated
    assert (
        create_dataset("omniglot", root=omni_root, rotations=True).split("novel").num_classes
        == N_EV
    )


def test_val_alphabets(omni_root):
    ds = create_dataset("omniglot", root=omni_root, val_alphabets=1)
    # sorted background alphabets: Greek, Korean, Latin -> Latin is held out
    assert {c.split("/")[0] for c in ds.split("val").class_names} == {"Latin"}
    assert ds.split("base").num_classes == N_BG - OMNI_BACKGROUND["Latin"]
    with pytest.raises(ValueError, match="val_alphabets=3 must lie in"):
        create_dataset("omniglot", root=omni_root, val_alphabets=3)


def test_zips_extract_to_same_fingerprints(omni_root, tmp_path):
    (tmp_path / "omniglot-py").mkdir()
    for part in ("images_background", "images_evaluation"):
        zip_folder(omni_root / part, tmp_path / "omniglot-py" / f"{part}.zip")
    from fewshot_clce.cli import main

    assert main(["datasets", "--root", str(tmp_path)]) == 0  # listing extracts nothing
    assert sorted(p.name for p in (tmp_path / "omniglot-py").iterdir()) == [
        "images_background.zip",
        "images_evaluation.zip",
    ]
    a = create_dataset("omniglot", root=omni_root)
    b = create_dataset("omniglot", root=tmp_path)
    assert (tmp_path / "omniglot-py" / "images_background" / "Greek").is_dir()
    for s in a.splits:
        assert a.split(s).fingerprint == b.split(s).fingerprint
    np.testing.assert_array_equal(a.split("novel").labels, b.split("novel").labels)
