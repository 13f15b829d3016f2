"""CLI option values (--device, --batch-size): resolved, or refused with a one-line error naming the value."""

import pytest
import torch
from _cli import argv

from fewshot_clce.cli import main
from fewshot_clce.utils.distributed import resolve_device


def test_cpu_and_auto():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_unknown_device_is_named():
    with pytest.raises(ValueError, match=r"unknown device 'foo'; use auto, cpu, cuda or cuda:N"):
        resolve_device("foo")


def test_absent_gpu_is_named(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(
        ValueError, match="'cuda' requested but no CUDA GPU is visible; use --device cpu"
    ):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(
        ValueError, match=r"'cuda:2' requested but only 2 CUDA GPU\(s\) are visible"
    ):
        resolve_device("cuda:2")


def test_evaluate_names_a_bad_device_before_loading_the_run(tmp_path, capsys):
    # the run folder does not exist: the device is checked first, so its error is the one shown
    code = main(
        argv(
            "evaluate {run} --episodes {episodes} --device foo",
            run=tmp_path / "run",
            episodes=tmp_path / "e.npz",
        )
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert (
        err == "fewshot-clce evaluate: error: unknown device 'foo'; use auto, cpu, cuda or cuda:N"
    )


def test_evaluate_batch_size_is_checked_by_its_flag(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv("evaluate {tmp_path} --episodes e.npz --batch-size 0", tmp_path=tmp_path))
    assert stop.value.code == 2
    assert "argument --batch-size: must be at least 1, got 0" in capsys.readouterr().err
