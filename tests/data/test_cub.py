import pytest
from _dataset_fixtures import tar_folder, write_cub

from fewshot_clce.data import create_dataset, dataset_info
from fewshot_clce.data._classes import split_list


@pytest.fixture(scope="module")
def cub_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cub")
    write_cub(root, per_class=2)
    return root


@pytest.mark.parametrize(
    "split,files,counts",
    [
        ("default", ("cub_train.txt", "cub_val.txt", "cub_test.txt"), (140, 30, 30)),
        (
            "closerlook",
            ("cub_closerlook_base.txt", "cub_closerlook_val.txt", "cub_closerlook_novel.txt"),
            (100, 50, 50),
        ),
    ],
)
def test_class_splits(cub_root, split, files, counts):
    ds = create_dataset("cub", root=cub_root, split=split, image_size=20)
    for sname, f, n in zip(("base", "val", "novel"), files, counts):
        s = ds.split(sname)
        assert s.num_classes == n
        assert s.class_names == list(split_list(f))
        assert s.class_counts.tolist() == [2] * n
        x, y = s[len(s) - 1]
        assert tuple(x.shape) == (3, 20, 20) and y == n - 1
        assert s.paths[0].parts[0] == s.class_names[0]
    assert dataset_info("cub")["classes"] == {"base": 140, "val": 30, "novel": 30}


def test_fingerprint_stable_and_sensitive(cub_root, tmp_path):
    a = create_dataset("cub", root=cub_root).split("val").fingerprint
    assert create_dataset("cub", root=cub_root).split("val").fingerprint == a
    write_cub(tmp_path, per_class=1)
    assert create_dataset("cub", root=tmp_path).split("val").fingerprint != a


def test_tgz_is_extracted_once(cub_root, tmp_path):
    archive_dir = tmp_path / "data"
    archive_dir.mkdir()
    tar_folder(cub_root / "CUB_200_2011", archive_dir / "CUB_200_2011.tgz")
    assert dataset_info("cub")["available"](archive_dir)
    ds = create_dataset("cub", root=archive_dir)
    assert (archive_dir / "CUB_200_2011" / "images").is_dir()
    assert (
        ds.split("novel").fingerprint
        == create_dataset("cub", root=cub_root).split("novel").fingerprint
    )
    create_dataset("cub", root=archive_dir)  # second call reads the extracted folder


def test_incomplete_copy_and_bad_option(tmp_path):
    write_cub(tmp_path)
    import shutil

    shutil.rmtree(tmp_path / "CUB_200_2011" / "images" / "200.Common_Yellowthroat")
    with pytest.raises(
        ValueError, match="1 of its 200 classes are missing .*200.Common_Yellowthroat"
    ):
        create_dataset("cub", root=tmp_path)
    with pytest.raises(ValueError, match="split 'ravi' is not one of default, closerlook"):
        create_dataset("cub", root=tmp_path, split="ravi")


def test_listing_never_extracts_an_archive(tmp_path, capsys):
    from _dataset_fixtures import cve_2025_4517_tar

    from fewshot_clce.cli import main

    hostile = tmp_path / "hostile"
    hostile.mkdir()
    cve_2025_4517_tar(hostile / "CUB_200_2011.tgz")
    assert main(["datasets", "--root", str(hostile)]) == 0
    out = capsys.readouterr().out
    assert [p.name for p in hostile.iterdir()] == ["CUB_200_2011.tgz"]  # nothing extracted
    assert not any(p.name == "owned.txt" for p in tmp_path.rglob("*"))
    cub_rows = [line.split() for line in out.splitlines() if line.split()[:1] == ["cub"]]
    assert [(r[1], r[-1]) for r in cub_rows] == [
        ("base", "archive"),
        ("val", "archive"),
        ("novel", "archive"),
    ]
    assert f"cub: {hostile / 'CUB_200_2011.tgz'} is here, extracted on first use" in out

    # a genuine archive is not extracted by the listing either
    genuine = tmp_path / "genuine"
    write_cub(tmp_path / "src")
    genuine.mkdir()
    tar_folder(tmp_path / "src" / "CUB_200_2011", genuine / "CUB_200_2011.tgz")
    assert main(["datasets", "--root", str(genuine)]) == 0
    assert [p.name for p in genuine.iterdir()] == ["CUB_200_2011.tgz"]
    assert "extracted on first use" in capsys.readouterr().out
