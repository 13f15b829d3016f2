"""One training of a benchmark as the unit of work an executor runs: :class:`Training` is what
the driver hands an executor, :class:`TrainingTask` the picklable callable a local process or a
submitit job runs (one DDP process per task in a multi-GPU job)."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
from dataclasses import dataclass

from .plan import RunSpec


@dataclass(frozen=True)
class Training:
    """One training the benchmark still needs: its plan entry and its settings (resume/force resolved)."""

    spec: RunSpec
    config: TrainConfig  # noqa: F821 (fewshot_clce.training.config, imported lazily)

    @property
    def key(self) -> str:
        return f"{self.spec.dataset_id}/{self.spec.name}"

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass
class TrainingTask:
    """What a process or a submitit job runs: one training (a picklable callable).

    In a submitit job of several tasks (``--gpus-per-job`` above 1) each task is one DDP process:
    the rank, world size and rendezvous address torchrun would set come from submitit's job
    environment. A job that reaches its time limit or is preempted is requeued by submitit
    through :meth:`checkpoint`, resuming from the run's last checkpoint.
    """

    config: TrainConfig  # noqa: F821

    def __call__(self) -> str:
        from ..training import trainer

        _export_submitit_ranks()
        return str(trainer.train(self.config))

    def checkpoint(self):
        """submitit's requeue hook: the same training, continued from its last checkpoint."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(
            TrainingTask(dataclasses.replace(self.config, resume=True, force=False))
        )


def _export_submitit_ranks() -> None:
    """Set RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT in a multi-task submitit job.

    In a local job, also let SIGTERM stop the training again: submitit ignores it in its jobs
    (Slurm sends it before a preemption signal, to checkpoint on), but a local job has no other
    way to be cancelled since it ignores Ctrl-C (:func:`~fewshot_clce.benchmark.processes.ignoring_ctrl_c`).
    """
    if not os.environ.get("SUBMITIT_EXECUTOR"):
        return
    import submitit

    if (
        os.environ["SUBMITIT_EXECUTOR"] == "local"
        and threading.current_thread() is threading.main_thread()
    ):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    env = submitit.JobEnvironment()
    if env.num_tasks > 1:
        # every task sees all the job's GPUs and takes cuda:LOCAL_RANK (utils.distributed)
        submitit.helpers.TorchDistributedEnvironment().export(
            set_cuda_visible_devices=False, overwrite=True
        )
