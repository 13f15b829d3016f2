import csv
import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from _cli import argv

from fewshot_clce.cli import main
from fewshot_clce.training import TrainConfig, load_run, train
from fewshot_clce.training import run_folder as _rundir
from fewshot_clce.training import trainer as training

REPO = Path(__file__).resolve().parents[2]


def _config(out, **overrides) -> TrainConfig:
    """A tiny run on digits: a few steps per epoch, few validation episodes."""
    base = dict(
        dataset="digits",
        backbone="conv4",
        loss="clce",
        out=str(out),
        epochs=2,
        batch_size=32,
        steps_per_epoch=4,
        val_episodes=20,
        val_queries=5,
        progress=False,
        device="cpu",
    )
    base.update(overrides)
    return TrainConfig(**base)


def _metrics(run_dir):
    with open(Path(run_dir) / "metrics.csv") as f:
        return list(csv.DictReader(f))


def _model_state(run_dir, which="last"):
    return torch.load(Path(run_dir) / f"checkpoint_{which}.pt", weights_only=True)


def test_a_run_writes_its_folder_and_loads_back(tmp_path):
    run_dir = train(_config(tmp_path / "run", epochs=1))
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoint_best.pt",
        "checkpoint_last.pt",
        "config.yaml",
        "metrics.csv",
    ]
    rows = _metrics(run_dir)
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert (
        rows[0]["loss"] == "" and 0 < float(rows[0]["val_acc"]) <= 1
    )  # epoch 0: the untrained backbone
    assert {"loss", "loss_ce", "loss_lacln", "images_per_s", "lr"} <= set(rows[1])
    run = load_run(run_dir)
    assert not run.backbone.training and run.dataset == "digits" and len(run.checkpoint_id) == 16
    assert (
        run.config["loss"] == "clce" and run.config["lam"] is not None
    )  # the loss's resolved default
    assert run.config["derived"]["embedding_dim"] == 64
    from fewshot_clce.data import create_dataset

    images = create_dataset("digits").split("novel").get_images([0, 1, 2])
    with torch.no_grad():
        assert run.backbone(run.preprocess(images)).shape == (3, 64)
    # the loaded backbone is the trained one, not a fresh initialisation
    trained = {
        k[len("backbone.") :]: v
        for k, v in _model_state(run_dir, "best")["model"].items()
        if k.startswith("backbone.")
    }
    assert all(torch.equal(v, trained[k]) for k, v in run.backbone.state_dict().items())


def test_a_dataset_without_val_split_is_named(tmp_path):
    from PIL import Image

    root = tmp_path / "imgs"
    for c in ("a", "b", "c"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (8, 8), color=40 * i).save(root / c / f"{i}.png")
    split_file = tmp_path / "split.tsv"
    split_file.write_text("base\ta\nbase\tb\nnovel\tc\n")
    with pytest.raises(
        ValueError,
        match=r"training needs a 'val' split .*has base, novel\. Folder datasets take a split file",
    ):
        train(_config(tmp_path / "run", dataset=f"folder:{root}::{split_file}"))
    assert not (tmp_path / "run").exists()


def test_load_run_without_checkpoint_names_the_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"'.*empty' has no checkpoint_best.pt"):
        load_run(tmp_path / "empty")
    with pytest.raises(
        FileNotFoundError, match=r"'.*missing' does not exist; pass the --out folder"
    ):
        load_run(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileNotFoundError, match=r"'.*file' is a file, not a run folder"):
        load_run(tmp_path / "file")


def test_resume_gives_the_same_result_as_an_uninterrupted_run(tmp_path, monkeypatch):
    straight = train(_config(tmp_path / "straight", loss="supcon"))

    real_epoch = training.train_epoch

    def interrupted(*args, **kwargs):
        if kwargs["epoch"] == 2:  # stop as a Ctrl-C during the second epoch would
            raise KeyboardInterrupt
        return real_epoch(*args, **kwargs)

    monkeypatch.setattr(training, "train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(_config(tmp_path / "resumed", loss="supcon"))
    assert _model_state(tmp_path / "resumed")["epoch"] == 1
    monkeypatch.setattr(training, "train_epoch", real_epoch)
    resumed = train(_config(tmp_path / "resumed", loss="supcon", resume=True))

    a, b = _model_state(straight), _model_state(resumed)
    assert a["epoch"] == b["epoch"] == 2
    for part in ("model", "optimizer"):
        flat_a, flat_b = _flatten(a[part]), _flatten(b[part])
        assert flat_a.keys() == flat_b.keys()
        for k in flat_a:
            assert torch.equal(flat_a[k], flat_b[k]), f"{part} {k} differs after resuming"
    timing = ("images_per_s", "epoch_time_s")
    strip = lambda rows: [{k: v for k, v in r.items() if k not in timing} for r in rows]  # noqa: E731
    assert strip(_metrics(straight)) == strip(_metrics(resumed))


def test_threads_are_set_for_the_training_recorded_and_given_back(tmp_path):
    """A training runs on the thread count it is given (CPU sums depend on it in the last bits: the
    number is recorded in config.yaml), and the caller's own setting is restored afterwards."""
    import yaml

    before = torch.get_num_threads()
    seen = []
    real_epoch = training.train_epoch
    try:
        training.train_epoch = lambda *a, **k: (
            seen.append(torch.get_num_threads()) or real_epoch(*a, **k)
        )
        torch.set_num_threads(2)
        run_dir = train(_config(tmp_path / "one", epochs=1, steps_per_epoch=1, threads=1))
        assert seen == [1] and torch.get_num_threads() == 2
        assert yaml.safe_load((run_dir / "config.yaml").read_text())["threads"] == 1
        default = train(_config(tmp_path / "default", epochs=1, steps_per_epoch=1))
        assert seen == [1, 2]  # not given: the caller's
        assert yaml.safe_load((default / "config.yaml").read_text())["threads"] == 2
        # a runtime setting: a resume may change it
        train(_config(tmp_path / "one", epochs=1, steps_per_epoch=1, threads=2, resume=True))
    finally:
        training.train_epoch = real_epoch
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="threads must be at least 1, got 0"):
        train(_config(tmp_path / "zero", threads=0))


def test_precision_is_resolved_recorded_and_used_for_the_forward_pass(tmp_path, monkeypatch):
    """``auto`` is bfloat16 where the device computes it natively and float32 elsewhere; the forward
    pass runs in the precision config.yaml records, the losses in float32; a resume may change it."""
    import yaml

    from fewshot_clce.training import loop

    cpu = torch.device("cpu")
    assert loop.resolve_precision("float32", cpu) == "float32"
    assert loop.resolve_precision("bfloat16", cpu) == "bfloat16"
    assert loop.resolve_precision("auto", torch.device("cuda")) == "bfloat16"
    for native, expected in ((True, "bfloat16"), (False, "float32")):
        monkeypatch.setattr(loop, "native_bfloat16", lambda device, native=native: native)
        assert loop.resolve_precision("auto", cpu) == expected
    monkeypatch.undo()
    with pytest.raises(ValueError, match="unknown precision 'fp8'; valid: auto, float32, bfloat16"):
        loop.resolve_precision("fp8", cpu)

    dtypes = {}
    real_loss = training._create_loss

    def spying_loss(cfg):
        loss = real_loss(cfg)
        fn = loss.module
        inner = fn.forward

        def forward(logits, z, labels):
            dtypes.setdefault(cfg.out, []).append((logits.dtype, z.dtype))
            return inner(logits, z, labels)

        fn.forward = forward
        return loss

    monkeypatch.setattr(training, "_create_loss", spying_loss)
    dtype_of_forward = {}
    real_forward = torch.nn.Conv2d.forward

    def conv_forward(self, x):
        out = real_forward(self, x)
        dtype_of_forward.setdefault(str(torch.is_autocast_enabled("cpu")), out.dtype)
        return out

    monkeypatch.setattr(torch.nn.Conv2d, "forward", conv_forward)
    for precision in ("float32", "bfloat16"):
        dtype_of_forward.clear()
        out = tmp_path / precision
        run_dir = train(_config(out, epochs=1, steps_per_epoch=1, precision=precision))
        assert yaml.safe_load((run_dir / "config.yaml").read_text())["precision"] == precision
        assert dtype_of_forward["True" if precision == "bfloat16" else "False"] == getattr(
            torch, precision
        )
        assert dtypes[str(out)] == [
            (torch.float32, torch.float32)
        ]  # the losses see float32 either way
    # a runtime setting, as the device: a resume may change it
    train(
        _config(
            tmp_path / "float32", epochs=1, steps_per_epoch=1, precision="bfloat16", resume=True
        )
    )


def _flatten(tree, prefix=""):
    out = {}
    if isinstance(tree, dict):
        for k, v in tree.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            out.update(_flatten(v, f"{prefix}{i}."))
    elif torch.is_tensor(tree):
        out[prefix] = tree
    else:
        out[prefix] = torch.tensor(
            float(tree) if isinstance(tree, (int, float)) else hash(str(tree))
        )
    return out


def test_resume_with_other_settings_is_refused(tmp_path):
    train(_config(tmp_path / "run", epochs=1))
    with pytest.raises(ValueError, match=r"cannot resume .*\(batch_size: 32 in the run, 16 now"):
        train(_config(tmp_path / "run", epochs=1, batch_size=16, resume=True))


def test_a_run_whose_saved_config_predates_a_setting_resumes_at_its_default(tmp_path):
    """A checkpoint written before a setting existed trained with that setting's default."""
    run_dir = train(_config(tmp_path / "run", epochs=1))
    path = run_dir / "checkpoint_last.pt"
    state = torch.load(path, map_location="cpu", weights_only=False)
    for key in ("checkpoint_prefix", "checkpoint_key", "steps_as_batch"):
        del state["config"][key]
    torch.save(state, path)
    before = path.stat().st_mtime_ns
    train(
        _config(tmp_path / "run", epochs=1, resume=True)
    )  # not refused: the defaults are what it trained
    assert path.stat().st_mtime_ns == before
    with pytest.raises(
        ValueError, match=r"cannot resume .*steps_as_batch: None in the run, 64 now"
    ):
        train(_config(tmp_path / "run", epochs=1, resume=True, steps_as_batch=64))


def test_a_finished_run_resumes_to_nothing(tmp_path):
    run_dir = train(_config(tmp_path / "run", epochs=1))
    before = (run_dir / "checkpoint_last.pt").stat().st_mtime_ns
    train(_config(tmp_path / "run", epochs=1, resume=True))
    assert (run_dir / "checkpoint_last.pt").stat().st_mtime_ns == before


class _NaNAfter(torch.nn.Module):
    """Wraps a loss and returns NaN from its ``after``-th call on (a diverging run)."""

    def __init__(self, inner, after):
        super().__init__()
        self.inner, self.after, self.calls = inner, after, 0
        self.uses_logits, self.uses_projection = inner.uses_logits, inner.uses_projection

    def forward(self, logits, z, labels):
        self.calls += 1
        out = self.inner(logits, z, labels)
        if self.calls >= self.after:
            return type(out)(out.total * float("nan"), out.parts)
        return out


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real = training._create_loss
    monkeypatch.setattr(
        training,
        "_create_loss",  # NaN at epoch 2, step 2
        lambda cfg: real(cfg)._replace(module=_NaNAfter(real(cfg).module, after=6)),
    )
    with pytest.raises(
        training.NonFiniteLossError,
        match=r"non-finite at epoch 2, step 2/4 \(total=nan.*checkpoint_last.pt \(epoch 1\)",
    ):
        train(_config(tmp_path / "run", epochs=3))
    state = _model_state(tmp_path / "run")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())
    assert [r["epoch"] for r in _metrics(tmp_path / "run")] == ["0", "1"]


def test_out_of_disk_space_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    real_save = torch.save

    def disk_full(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("epoch") == 2:
            with open(f, "wb") as half:  # a partial write, then the disk is full
                half.write(b"PK\x03\x04 partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(
        _rundir.CheckpointWriteError,
        match="No space left on device.*previous checkpoint is intact.*--resume",
    ) as info:
        train(_config(tmp_path / "run"))
    assert info.value.errno == errno.ENOSPC
    run_dir = tmp_path / "run"
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoint_best.pt",
        "checkpoint_last.pt",
        "config.yaml",
        "metrics.csv",
    ]  # no temporary file left
    assert _model_state(run_dir)["epoch"] == 1 and _model_state(run_dir, "best")["epoch"] == 1
    load_run(run_dir, "last")


def test_an_existing_run_folder_is_refused_unless_resume_or_force(tmp_path):
    run_dir = train(_config(tmp_path / "run", epochs=1))
    with pytest.raises(FileExistsError, match="already holds a run.*--resume.*--force"):
        train(_config(run_dir, epochs=1))
    with pytest.raises(ValueError, match="pass only one"):
        train(_config(run_dir, epochs=1, resume=True, force=True))
    train(_config(run_dir, epochs=1, force=True, seed=1))
    assert load_run(run_dir).config["seed"] == 1


def test_cli_train_and_its_errors(tmp_path, capsys):
    args = argv(
        "train --dataset digits --backbone conv4 --loss ce --epochs 1 "
        "--batch-size 32 --steps-per-epoch 2 --val-episodes 10 "
        "--no-progress --device cpu --label-smoothing 0.1"
    )
    assert main(args + ["--out", str(tmp_path / "run"), "--val-ways", "30"]) == 0
    captured = capsys.readouterr()
    summary = captured.out.strip()  # one line: best epoch, its val accuracy, the checkpoint
    assert summary.startswith("best epoch ") and "val accuracy" in summary
    assert summary.endswith(f"checkpoint {tmp_path / 'run' / 'checkpoint_best.pt'}")
    # digits/val has 8 classes: the run says so instead of silently validating 8-way
    assert (
        "val split of 'digits' has 6 classes, fewer than the 30 val ways asked for; validating 6-way"
        in captured.err
    )
    assert load_run(tmp_path / "run").config["label_smoothing"] == 0.1

    def error(extra):
        assert main(args + extra) == 2
        return capsys.readouterr().err

    assert "already holds a run" in error(["--out", str(tmp_path / "run")])
    assert "unknown loss 'cee'; valid names: arcface, baselinepp, ce, clce, cosface" in error(
        ["--out", str(tmp_path / "x"), "--loss", "cee"]
    )
    assert "unknown backbone 'conv3'" in error(
        ["--out", str(tmp_path / "x"), "--backbone", "conv3"]
    )
    assert "does not take --temperature" in error(
        ["--out", str(tmp_path / "x"), "--temperature", "0.1"]
    )
    assert "has 1440 images; a batch of 4096 x 1 process(es) needs 4096" in error(
        ["--out", str(tmp_path / "x"), "--batch-size", "4096"]
    )
    other = tmp_path / "resnet12.pt"
    torch.save(training.create_backbone("resnet12", 1).state_dict(), other)
    assert "does not fit backbone 'conv4'" in error(
        ["--out", str(tmp_path / "x"), "--checkpoint", str(other)]
    )


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "fewshot_clce",
        "train",
        "--dataset",
        "digits",
        "--backbone",
        "conv4",
        "--loss",
        "clce",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--steps-per-epoch",
        "3",
        "--val-episodes",
        "10",
        "--no-progress",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = proc.stdout.strip().splitlines()
    assert len(printed) == 1 and printed[0].endswith(f"checkpoint {out / 'checkpoint_best.pt'}"), (
        "only rank 0 prints the run's summary line"
    )
    run = load_run(out)
    assert (
        run.config["derived"]["world_size"] == 2
        and run.config["derived"]["global_batch_size"] == 32
    )
    assert [r["epoch"] for r in _metrics(out)] == ["0", "1"]


def test_ranks_get_disjoint_batches_of_one_seeded_order():
    from fewshot_clce.training.loop import epoch_batches
    from fewshot_clce.utils.distributed import DistContext

    ranks = [
        torch.cat(epoch_batches(103, 8, seed=5, epoch=2, ctx=DistContext(rank=r, world_size=3)))
        for r in range(3)
    ]
    every = torch.cat(ranks)
    assert len(every) == (103 // 24) * 24 and len(set(every.tolist())) == len(every)
    again = torch.cat(epoch_batches(103, 8, seed=5, epoch=2, ctx=DistContext(rank=1, world_size=3)))
    assert torch.equal(again, ranks[1])
    other_epoch = torch.cat(
        epoch_batches(103, 8, seed=5, epoch=3, ctx=DistContext(rank=1, world_size=3))
    )
    assert not torch.equal(other_epoch, ranks[1])


def test_cli_interrupt_says_how_to_resume(tmp_path, capsys, monkeypatch):
    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train_epoch", ctrl_c)
    code = main(
        argv(
            "train --dataset digits --backbone conv4 --loss ce "
            "--batch-size 32 --val-episodes 5 --no-progress --device cpu "
            "--out {out}",
            out=tmp_path / "run",
        )
    )
    assert code == 130
    assert "add --resume to the same command" in capsys.readouterr().err


def test_absurd_val_episode_count_is_refused_before_the_run_folder_is_made(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(
            argv(
                "train --dataset digits --backbone conv4 --loss ce --out "
                "{out} --val-episodes 10000000000",
                out=out,
            )
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "--val-episodes 10000000000" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_a_failed_start_leaves_nothing_that_blocks_the_corrected_command(tmp_path, capsys):
    """--val-queries 500 is more than a digits val class holds; it used to be found after config.yaml was
    written, so the corrected command was refused without --force."""
    args = argv(
        "train --dataset digits --backbone conv4 --loss ce --epochs 1 "
        "--batch-size 16 --steps-per-epoch 2 --val-episodes 5 "
        "--no-progress --device cpu --out {out}",
        out=tmp_path / "new" / "run",
    )
    assert main(args + ["--val-queries", "500"]) == 2
    err = capsys.readouterr().err
    assert "--val-queries 500" in err and "need 505 per class" in err
    assert not (tmp_path / "new").exists()
    assert main(args) == 0


def test_a_start_that_fails_late_takes_back_only_what_it_wrote(tmp_path, monkeypatch):
    """A failure after the folder was prepared (here: reading the val images at epoch 0) removes the
    new config.yaml and metrics.csv and the folders this start made, never what was there before."""

    def unreadable(*args, **kwargs):
        raise ValueError("val image 'x.png' is unreadable")

    from fewshot_clce.training import build

    monkeypatch.setattr(build, "extract_features", unreadable)
    with pytest.raises(ValueError, match="unreadable"):
        train(_config(tmp_path / "a" / "b" / "run", epochs=1))
    assert not (tmp_path / "a").exists()
    kept = tmp_path / "mine"
    kept.mkdir()
    (kept / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="unreadable"):
        train(_config(kept, epochs=1))
    assert sorted(p.name for p in kept.iterdir()) == ["notes.txt"]
    monkeypatch.undo()
    run_dir = train(_config(tmp_path / "run", epochs=1))
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_rundir, "write_config", disk_full)
    with pytest.raises(OSError, match="No space"):  # resuming a run: its files are never taken back
        train(_config(run_dir, epochs=1, resume=True))
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


def test_a_full_disk_in_torch_save_is_one_line_naming_the_checkpoint(tmp_path, monkeypatch, capsys):
    """torch.save reports a full disk as a RuntimeError, not an OSError: it must not become a traceback."""
    real_save = torch.save

    def disk_full(obj, f, *args, **kwargs):
        if isinstance(obj, dict) and obj.get("epoch") == 2:
            raise RuntimeError(
                "[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing "
                "file data/3: file write failed (No space left on device)"
            )
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", disk_full)
    run_dir = tmp_path / "run"
    code = main(
        argv(
            "train --dataset digits --backbone conv4 --loss ce --epochs 2 "
            "--batch-size 32 --steps-per-epoch 2 --val-episodes 5 "
            "--no-progress --device cpu --out {out}",
            out=run_dir,
        )
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and "Traceback" not in "\n".join(err)
    assert err[-1].startswith("fewshot-clce train: error: could not write")
    assert str(run_dir / "checkpoint_") in err[-1] and "No space left on device" in err[-1]
    assert "previous checkpoint is intact" in err[-1] and "--resume" in err[-1]
    assert _model_state(run_dir)["epoch"] == 1
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoint_best.pt",
        "checkpoint_last.pt",
        "config.yaml",
        "metrics.csv",
    ]


def test_the_starting_weights_digest_is_recorded_and_resume_refuses_other_weights(tmp_path):
    from fewshot_clce.backbones.factory import create_backbone

    init = tmp_path / "init.pt"
    torch.manual_seed(0)
    torch.save(create_backbone("conv4", in_chans=1).state_dict(), init)
    digest = _rundir.file_id(init)
    run_dir = train(
        _config(tmp_path / "run", epochs=2, steps_per_epoch=1, loss="ce", checkpoint=str(init))
    )
    assert _rundir.read_config(run_dir)["derived"]["init_digest"] == digest
    assert (
        _rundir.read_checkpoint(run_dir / "checkpoint_last.pt")["config"]["derived"]["init_digest"]
        == digest
    )
    # an interrupted run: epoch 1 of 2 done
    state = _rundir.read_checkpoint(run_dir / "checkpoint_last.pt")
    rows = state["metrics"][:2]
    state.update(epoch=1, metrics=rows)
    _rundir.save_checkpoint(run_dir / "checkpoint_last.pt", state)
    torch.manual_seed(1)
    torch.save(
        create_backbone("conv4", in_chans=1).state_dict(), init
    )  # the same path now holds other weights
    with pytest.raises(
        ValueError,
        match=rf"started from weights with digest {digest} \(--checkpoint .*init.pt\), "
        rf"but --checkpoint .*init.pt has digest {_rundir.file_id(init)}",
    ):
        train(
            _config(
                tmp_path / "run",
                epochs=2,
                steps_per_epoch=1,
                loss="ce",
                checkpoint=str(init),
                resume=True,
            )
        )
    assert (
        train(_config(tmp_path / "fresh", epochs=1, steps_per_epoch=1, loss="ce"))
        and _rundir.read_config(tmp_path / "fresh")["derived"]["init_digest"] is None
    )


def test_a_checkpoint_that_does_not_exist_is_refused_before_any_work(tmp_path, capsys):
    assert (
        main(
            argv(
                "train --dataset digits --backbone conv4 --loss ce --out "
                "{out} --checkpoint {checkpoint}",
                out=tmp_path / "r",
                checkpoint=tmp_path / "missing.pt",
            )
        )
        == 2
    )
    err = capsys.readouterr().err
    assert (
        f"error: --checkpoint '{tmp_path / 'missing.pt'}' does not exist" in err
        and not (tmp_path / "r").exists()
    )


def test_where_the_weights_sit_without_a_checkpoint_is_refused_before_any_work(tmp_path, capsys):
    """--checkpoint-prefix / --checkpoint-key say where the backbone sits in --checkpoint: alone
    they would be ignored, so they are refused."""
    for option in ("--checkpoint-prefix model.backbone.", "--checkpoint-key state_dict"):
        line = "train --dataset digits --backbone conv4 --loss ce --out {out} " + option
        assert main(argv(line, out=tmp_path / "r")) == 2
        err = capsys.readouterr().err
        flag = option.split()[0]
        assert (
            f"error: {flag} says where the backbone sits in the --checkpoint file, but no "
            "--checkpoint is given" in err
        ) and not (tmp_path / "r").exists()
