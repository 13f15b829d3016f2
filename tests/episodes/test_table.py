import numpy as np
import pandas as pd
import pytest
from _episode_fixtures import make_split

from fewshot_clce.episodes import EpisodeSet, sample_episodes

HAND = """\
# dataset: toy
# split: novel
episode, role, class, sample
7,support,c3,{s3a}
7,support,c1,{s1a}
7,query,c1,{s1b}
7,query,c3,{s3b}
2,query,c0,{s0b}
2,support,c0,{s0a}
2,support,c2,{s2a}
2,query,c2,{s2b}
"""


def hand_table(split):
    picks = {}
    for c in range(4):
        idx = np.flatnonzero(split.labels == c)
        picks[f"s{c}a"], picks[f"s{c}b"] = int(idx[0]), int(idx[1])
    return HAND.format(**picks), picks


def test_roundtrip_through_csv(tmp_path):
    split = make_split([25] * 8)
    eps = sample_episodes(split, 5, 2, 3, 40, seed=4)
    path = eps.save(tmp_path / "e.csv")
    df = pd.read_csv(path, comment="#")
    assert list(df.columns) == ["episode", "role", "class", "sample"] and len(df) == 40 * 5 * 5
    back = EpisodeSet.load(path, split=split)
    assert back == eps
    assert EpisodeSet.load(path) == eps  # integer classes need no split


def test_hand_written_table_with_names(tmp_path):
    split = make_split([25] * 8)
    text, picks = hand_table(split)
    (tmp_path / "hand.csv").write_text(text)
    eps = EpisodeSet.load(tmp_path / "hand.csv", split=split)
    # episodes renumbered by ascending id (2 -> 0, 7 -> 1); classes in order of first appearance
    assert eps.classes.tolist() == [[0, 2], [3, 1]]
    assert eps.support[:, :, 0].tolist() == [
        [picks["s0a"], picks["s2a"]],
        [picks["s3a"], picks["s1a"]],
    ]
    assert eps.query[:, :, 0].tolist() == [
        [picks["s0b"], picks["s2b"]],
        [picks["s3b"], picks["s1b"]],
    ]
    # read against a split, the table is bound to it (its fingerprint recorded)
    assert (eps.dataset, eps.split, eps.seed, eps.fingerprint) == (
        "toy",
        "novel",
        None,
        split.fingerprint,
    )
    with pytest.raises(ValueError, match="names its classes; pass the split"):
        EpisodeSet.load(tmp_path / "hand.csv")


@pytest.mark.parametrize(
    "edit, msg",
    [
        (lambda t: t.replace("episode, role", "ep, role"), "lacks the column\\(s\\) episode"),
        (lambda t: t.replace("7,query,c1", "7,probe,c1"), "role 'probe' is neither"),
        (
            lambda t: t.replace("7,query,c1", "x,query,c1"),
            "episode 'x' is not a non-negative integer",
        ),
        (lambda t: t.replace("7,query,c1", "7,query,worm"), "unknown class name\\(s\\) 'worm'"),
        (
            lambda t: t.replace("2,query,c2", "#"),
            "class 'c2' of episode 0 has 0 query rows but another class has 1",
        ),
        (
            lambda t: t + "2,support,c2,{s2a}\n",
            "class 'c2' of episode 0 has 1 support rows but another class has 2|"
            "class 'c0' of episode 0 has 1 support rows",
        ),
        (
            lambda t: t.replace("7,query,c3,{s3b}", "7,query,c3,{s3a}"),
            "sample .* appears twice in episode 1",
        ),
        (lambda t: t + "7,support,c4,{s0a}\n7,query,c4,{s0b}\n", "different numbers of classes"),
    ],
)
def test_table_errors(tmp_path, edit, msg):
    split = make_split([25] * 8)
    _, picks = hand_table(split)
    (tmp_path / "bad.csv").write_text(edit(HAND).format(**picks))
    with pytest.raises(ValueError, match=msg):
        EpisodeSet.load(tmp_path / "bad.csv", split=split)


def test_table_checked_against_split(tmp_path):
    split = make_split([25] * 8)
    text, picks = hand_table(split)
    wrong = text.replace(f"7,support,c1,{picks['s1a']}\n", f"7,support,c1,{picks['s2a']}\n")
    (tmp_path / "wrong.csv").write_text(wrong)
    with pytest.raises(
        ValueError, match="lists sample .* as a support sample of class 1, but its label is 2"
    ):
        EpisodeSet.load(tmp_path / "wrong.csv", split=split)
    (tmp_path / "hand.csv").write_text(text)
    with pytest.raises(ValueError, match="drawn from dataset 'toy', not 'other'"):
        EpisodeSet.load(tmp_path / "hand.csv", split=make_split([25] * 8, dataset="other"))
