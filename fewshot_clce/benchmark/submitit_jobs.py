"""The submitit executor: one job per training, on Slurm or as local subprocesses.

``submitit.AutoExecutor`` picks Slurm where ``srun`` exists and local subprocesses elsewhere.
Jobs, their logs and submitit's pickles live in ``out/jobs/``; ``out/jobs/jobs.json`` maps each
training to the last job that was given it, so that a re-run of the same command re-attaches to
the jobs still pending or running (a Ctrl-C in the driver leaves them running) and resubmits only
the trainings no job is working on. On Slurm every job of a start is submitted at once, as one job
array (``--slurm-array-parallelism`` caps how many run together); without Slurm at most ``--jobs``
local jobs run at once, and the driver submits the next when one ends.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Optional

from ..utils.checks import SettingError
from ..utils.files import write_json_atomic
from .config import BenchmarkConfig
from .executors import (
    DEFAULT_TIMEOUT_MIN,
    Executor,
    Log,
    _Tally,
    training_threads,
)
from .processes import ignoring_ctrl_c
from .training_task import Training, TrainingTask

# Slurm states of a job that has not ended (sacct); submitit's local jobs say RUNNING.
ACTIVE = (
    "PENDING",
    "RUNNING",
    "REQUEUED",
    "COMPLETING",
    "CONFIGURING",
    "RESIZING",
    "SUSPENDED",
    "READY",
    "UNKNOWN",
    "PREEMPTED",
)


def _alive(pid: str) -> bool:
    """Whether a local job's controller (its id is the process id) still runs."""
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError):
        return False
    except PermissionError:  # someone else's process took the id
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    # the id may have been reused by an unrelated process since: only a submitit controller counts
    return not cmdline.exists() or b"submitit" in cmdline.read_bytes()


def local_gpus() -> list[int]:
    """The GPUs this machine shows, as the ids submitit writes into a local job's CUDA_VISIBLE_DEVICES."""
    import torch

    if not torch.cuda.is_available():
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        try:
            return [int(x) for x in visible.split(",") if x.strip()]
        except ValueError:  # GPU UUIDs: submitit takes numbers only; fall back to its own default
            return []
    return list(range(torch.cuda.device_count()))


def gpu_groups(gpus: list[int], per_job: int) -> list[tuple[int, ...]]:
    """The machine's GPUs cut into groups of ``per_job`` (one group per local job at a time)."""
    if per_job < 1 or len(gpus) < per_job:
        return []
    return [tuple(gpus[i : i + per_job]) for i in range(0, len(gpus) - per_job + 1, per_job)]


class _Job:
    """A training's submitit job: submitted by this driver, or re-attached from the ledger."""

    def __init__(
        self, training: Training, job, cluster: str, ours: bool, gpus: tuple[int, ...] = ()
    ):
        self.training, self.job, self.cluster, self.ours = training, job, cluster, ours
        self.gpus = tuple(gpus)  # a local job's GPUs (Slurm gives its jobs theirs)
        self.start = time.perf_counter()

    @property
    def id(self) -> str:
        return str(self.job.job_id)

    @property
    def log(self) -> Path:
        return Path(self.job.task(0).paths.stderr)

    @property
    def result(self) -> Path:
        return Path(self.job.task(0).paths.result_pickle)

    def state(self) -> str:
        if self.cluster == "local" and not self.ours:  # its process belongs to an earlier driver
            if _alive(self.id):
                return "RUNNING"
            return "FINISHED" if self.result.exists() else "INTERRUPTED"
        return str(self.job.state).split()[0].upper()

    def done(self) -> bool:
        if self.cluster == "local":
            return self.state() != "RUNNING"
        return self.job.done()

    def outcome(self) -> Optional[str]:
        """Why the job failed (a phrase), or None when its task returned."""
        from ..utils.safe_pickle import load_pickle

        if not self.result.exists():
            return f"job {self.id} ended ({self.state()}) without a result: killed, out of memory or out of time"
        try:
            kind, payload = load_pickle(self.result)
        except Exception as e:  # a damaged result file is reported, never trusted
            return f"job {self.id}: unreadable result ({type(e).__name__})"
        if kind == "success":
            return None
        last = [line for line in str(payload).splitlines() if line.strip()]
        return f"job {self.id}: {last[-1].strip() if last else 'an error'}"


class SubmititExecutor(Executor):
    name = "submitit"

    def __init__(self, cfg: BenchmarkConfig, out: Path, log: Log, cluster: str):
        super().__init__(cfg, out, log)
        self.cluster = cluster
        self.folder = self.out / "jobs"
        self.ledger_path = self.folder / "jobs.json"
        self.tasks = max(1, cfg.gpus_per_job or 0)  # one process per GPU
        self.at_once = cfg.jobs or 1  # local jobs at once (Slurm schedules its own)
        self.poll_s = (
            0.25 if cluster == "local" else 15.0
        )  # local jobs are processes here, cheap to look at
        # submitit's local executor gives every job GPUs 0..G-1: each local job is given a group of
        # its own instead, the least used one (groups are shared when --jobs exceeds them)
        self.groups = gpu_groups(local_gpus(), cfg.gpus_per_job or 0) if cluster == "local" else []

    def parameters(self) -> dict[str, object]:
        """The resources of every job, in submitit's names (its Slurm-only ones prefixed ``slurm_``)."""
        cfg = self.cfg
        params: dict[str, object] = dict(
            name="fewshot-clce",
            nodes=1,
            tasks_per_node=self.tasks,
            timeout_min=cfg.timeout_min or DEFAULT_TIMEOUT_MIN,
        )
        if cfg.gpus_per_job:
            params["gpus_per_node"] = cfg.gpus_per_job
        if cfg.cpus_per_job:
            params["cpus_per_task"] = max(1, cfg.cpus_per_job // self.tasks)
        if cfg.mem_gb:
            params["mem_gb"] = cfg.mem_gb
        for name in ("partition", "account", "array_parallelism"):
            if getattr(cfg, f"slurm_{name}") is not None:
                params[f"slurm_{name}"] = getattr(cfg, f"slurm_{name}")
        return params

    def threads(self) -> Optional[int]:
        """Threads of each training process: as in the driver without Slurm (the same numbers on CPU);
        on Slurm ``--threads``, else the cores each process gets, else the node's default."""
        if self.cluster != "slurm":
            return training_threads(
                self.cfg, "cuda" if self.cfg.gpus_per_job else "cpu", self.at_once
            )
        if self.cfg.threads is not None:
            return self.cfg.threads
        return max(1, self.cfg.cpus_per_job // self.tasks) if self.cfg.cpus_per_job else None

    def _task(self, t: Training) -> TrainingTask:
        return TrainingTask(dataclasses.replace(t.config, progress=False, threads=self.threads()))

    def _reattach(self, t: Training, record: dict) -> Optional[_Job]:
        """The job the ledger names for ``t``, when it has not ended; None otherwise."""
        import submitit

        if record.get("cluster") != self.cluster or not record.get("job_id"):
            return None
        cls = submitit.SlurmJob if self.cluster == "slurm" else submitit.LocalJob
        job = _Job(
            t,
            cls(
                self.folder, str(record["job_id"]), tasks=tuple(range(int(record.get("tasks", 1))))
            ),
            self.cluster,
            ours=False,
            gpus=tuple(record.get("gpus", ())),
        )
        state = job.state()
        return job if (state == "RUNNING" if self.cluster == "local" else state in ACTIVE) else None

    def _free_group(self, active: list[_Job]) -> tuple[int, ...]:
        """The GPU group fewest running local jobs use (empty: submitit's default, or no GPU)."""
        if not self.groups:
            return ()
        use = Counter(j.gpus for j in active)
        return min(self.groups, key=lambda g: use[g])  # the first of the least used: deterministic

    def _submit(
        self, trainings: list[Training], ledger: dict[str, dict], active: list[_Job]
    ) -> list[_Job]:
        import submitit

        executor = submitit.AutoExecutor(folder=self.folder, cluster=self.cluster)
        executor.update_parameters(**self.parameters())
        jobs: list[_Job] = []
        with ignoring_ctrl_c():  # local jobs are child processes: Ctrl-C here must not reach them
            if self.cluster == "slurm" and len(trainings) > 1:
                with executor.batch():  # one job array
                    submitted = [executor.submit(self._task(t)) for t in trainings]
                jobs = [_Job(t, j, self.cluster, ours=True) for t, j in zip(trainings, submitted)]
            else:
                for t in trainings:
                    gpus = self._free_group(active + jobs)
                    if gpus:
                        executor.update_parameters(local_visible_gpus=gpus)
                    jobs.append(
                        _Job(t, executor.submit(self._task(t)), self.cluster, ours=True, gpus=gpus)
                    )
        for j in jobs:
            ledger[j.training.key] = {
                "job_id": j.id,
                "cluster": self.cluster,
                "tasks": self.tasks,
                "gpus": list(j.gpus),
                "run": j.training.name,
                "submitted": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
        write_ledger(self.ledger_path, ledger)
        self.log(
            f"submitted {len(jobs)} job(s) to {self.cluster}: "
            + ", ".join(
                f"{j.training.name} ({j.id}{', GPUs ' + ','.join(map(str, j.gpus)) if j.gpus else ''})"
                for j in jobs
            )
        )
        return jobs

    def run(self, trainings: list[Training]) -> dict[str, float]:
        from tqdm import tqdm

        from ..training.run_folder import is_finished

        self.folder.mkdir(parents=True, exist_ok=True)
        ledger = read_ledger(self.ledger_path)
        active: list[_Job] = []
        queue: list[Training] = []
        for t in trainings:
            job = self._reattach(t, ledger.get(t.key, {}))
            if job is None:
                queue.append(t)
            else:
                active.append(job)
                self.log(f"re-attached to job {job.id} ({t.name}), {job.state()}")
        tally = _Tally(len(trainings), self.log)
        shown = ""
        bar = tqdm(
            total=len(trainings), desc="train (jobs)", unit="run", disable=not self.cfg.progress
        )
        try:
            while queue or active:
                room = len(queue) if self.cluster == "slurm" else max(0, self.at_once - len(active))
                if queue and room:
                    active += self._submit(queue[:room], ledger, active)
                    queue = queue[room:]
                for job in [j for j in active if j.done()]:
                    active.remove(job)
                    t = job.training
                    why = job.outcome()
                    if why is None and not is_finished(t.config.out, t.config.epochs):
                        why = f"job {job.id} returned but {t.config.out} holds no finished run"
                    if why is None:
                        tally.took[t.key] = time.perf_counter() - job.start
                        self.log(f"trained {t.name} (job {job.id}) in {tally.took[t.key]:.0f} s")
                        self._first(
                            tally.took,
                            len(trainings),
                            len(trainings) if self.cluster == "slurm" else self.at_once,
                        )
                    else:
                        tally.failed(t, why, job.log)
                    bar.update(1)
                states = Counter(j.state() for j in active)
                now = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
                line = (
                    f"jobs: {now or 'none running'}; {len(queue)} to submit, {len(tally.took)} done, "
                    f"{len(tally.failures)} failed"
                )
                if line != shown:
                    self.log(line)
                    shown = line
                    bar.set_postfix_str(now)
                if queue or active:
                    self.wait()
        except KeyboardInterrupt:
            self._interrupted(active, queue)
            raise
        finally:
            bar.close()
        return tally.result()

    def wait(self) -> None:
        """Pause between two looks at the jobs."""
        time.sleep(self.poll_s)

    def _interrupted(self, active: list[_Job], queue: list[Training]) -> None:
        """Ctrl-C: the jobs go on; say how to re-attach to them or cancel them."""
        ids = " ".join(j.id for j in active)
        cancel = f"scancel {ids}" if self.cluster == "slurm" else f"kill {ids}"
        parts = [
            f"interrupted: {len(active)} submitted job(s) keep running ({ids or 'none'}); their ids are kept "
            f"in {self.ledger_path}. Re-run the same command to re-attach to them"
        ]
        if queue:
            parts.append(f" and submit the {len(queue)} training(s) not submitted yet")
        if active:
            parts.append(f", or cancel them with `{cancel}`")
        self.log("".join(parts))


def read_ledger(path: Path) -> dict[str, dict]:
    """The job ids a benchmark's submitit jobs were given, by training key (empty when unreadable)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_ledger(path: Path, ledger: dict[str, dict]) -> None:
    write_json_atomic(path, ledger)


def submitit_executor(cfg: BenchmarkConfig, out: Path, log: Log) -> SubmititExecutor:
    """``--executor submitit``: its options checked and the ignored ones warned about.

    Raises:
        SettingError: submitit not installed (saying how to install it), ``--gpus-per-job`` above
            1 on a fixed device, a CUDA device without GPUs in the jobs.
    """
    from .executors import INSTALL_HINT, SLURM_OPTIONS, _warn_ignored, _warn_oversubscribed

    try:
        import submitit
    except ImportError:
        raise SettingError(
            "executor",
            "{setting} submitit needs the submitit package, which is not installed: "
            + INSTALL_HINT,
        ) from None
    cluster = submitit.AutoExecutor.which()
    _warn_ignored(
        cfg, ("devices",), "--executor submitit (each job gets its GPUs from --gpus-per-job)", log
    )
    if cluster == "slurm":
        _warn_ignored(
            cfg,
            ("jobs",),
            "Slurm (it starts the jobs; limit them with --slurm-array-parallelism)",
            log,
        )
    else:
        _warn_ignored(
            cfg,
            SLURM_OPTIONS,
            f"submitit without Slurm (no srun here: jobs run as {cluster} subprocesses)",
            log,
        )
    gpus = cfg.gpus_per_job or 0
    if gpus > 1 and cfg.device not in ("auto", "cuda"):
        raise SettingError(
            "gpus_per_job",
            "{setting} " + f"{gpus} trains each run under DDP, one process per GPU on "
            f"cuda:LOCAL_RANK; --device {cfg.device} would put them all on one: use --device auto",
        )
    if cfg.device.startswith("cuda") and gpus == 0:
        raise SettingError(
            "gpus_per_job",
            f"--device {cfg.device} needs a GPU in every job; give " + "{setting} 1 "
            "(or more), or --device auto",
        )
    if cluster != "slurm":
        _warn_oversubscribed(cfg, ["cuda" if gpus else "cpu"], cfg.jobs or 1, log)
    return SubmititExecutor(cfg, out, log, cluster)
