import os

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets the shared session cache unless it sets its own (keeps ~/.cache clean)."""
    if "FEWSHOT_CLCE_CACHE" not in os.environ:
        monkeypatch.setenv("FEWSHOT_CLCE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    yield
