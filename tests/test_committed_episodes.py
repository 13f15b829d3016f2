"""The committed manifests in episodes/ regenerate exactly from their seeds and are documented."""
import shlex
from pathlib import Path

import numpy as np
import pytest

from fewshot_clce.commands.episodes import default_path, make_command
from fewshot_clce.data import create_dataset
from fewshot_clce.episodes.manifest import EpisodeSet, sample_episodes

FOLDER = Path(__file__).resolve().parents[1] / "episodes"
FILES = sorted(FOLDER.glob("*.npz"))
EXPECTED = [(d, s, k) for d in ("digits", "glyphs") for s in ("novel", "val") for k in (1, 5)]
# building glyphs renders ~31,000 images (tens of seconds once per test session)
SLOW = [pytest.param(p, marks=pytest.mark.slow) if p.name.startswith("glyphs") else p for p in FILES]


def test_every_embedded_split_has_its_manifests():
    names = {p.name for p in FILES}
    for dataset, split, shots in EXPECTED:
        assert default_path("", dataset, split, 5, shots, 15).name in names


@pytest.mark.parametrize("path", SLOW, ids=[p.name for p in FILES])
def test_regenerates_identically(path):
    eps = EpisodeSet.load(path)
    split = create_dataset(eps.dataset).split(eps.split)
    eps.check(split)
    again = sample_episodes(split, eps.ways, eps.shots, eps.queries, len(eps), eps.seed)
    for name in ("classes", "support", "query"):
        assert np.array_equal(getattr(eps, name), getattr(again, name)), name
    assert eps.fingerprint == again.fingerprint == split.fingerprint
    assert path == FOLDER / default_path("", eps.dataset, eps.split, eps.ways, eps.shots, eps.queries)
    made_by = make_command(eps.dataset, eps.split, eps.ways, eps.shots, eps.queries, len(eps), eps.seed)
    assert eps.meta["made_by"] == made_by


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_readme_lists_file_and_command(path):
    readme = (FOLDER / "README.md").read_text()
    eps = EpisodeSet.load(path)
    assert f"`{path.name}`" in readme
    # the README gives one command per (dataset, split), with every shot count in --shots
    lines = [line for line in readme.splitlines() if line.startswith("fewshot-clce episodes make")]
    matching = [shlex.split(line) for line in lines
                if f"--dataset {eps.dataset} --split {eps.split} " in line]
    assert len(matching) == 1, f"README needs one make command for {eps.dataset}/{eps.split}"
    args = matching[0]
    shots = args[args.index("--shots") + 1: args.index("--queries")]
    assert str(eps.shots) in shots
    assert args[args.index("--episodes") + 1] == str(len(eps))
    assert args[args.index("--seed") + 1] == str(eps.seed)
    assert args[args.index("--ways") + 1] == str(eps.ways)
    assert args[args.index("--queries") + 1] == str(eps.queries)


def test_readme_csv_example_loads(tmp_path):
    readme = (FOLDER / "README.md").read_text()
    block = readme.split("```\n# dataset:")[1].split("```")[0]
    (tmp_path / "tasks.csv").write_text("# dataset:" + block)
    split = create_dataset("digits").split("novel")
    eps = EpisodeSet.load(tmp_path / "tasks.csv", split=split)
    assert (len(eps), eps.ways, eps.shots, eps.queries) == (1, 2, 1, 1)
    assert [split.class_names[c] for c in eps.classes[0]] == ["7@90", "8@0"]
