import collections
import os
import pickle

import numpy as np
import pytest
import torch
from _cli import argv
from _dataset_fixtures import py2_pickle

from fewshot_clce.backbones.weights import load_checkpoint
from fewshot_clce.utils.safe_pickle import UnsafePickleError, load_pickle, load_pickle_bytes


class _TouchFile:
    """Unpickling this runs ``os.system('touch PATH')``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


class _Eval:
    def __reduce__(self):
        return eval, ("__import__('os').getcwd()",)


def test_payload_runs_with_plain_pickle(tmp_path):
    """The crafted file really is malicious: the standard unpickler runs its payload."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(_TouchFile(marker)))
    assert marker.exists()


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_malicious_pickle_refused_without_running(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(
        pickle.dumps({"data": np.zeros(3), "x": _TouchFile(marker)}, protocol=protocol)
    )
    with pytest.raises(UnsafePickleError, match=r"evil.pkl: it asks for the global 'posix.system'"):
        load_pickle(path)
    assert not marker.exists()


def test_eval_refused():
    with pytest.raises(UnsafePickleError, match="'builtins.eval'"):
        load_pickle_bytes(pickle.dumps([_Eval()]))


def test_other_codecs_refused():
    # _codecs.encode is allowed only for the latin1 bytes Python 3 writes at protocol 2.
    payload = b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x06\x00\x00\x00rot_13\x86R."
    with pytest.raises(UnsafePickleError, match="encoding 'rot_13'"):
        load_pickle_bytes(payload)


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_plain_data_and_numpy_round_trip(protocol):
    obj = {
        "a": np.arange(12, dtype=np.int64).reshape(3, 4),
        "u8": np.ones((2, 2, 3), np.uint8),
        "f": np.float32(1.5),
        "s": "text",
        "b": b"\x00\xff",
        "l": [1, 2.5, None, True],
        "t": (1, "x"),
        "set": {1, 2},
        "nested": {"k": [np.zeros(2)]},
        "obj": np.array([b"x", None], dtype=object),
        "dd": collections.defaultdict(list, {"k": [1]}),
        "od": collections.OrderedDict([("z", 1), ("a", 2)]),
    }
    back = load_pickle_bytes(pickle.dumps(obj, protocol=protocol))
    assert back.keys() == obj.keys()
    np.testing.assert_array_equal(back["a"], obj["a"])
    assert (
        back["u8"].dtype == np.uint8 and back["f"] == np.float32(1.5) and back["b"] == b"\x00\xff"
    )
    assert back["set"] == {1, 2} and back["t"] == (1, "x") and back["obj"].tolist() == [b"x", None]
    # admitted globals handed over as arguments arrive as themselves, not as their guards
    assert back["dd"].default_factory is list and back["dd"]["k"] == [1] and back["dd"]["new"] == []
    assert list(back["od"].items()) == [("z", 1), ("a", 2)] and type(back["a"]) is np.ndarray


def test_python2_pickle_with_numpy(tmp_path):
    """Python 2 str keys and ``numpy.core.multiarray`` arrays, as in CIFAR-100 and MetaOptNet files."""
    data = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = py2_pickle(
        {b"data": data, b"labels": [3, 1], b"names": [b"caf\xe9"]}, tmp_path / "py2.pickle"
    )
    with pytest.raises(UnicodeDecodeError):  # Python 3's default ASCII decoding of Python 2 str
        pickle.loads(path.read_bytes())
    back = load_pickle(path)
    np.testing.assert_array_equal(back["data"], data)
    assert back["labels"] == [3, 1] and back["names"] == ["caf\xe9"]


def test_not_a_pickle(tmp_path):
    path = tmp_path / "x.pkl"
    path.write_bytes(b"this is not a pickle")
    with pytest.raises(ValueError, match="x.pkl is not a readable pickle"):
        load_pickle(path)


class _Custom:
    def __init__(self):
        self.w = torch.ones(2)


def test_load_checkpoint(tmp_path):
    good = tmp_path / "good.pt"
    torch.save({"state_dict": {"w": torch.arange(3.0)}, "epoch": 4}, good)
    ck = load_checkpoint(good)
    assert ck["epoch"] == 4 and torch.equal(ck["state_dict"]["w"], torch.arange(3.0))
    bad = tmp_path / "bad.pt"
    torch.save({"model": _Custom()}, bad)
    with pytest.raises(ValueError, match="refusing to load checkpoint .*bad.pt"):
        load_checkpoint(bad)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_load_checkpoint_errors_are_one_short_line(tmp_path):
    obj = tmp_path / "obj.pt"
    torch.save({"layer": torch.nn.Linear(2, 2)}, obj)
    png = tmp_path / "image.pt"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    text = tmp_path / "text.pt"
    text.write_text("hello")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    whole = tmp_path / "whole.pt"
    torch.save({"w": torch.arange(1000.0)}, whole)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(whole.read_bytes()[:300])
    cases = [
        (obj, r"refusing to load checkpoint .*obj.pt.*the global torch.nn.modules.linear.Linear;"),
        (png, r"image.pt.*is not a PyTorch checkpoint"),
        (text, r"text.pt.*not a complete PyTorch checkpoint"),
        (empty, r"empty.pt.*not a complete PyTorch checkpoint.*empty or truncated"),
        (cut, r"cut.pt.*not a complete PyTorch checkpoint"),
    ]
    for path, pattern in cases:
        with pytest.raises(ValueError, match=pattern) as err:
            load_checkpoint(path)
        message = str(err.value)
        # torch's advice to retry with weights_only=False would run the file's code: never pass it on
        assert "\n" not in message and "weights_only` set to `False" not in message, message
        _no_bypass_advice(message)


def _no_bypass_advice(message: str) -> None:
    """None of the ways torch words its advice to load the file unsafely may reach the user."""
    lowered = message.lower().replace("`", "").replace(" ", "")
    for phrase in (
        "weights_only=false",
        "weights_onlysettofalse",
        "weights_only",
        "add_safe_globals",
        "safe_globals",
        "trustedsource",
        "trustthesource",
    ):
        assert phrase not in lowered, message


@pytest.mark.parametrize("protocol", [2, 4])
def test_a_hostile_checkpoint_names_the_global_and_gives_no_bypass_advice(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model": _TouchFile(marker)}, path, pickle_protocol=protocol)
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert not marker.exists()
    assert str(path) in message and "\n" not in message
    assert "posix.system" in message or "os.system" in message, message
    _no_bypass_advice(message)


def test_the_refused_global_is_found_whatever_torch_says(tmp_path, monkeypatch):
    """A future torch may word its error otherwise: the global is read from the file, not from the text."""
    path = tmp_path / "evil.pt"
    torch.save({"model": _Eval()}, path)

    def reworded(*args, **kwargs):
        raise pickle.UnpicklingError(
            "Loading refused. Set weights_only to False, or allowlist the class with "
            "torch.serialization.add_safe_globals, if you trust the source."
        )

    monkeypatch.setattr(torch, "load", reworded)
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "builtins.eval" in message, message
    _no_bypass_advice(message)


def test_the_cli_refuses_a_hostile_run_checkpoint_in_one_line(tmp_path, capsys):
    from fewshot_clce.cli import main

    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"model": _TouchFile(marker), "config": {}}, run / "checkpoint_best.pt")
    episodes = tmp_path / "e.npz"
    from fewshot_clce.episodes import sample_episodes

    sample_episodes(
        np.repeat(np.arange(5), 20),
        ways=5,
        shots=1,
        queries=2,
        episodes=2,
        seed=0,
        dataset="digits",
        split_name="novel",
    ).save(episodes)
    assert (
        main(
            argv(
                "evaluate {run} --episodes {episodes} --out {out}",
                run=run,
                episodes=episodes,
                out=tmp_path / "r.csv",
            )
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert (
        len(err.splitlines()) == 1
        and "posix.system" in err
        and str(run / "checkpoint_best.pt") in err
    ), err
    _no_bypass_advice(err)
    assert not marker.exists() and not (tmp_path / "r.csv").exists()


def test_a_checkpoint_torch_cannot_read_safely_gets_its_reason_without_advice(tmp_path):
    """torch's safe loader does not read protocol-4 pickles: the reason is kept, the advice is not."""
    path = tmp_path / "p4.pt"
    torch.save({"w": torch.ones(2)}, path, pickle_protocol=4)
    with pytest.raises(
        ValueError, match=r"p4.pt.*safe loader cannot read it \(Unsupported operand \d+\)"
    ) as info:
        load_checkpoint(path)
    _no_bypass_advice(str(info.value))


class _Call:
    """Pickles as a call of ``func(*args)``: a payload built only from admitted globals."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


GIB = 1 << 30


@pytest.mark.parametrize(
    "payload",
    [
        _Call(bytes, 10**12),
        _Call(bytearray, 10**12),
        _Call(list, _Call(range, 10**12)),
        _Call(frozenset, _Call(range, 10**11)),
        _Call(np.ndarray, (10**6, 10**6)),
        _Call(_reconstruct(), np.ndarray, (10**6, 10**6), b"b"),
    ],
    ids=["bytes", "bytearray", "list-range", "frozenset-range", "ndarray", "reconstruct"],
)
def test_admitted_globals_cannot_exhaust_memory(tmp_path, payload):
    path = tmp_path / "bomb.pkl"
    path.write_bytes(pickle.dumps({"data": payload}, protocol=4))
    assert path.stat().st_size < 1000
    with pytest.raises(
        UnsafePickleError, match=r"refusing to load .*bomb.pkl: it asks for \d+ bytes"
    ) as err:
        load_pickle(path)
    assert "\n" not in str(err.value)


def test_allocations_are_bounded_in_total(tmp_path, monkeypatch):
    """Many moderate allocations from a small file add up: the budget is per file, not per call."""
    import fewshot_clce.utils.safe_pickle as safe_load

    monkeypatch.setattr(safe_load, "ALLOCATION_FLOOR", 1 << 20)
    path = tmp_path / "many.pkl"
    path.write_bytes(pickle.dumps([_Call(bytes, 400_000) for _ in range(3)], protocol=2))
    with pytest.raises(
        UnsafePickleError, match=r"many.pkl: it asks for 400000 bytes .* to 1200000 bytes"
    ):
        load_pickle(path)
    path.write_bytes(pickle.dumps([_Call(bytes, 400_000) for _ in range(2)], protocol=2))
    assert [len(b) for b in load_pickle(path)] == [400_000, 400_000]


def test_repr_expansion_and_declared_lengths_refused(tmp_path):
    # str() of a list holding one big string many times would print it each time
    big = "x" * 10_000
    path = tmp_path / "repr.pkl"
    path.write_bytes(pickle.dumps(_Call(str, [big] * 10_000), protocol=4))
    with pytest.raises(UnsafePickleError, match="repr.pkl: it calls str"):
        load_pickle(path)
    # a BINBYTES8 opcode declaring a terabyte, with nothing behind it
    declared = tmp_path / "declared.pkl"
    declared.write_bytes(b"\x80\x04\x8e" + (10**12).to_bytes(8, "little") + b"abc")
    with pytest.raises(ValueError, match="declared.pkl"):
        load_pickle(declared)


def test_memory_bomb_through_the_cli_is_one_line(tmp_path, capsys):
    from fewshot_clce.cli import main

    folder = tmp_path / "CIFAR-FS"
    folder.mkdir()
    for part in ("train", "val", "test"):
        (folder / f"CIFAR_FS_{part}.pickle").write_bytes(
            pickle.dumps({"data": _Call(bytes, 10**12), "labels": [0]}, protocol=2)
        )
    assert (
        main(argv("show cifar-fs --root {root} --out {out}", root=tmp_path, out=tmp_path / "g.png"))
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("fewshot-clce show: error: refusing to load")
    assert "CIFAR_FS_train.pickle" in err
