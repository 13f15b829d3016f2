"""The committed manifests in episodes/ regenerate exactly from their seeds and are documented."""

import shlex
from pathlib import Path

import numpy as np
import pytest

from fewshot_clce.commands.episodes import default_path, make_command
from fewshot_clce.data import create_dataset
from fewshot_clce.episodes import EpisodeSet, sample_episodes

FOLDER = Path(__file__).resolve().parents[2] / "episodes"
FILES = sorted(FOLDER.glob("*.npz"))
EXPECTED = [(d, s, k) for d in ("digits", "glyphs") for s in ("novel", "val") for k in (1, 5)]
# building glyphs renders ~31,000 images (tens of seconds once per test session)
SLOW = [
    pytest.param(p, marks=pytest.mark.slow) if p.name.startswith("glyphs") else p for p in FILES
]


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
    assert path == FOLDER / default_path(
        "", eps.dataset, eps.split, eps.ways, eps.shots, eps.queries
    )
    made_by = make_command(
        eps.dataset, eps.split, eps.ways, eps.shots, eps.queries, len(eps), eps.seed
    )
    assert eps.meta["made_by"] == made_by


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_readme_lists_file_and_command(path):
    readme = (FOLDER / "README.md").read_text()
    eps = EpisodeSet.load(path)
    assert f"`{path.name}`" in readme
    # the README gives one command per (dataset, split), with every shot count in --shots
    lines = [line for line in readme.splitlines() if line.startswith("fewshot-clce episodes make")]
    matching = [
        shlex.split(line)
        for line in lines
        if f"--dataset {eps.dataset} --split {eps.split} " in line
    ]
    assert len(matching) == 1, f"README needs one make command for {eps.dataset}/{eps.split}"
    args = matching[0]
    shots = args[args.index("--shots") + 1 : args.index("--queries")]
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


def test_the_package_finds_the_committed_manifests():
    from fewshot_clce.benchmark.manifests import committed_dir

    assert sorted(p.name for p in committed_dir().glob("*.npz")) == [p.name for p in FILES]


def test_the_benchmark_evaluates_on_the_committed_manifests():
    """Not on freshly drawn ones: the README's numbers are on these very episodes."""
    from fewshot_clce.benchmark.manifests import benchmark_manifests, committed_dir

    found = benchmark_manifests(
        create_dataset("digits"),
        ("val", "novel"),
        5,
        [1, 5],
        15,
        {"val": 100, "novel": 300},
        0,
        Path("/nonexistent-out"),
        [committed_dir()],
    )
    assert len(found) == 4
    for (split, shots), (_eps, source) in found.items():
        assert (
            Path(source).parent == committed_dir()
            and Path(source).name == default_path("", "digits", split, 5, shots, 15).name
        )


@pytest.mark.slow
def test_a_wheel_ships_the_committed_manifests(tmp_path):
    """Built and installed as users get it (not a checkout): the manifests come with the package."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path / "dist"),
            str(root),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("fewshot_clce-*.whl"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(tmp_path / "site"),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    code = (
        "import fewshot_clce, sys; from fewshot_clce.benchmark.manifests import committed_dir; "
        "assert fewshot_clce.__file__.startswith(sys.argv[1]), fewshot_clce.__file__; "
        "print(sorted(p.name for p in committed_dir().glob('*.npz')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "site")],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
    )
    assert out.stdout.strip() == str([p.name for p in FILES])


def test_missing_committed_manifests_are_said_not_silently_replaced(tmp_path, monkeypatch):
    """A copy of the package without the repository's episodes/ folder (``committed`` a broken
    link) still runs, on drawn episodes, and says that they are not the committed ones."""
    import warnings

    from fewshot_clce.benchmark import manifests

    broken = tmp_path / "episodes" / "committed"
    broken.parent.mkdir()
    broken.symlink_to(tmp_path / "no-such-folder")
    monkeypatch.setattr(manifests, "committed_dir", lambda: broken)
    monkeypatch.setattr(manifests, "_WARNED", set())
    split = create_dataset("digits").split("novel")
    with pytest.warns(UserWarning, match=r"committed episode manifests are missing .* broken link"):
        eps, source = manifests.get_manifest(split, 5, 1, 15, 20, 0, tmp_path / "out", [broken])
    assert Path(source).parent == tmp_path / "out" and len(eps) == 20  # drawn, saved, used
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, not at every manifest
        manifests.get_manifest(split, 5, 5, 15, 20, 0, tmp_path / "out", [broken])
    real = manifests.find_committed(split, 5, 1, 15, 20, [tmp_path / "not-the-package's"])
    assert real is None  # a user's missing folder is not the package's: nothing said
