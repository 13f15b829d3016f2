import os
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from fewshot_clce import create_dataset
from fewshot_clce.data import dataset_info, glyphs
from fewshot_clce.data.glyph_classes import (
    BLOCKS,
    CLASS_FILE,
    format_classes,
    load_classes,
    select_classes,
)
from fewshot_clce.data.glyph_render import faces_for, render_env_key

# Fingerprints of the default build (seed 0) with the fonts and FreeType this was written with
# (matplotlib 3.11.2, Pillow 13.0.0, FreeType 2.14.3): any machine with the same render key
# must reproduce them byte for byte.
REFERENCE_ENV = "93386f990e14"
REFERENCE_FINGERPRINTS = {
    "base": "228be16d87b6cf10",
    "val": "c80fc4d6aa59224e",
    "novel": "4350ed0454be1560",
}


@pytest.fixture(scope="session")
def full(session_cache):
    """The full dataset, built once per test session in the session cache (as conftest sets it)."""
    with pytest.MonkeyPatch.context() as mp:
        if "FEWSHOT_CLCE_CACHE" not in os.environ:
            mp.setenv("FEWSHOT_CLCE_CACHE", str(session_cache))
        return create_dataset("glyphs")


@pytest.mark.slow
def test_counts_shapes_and_disjoint_splits(full):
    counts = {k: s.num_classes for k, s in full.splits.items()}
    assert sum(counts.values()) >= 600 and min(counts.values()) >= 20
    assert counts == dataset_info("glyphs")["classes"]  # what `datasets` shows before a build
    blocks = {}
    for name, split in full.splits.items():
        assert list(split.class_counts) == [20] * split.num_classes
        assert split.images.dtype == np.uint8 and split.images.shape[1:] == (28, 28)
        assert split.get_images([0]).shape == (1, 1, 28, 28)
        blocks[name] = {c.split("/")[0] for c in split.class_names}
    # split by block: no block, hence no class, is in two splits
    assert not (
        blocks["base"] & blocks["val"]
        or blocks["base"] & blocks["novel"]
        or blocks["val"] & blocks["novel"]
    )
    assert len(set().union(*blocks.values())) >= 10
    assert blocks["novel"] >= {"Armenian", "Hebrew", "Georgian"}


@pytest.mark.slow
def test_renderings_are_distinct_and_not_blank(full):
    split = full.split("novel")
    imgs = split.images.reshape(len(split), -1).astype(np.int64)  # [N, 784]
    assert ((imgs > 127).sum(1) >= 5).all(), "every image shows a glyph"
    for c in range(split.num_classes):
        cls = imgs[split.indices_of(c)]
        assert len(np.unique(cls, axis=0)) == 20, split.class_names[c]


def test_class_list_is_consistent():
    classes = load_classes()
    assert len({c.codepoint for c in classes}) == len(classes)
    split_of = {block: split for split, block, _ in BLOCKS}
    for c in classes:
        assert c.split == split_of[c.block]
        assert unicodedata.decomposition(chr(c.codepoint)) == ""
        assert len(faces_for(c.codepoint)) >= 4, c


@pytest.mark.slow
def test_class_list_file_is_reproduced_by_the_rules():
    committed = (Path(glyphs.__file__).parent / "splits" / CLASS_FILE).read_text(encoding="utf-8")
    assert format_classes(select_classes()) == committed


def test_subset_build_is_deterministic_in_fresh_caches(tmp_path, monkeypatch):
    fps = []
    for sub in ("a", "b"):
        monkeypatch.setenv("FEWSHOT_CLCE_CACHE", str(tmp_path / sub))
        ds = create_dataset("glyphs", max_per_block=2)
        fps.append({k: s.fingerprint for k, s in ds.splits.items()})
        assert len(list((tmp_path / sub / "glyphs").glob("*.npz"))) == 1
    assert fps[0] == fps[1]
    assert (
        create_dataset("glyphs", max_per_block=2, seed=1).split("novel").fingerprint
        != fps[0]["novel"]
    )


@pytest.mark.slow
def test_subset_equals_the_same_classes_of_the_full_build(full):
    sub = create_dataset("glyphs", max_per_block=2).split("novel")
    whole = full.split("novel")
    for c, name in enumerate(sub.class_names):
        np.testing.assert_array_equal(
            sub.images[sub.indices_of(c)],
            whole.images[whole.indices_of(whole.class_names.index(name))],
        )


@pytest.mark.slow
def test_reference_fingerprints(full):
    if render_env_key() != REFERENCE_ENV:
        pytest.skip(
            f"fonts or FreeType differ from the reference ({render_env_key()} != {REFERENCE_ENV})"
        )
    assert {k: s.fingerprint for k, s in full.splits.items()} == REFERENCE_FINGERPRINTS


@pytest.mark.slow
def test_full_build_is_deterministic_in_a_fresh_cache(full, session_cache, tmp_path, monkeypatch):
    """Two builds from nothing agree. With the reference fonts and FreeType, this session's build (made
    from nothing in the session's new cache) is held against the fingerprints recorded from another
    build, on another day; elsewhere a second build in a fresh cache is held against the first."""
    built = {k: s.fingerprint for k, s in full.splits.items()}
    in_session_cache = os.environ["FEWSHOT_CLCE_CACHE"] == str(
        session_cache
    )  # new with the session
    if render_env_key() == REFERENCE_ENV and in_session_cache:
        assert built == REFERENCE_FINGERPRINTS
        return
    monkeypatch.setenv("FEWSHOT_CLCE_CACHE", str(tmp_path))
    again = create_dataset("glyphs")
    assert {k: s.fingerprint for k, s in again.splits.items()} == built


def test_cache_is_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("FEWSHOT_CLCE_CACHE", str(tmp_path))
    first = create_dataset("glyphs", max_per_block=1)
    path = glyphs.cache_path(0, 1)
    assert path.parent == tmp_path / "glyphs" and "v2" in path.name and "seed0" in path.name
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]

    def no_build(*args, **kwargs):
        raise AssertionError("rebuilt although the cache exists")

    monkeypatch.setattr(glyphs, "build_glyphs", no_build)
    assert (
        create_dataset("glyphs", max_per_block=1).split("base").fingerprint
        == first.split("base").fingerprint
    )
    path.write_bytes(b"not a zip")  # a damaged cache file is rebuilt, not trusted
    with pytest.raises(AssertionError, match="rebuilt"):
        create_dataset("glyphs", max_per_block=1)


def test_unwritable_cache_folder_is_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("FEWSHOT_CLCE_CACHE", str(blocker / "cache"))
    with pytest.raises(
        PermissionError,
        match=r"cache folder .*a-file/cache/glyphs.* not writable.*FEWSHOT_CLCE_CACHE",
    ):
        create_dataset("glyphs", max_per_block=1)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_cache_folder_is_a_clear_error(tmp_path, monkeypatch):
    tmp_path.chmod(0o500)
    monkeypatch.setenv("FEWSHOT_CLCE_CACHE", str(tmp_path / "cache"))
    try:
        with pytest.raises(PermissionError, match="not writable"):
            create_dataset("glyphs", max_per_block=1)
    finally:
        tmp_path.chmod(0o700)


def test_bad_subset_option():
    with pytest.raises(ValueError, match="max_per_block must be at least 1, got 0"):
        create_dataset("glyphs", max_per_block=0)


def test_processes_needing_the_same_build_make_it_once(tmp_path, monkeypatch):
    """Two loaders of a missing build at once (trainings started together, test workers): one builds
    it, the other waits for the lock and reads that build."""
    import threading
    import time

    monkeypatch.setenv("FEWSHOT_CLCE_CACHE", str(tmp_path))
    real, builds = glyphs.build_glyphs, []

    def slow_build(*args, **kwargs):
        builds.append(threading.get_ident())
        time.sleep(0.3)  # long enough for the other loader to arrive while it runs
        return real(*args, **kwargs)

    monkeypatch.setattr(glyphs, "build_glyphs", slow_build)
    results = [None, None]

    def load(i):
        results[i] = glyphs.load_glyph_arrays(0, 1)

    threads = [threading.Thread(target=load, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1
    assert all(
        np.array_equal(results[0][k], results[1][k]) for k in ("images", "labels", "codepoints")
    )
