"""The run folder's format_version, read through one migration, and resuming on the resolved settings."""

import pytest
import torch
import yaml

from fewshot_clce.cli import main
from fewshot_clce.training import run_folder


def _train(out, *extra):
    return main(
        [
            "train",
            "--dataset",
            "digits",
            "--backbone",
            "conv4",
            "--loss",
            "ce",
            "--epochs",
            "1",
            "--batch-size",
            "16",
            "--steps-per-epoch",
            "1",
            "--val-episodes",
            "5",
            "--no-progress",
            "--device",
            "cpu",
            "--out",
            str(out),
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "ce"
    assert _train(out) == 0
    return out


def test_training_records_the_format_version(run_dir):
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["format_version"] == run_folder.FORMAT_VERSION == 1
    saved = torch.load(run_dir / "checkpoint_best.pt", weights_only=True)["config"]
    assert saved["format_version"] == 1


def test_a_config_without_version_is_read_as_version_1(run_dir, tmp_path):
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    del config["format_version"], config["derived"]["dataset_spec"], config["derived"]["dataset_id"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    read = run_folder.read_config(tmp_path)
    assert read["format_version"] == 1
    assert read["derived"]["dataset_spec"] == "digits" and read["derived"]["dataset_id"] == "digits"


def test_an_unknown_format_version_is_refused_naming_the_file(run_dir, tmp_path):
    config = dict(yaml.safe_load((run_dir / "config.yaml").read_text()), format_version=7)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(
        ValueError,
        match=r"config\.yaml': it has format_version 7, .*reads versions up to "
        "1; upgrade fewshot-clce, or retrain the run",
    ):
        run_folder.read_config(tmp_path)


def test_resume_compares_the_resolved_settings(run_dir, tmp_path, capsys):
    """A setting the saved configuration does not record is its default (as the benchmark reads
    run folders); a setting that differs is refused, naming it."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    state = run_folder.read_checkpoint(copy / "checkpoint_last.pt")
    del state["config"]["steps_as_batch"], state["config"]["format_version"]  # default None
    run_folder.save_checkpoint(copy / "checkpoint_last.pt", state)
    capsys.readouterr()
    assert _train(copy, "--resume") == 0
    assert "already finished its 1 epoch" in capsys.readouterr().err
    assert _train(copy, "--resume", "--lr", "0.01") == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err and "lr: 0.05 in the run, 0.01 now" in err
