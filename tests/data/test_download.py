"""Downloads: only when asked; offline they fail saying where to put the files."""

import hashlib
import socket

import pytest

from fewshot_clce.data import create_dataset
from fewshot_clce.data._download import DatasetNotFoundError, fetch


@pytest.fixture
def offline(monkeypatch):
    """No network: name resolution and connections fail, as on a machine without internet."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise socket.gaierror(socket.EAI_NONAME, "network disabled in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", lambda self, *a: refuse(*a))
    return attempts


@pytest.mark.parametrize(
    "name,layout_part",
    [
        ("cifar-fs", "cifar-100-python/{train,test,meta}"),
        ("fc100", "FC100/FC100_{train,val,test}.pickle"),
        ("mini-imagenet", "mini-imagenet-cache-{train,validation,test}.pkl"),
        ("tiered-imagenet", "tiered-imagenet/{train,val,test}_images_png.pkl"),
        ("cub", "CUB_200_2011/images/"),
        ("omniglot", "images_background/<Alphabet>/<characterNN>/*.png"),
    ],
)
def test_offline_download_says_where_to_put_files(tmp_path, offline, name, layout_part):
    with pytest.raises(DatasetNotFoundError) as err:
        create_dataset(name, root=tmp_path, download=True)
    msg = str(err.value)
    assert f"could not download {name} from https://" in msg
    assert f"put the files under {tmp_path}" in msg and layout_part in msg
    assert offline, "the loader should have tried the network"
    assert not [p for p in tmp_path.rglob("*") if p.is_file()], (
        "nothing half-downloaded is left behind"
    )


def test_no_download_unless_asked(tmp_path, offline):
    with pytest.raises(DatasetNotFoundError, match="Get it with download=True"):
        create_dataset("cub", root=tmp_path)
    assert not offline


def test_fetch_checks_md5_and_is_atomic(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"payload")
    url = src.as_uri()  # file:// needs no network
    dest = fetch(url, tmp_path / "out" / "a.bin", md5=hashlib.md5(b"payload").hexdigest())
    assert dest.read_bytes() == b"payload"
    with pytest.raises(ValueError, match="expected 0+"):
        fetch(url, tmp_path / "out" / "b.bin", md5="0" * 32)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.bin"]


def test_cli_download_offline_is_one_line_error(tmp_path, offline, capsys):
    from fewshot_clce.cli import main

    assert main(["datasets", "--root", str(tmp_path), "--download", "omniglot"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fewshot-clce datasets: error: could not download omniglot")
    assert "images_background" in err


def test_cli_lists_found_dataset(tmp_path, capsys):
    from _dataset_fixtures import write_omniglot

    from fewshot_clce.cli import main

    write_omniglot(tmp_path / "omniglot")
    assert main(["datasets", "--root", str(tmp_path)]) == 0
    rows = [
        line.split()
        for line in capsys.readouterr().out.splitlines()
        if line.split()[:1] == ["omniglot"]
    ]
    assert [(r[1], r[2], r[-1]) for r in rows] == [("base", "7", "yes"), ("novel", "5", "yes")]
