import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets the shared session cache unless it sets its own (keeps ~/.cache clean)."""
    if "FEWSHOT_CLCE_CACHE" not in os.environ:
        monkeypatch.setenv("FEWSHOT_CLCE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    yield


def pytest_configure(config):
    """Under pytest-xdist (``make test`` runs ``-n auto``: one worker per core) every worker gets one
    intra-op thread, and so do the processes it starts: workers that each spread small operations
    over every core would wait on each other's spinning threads."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        os.environ["MKL_NUM_THREADS"] = "1"
        import torch

        torch.set_num_threads(1)
