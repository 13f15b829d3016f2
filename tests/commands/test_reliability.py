"""Issue 26: concurrent writers, orphaned jobs, damaged inputs read as data, reuse compared on the
whole configuration, and messages that name the cause and the fix. Each test walks its point
through the command line."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from _cli import argv

from fewshot_clce.cli import main
from fewshot_clce.utils.folder_lock import LOCK_NAME, folder_lock

REPO = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(REPO))


def _one_line_error(capsys) -> str:
    """The error line of a failed command (log lines before it are allowed)."""
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    return err.splitlines()[-1]


def _hold_lock(folder: Path) -> subprocess.Popen:
    """Another process that holds ``folder``'s lock until it is killed."""
    code = (
        "import sys, time\nfrom fewshot_clce.utils.folder_lock import folder_lock\n"
        "with folder_lock(sys.argv[1], 'folder', 'wait'):\n"
        "    print('ready', flush=True)\n    time.sleep(120)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True, env=ENV
    )
    assert holder.stdout.readline().strip() == "ready"
    return holder


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()


# 1. concurrent benchmarks (and trainings) on one folder

BENCH = argv(
    "benchmark --dataset digits --losses ce --seeds 0 --epochs 1 "
    "--episodes 5 --val-episodes 5 --shots 1 --heads centroid "
    "--no-progress"
)


@pytest.mark.slow
def test_second_benchmark_on_a_folder_in_use_is_refused_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "bench"
    holder = _hold_lock(out)
    try:
        assert main(BENCH + ["--out", str(out), "--force", "--losses", "ce", "supcon"]) == 2
        err = _one_line_error(capsys)
        assert f"PID {holder.pid} on host {socket.gethostname()}, started " in err, err
        assert str(out) in err and "another --out" in err
        assert not (out / "config.json").exists()  # nothing of the refused benchmark was written
    finally:
        _kill(holder)
    # the killed holder's lock file is still there, but no process holds it: it locks nothing
    assert (out / LOCK_NAME).is_file()
    with folder_lock(out, "folder", "wait") as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()


def test_a_benchmark_holds_its_folder_while_it_runs_and_releases_it(tmp_path, capsys, monkeypatch):
    import fewshot_clce.benchmark.run as run

    out = tmp_path / "new" / "bench"
    seen = {}

    def stop(out_dir, *args, **kwargs):
        seen.update(json.loads((out_dir / LOCK_NAME).read_text()))
        raise ValueError("stopped by the test")

    monkeypatch.setattr(run, "prepare_output", stop)
    assert main(BENCH + ["--out", str(out)]) == 2
    assert "stopped by the test" in _one_line_error(capsys)
    assert seen["pid"] == os.getpid() and seen["host"] == socket.gethostname() and seen["started"]
    assert not (tmp_path / "new").exists()  # the failed start took back the folders it made


@pytest.mark.slow
def test_second_training_of_a_run_folder_is_refused_naming_the_holder(tmp_path, capsys):
    run_dir = tmp_path / "run"
    holder = _hold_lock(run_dir)
    try:
        assert (
            main(
                argv(
                    "train --dataset digits --backbone conv4 --loss ce --epochs 1 "
                    "--out {out} --resume",
                    out=run_dir,
                )
            )
            == 2
        )
        err = _one_line_error(capsys)
        assert f"run folder {str(run_dir)!r} is in use by PID {holder.pid}" in err, err
        assert not (run_dir / "config.yaml").exists()
    finally:
        _kill(holder)


# 4. reuse only a training of the same whole configuration


def _fake_finished_run(run_dir: Path, **changes) -> None:
    """A finished digits ce run as `fewshot-clce train` writes it (resolved values), changed."""
    config = dict(
        dataset="digits",
        backbone="conv4",
        loss="ce",
        out=str(run_dir),
        epochs=1,
        batch_size=64,
        steps_per_epoch=None,
        lr=0.05,
        optimizer="sgd",
        momentum=0.9,
        weight_decay=0.0005,
        warmup_epochs=1.0,
        grad_clip=None,
        lam=None,
        temperature=None,
        beta=None,
        label_smoothing=0.0,
        views=2,
        augment="glyph",
        image_size=None,
        projection_dim=128,
        drop_block_rate=0.0,
        pretrained=False,
        checkpoint=None,
        val_ways=5,
        val_shots=5,
        val_queries=15,
        val_episodes=200,
        val_seed=0,
        seed=0,
        data_root=None,
        device="cpu",
        num_workers=0,
        threads=1,
        precision="float32",
        progress=False,
        resume=False,
        force=False,
        derived=dict(dataset_id="digits", in_chans=1, image_size=[8, 8]),
    )
    for key, value in changes.items():
        if value is None:
            del config[key]  # a key an older version did not write
        else:
            config[key] = value
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (run_dir / "metrics.csv").write_text("epoch,loss,val_acc,best\n1,0.9,0.8,True\n")
    (run_dir / "checkpoint_best.pt").write_bytes(b"not used by --plan")


def _plan_state(out: Path, capsys) -> str:
    assert main(BENCH + ["--out", str(out), "--plan"]) == 0
    return capsys.readouterr().out.split("]")[0].lstrip("[")


def test_finished_run_of_another_default_setting_is_not_reused(tmp_path, capsys):
    out = tmp_path / "bench"
    run_dir = out / "runs" / "digits" / "ce-bs64-s0"
    _fake_finished_run(run_dir, lr=0.01, steps_per_epoch=3)
    assert _plan_state(out, capsys) == "different"
    assert main(BENCH + ["--out", str(out)]) == 2
    err = _one_line_error(capsys)
    assert (
        str(run_dir) in err
        and "lr: 0.01 there, 0.05 now" in err
        and "steps_per_epoch: 3 there" in err
    )
    assert "--force" in err and "--resume" not in err


def test_finished_run_of_the_same_settings_is_reused_keys_it_lacks_at_their_defaults(
    tmp_path, capsys
):
    out = tmp_path / "bench"
    # an older config.yaml without views / drop_block_rate / label_smoothing: their defaults
    _fake_finished_run(
        out / "runs" / "digits" / "ce-bs64-s0",
        views=None,
        drop_block_rate=None,
        label_smoothing=None,
    )
    assert _plan_state(out, capsys) == "finished"
    _fake_finished_run(tmp_path / "b2" / "runs" / "digits" / "ce-bs64-s0", views=1)
    assert _plan_state(tmp_path / "b2", capsys) == "different"


# 9. the --plan workflow: train the printed commands, then run the benchmark


def test_folder_holding_only_run_folders_is_a_benchmark_start(tmp_path, capsys):
    """What the --plan commands leave (runs/ only) is a benchmark start; anything else is not."""
    out = tmp_path / "bench"
    _fake_finished_run(out / "runs" / "digits" / "ce-bs64-s0", lr=0.01)
    assert main(BENCH + ["--out", str(out)]) == 2
    err = _one_line_error(capsys)
    assert "holds a training of other settings" in err and "holds no benchmark" not in err, err
    (out / "notes.txt").write_text("mine")
    assert main(BENCH + ["--out", str(out)]) == 2
    assert "is not empty and holds no benchmark" in _one_line_error(capsys)


@pytest.mark.slow
def test_plan_workflow_trains_printed_commands_then_benchmark_reuses_them(tmp_path, capsys):
    import shlex

    out = tmp_path / "bench"
    assert main(BENCH + ["--out", str(out), "--plan"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.startswith("[absent] fewshot-clce train ")
    assert main(shlex.split(line.split("] ", 1)[1])[1:] + ["--no-progress"]) == 0
    capsys.readouterr()
    assert main(BENCH + ["--out", str(out)]) == 0
    assert "0 trained, 1 reused" in capsys.readouterr().out


# 10. children of a --jobs N benchmark die with the driver


@pytest.mark.slow
def test_local_training_processes_die_with_the_driver(tmp_path):
    """The driver starts children as the local executor does; SIGKILL of the driver kills them."""
    driver = (
        "import subprocess, sys, time\n"
        "from fewshot_clce.benchmark.processes import die_with_parent\n"
        "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'],\n"
        "                         preexec_fn=die_with_parent()) for _ in range(2)]\n"
        "print(' '.join(str(k.pid) for k in kids), flush=True)\ntime.sleep(120)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", driver], stdout=subprocess.PIPE, text=True, env=ENV
    )
    kids = [int(p) for p in process.stdout.readline().split()]
    for pid in kids:
        os.kill(pid, 0)  # running
    _kill(process)
    deadline = time.monotonic() + 10
    alive = list(kids)
    while alive and time.monotonic() < deadline:
        for pid in list(alive):
            try:
                os.kill(pid, 0)  # a dead child of the killed driver is reaped by init
                with open(f"/proc/{pid}/stat") as f:
                    if f.read().split()[2] == "Z":
                        alive.remove(pid)
            except (ProcessLookupError, FileNotFoundError):
                alive.remove(pid)
        time.sleep(0.05)
    assert not alive, f"children {alive} outlived their driver"


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] == "Z"  # a zombie waiting for init: dead
    except FileNotFoundError:
        return True


def _children(pid: int) -> list:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a Linux parent-death signal")
def test_killed_jobs_benchmark_leaves_no_training_running(tmp_path):
    """SIGKILL of a `benchmark --jobs 2` driver: both training processes die with it."""
    out = tmp_path / "bench"
    args = BENCH[:5] + ["--seeds", "0", "1", "--epochs", "200", "--jobs", "2", "--threads", "1"]
    driver = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fewshot_clce",
            *args,
            "--episodes",
            "5",
            "--val-episodes",
            "5",
            "--shots",
            "1",
            "--heads",
            "centroid",
            "--no-progress",
            "--out",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    deadline = time.monotonic() + 240
    kids = []
    while time.monotonic() < deadline and len(kids) < 2 and driver.poll() is None:
        kids = _children(driver.pid)
        time.sleep(0.1)
    try:
        assert len(kids) == 2, f"the trainings did not start (driver exit code {driver.poll()})"
        time.sleep(1)  # past the start: the processes now run the training module
        assert not any(_gone(p) for p in kids)
    finally:
        _kill(driver)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(_gone(p) for p in kids):
        time.sleep(0.05)
    assert all(_gone(p) for p in kids), f"trainings {kids} outlived their driver"


def test_local_executor_starts_its_trainings_with_the_parent_death_signal(tmp_path, monkeypatch):
    from tiny_benchmark import tiny_config

    from fewshot_clce.benchmark import executors
    from fewshot_clce.benchmark.plan import plan_runs, train_config

    seen = {}

    class FakePopen:
        def __init__(self, argv, **kwargs):
            seen.update(kwargs)

    monkeypatch.setattr(executors.subprocess, "Popen", FakePopen)
    cfg = tiny_config(seeds=[0])
    spec = plan_runs(cfg)[0]
    ex = executors.LocalProcessExecutor(cfg, tmp_path, lambda m: None, 2, ["cpu"])
    ex._start(executors.Training(spec, train_config(spec, cfg, tmp_path)), "cpu")
    assert seen["preexec_fn"] is not None and seen["preexec_fn"].__name__ == "arm"


# 11. a killed `episodes make` leaves no temporary file behind


@pytest.mark.slow
def test_temporary_of_a_killed_episodes_make_is_removed_by_the_next_run(tmp_path, capsys):
    out = tmp_path / "eps"
    target = out / "digits_novel_5way_1shot_15query.npz"
    writer = (
        "import os, signal, sys\nfrom fewshot_clce.utils.files import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_bytes(b'x' * 1000)\n    print(tmp, flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", writer, str(target)], capture_output=True, text=True, env=ENV
    )
    assert killed.returncode == -signal.SIGKILL
    left = Path(killed.stdout.strip())
    assert left.is_file() and left.parent == out  # what SIGKILL leaves
    live = out / f".{target.name}.pid{os.getpid()}@{socket.gethostname()}.abcdefgh.tmp"
    live.write_bytes(b"a live writer's")
    assert (
        main(argv("episodes make --dataset digits --shots 1 --episodes 5 --out {out}", out=target))
        == 0
    ), capsys.readouterr().err
    assert target.is_file()
    assert not left.exists()
    assert live.exists()  # its writer (this process) is alive


# 2. 16-bit PNGs are read over their full range, not clipped to 8 bits


def test_16_bit_png_classes_are_scaled_not_clipped(tmp_path, capsys):
    from PIL import Image

    from fewshot_clce.data import create_dataset

    root = tmp_path / "toy"
    gradient = np.linspace(0, 65535, 8 * 8).reshape(8, 8).astype(np.uint16)
    for k, c in enumerate("abcdef"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            rolled = np.roll(gradient.ravel(), 3 * k + i).reshape(8, 8)
            Image.fromarray(rolled).save(root / c / f"{i}.png")
    assert Image.open(root / "a" / "0.png").mode.startswith("I;16")
    split = create_dataset(f"folder:{root}").split("base")
    image, _ = split[0]  # [1, 8, 8] float in [0, 1]
    assert len(np.unique(image.numpy())) == 64  # every level kept, not {0, 1}
    expected = np.rint(gradient * (255 / 65535)) / 255  # class a, image 0: not rolled
    np.testing.assert_allclose(image[0].numpy(), expected, atol=1e-6)
    assert (
        main(
            argv(
                "show {dataset} --split base --out {out}",
                dataset=f"folder:{root}",
                out=tmp_path / "g.png",
            )
        )
        == 0
    )


# 3. a damaged per_episode.csv is never read as data


def _results_folder(folder: Path) -> Path:
    from synthetic_results import make_results

    from fewshot_clce.report.analysis import analyse
    from fewshot_clce.report.writer import write_results

    df = make_results({"ce": 0.0, "clce": 0.1}, seeds=[0, 1], episodes=20, shots=[1])
    df["manifest"] = np.where(df["split"] == "val", "0123456789abcdef", "fedcba9876543210")
    folder.mkdir(parents=True)
    write_results(folder, analyse(df, n_boot=50), {"command": "test", "n_boot": 50}, {})
    return folder / "per_episode.csv"


@pytest.mark.parametrize(
    "damage,message",
    [
        ("cut mid-row", "ends in the middle of a row"),
        ("cut at a row", "rows where the benchmark wrote"),
        ("cut at a row, old folder", "holds 10 episodes"),
        ("accuracy 2.0", "not numbers in [0, 1]"),
        ("accuracy NaN", "not numbers in [0, 1]"),
        ("accuracy -1", "not numbers in [0, 1]"),
        ("episode twice", "some twice"),
        ("two manifests", "evaluated on different episodes"),
    ],
)
def test_report_refuses_a_damaged_results_file(tmp_path, capsys, damage, message):
    import pandas as pd

    path = _results_folder(tmp_path / "bench")
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    if damage == "cut mid-row":
        path.write_text(text[:-3])
    elif damage.startswith("cut at a row"):
        path.write_text("".join(lines[:-10]))
        if damage.endswith("old folder"):  # results.json of a version that recorded no row count
            blob = json.loads((tmp_path / "bench" / "results.json").read_text())
            del blob["per_episode_rows"]
            (tmp_path / "bench" / "results.json").write_text(json.dumps(blob))
    else:
        df = pd.read_csv(path, dtype={"manifest": str})
        if damage.startswith("accuracy"):
            df.loc[7, "accuracy"] = {"2.0": 2.0, "NaN": float("nan"), "-1": -1.0}[damage.split()[1]]
        elif damage == "episode twice":
            df.loc[3, "episode"] = 4
        else:
            df.loc[df["run"] == df["run"].iloc[0], "manifest"] = "00000000000000aa"
        df.to_csv(path, index=False)
    assert main(["report", str(tmp_path / "bench"), "--n-boot", "50"]) == 2
    err = _one_line_error(capsys)
    assert f"results file {str(path)!r} is damaged" in err and message in err, err
    assert not (tmp_path / "bench" / "REPORT.md").exists()


def test_report_reads_an_intact_results_file(tmp_path, capsys):
    _results_folder(tmp_path / "bench")
    assert main(["report", str(tmp_path / "bench"), "--n-boot", "50"]) == 0


# 5. a manifest in --manifests is used, or refused with a message


def test_user_manifests_are_used_or_refused_never_skipped(tmp_path, capsys, monkeypatch):
    import fewshot_clce.benchmark.run as run

    folder = tmp_path / "mine"
    folder.mkdir()
    for split in ("val", "novel"):
        assert (
            main(
                argv(
                    "episodes make --dataset digits --split {split} --shots 1 "
                    "--episodes 7 --out {out}",
                    split=split,
                    out=folder / f"digits_{split}.npz",
                )
            )
            == 0
        )
    capsys.readouterr()

    def stop(*args, **kwargs):
        raise ValueError("stopped by the test before training")

    monkeypatch.setattr(run, "print_estimate", stop)
    common = BENCH[:9] + [
        "--shots",
        "1",
        "--heads",
        "centroid",
        "--no-progress",
        "--manifests",
        str(folder),
    ]
    assert (
        main(common + ["--episodes", "7", "--val-episodes", "7", "--out", str(tmp_path / "a")]) == 2
    )
    err = capsys.readouterr().err
    assert f"novel 5-way 1-shot: 7 from {folder / 'digits_novel.npz'}" in err, err
    assert f"val 5-way 1-shot: 7 from {folder / 'digits_val.npz'}" in err
    # asked for more episodes than the user's manifest holds: refused, naming the file and the fix
    assert (
        main(common + ["--episodes", "20", "--val-episodes", "7", "--out", str(tmp_path / "b")])
        == 2
    )
    err = _one_line_error(capsys)
    assert (
        str(folder / "digits_novel.npz") in err
        and "holds 7 episodes" in err
        and "--episodes 7" in err
    )
    # a damaged file in the folder is refused, not passed over
    (folder / "digits_novel.npz").write_bytes(b"PK\x03\x04 damaged")
    assert (
        main(common + ["--episodes", "7", "--val-episodes", "7", "--out", str(tmp_path / "c")]) == 2
    )
    err = _one_line_error(capsys)
    assert "--manifests" in err and str(folder / "digits_novel.npz") in err and "corrupt" in err


# 6. an .npz that declares more than it holds is refused before allocating


def test_npz_declaring_millions_of_episodes_is_refused_before_allocating(tmp_path, capsys):
    import zipfile

    from numpy.lib import format as npy

    path = tmp_path / "bomb.npz"
    assert (
        main(
            argv(
                "episodes make --dataset digits --shots 1 --episodes 3 --out {out}",
                out=tmp_path / "ok.npz",
            )
        )
        == 0
    )
    with zipfile.ZipFile(tmp_path / "ok.npz") as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "query.npy":
                header = {"descr": "<i8", "fortran_order": False, "shape": (30_000_000, 5, 15)}
                buf = __import__("io").BytesIO()
                npy.write_array_header_1_0(buf, header)
                data = buf.getvalue() + data[128:]
            dst.writestr(info.filename, data)
    for command in (
        ["episodes", "show", str(path)],
        argv(
            "evaluate --episodes {episodes} --backbone conv4 --pretrained --out {out}",
            episodes=path,
            out=tmp_path / "e.csv",
        ),
    ):
        assert main(command) == 2
        err = _one_line_error(capsys)
        assert str(path) in err and "declares shape (30000000, 5, 15)" in err, err


# 7. JSON nested 100,000 deep; --image-size 20000


def test_deeply_nested_manifest_metadata_is_a_one_line_error(tmp_path, capsys):
    import zipfile

    assert (
        main(
            argv(
                "episodes make --dataset digits --shots 1 --episodes 3 --out {out}",
                out=tmp_path / "ok.npz",
            )
        )
        == 0
    )
    path = tmp_path / "deep.npz"
    with zipfile.ZipFile(tmp_path / "ok.npz") as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            if info.filename == "meta.npy":
                buf = __import__("io").BytesIO()
                np.save(buf, np.array("[" * 100_000 + "]" * 100_000))
                dst.writestr(info.filename, buf.getvalue())
            else:
                dst.writestr(info.filename, src.read(info))
    capsys.readouterr()
    assert main(["episodes", "show", str(path)]) == 2
    err = _one_line_error(capsys)
    assert str(path) in err and "nests 100000 levels deep" in err, err


@pytest.mark.parametrize(
    "command",
    [
        argv("train --dataset digits --backbone conv4 --loss ce --epochs 1 --image-size 20000"),
        argv("evaluate --dataset digits --backbone conv4 --pretrained --image-size 20000"),
    ],
)
def test_huge_image_size_is_refused_with_its_bound(tmp_path, capsys, command):
    assert (
        main(command + ["--out", str(tmp_path / ("run" if command[0] == "train" else "e.csv"))])
        == 2
    )
    err = _one_line_error(capsys)
    assert "--image-size 20000 is larger than the 2048 pixels" in err and "omit it" in err, err
    assert not (tmp_path / "run").exists()


# 8. a byte-order mark (what spreadsheets write) is accepted


def test_episode_csv_and_split_file_with_a_byte_order_mark_are_read(tmp_path, capsys):
    from PIL import Image

    csv = tmp_path / "eps.csv"
    assert (
        main(argv("episodes make --dataset digits --shots 1 --episodes 3 --out {out}", out=csv))
        == 0
    )
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + csv.read_bytes())
    capsys.readouterr()
    assert main(["episodes", "show", str(bom), "--dataset", "digits"]) == 0, capsys.readouterr().err
    assert "3 episodes" in capsys.readouterr().out

    root = tmp_path / "toy"
    for k, c in enumerate("abcdefghijklmno"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (6, 6), 3 * k + i).save(root / c / f"{i}.png")
    split_file = tmp_path / "split.tsv"
    rows = [
        f"{s}\t{c}"
        for s, names in (("base", "abcde"), ("val", "fghij"), ("novel", "klmno"))
        for c in names
    ]
    split_file.write_bytes(b"\xef\xbb\xbf" + "\n".join(rows).encode() + b"\n")
    assert (
        main(
            argv(
                "show {dataset} --split base --out {out}",
                dataset=f"folder:{root}::{split_file}",
                out=tmp_path / "g.png",
            )
        )
        == 0
    )


# 12. splits that share files or content


def _split_folder(root: Path, novel_link: bool = False, copy: bool = False) -> str:
    from PIL import Image

    for k, c in enumerate("abcdefghij"):
        if c == "f" and novel_link:
            (root / c).symlink_to(root / "a", target_is_directory=True)
            continue
        (root / c).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (6, 6), 20 * k + i).save(root / c / f"{i}.png")
    if copy:
        (root / "f" / "0.png").write_bytes((root / "a" / "1.png").read_bytes())
    (root / "split.tsv").write_text(
        "".join(f"{'base' if c < 'f' else 'novel'}\t{c}\n" for c in "abcdefghij")
    )
    return f"folder:{root}::{root / 'split.tsv'}"


def test_novel_class_linked_to_a_base_class_is_refused(tmp_path, capsys):
    spec = _split_folder(tmp_path / "toy", novel_link=True)
    assert (
        main(argv("show {spec} --split novel --out {out}", spec=spec, out=tmp_path / "g.png")) == 2
    )
    err = _one_line_error(capsys)
    assert (
        "'f/0.png' (novel) and 'a/0.png' (base) are the same file" in err and "own images" in err
    ), err


def test_novel_image_identical_to_a_base_image_is_warned_about(tmp_path, capsys):
    spec = _split_folder(tmp_path / "toy", copy=True)
    with pytest.warns(
        UserWarning, match=r"byte-identical .* 'f/0.png' in novel and 'a/1.png' in base"
    ):
        assert (
            main(argv("show {spec} --split novel --out {out}", spec=spec, out=tmp_path / "g.png"))
            == 0
        )
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("error")
        assert (
            main(
                argv(
                    "show {dataset} --split novel --out {out}",
                    dataset=_split_folder(tmp_path / "clean"),
                    out=tmp_path / "h.png",
                )
            )
            == 0
        )


# 13. each message names the cause and the fix


def _episode_csv(tmp_path: Path, capsys) -> Path:
    path = tmp_path / "eps.csv"
    assert (
        main(argv("episodes make --dataset digits --shots 1 --episodes 2 --out {out}", out=path))
        == 0
    )
    capsys.readouterr()
    return path


def test_formula_in_a_class_cell_is_blamed_not_the_valid_labels(tmp_path, capsys):
    path = _episode_csv(tmp_path, capsys)
    lines = path.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line[:1].isdigit())
    cells = lines[first].split(",")
    cells[2] = "=SUM(A1)"
    lines[first] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    assert main(["episodes", "show", str(path), "--dataset", "digits"]) == 2
    err = _one_line_error(capsys)
    assert (
        "data row 1: class '=SUM(A1)'" in err
        and "spreadsheet formula" in err
        and "unknown" not in err
    ), err


def test_binary_file_named_csv_is_named_in_the_error(tmp_path, capsys):
    path = tmp_path / "eps.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00binary")
    assert main(["episodes", "show", str(path), "--dataset", "digits"]) == 2
    err = _one_line_error(capsys)
    assert str(path) in err and "not UTF-8 text" in err, err


def test_csv_without_query_rows_says_so(tmp_path, capsys):
    path = _episode_csv(tmp_path, capsys)
    path.write_text(
        "".join(
            line for line in path.read_text().splitlines(keepends=True) if ",query," not in line
        )
    )
    assert main(["episodes", "show", str(path), "--dataset", "digits"]) == 2
    err = _one_line_error(capsys)
    assert "has no query rows" in err and "but another class has 0" not in err, err


def test_train_val_shots_too_large_suggests_trains_own_options(tmp_path, capsys):
    assert (
        main(
            argv(
                "train --dataset digits --backbone conv4 --loss ce --epochs 1 "
                "--val-shots 500 --out {out}",
                out=tmp_path / "run",
            )
        )
        == 2
    )
    err = _one_line_error(capsys)
    assert "--val-shots" in err and "--val-queries" in err, err
    assert "--skip-small-classes" not in err and "--shots/--queries" not in err


@pytest.mark.parametrize(
    "change,message",
    [
        (["--heads", "foo"], "foo"),
        (["--out", "FILE"], "is a file"),
    ],
)
def test_plan_refuses_what_the_run_refuses(tmp_path, capsys, change, message):
    file = tmp_path / "file"
    file.write_text("x")
    args = [str(file) if a == "FILE" else a for a in change]
    assert main(BENCH + ["--out", str(tmp_path / "b")] + args + ["--plan"]) == 2
    assert message in _one_line_error(capsys)


def test_resuming_from_a_nan_checkpoint_is_not_called_good(tmp_path, capsys):
    import torch

    run_dir = tmp_path / "run"
    train = argv(
        "train --dataset digits --backbone conv4 --loss ce --epochs 2 "
        "--val-episodes 5 --steps-per-epoch 1 --no-progress --out "
        "{out}",
        out=run_dir,
    )
    assert main(train[:8] + ["1"] + train[9:]) == 0  # one epoch of two: an interrupted run
    last = run_dir / "checkpoint_last.pt"
    state = torch.load(last, weights_only=True)
    state["model"] = {
        k: v.float().fill_(float("nan")) if v.is_floating_point() else v
        for k, v in state["model"].items()
    }
    state["config"]["epochs"] = 2
    torch.save(state, last)
    capsys.readouterr()
    assert main(train + ["--resume"]) == 2
    err = _one_line_error(capsys)
    assert (
        "checkpoint_last.pt (epoch 1) holds NaN or infinite weights" in err and "--force" in err
    ), err
    assert "last good checkpoint" not in err


def test_class_name_with_a_line_break_stays_on_one_line(tmp_path, capsys):
    from PIL import Image

    root = tmp_path / "toy"
    for k, c in enumerate(["a", "b", "c", "d\nx", "e"]):
        (root / c).mkdir(parents=True)
        for i in range(3 if k != 3 else 1):
            Image.new("L", (6, 6), 3 * k + i).save(root / c / f"{i}.png")
    split = tmp_path / "split.tsv"
    split.write_text("".join(f"base\t{c}\n" for c in "abce"))
    assert (
        main(
            argv(
                "episodes make --dataset {dataset} --split base --ways 5 "
                "--shots 2 --queries 1 --episodes 2 --out {out}",
                dataset=f"folder:{root}",
                out=tmp_path / "e.npz",
            )
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err


def test_same_manifest_twice_is_refused_before_writing(tmp_path, capsys):
    path = tmp_path / "eps.npz"
    assert (
        main(argv("episodes make --dataset digits --shots 1 --episodes 2 --out {out}", out=path))
        == 0
    )
    (tmp_path / "copy.npz").write_bytes(path.read_bytes())
    out = tmp_path / "e.csv"
    assert (
        main(
            argv(
                "evaluate --backbone conv4 --pretrained --episodes {episodes} {more_episodes} --out {out}",
                episodes=path,
                more_episodes=tmp_path / "copy.npz",
                out=out,
            )
        )
        == 2
    )
    err = _one_line_error(capsys)
    assert "same episodes twice" in err and str(tmp_path / "copy.npz") in err, err
    assert not out.exists()


def test_finished_run_without_its_best_checkpoint_says_how_to_go_on(tmp_path, capsys):
    run_dir = tmp_path / "run"
    train = argv(
        "train --dataset digits --backbone conv4 --loss ce --epochs 1 "
        "--val-episodes 5 --steps-per-epoch 1 --no-progress --out "
        "{out}",
        out=run_dir,
    )
    assert main(train) == 0
    (run_dir / "checkpoint_best.pt").unlink()
    capsys.readouterr()
    assert main(train + ["--resume"]) == 2
    err = _one_line_error(capsys)
    assert (
        "has no checkpoint_best.pt" in err and "delete the run folder" in err and "Errno" not in err
    ), err


def test_evaluating_on_the_training_classes_warns(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert (
        main(
            argv(
                "train --dataset digits --backbone conv4 --loss ce --epochs 1 "
                "--val-episodes 5 --steps-per-epoch 1 --no-progress --out "
                "{out}",
                out=run_dir,
            )
        )
        == 0
    )
    base = tmp_path / "base.npz"
    assert (
        main(
            argv(
                "episodes make --dataset digits --split base --shots 1 --episodes 3 --out {out}",
                out=base,
            )
        )
        == 0
    )
    capsys.readouterr()
    assert (
        main(
            argv(
                "evaluate {run_dir} --episodes {episodes} --head centroid",
                run_dir=run_dir,
                episodes=base,
            )
        )
        == 0
    )
    assert (
        "WARNING: these episodes are drawn from the base split of digits" in capsys.readouterr().err
    )
    novel = tmp_path / "novel.npz"
    assert (
        main(argv("episodes make --dataset digits --shots 1 --episodes 3 --out {out}", out=novel))
        == 0
    )
    assert (
        main(
            argv(
                "evaluate {run_dir} --episodes {episodes} --head centroid --out {out}",
                run_dir=run_dir,
                episodes=novel,
                out=tmp_path / "n.csv",
            )
        )
        == 0
    )
    assert "WARNING" not in capsys.readouterr().err
