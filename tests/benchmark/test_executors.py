"""Where a benchmark's trainings run (this process, local processes, submitit jobs), and that the
numbers do not depend on it: bit for bit the same files on CPU, failures reported with their logs,
and re-runs that redo only what is unfinished."""

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from _cli import argv
from tiny_benchmark import tiny_config

from fewshot_clce.benchmark import executors, training_task
from fewshot_clce.benchmark.config import resolve
from fewshot_clce.benchmark.run import run_benchmark
from fewshot_clce.cli import main
from fewshot_clce.training.run_folder import is_finished

RESULT_FILES = ("per_episode.csv", "summary.csv")


def _quick(manifests, **changes):
    """Two one-seed trainings (ce, clce) of 2 epochs of two steps, 1-shot episodes generated into the output."""
    settings = dict(
        losses=["ce", "clce"],
        seeds=[0],
        shots=[1],
        episodes=12,
        val_episodes=6,
        batch_size=[16],
        epochs=2,
        train_options={"val_episodes": 5, "steps_per_epoch": 2},
        tsne=False,
        manifests_dir=str(manifests),
    )
    return tiny_config(**dict(settings, **changes))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The quick benchmark trained one training after another in this process: the numbers to match."""
    tmp = tmp_path_factory.mktemp("reference")
    run_benchmark(_quick(tmp / "no-committed"), tmp / "out", log=lambda m: None)
    return tmp / "no-committed", tmp / "out"


def _same_results(out, reference_out):
    for name in RESULT_FILES:
        assert (out / name).read_bytes() == (reference_out / name).read_bytes(), name


def _bench_args(out, *extra):
    """The quick benchmark as a user types it: two trainings of 2 steps, 12 novel episodes."""
    return argv(
        "benchmark --dataset digits --losses ce clce --shots 1 --heads centroid --episodes 12 "
        "--val-episodes 6 --seeds 0 --lambda 0.5 --temperature 0.1 --beta 0.5 --batch-size 64 "
        "--epochs 1 --steps-per-epoch 2 --train-val-episodes 5 --no-progress --no-tsne "
        "--manifests {manifests} --out {out}",
        manifests=Path(out).parent / "no-committed",
        out=out,
    ) + list(extra)


# --- options: checked before anything is written ------------------------------------------------


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--executor", "slurm"], "--executor 'slurm' is not an executor; valid: local, submitit"),
        (["--jobs", "0"], "--jobs must be at least 1, got 0"),
        (["--threads", "0"], "--threads must be at least 1, got 0"),
        (["--devices", "cuda:99"], "--devices 'cuda:99'"),
        (["--devices", "tpu"], "--devices 'tpu': unknown device"),
        (
            ["--executor", "submitit", "--gpus-per-job", "-1"],
            "--gpus-per-job must be at least 0, got -1",
        ),
    ],
)
def test_bad_executor_options_are_one_line_before_anything_is_written(
    tmp_path, capsys, extra, message
):
    out = tmp_path / "bench"
    assert main(_bench_args(out, *extra)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists()


def test_submitit_not_installed_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit raises ImportError
    out = tmp_path / "bench"
    assert main(_bench_args(out, "--executor", "submitit")) == 2
    err = capsys.readouterr().err.strip()
    assert (
        "--executor submitit needs the submitit package" in err
        and "pip install 'fewshot-clce[cluster]'" in err
    )
    assert len(err.splitlines()) == 1 and not out.exists()


def test_options_an_executor_ignores_are_warned_about(tmp_path, monkeypatch):
    log = []
    cfg = resolve(datasets=["digits"], slurm_partition="gpu", gpus_per_job=2, timeout_min=30)
    assert isinstance(
        executors.make_executor(cfg, tmp_path, log.append), executors.SequentialExecutor
    )
    assert len(log) == 1 and "local executor" in log[0]
    assert all(f in log[0] for f in ("--slurm-partition", "--gpus-per-job", "--timeout-min")), log
    # a preset's resources are no option the user gave: nothing to warn about
    log.clear()
    executors.make_executor(resolve("mini-imagenet-gpu", epochs=1), tmp_path, log.append)
    assert log == []
    # more CPU trainings at once than cores, each on as many threads as this process
    log.clear()
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    cpu = resolve(datasets=["digits"], device="cpu", jobs=2)
    ex = executors.make_executor(cpu, tmp_path, log.append)
    assert isinstance(ex, executors.LocalProcessExecutor) and ex.devices == ["cpu"] and ex.jobs == 2
    if torch.get_num_threads() > 1:
        assert any("oversubscribe" in m and "--threads 1" in m for m in log), log
    log.clear()
    executors.make_executor(
        resolve(datasets=["digits"], device="cpu", jobs=2, threads=1), tmp_path, log.append
    )
    assert log == []


def test_submitit_without_slurm_warns_that_slurm_options_are_ignored(tmp_path, monkeypatch):
    submitit = pytest.importorskip("submitit")
    monkeypatch.setattr(submitit.AutoExecutor, "which", staticmethod(lambda: "local"))
    log = []
    cfg = resolve(
        datasets=["digits"],
        executor="submitit",
        slurm_partition="gpu",
        slurm_array_parallelism=4,
        devices=["cpu"],
    )
    ex = executors.make_executor(cfg, tmp_path, log.append)
    assert ex.name == "submitit" and ex.cluster == "local"
    assert any(
        "no srun" in m and "--slurm-partition" in m and "--slurm-array-parallelism" in m
        for m in log
    ), log
    assert any("--devices" in m for m in log), log
    with pytest.raises(ValueError, match="--device cuda:0 would put them all on one"):
        executors.make_executor(
            resolve(datasets=["digits"], executor="submitit", gpus_per_job=2, device="cuda:0"),
            tmp_path,
            log.append,
        )


def test_the_thread_count_of_a_cpu_training_does_not_depend_on_the_executor():
    cfg = resolve(datasets=["digits"])
    assert (
        executors.training_threads(cfg, "cpu", 1)
        == executors.training_threads(cfg, "cpu", 4)
        == torch.get_num_threads()
    )
    assert executors.training_threads(resolve(datasets=["digits"], threads=1), "cpu", 4) == 1
    # on a GPU the arithmetic does not run on these threads: the cores are shared
    assert executors.training_threads(cfg, "cuda:0", torch.get_num_threads() * 2) == 1


def test_where_trainings_run_is_no_part_of_the_results_identity():
    """A benchmark started sequentially may be resumed with --jobs or as submitit jobs, and back."""
    plain = resolve(datasets=["digits"])
    elsewhere = resolve(
        datasets=["digits"],
        executor="submitit",
        jobs=4,
        devices=["cpu"],
        threads=1,
        gpus_per_job=2,
        cpus_per_job=8,
        mem_gb=16,
        timeout_min=60,
        slurm_partition="gpu",
        slurm_account="me",
        slurm_array_parallelism=2,
    )
    assert plain.identity() == elsewhere.identity()


def test_a_requeued_submitit_job_resumes_its_training(tmp_path):
    pytest.importorskip("submitit")
    from fewshot_clce.training.config import TrainConfig

    task = training_task.TrainingTask(
        TrainConfig(dataset="digits", backbone="conv4", loss="ce", out=str(tmp_path), force=True)
    )
    again = task.checkpoint().function
    assert again.config.resume and not again.config.force and again.config.out == str(tmp_path)


# --- local processes ----------------------------------------------------------------------------


@pytest.mark.slow
def test_jobs_2_and_submitit_write_the_sequential_files_bit_for_bit(tmp_path, capsys):
    """The user's commands: the same benchmark in this process, with two training processes, and as
    submitit jobs (local subprocesses here)."""
    assert main(_bench_args(tmp_path / "seq")) == 0
    assert main(_bench_args(tmp_path / "jobs", "--jobs", "2")) == 0
    err = capsys.readouterr().err
    assert "2 at a time" in err and "trained ce-bs64-s0" in err
    assert (
        torch.cuda.is_available() or "2 at a time on cpu" in err
    )  # --device auto, resolved for the log
    _same_results(tmp_path / "jobs", tmp_path / "seq")
    log = (tmp_path / "jobs" / "logs" / "digits" / "ce-bs64-s0.log").read_text()
    assert "epoch 1/1" in log  # each training's output went to its own log
    try:
        import submitit  # noqa: F401
    except ImportError:
        return  # the [cluster] extra is not installed: the submitit half is tested where it is
    assert (
        main(_bench_args(tmp_path / "jobs-submitit", "--executor", "submitit", "--jobs", "2")) == 0
    )
    err = capsys.readouterr().err
    assert "submitted 2 job(s) to local" in err and "trained ce-bs64-s0 (job" in err
    _same_results(tmp_path / "jobs-submitit", tmp_path / "seq")


@pytest.mark.slow
def test_a_failed_training_is_reported_with_its_log_and_the_others_finish(reference, tmp_path):
    from fewshot_clce.benchmark.output_folder import prepare_output

    manifests, ref = reference
    out = tmp_path / "out"
    cfg = _quick(manifests, jobs=2, threads=1)
    prepare_output(out, cfg, force=False)  # as an earlier start of this benchmark left it
    blocker = out / "runs" / "digits" / "ce-bs16-s0"
    blocker.parent.mkdir(parents=True)
    blocker.write_text(
        "not a run folder"
    )  # the training fails in its process, after the other started
    log = []
    with pytest.raises(executors.TrainingsFailedError) as info:
        run_benchmark(cfg, out, log=log.append)
    report = next(m for m in log if m.startswith("training ce-bs16-s0 failed"))
    path = out / "logs" / "digits" / "ce-bs16-s0.log"
    assert "exit code 1" in report and "is a file; pass a folder for the run" in report
    assert f"full log: {path}" in report
    assert "1 of 2 trainings failed (ce-bs16-s0)" in str(info.value) and "\n" not in str(info.value)
    assert (
        out / "runs" / "digits" / "clce-lam0.5-t0.1-beta0.5-bs16-s0" / "checkpoint_best.pt"
    ).is_file()
    # fixed, the same command trains only the failed one
    blocker.unlink()
    res = run_benchmark(cfg, out, log=log.append)
    assert res.trained == ["ce-bs16-s0"] and res.reused == ["clce-lam0.5-t0.1-beta0.5-bs16-s0"]


# --- submitit (local subprocesses where there is no Slurm) ----------------------------------------


def _controller_alive(job_id: str) -> bool:
    from fewshot_clce.benchmark.submitit_jobs import _alive

    return _alive(job_id)


@pytest.mark.slow
def test_submitit_jobs_outlive_ctrl_c_and_the_same_command_reattaches(
    reference, tmp_path, monkeypatch
):
    pytest.importorskip("submitit")
    from fewshot_clce.benchmark import submitit_jobs

    manifests, ref = reference
    out = tmp_path / "out"
    cfg = _quick(manifests, executor="submitit", jobs=2)

    def ctrl_c(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(submitit_jobs.SubmititExecutor, "wait", ctrl_c)
    log = []
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(cfg, out, log=log.append)
    ledger = json.loads((out / "jobs" / "jobs.json").read_text())
    keys = ("digits/ce-bs16-s0", "digits/clce-lam0.5-t0.1-beta0.5-bs16-s0")
    ids = [ledger[k]["job_id"] for k in keys]
    said = next(m for m in log if m.startswith("interrupted"))
    assert (
        "keep running" in said and str(out / "jobs" / "jobs.json") in said and "re-attach" in said
    )
    assert f"kill {' '.join(ids)}" in said
    for i in ids:  # the terminal's Ctrl-C reaches the jobs too: they ignore it
        if _controller_alive(i):  # a tiny job may already be done on a quiet machine
            os.kill(int(i), signal.SIGINT)
    time.sleep(1)
    for k, i in zip(
        keys, ids
    ):  # each job still runs, or finished its training: none died of the SIGINT
        assert _controller_alive(i) or is_finished(out / "runs" / k, cfg.epochs), k
    monkeypatch.undo()
    log.clear()
    res = run_benchmark(cfg, out, log=log.append)
    assert not any(m.startswith("submitted") for m in log), log
    assert sum(m.startswith("re-attached to job") for m in log) + len(res.reused) == 2, log
    _same_results(out, ref)


@pytest.mark.slow
def test_a_killed_submitit_job_is_reported_and_only_it_is_resubmitted(reference, tmp_path):
    pytest.importorskip("submitit")
    manifests, ref = reference
    out = tmp_path / "out"
    cfg = _quick(manifests, executor="submitit", jobs=2)
    victim = out / "runs" / "digits" / "ce-bs16-s0"
    killed = {}

    def kill_once_training():
        deadline = time.monotonic() + 300
        while not (victim / "config.yaml").is_file() and time.monotonic() < deadline:
            time.sleep(0.02)
        job_id = json.loads((out / "jobs" / "jobs.json").read_text())["digits/ce-bs16-s0"]["job_id"]
        os.kill(int(job_id), signal.SIGTERM)  # what `kill ID` does: the job stops where it is
        killed["id"] = job_id

    watcher = threading.Thread(target=kill_once_training, daemon=True)
    watcher.start()
    log = []
    with pytest.raises(executors.TrainingsFailedError, match="1 of 2 trainings failed"):
        run_benchmark(cfg, out, log=log.append)
    watcher.join()
    report = next(m for m in log if m.startswith("training ce-bs16-s0 failed"))
    assert f"job {killed['id']} ended" in report and "without a result" in report
    assert f"full log: {out / 'jobs' / (killed['id'] + '_0_log.err')}" in report
    assert (
        out / "runs" / "digits" / "clce-lam0.5-t0.1-beta0.5-bs16-s0" / "checkpoint_best.pt"
    ).is_file()
    log.clear()
    res = run_benchmark(cfg, out, log=log.append)
    submitted = [m for m in log if m.startswith("submitted")]
    assert len(submitted) == 1 and submitted[0].startswith(
        "submitted 1 job(s) to local: ce-bs16-s0 ("
    ), log
    assert res.trained == ["ce-bs16-s0"]
    _same_results(out, ref)  # resumed (or restarted) to the very same numbers


@pytest.mark.slow
@pytest.mark.skipif(
    torch.cuda.is_available(), reason="the CPU form of the DDP path (no GPU to split among tasks)"
)
def test_a_submitit_job_of_two_gpus_trains_under_ddp(tmp_path):
    """Two tasks, ranks from submitit's job environment; without a GPU here they meet over gloo on CPU."""
    pytest.importorskip("submitit")
    from fewshot_clce.training.run_folder import read_config

    cfg = _quick(
        tmp_path / "no-committed",
        losses=["ce"],
        lam=None,
        temperature=None,
        beta=None,
        epochs=1,
        executor="submitit",
        gpus_per_job=2,
        threads=1,
    )
    out = tmp_path / "out"
    res = run_benchmark(cfg, out, log=lambda m: None)
    assert res.trained == ["ce-bs16-s0"]
    derived = read_config(out / "runs" / "digits" / "ce-bs16-s0")["derived"]
    assert derived["world_size"] == 2 and derived["global_batch_size"] == 32


def test_local_submitit_jobs_get_gpus_of_their_own(tmp_path, monkeypatch):
    """submitit's local executor would give every job GPUs 0..G-1: each job gets the least used group."""
    submitit = pytest.importorskip("submitit")
    from fewshot_clce.benchmark import submitit_jobs

    assert submitit_jobs.gpu_groups([0, 1, 2, 3, 4], 2) == [(0, 1), (2, 3)]
    assert submitit_jobs.gpu_groups([0], 2) == [] and submitit_jobs.gpu_groups([0, 1], 0) == []

    submitted = []

    class Recorder:  # stands in for submitit.AutoExecutor: records what each job would get
        def __init__(self, folder, cluster):
            self.params = {}

        def update_parameters(self, **params):
            self.params.update(params)

        def submit(self, task):
            submitted.append(
                (
                    task.config.out,
                    self.params.get("local_visible_gpus"),
                    self.params["gpus_per_node"],
                )
            )
            return type("Job", (), {"job_id": str(len(submitted))})()

    monkeypatch.setattr(submitit, "AutoExecutor", Recorder)
    monkeypatch.setattr(submitit_jobs, "local_gpus", lambda: [0, 1, 2, 3])
    cfg = resolve(datasets=["digits"], executor="submitit", gpus_per_job=2, jobs=3)
    ex = submitit_jobs.SubmititExecutor(cfg, tmp_path, lambda m: None, "local")
    from fewshot_clce.training.config import TrainConfig

    trainings = [
        training_task.Training(None, TrainConfig(dataset="digits", out=f"run{i}")) for i in range(3)
    ]
    ledger = {}
    monkeypatch.setattr(training_task.Training, "key", property(lambda t: t.config.out))
    monkeypatch.setattr(training_task.Training, "name", property(lambda t: t.config.out))
    jobs = ex._submit(trainings[:2], ledger, [])
    jobs += ex._submit(trainings[2:], ledger, jobs)
    assert submitted == [("run0", (0, 1), 2), ("run1", (2, 3), 2), ("run2", (0, 1), 2)]
    assert [ledger[f"run{i}"]["gpus"] for i in range(3)] == [[0, 1], [2, 3], [0, 1]]
