"""The benchmark's transfer settings: every loss fine-tuned from one set of weights (``--init``), those
weights evaluated without fine-tuning (``--baseline-backbone``), and every run also evaluated on
another dataset's novel split (``--eval-datasets``), walked through the CLI as a user types it."""

import json
import shutil

import pandas as pd
import pytest
import torch
import yaml

from fewshot_clce.backbones.factory import create_backbone
from fewshot_clce.benchmark.config import resolve
from fewshot_clce.benchmark.run import run_benchmark
from fewshot_clce.cli import main
from fewshot_clce.training.run_folder import file_id

pytestmark = pytest.mark.slow  # two tiny trainings on glyphs[max_per_block=2] (about 30 s)

GLYPHS = "glyphs[max_per_block=2]"
SETTINGS = [
    "--dataset",
    GLYPHS,
    "--losses",
    "ce",
    "clce",
    "--seeds",
    "0",
    "--epochs",
    "1",
    "--batch-size",
    "64",
    "--shots",
    "1",
    "--heads",
    "centroid",
    "--episodes",
    "20",
    "--val-episodes",
    "10",
    "--no-default-grids",
    "--no-tsne",
    "--no-progress",
    "--device",
    "cpu",
]
# the same benchmark through the API, for resuming it
API = dict(
    datasets=[GLYPHS],
    losses=["ce", "clce"],
    seeds=[0],
    epochs=1,
    batch_size=[64],
    shots=[1],
    heads=["centroid"],
    episodes=20,
    val_episodes=10,
    default_grids=False,
    tsne=False,
    progress=False,
    device="cpu",
    baseline_backbone=True,
    eval_datasets=["digits"],
)


def _weights(path, seed, name="conv4", channels=1):
    torch.manual_seed(seed)
    torch.save(create_backbone(name, in_chans=channels).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """The benchmark run through the CLI with --init, --baseline-backbone and --eval-datasets."""
    tmp = tmp_path_factory.mktemp("transfer")
    init = _weights(tmp / "init.pt", 0)
    out = tmp / "out"
    assert (
        main(
            [
                "benchmark",
                *SETTINGS,
                "--init",
                str(init),
                "--baseline-backbone",
                "--eval-datasets",
                "digits",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    return tmp, init, out


def _no_work(monkeypatch):
    """Make any training or feature extraction fail loudly: errors must come before the work."""
    import fewshot_clce.features as features
    from fewshot_clce.training import trainer

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the error")

    monkeypatch.setattr(features, "_forward", forbidden)
    monkeypatch.setattr(trainer, "train", forbidden)


def test_the_user_command_prints_in_domain_and_cross_domain_tables(bench, capsys):
    tmp, init, out = bench
    # the fixture's output was captured by pytest before this test; the files say the same
    md = (out / "summary.md").read_text()
    assert f"## trained on {GLYPHS}: accuracy % on the novel classes of each dataset" in md
    assert f"| loss | head | shots | {GLYPHS} (trained on) | digits |" in md
    assert f"## trained on {GLYPHS}, evaluated on digits" in md
    assert (out / f"plots/accuracy_{GLYPHS}_on_digits.png").is_file()
    report = (out / "REPORT.md").read_text()
    assert f"Trained on {GLYPHS}, evaluated on digits" in report
    assert f"`{init}` (sha256 digest {file_id(init)})" in report and "the row `init`" in report
    # the report recomputed from per_episode.csv alone keeps the cross-domain rows apart
    (out / "REPORT.md").unlink()
    assert main(["report", str(out)]) == 0
    capsys.readouterr()
    again = (out / "REPORT.md").read_text()
    assert f"Trained on {GLYPHS}, evaluated on digits" in again and "the row `init`" in again


def test_every_loss_starts_from_weights_of_the_same_digest(bench):
    tmp, init, out = bench
    digest = file_id(init)
    assert json.loads((out / "config.json").read_text())["init_digest"] == digest
    runs = sorted((out / "runs" / GLYPHS).iterdir())
    assert len(runs) == 2
    for run in runs:
        config = yaml.safe_load((run / "config.yaml").read_text())
        assert config["derived"]["init_digest"] == digest and config["checkpoint"] == str(
            init.resolve()
        )


def test_eval_datasets_and_baseline_backbone_add_their_rows(bench):
    tmp, init, out = bench
    df = pd.read_csv(out / "per_episode.csv")
    novel = df[df["split"] == "novel"]
    pairs = set(zip(novel["loss"], novel["train_dataset"], novel["dataset"]))
    assert pairs == {
        (loss, GLYPHS, d) for loss in ("init", "ce", "clce") for d in (GLYPHS, "digits")
    }
    cross = pd.read_csv(out / "summary_cross.csv")
    assert set(cross["loss"]) == {"init", "ce", "clce"} and set(cross["dataset"]) == {"digits"}
    assert set(cross["train_dataset"]) == {GLYPHS} and cross["mean"].between(0, 1).all()
    assert (
        cross.loc[cross["loss"] != "ce", "delta"].notna()
    ).all()  # paired with ce on the digits episodes
    summary = pd.read_csv(out / "summary.csv")
    assert set(summary["dataset"]) == {GLYPHS} and set(summary["loss"]) == {"init", "ce", "clce"}
    assert json.loads((out / "results.json").read_text())["cross"]


def test_a_rerun_reuses_everything_and_other_weights_are_refused(
    bench, tmp_path, capsys, monkeypatch
):
    tmp, init, out = bench
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    with monkeypatch.context() as m:
        _no_work(
            m
        )  # every training and evaluation, the init row's and the cross-domain ones included, is reused
        again = run_benchmark(resolve(**API, init=str(init)), copy, log=lambda m: None)
    assert again.trained == [] and again.evaluated == []
    clce = next(n for n in again.reused_evaluations if n.startswith("clce-") and " on " not in n)
    assert sorted(again.reused_evaluations) == [
        "ce-bs64-s0",
        "ce-bs64-s0 on digits",
        clce,
        f"{clce} on digits",
    ]
    # the same file name with other contents, and another file: both digests are named
    other = _weights(tmp_path / "other.pt", 1)
    for weights in (other, _weights(tmp_path / "init.pt", 1)):
        before = sorted(p.name for p in copy.iterdir())
        assert (
            main(
                [
                    "benchmark",
                    *SETTINGS,
                    "--init",
                    str(weights),
                    "--baseline-backbone",
                    "--eval-datasets",
                    "digits",
                    "--out",
                    str(copy),
                ]
            )
            == 2
        )
        err = capsys.readouterr().err
        assert f"started from weights with digest {file_id(init)}" in err
        errors = [
            line for line in err.strip().splitlines() if not line.startswith("glyphs: first use")
        ]
        assert f"has digest {file_id(weights)}" in err and len(errors) == 1
        assert sorted(p.name for p in copy.iterdir()) == before
    # and without --init at all
    assert main(["benchmark", *SETTINGS, "--out", str(copy)]) == 2
    assert "no --init is given" in capsys.readouterr().err


def test_a_run_started_from_other_weights_is_refused(bench, tmp_path):
    """A run folder trained (e.g. by hand, from --plan's commands) from other weights is not reused."""
    tmp, init, out = bench
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    run = copy / "runs" / GLYPHS / "ce-bs64-s0"
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["derived"]["init_digest"] = "0123456789abcdef"
    (run / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    with pytest.raises(
        ValueError, match=f"started from weights with digest 0123456789abcdef, not {file_id(init)}"
    ):
        run_benchmark(resolve(**API, init=str(init)), copy, log=lambda m: None)


def test_plan_trains_every_loss_from_the_init_file(bench, capsys):
    tmp, init, out = bench
    assert (
        main(
            [
                "benchmark",
                *SETTINGS,
                "--init",
                str(init),
                "--baseline-backbone",
                "--eval-datasets",
                "digits",
                "--out",
                str(out),
                "--plan",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()[:-1]
    assert len(lines) == 2 and all(f"--checkpoint {init.resolve()}" in line for line in lines)
    assert all(line.startswith("[finished]") for line in lines)


def test_bad_transfer_settings_are_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    _no_work(monkeypatch)
    _weights(tmp_path / "resnet12.pt", 0, "resnet12")
    (tmp_path / "notes.pt").write_text("not weights")
    out = tmp_path / "out"
    cases = [
        (
            ["--init", str(tmp_path / "nope.pt")],
            "--init '" + str(tmp_path / "nope.pt") + "' does not exist",
        ),
        (["--init", str(tmp_path)], "is a folder, not a weights file"),
        (["--init", str(tmp_path / "notes.pt")], "is not a weights file"),
        (
            ["--init", str(tmp_path / "resnet12.pt")],
            "does not fit backbone 'conv4': 20 missing keys",
        ),
        (
            ["--baseline-backbone"],
            "--baseline-backbone evaluates the starting weights without fine-tuning; pass --init",
        ),
        (["--init", "timm:"], "--init is empty"),
        (
            ["--init", "timm:resnet10t", "--backbone", "conv4"],
            "gives weights of 'resnet10t', but --backbone is 'conv4'",
        ),
        (
            ["--checkpoint-prefix", "model.backbone."],
            "--checkpoint-prefix says where the backbone sits in the --init weights file, but "
            "no --init is given; give --init FILE",
        ),
        (
            ["--init", "timm:resnet10t", "--checkpoint-key", "state_dict"],
            "--checkpoint-key says where the backbone sits in the --init weights file, but "
            "--init is 'timm:resnet10t'",
        ),
        (["--eval-datasets", "digits", "digits"], "--eval-datasets repeats a value"),
        (["--eval-datasets", "nowhere"], "nowhere"),
    ]
    for extra, expected in cases:
        assert main(["benchmark", *SETTINGS, *extra, "--out", str(out)]) == 2, extra
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1, (extra, err)
        assert not out.exists(), extra


def test_timm_init_names_the_backbone_and_uncached_weights_are_one_line(
    tmp_path, capsys, monkeypatch
):
    import timm
    from huggingface_hub.errors import LocalEntryNotFoundError

    assert (
        resolve(init="timm:resnet10t").backbone == "resnet10t"
    )  # the weights name their architecture

    def offline(
        *args, **kwargs
    ):  # what the hub raises without a connection and without a cached copy
        raise LocalEntryNotFoundError(
            "Cannot find the requested files in the disk cache and outgoing "
            "traffic has been disabled."
        )

    monkeypatch.setattr(timm.models._builder, "load_pretrained", offline)
    _no_work(monkeypatch)
    settings = [s for s in SETTINGS if s != "--no-default-grids"]
    assert (
        main(["benchmark", *settings, "--init", "timm:resnet10t", "--out", str(tmp_path / "out")])
        == 2
    )
    err = capsys.readouterr().err
    assert (
        "pretrained weights for 'resnet10t' are not cached here" in err
        and len(err.strip().splitlines()) == 1
    )
    assert not (tmp_path / "out").exists()


def test_init_reads_a_lightning_checkpoint_where_the_options_say(bench, tmp_path):
    """A user's Lightning checkpoint (the backbone under ``model.backbone.`` in ``state_dict``) as
    ``--init`` with ``--checkpoint-key``/``--checkpoint-prefix``: every loss fine-tunes from it and
    the ``init`` row is the same weights' as the plain file's, episode for episode."""
    _, init, plain_out = bench
    native = torch.load(init, map_location="cpu")
    ckpt = tmp_path / "last.ckpt"
    torch.save({"state_dict": {f"model.backbone.{k}": v for k, v in native.items()}}, ckpt)
    out = tmp_path / "out"
    argv = ["benchmark", *SETTINGS, "--init", str(ckpt), "--baseline-backbone", "--out", str(out)]
    where = ["--checkpoint-key", "state_dict", "--checkpoint-prefix", "model.backbone."]
    assert main(argv) == 2 and not out.exists()  # the layout is not recognised without them
    assert main(argv + where) == 0
    config = yaml.safe_load((out / "runs" / GLYPHS / "ce-bs64-s0" / "config.yaml").read_text())
    assert (
        config["checkpoint_prefix"] == "model.backbone."
        and config["checkpoint_key"] == "state_dict"
    )
    rows, plain = (
        pd.read_csv(o / "per_episode.csv").query(
            "loss == 'init' and dataset == @GLYPHS and split == 'novel'"
        )
        for o in (out, plain_out)
    )
    key = ["manifest", "head", "episode"]
    a, b = (r.sort_values(key)[key + ["accuracy"]].reset_index(drop=True) for r in (rows, plain))
    assert len(a) == 20 and a.equals(b)
