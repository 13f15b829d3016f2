"""A tiny real benchmark on `digits` (conv4, 1 epoch, few episodes), made once per test session."""

from __future__ import annotations

from pathlib import Path

from fewshot_clce.benchmark.config import resolve

_MADE = {}

TINY = dict(
    datasets=["digits"],
    losses=["ce", "clce"],
    backbone="conv4",
    shots=[1, 5],
    heads=["centroid"],
    episodes=40,
    val_episodes=20,
    seeds=[0, 1],
    lam=[0.5],
    temperature=[0.1],
    beta=[0.5],
    batch_size=[64],
    epochs=1,
    train_options={"val_episodes": 10},
    n_boot=200,
    tsne_classes=4,
    tsne_per_class=10,
    progress=False,
)


def tiny_config(**changes):
    return resolve(**dict(TINY, **changes))


def tiny_benchmark(tmp_path_factory):
    """``(folder, BenchmarkResult)`` of the tiny benchmark (4 trainings), shared by the session."""
    from fewshot_clce.benchmark.run import run_benchmark

    if "tiny" not in _MADE:
        out = Path(tmp_path_factory.mktemp("tiny-bench")) / "out"
        _MADE["tiny"] = (out, run_benchmark(tiny_config(), out, log=lambda m: None))
    return _MADE["tiny"]
