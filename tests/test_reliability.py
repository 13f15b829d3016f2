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

from fewshot_clce.cli import main
from fewshot_clce.utils.files import LOCK_NAME, folder_lock

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(REPO))


def _one_line_error(capsys) -> str:
    """The error line of a failed command (log lines before it are allowed)."""
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    return err.splitlines()[-1]


def _hold_lock(folder: Path) -> subprocess.Popen:
    """Another process that holds ``folder``'s lock until it is killed."""
    code = ("import sys, time\nfrom fewshot_clce.utils.files import folder_lock\n"
            "with folder_lock(sys.argv[1], 'folder', 'wait'):\n"
            "    print('ready', flush=True)\n    time.sleep(120)\n")
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True,
                              env=ENV)
    assert holder.stdout.readline().strip() == "ready"
    return holder


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()


# 1. concurrent benchmarks (and trainings) on one folder

BENCH = ["benchmark", "--dataset", "digits", "--losses", "ce", "--seeds", "0", "--epochs", "1",
         "--episodes", "5", "--val-episodes", "5", "--shots", "1", "--heads", "centroid", "--no-progress"]


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


def test_second_training_of_a_run_folder_is_refused_naming_the_holder(tmp_path, capsys):
    run_dir = tmp_path / "run"
    holder = _hold_lock(run_dir)
    try:
        assert main(["train", "--dataset", "digits", "--backbone", "conv4", "--loss", "ce", "--epochs", "1",
                     "--out", str(run_dir), "--resume"]) == 2
        err = _one_line_error(capsys)
        assert f"run folder {str(run_dir)!r} is in use by PID {holder.pid}" in err, err
        assert not (run_dir / "config.yaml").exists()
    finally:
        _kill(holder)


# 4. reuse only a training of the same whole configuration

def _fake_finished_run(run_dir: Path, **changes) -> None:
    """A finished digits ce run as `fewshot-clce train` writes it (the values it resolves), changed."""
    config = dict(dataset="digits", backbone="conv4", loss="ce", out=str(run_dir), epochs=1, batch_size=64,
                  steps_per_epoch=None, lr=0.05, optimizer="sgd", momentum=0.9, weight_decay=0.0005,
                  warmup_epochs=1.0, grad_clip=None, lam=None, temperature=None, beta=None, label_smoothing=0.0,
                  views=2, augment="glyph", image_size=None, projection_dim=128, drop_block_rate=0.0,
                  pretrained=False, checkpoint=None, val_ways=5, val_shots=5, val_queries=15, val_episodes=200,
                  val_seed=0, seed=0, data_root=None, device="cpu", num_workers=0, threads=1,
                  precision="float32", progress=False, resume=False, force=False,
                  derived=dict(dataset_id="digits", in_chans=1, image_size=[8, 8]))
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
    assert str(run_dir) in err and "lr: 0.01 there, 0.05 now" in err and "steps_per_epoch: 3 there" in err
    assert "--force" in err and "--resume" not in err


def test_finished_run_of_the_same_settings_is_reused_keys_it_lacks_at_their_defaults(tmp_path, capsys):
    out = tmp_path / "bench"
    # an older config.yaml without views / drop_block_rate / label_smoothing trained with their defaults
    _fake_finished_run(out / "runs" / "digits" / "ce-bs64-s0", views=None, drop_block_rate=None,
                       label_smoothing=None)
    assert _plan_state(out, capsys) == "finished"
    _fake_finished_run(tmp_path / "b2" / "runs" / "digits" / "ce-bs64-s0", views=1)
    assert _plan_state(tmp_path / "b2", capsys) == "different"


# 9. the --plan workflow: train the printed commands, then run the benchmark

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

def test_local_training_processes_die_with_the_driver(tmp_path):
    """The driver starts its children as the local executor does; SIGKILL of the driver kills them."""
    driver = ("import subprocess, sys, time\n"
              "from fewshot_clce.benchmark.executors import die_with_parent\n"
              "kids = [subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'],\n"
              "                         preexec_fn=die_with_parent()) for _ in range(2)]\n"
              "print(' '.join(str(k.pid) for k in kids), flush=True)\ntime.sleep(120)\n")
    process = subprocess.Popen([sys.executable, "-c", driver], stdout=subprocess.PIPE, text=True, env=ENV)
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


def test_local_executor_starts_its_trainings_with_the_parent_death_signal(tmp_path, monkeypatch):
    from fewshot_clce.benchmark import executors
    from fewshot_clce.benchmark.plan import plan_runs, train_config
    from tiny_benchmark import tiny_config

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

def test_temporary_of_a_killed_episodes_make_is_removed_by_the_next_run(tmp_path, capsys):
    out = tmp_path / "eps"
    target = out / "digits_novel_5way_1shot_15query.npz"
    writer = ("import os, signal, sys\nfrom fewshot_clce.utils.files import atomic_path\n"
              "with atomic_path(sys.argv[1]) as tmp:\n"
              "    tmp.write_bytes(b'x' * 1000)\n    print(tmp, flush=True)\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n")
    killed = subprocess.run([sys.executable, "-c", writer, str(target)], capture_output=True, text=True, env=ENV)
    assert killed.returncode == -signal.SIGKILL
    left = Path(killed.stdout.strip())
    assert left.is_file() and left.parent == out  # what SIGKILL leaves
    live = out / f".{target.name}.pid{os.getpid()}@{socket.gethostname()}.abcdefgh.tmp"
    live.write_bytes(b"a live writer's")
    assert main(["episodes", "make", "--dataset", "digits", "--shots", "1", "--episodes", "5",
                 "--out", str(target)]) == 0, capsys.readouterr().err
    assert target.is_file()
    assert not left.exists()
    assert live.exists()  # its writer (this process) is alive
