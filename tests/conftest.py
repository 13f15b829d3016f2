import os
import sys
from pathlib import Path

import pytest

# tests/ mirrors the package (tests/<package>/test_<module>.py); the shared helpers
# (_dataset_fixtures, _evaltools, synthetic_results, ...) stay here, importable by plain name
# from every subfolder.
TESTS = str(Path(__file__).resolve().parent)
if TESTS not in sys.path:
    sys.path.insert(0, TESTS)


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory):
    """This test session's cache folder, new for every session and shared by its xdist workers (a
    build that several workers need, such as the full glyphs, is made once: the others wait)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, above each worker's own
    return base / "cache"


@pytest.fixture(autouse=True)
def _isolated_cache(session_cache, monkeypatch):
    """Every test gets the shared session cache unless it sets its own (keeps ~/.cache clean)."""
    if "FEWSHOT_CLCE_CACHE" not in os.environ:
        monkeypatch.setenv("FEWSHOT_CLCE_CACHE", str(session_cache))
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
