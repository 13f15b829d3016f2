"""Where a benchmark's trainings run: in this process, in local processes, or as submitit jobs.

:func:`~fewshot_clce.benchmark.run.run_benchmark` hands the trainings that are not finished to the
executor :func:`make_executor` chose, which checks its options before any training starts:

- ``--executor local`` (the default) with one job: one training after another in this process,
  with its progress bars.
- ``--executor local --jobs N [--devices cuda:0 cuda:1 ...]``: N trainings at once, each in a
  process of its own on a device (devices are cycled over the N slots, so N may exceed them),
  its output in ``out/logs/<dataset>/<run>.log``; one progress bar for all of them.
- ``--executor submitit``: one job per training through ``submitit.AutoExecutor``: Slurm where
  ``srun`` exists, local subprocesses (``--jobs`` at a time) elsewhere. The job ids are kept in
  ``out/jobs/jobs.json`` so that the same command re-attaches to jobs still running after the
  driver stopped, and resubmits only the trainings no job is working on.

Every executor runs the same :func:`fewshot_clce.training.trainer.train` on the same settings,
and every training runs on the same intra-op thread count whatever the executor (``--threads``,
else this process's torch count: on CPU the sums of a kernel depend on how it splits them over
threads, so a training on 1 and on 2 threads differ in the last bits; see :func:`training_threads`).
CPU results are therefore bit for bit the same with any executor.

A training that fails (an error, a killed process, a job out of time) is reported with the end of
its log and the path of the whole log while the others go on; :class:`TrainingsFailedError` is
raised once they have all ended. Re-running the same command resumes: finished trainings are
reused, interrupted ones continue from their last checkpoint.

Evaluation stays in the driver (:mod:`~fewshot_clce.benchmark.run`), after the trainings: it
loads each dataset and its episodes once for every run, where a job per evaluation would pay a
process start, the imports and the dataset load each time (and a queue wait on a cluster).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..utils.checks import SettingError
from .config import BenchmarkConfig, flag
from .plan import dataset_folder
from .presets import PRESETS
from .processes import die_with_parent, reap
from .training_task import Training, TrainingTask

SUBMITIT_OPTIONS = ("gpus_per_job", "cpus_per_job", "mem_gb", "timeout_min")
SLURM_OPTIONS = ("slurm_partition", "slurm_account", "slurm_array_parallelism")
DEFAULT_TIMEOUT_MIN = 24 * 60
LOG_TAIL = 15  # lines of a failed training's log shown in its report
INSTALL_HINT = "pip install 'fewshot-clce[cluster]' (or pip install submitit)"

Log = Callable[[str], None]


class TrainingsFailedError(ChildProcessError):
    """Some trainings failed (each was reported with its log); the others ran to their end."""


def training_threads(cfg: BenchmarkConfig, device: str, concurrent: int) -> Optional[int]:
    """The intra-op thread count of every training: ``--threads``, else this process's torch count.

    On CPU the default does not depend on the executor, so that any executor gives the numbers the
    in-process run gives (more processes than cores then oversubscribe them: :func:`make_executor`
    warns and suggests ``--threads``). On a GPU, where the arithmetic does not run on these threads,
    the cores are shared among the ``concurrent`` processes.
    """
    import torch

    if cfg.threads is not None:
        return cfg.threads
    if device.startswith("cuda"):
        return max(1, torch.get_num_threads() // concurrent)
    return torch.get_num_threads()


def log_tail(path: Path, lines: int = LOG_TAIL) -> str:
    """The last ``lines`` lines of a log file, each indented, for a failure report."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return "    (no log was written)"
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join("    | " + line for line in tail) or "    (the log is empty)"


def failure_report(training: Training, what: str, log: Path) -> str:
    return (
        f"training {training.name} failed ({what}); the end of its log:\n{log_tail(log)}\n"
        f"  full log: {log}"
    )


@dataclass
class _Tally:
    """What the trainings a concurrent executor runs came to: the seconds of those that finished, by
    :attr:`Training.key`, and the failed ones with their logs (each reported as it fails)."""

    total: int
    log: Log
    took: dict[str, float] = dataclasses.field(default_factory=dict)
    failures: list[str] = dataclasses.field(default_factory=list)
    logs: list[Path] = dataclasses.field(default_factory=list)

    def failed(self, training: Training, what: str, log: Path) -> None:
        self.log(failure_report(training, what, log))
        self.failures.append(training.name)
        self.logs.append(log)

    def result(self) -> dict[str, float]:
        """The seconds each training took, once every one has ended.

        Raises:
            TrainingsFailedError: naming the failed trainings and their logs (the others finished).
        """
        if self.failures:
            raise TrainingsFailedError(
                f"{len(self.failures)} of {self.total} trainings failed ({', '.join(self.failures)}); each is "
                f"reported above with the end of its log ({', '.join(str(p) for p in self.logs)}). The others "
                "finished: fix the cause and re-run the same command, which reuses finished trainings and resumes "
                "interrupted ones from their last checkpoint"
            )
        return self.took


class Executor:
    """Runs trainings; :meth:`run` returns the seconds each took, by :attr:`Training.key`."""

    name = ""

    def __init__(self, cfg: BenchmarkConfig, out: Path, log: Log):
        self.cfg, self.out, self.log = cfg, Path(out), log

    def run(self, trainings: list[Training]) -> dict[str, float]:
        raise NotImplementedError

    def _first(self, took: dict[str, float], total: int, at_once: int) -> None:
        if len(took) == 1 and total > 1:
            first = next(iter(took.values()))
            more = first * -(-(total - 1) // at_once)  # the others, at_once at a time
            self.log(
                f"first training took {first:.0f} s; at that pace the {total - 1} other(s) take about "
                f"{more / 60:.1f} min more"
            )


class SequentialExecutor(Executor):
    """One training after another in this process, with its progress bars."""

    name = "local"

    def __init__(self, cfg: BenchmarkConfig, out: Path, log: Log, device: Optional[str] = None):
        super().__init__(cfg, out, log)
        self.device = device  # None: the benchmark's --device

    def run(self, trainings: list[Training]) -> dict[str, float]:
        from tqdm import tqdm

        from ..training import trainer  # looked up at call time (tests replace trainer.train)

        took: dict[str, float] = {}
        bar = tqdm(trainings, desc="train", unit="run", disable=not self.cfg.progress)
        for t in bar:
            bar.set_postfix_str(t.name)
            config = dataclasses.replace(
                t.config, threads=self.cfg.threads, device=self.device or t.config.device
            )
            start = time.perf_counter()
            trainer.train(config)
            took[t.key] = time.perf_counter() - start
            self._first(took, len(trainings), 1)
        return took


@dataclass
class _Running:
    training: Training
    process: subprocess.Popen
    device: str
    log: Path
    start: float


class LocalProcessExecutor(Executor):
    """``jobs`` trainings at once, each in a process of its own (``python -m`` this module)."""

    name = "local"
    poll_s = 0.1  # a look at finished processes (waitpid) costs nothing: a finished training is seen at once

    def __init__(self, cfg: BenchmarkConfig, out: Path, log: Log, jobs: int, devices: list[str]):
        super().__init__(cfg, out, log)
        self.jobs, self.devices = jobs, devices

    def log_path(self, t: Training) -> Path:
        return self.out / "logs" / dataset_folder(t.spec.dataset_id) / f"{t.name}.log"

    def _start(self, t: Training, device: str) -> _Running:
        config = dataclasses.replace(
            t.config,
            device=device,
            progress=False,
            threads=training_threads(self.cfg, device, self.jobs),
        )
        path = self.log_path(t)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:  # the child writes through its own copy of the descriptor
            f.write(
                f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}: training {t.name} on {device}, "
                f"{config.threads} thread(s)\n"
            )
            f.flush()
            process = subprocess.Popen(
                [sys.executable, "-m", __name__, json.dumps(dataclasses.asdict(config))],
                stdout=f,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent(),
            )
        return _Running(t, process, device, path, time.perf_counter())

    def run(self, trainings: list[Training]) -> dict[str, float]:
        from tqdm import tqdm

        from ..training.run_folder import is_finished

        queue, running, free = list(trainings), {}, list(range(self.jobs))
        tally = _Tally(len(trainings), self.log)
        self.log(
            f"training {len(trainings)} run(s), {self.jobs} at a time on {', '.join(self.devices)}; "
            f"logs in {self.out / 'logs'}"
        )
        bar = tqdm(total=len(trainings), desc="train", unit="run", disable=not self.cfg.progress)
        try:
            while queue or running:
                while queue and free:
                    slot = free.pop(0)
                    running[slot] = self._start(
                        queue.pop(0), self.devices[slot % len(self.devices)]
                    )
                    bar.set_postfix_str(", ".join(r.training.name for r in running.values()))
                for slot, r in list(running.items()):
                    code = r.process.poll()
                    if code is None:
                        continue
                    del running[slot]
                    free.append(slot)
                    seconds = time.perf_counter() - r.start
                    if code == 0 and is_finished(r.training.config.out, r.training.config.epochs):
                        tally.took[r.training.key] = seconds
                        self.log(f"trained {r.training.name} on {r.device} in {seconds:.0f} s")
                        self._first(tally.took, len(trainings), self.jobs)
                    else:
                        why = f"exit code {code}" if code >= 0 else f"killed by signal {-code}"
                        tally.failed(r.training, f"{why}, on {r.device}", r.log)
                    bar.update(1)
                    bar.set_postfix_str(", ".join(r.training.name for r in running.values()))
                time.sleep(self.poll_s)
        except KeyboardInterrupt:
            # The terminal's Ctrl-C reached the trainings too (one process group): each stops where
            # it is; its last checkpoint is intact and the same command resumes it.
            reap([r.process for r in running.values()])
            raise
        finally:
            bar.close()
        return tally.result()


def default_devices(cfg: BenchmarkConfig) -> list[str]:
    """``--devices``, else every visible GPU when ``--device`` is auto (the CPU without one), else ``--device``."""
    import torch

    if cfg.devices:
        return list(cfg.devices)
    if cfg.device == "auto":  # resolved here, so that the log says where each training runs
        return (
            [f"cuda:{i}" for i in range(torch.cuda.device_count())]
            if torch.cuda.is_available()
            else ["cpu"]
        )
    return [cfg.device]


def check_devices(devices: list[str]) -> None:
    """Refuse a device that does not exist here, before any training starts (names it)."""
    from ..utils.distributed import resolve_device

    for d in devices:
        try:
            resolve_device(d)
        except ValueError as e:
            raise SettingError("devices", "{setting} " + f"{d!r}: {e}") from None


def explicit(cfg: BenchmarkConfig, name: str) -> bool:
    """Whether a runtime option was given (its value is neither the default None nor the preset's)."""
    value = getattr(cfg, name)
    preset = PRESETS[cfg.preset].values if cfg.preset in PRESETS else {}
    return value is not None and value != preset.get(name)


def _warn_ignored(cfg: BenchmarkConfig, names, why: str, log: Log) -> None:
    given = [flag(n) for n in names if explicit(cfg, n)]
    if given:
        log(f"WARNING: {why} ignores {', '.join(given)}")


def local_jobs(cfg: BenchmarkConfig) -> int:
    """Trainings the local executor runs at once: ``--jobs``, else one per ``--devices`` entry, else 1."""
    return cfg.jobs or (len(cfg.devices) if cfg.devices else 1)


def make_executor(cfg: BenchmarkConfig, out: Path, log: Log) -> Executor:
    """The executor ``cfg`` asks for, its options checked and the ignored ones warned about.

    Raises:
        SettingError: a device that does not exist, submitit not installed (saying how to install
            it), ``--gpus-per-job`` above 1 on a fixed device.
    """
    cfg.check()
    if cfg.executor == "local":
        _warn_ignored(
            cfg,
            SUBMITIT_OPTIONS + SLURM_OPTIONS,
            "the local executor (options of --executor submitit)",
            log,
        )
        devices = default_devices(cfg)
        check_devices(devices)
        jobs = local_jobs(cfg)
        if jobs == 1:
            return SequentialExecutor(cfg, out, log, devices[0] if cfg.devices else None)
        _warn_oversubscribed(cfg, devices, jobs, log)
        return LocalProcessExecutor(cfg, out, log, jobs, devices)
    from .submitit_jobs import submitit_executor

    return submitit_executor(cfg, out, log)


def _warn_oversubscribed(cfg: BenchmarkConfig, devices: list[str], jobs: int, log: Log) -> None:
    cores = os.cpu_count() or 1
    threads = training_threads(cfg, devices[0], jobs)
    if any(d.startswith("cpu") for d in devices) and threads and jobs * threads > cores:
        log(
            f"WARNING: {jobs} CPU trainings at once of {threads} thread(s) each oversubscribe the {cores} cores "
            f"(threads then wait for one another); --threads {max(1, cores // jobs)} shares them (CPU results "
            "depend on the thread count in the last bits, never on the executor)"
        )


def _worker(argv: list[str]) -> int:
    """``python -m fewshot_clce.benchmark.executors CONFIG_JSON``: one training (the local executor's)."""
    from ..training.config import TrainConfig

    TrainingTask(TrainConfig(**json.loads(argv[0])))()
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
