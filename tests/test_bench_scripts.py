"""The benchmark scripts run end to end on tiny settings and report as promised: per-round figures,
the load average before and after, and the ratio on the last line (timings are not checked)."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _script(name):
    sys.path.insert(0, str(BENCHMARKS))  # the scripts import their shared _timing module
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _report(capsys):
    lines = capsys.readouterr().out.strip().splitlines()
    assert any(line.startswith("load average before: ") for line in lines), lines
    assert any(line.startswith("load average after: ") for line in lines), lines
    return lines


@pytest.mark.slow
def test_bench_training_times_the_trainer_in_alternating_rounds(capsys, monkeypatch):
    bench = _script("bench_training")
    seen = []
    real = bench.train_rate

    def spy(loss, out, args):
        rate = real(loss, out, args)
        seen.append((loss, rate))
        return rate

    monkeypatch.setattr(bench, "train_rate", spy)
    bench.main(
        [
            "--dataset",
            "digits",
            "--batch-size",
            "16",
            "--steps",
            "2",
            "--rounds",
            "2",
            "--val-episodes",
            "5",
        ]
    )
    lines = _report(capsys)
    assert [loss for loss, _ in seen] == ["ce", "clce", "clce", "ce"]  # ABBA
    assert sum(line.startswith("round ") for line in lines) == 2
    rates = {loss: [r for name, r in seen if name == loss] for loss in ("ce", "clce")}
    ratios = sorted(ce / clce for ce, clce in zip(rates["ce"], rates["clce"]))
    last = re.fullmatch(
        r"clce/ce step time \(trainer's images_per_s\): ([\d.]+)x \(median of 2 rounds, "
        r"([\d.]+)x-([\d.]+)x\)",
        lines[-1],
    )
    assert last, lines[-1]
    assert float(last[1]) == pytest.approx(sum(ratios) / 2, abs=0.006)
    assert float(last[2]) == pytest.approx(ratios[0], abs=0.006)


@pytest.mark.slow
def test_bench_folder_compares_files_with_the_same_images_as_arrays(capsys):
    bench = _script("bench_folder")
    bench.main(
        [
            "--source",
            "digits",
            "--classes",
            "4",
            "--file-size",
            "24",
            "--image-size",
            "16",
            "--backbone",
            "conv4",
            "--batch-size",
            "16",
            "--steps",
            "2",
            "--epochs",
            "2",
            "--rounds",
            "1",
            "--num-workers",
            "0",
        ]
    )
    lines = _report(capsys)
    assert re.fullmatch(
        r"folder/arrays images per second \(epochs 2\+\): [\d.]+x \(median of 1 rounds, .*\)",
        lines[-1],
    ), lines[-1]


def test_bench_folder_array_twin_holds_the_decoded_files(tmp_path):
    """The arrays the folder is compared against are the very pixels the folder's files decode to."""
    import numpy as np

    from fewshot_clce.data import create_dataset

    bench = _script("bench_folder")
    spec = bench.write_folder(tmp_path / "images", "digits", 3, 12)
    bench.register_arrays(spec)
    folder, arrays = create_dataset(spec), create_dataset(bench.ARRAYS)
    for name in ("base", "val"):
        f, a = folder.split(name), arrays.split(name)
        assert (len(f), f.class_names, list(f.labels)) == (len(a), a.class_names, list(a.labels))
        assert f.image_shape == a.image_shape == (1, 12, 12)
        np.testing.assert_array_equal(
            f.get_images(range(len(f))).numpy(), a.get_images(range(len(a))).numpy()
        )


@pytest.mark.parametrize("script", ["bench_training", "bench_folder", "bench_losses"])
def test_bench_scripts_refuse_zero_rounds(script, capsys):
    with pytest.raises(SystemExit):
        _script(script).main(["--rounds", "0"])
    assert "--rounds must be at least 1" in capsys.readouterr().err
