import json
import re

import pytest
from notebook_runner import NOTEBOOKS, images, install_kernel, outputs_text, run_notebook
from synthetic_results import make_results

from fewshot_clce.report.analysis import analyse
from fewshot_clce.report.writer import write_results


@pytest.fixture
def kernel(tmp_path_factory, monkeypatch):
    folder = install_kernel(tmp_path_factory.mktemp("jupyter"))
    monkeypatch.setenv("JUPYTER_PATH", str(folder))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # inline figures, not files


def test_notebooks_are_committed_without_outputs():
    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == ["compare_losses.ipynb", "embeddings.ipynb", "explore_episodes.ipynb"]
    for p in NOTEBOOKS.glob("*.ipynb"):
        nb = json.loads(p.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None, p.name


@pytest.mark.slow
def test_explore_episodes_notebook(kernel, monkeypatch):
    monkeypatch.setenv("FEWSHOT_CLCE_NB_DATASET", "digits")
    nb = run_notebook("explore_episodes.ipynb")
    text = outputs_text(nb)
    assert "EpisodeSet(20 x 5-way 5-shot 15-query" in text and "fingerprint" in text
    assert images(nb) == 1


@pytest.mark.slow
def test_compare_losses_notebook(kernel, monkeypatch, tmp_path):
    df = make_results(
        {"ce": 0.0, "supcon": 0.0, "clce": 0.06}, seeds=[0, 1], episodes=40, dataset="digits"
    )
    write_results(tmp_path, analyse(df, n_boot=100), {"command": "fewshot-clce benchmark --tiny"})
    monkeypatch.setenv("FEWSHOT_CLCE_BENCH_DIR", str(tmp_path))
    monkeypatch.setenv("FEWSHOT_CLCE_NB_BOOT", "100")
    nb = run_notebook("compare_losses.ipynb")
    text = outputs_text(nb)
    assert "fewshot-clce benchmark --tiny" in text and "CLCE beats CE" in text and "Δ vs ce" in text
    assert images(nb) == 2


@pytest.mark.slow
def test_embeddings_notebook_on_a_real_tiny_benchmark(kernel, monkeypatch, tmp_path_factory):
    from tiny_benchmark import tiny_benchmark

    out, _ = tiny_benchmark(tmp_path_factory)
    monkeypatch.setenv("FEWSHOT_CLCE_BENCH_DIR", str(out))
    monkeypatch.setenv("FEWSHOT_CLCE_NB_CLASSES", "4")
    monkeypatch.setenv("FEWSHOT_CLCE_NB_PER_CLASS", "10")
    nb = run_notebook("embeddings.ipynb")
    text = outputs_text(nb)
    assert "silhouette_mean" in text
    # one row per loss: its mean silhouette over the 2 seeds, a number in [-1, 1]
    assert re.search(r"digits\s+ce\s+-?[01]\.\d+", text) and re.search(
        r"\n\s+clce\s+-?[01]\.\d+", text
    )
    assert images(nb) == 1


@pytest.mark.slow
def test_embeddings_notebook_on_a_folder_benchmark(kernel, monkeypatch, tmp_path):
    """Result rows name a folder: dataset by its folder's name; the notebook loads it from the
    benchmark's recorded configuration (it looked for a dataset called 'letters')."""
    import numpy as np
    from PIL import Image

    from fewshot_clce.benchmark.config import resolve
    from fewshot_clce.benchmark.run import run_benchmark

    rng = np.random.default_rng(0)
    for c in range(15):
        (tmp_path / "letters" / f"c{c:02d}").mkdir(parents=True)
        pattern = rng.integers(0, 255, (28, 28))
        for i in range(10):
            noisy = np.clip(pattern + rng.normal(0, 20, (28, 28)), 0, 255).astype(np.uint8)
            Image.fromarray(noisy, "L").save(tmp_path / "letters" / f"c{c:02d}" / f"{i}.png")
    cfg = resolve(
        datasets=[f"folder:{tmp_path / 'letters'}"],
        losses=["ce"],
        backbone="conv4",
        shots=[1],
        heads=["centroid"],
        ways=3,
        episodes=10,
        val_episodes=5,
        queries=5,
        seeds=[0],
        epochs=1,
        default_grids=False,
        train_options={"val_episodes": 5, "val_queries": 5, "val_ways": 3},
        tsne=False,
        progress=False,
        n_boot=50,
    )
    run_benchmark(cfg, tmp_path / "bench", log=lambda m: None)
    monkeypatch.setenv("FEWSHOT_CLCE_BENCH_DIR", str(tmp_path / "bench"))
    monkeypatch.setenv("FEWSHOT_CLCE_NB_CLASSES", "3")
    monkeypatch.setenv("FEWSHOT_CLCE_NB_PER_CLASS", "5")
    text = outputs_text(run_notebook("embeddings.ipynb"))
    assert "silhouette_mean" in text and re.search(r"folder:letters\s+ce\s+-?[01]\.\d+", text)
