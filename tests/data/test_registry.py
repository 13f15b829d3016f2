import pytest

from fewshot_clce.data import create_dataset
from fewshot_clce.data.registry import parse_dataset_spec


def test_parse_spec_values():
    assert parse_dataset_spec("cub") == ("cub", {})
    assert parse_dataset_spec("omniglot[rotations=true, val_alphabets=5]") == (
        "omniglot",
        {"rotations": True, "val_alphabets": 5},
    )
    assert parse_dataset_spec("cub[split=closerlook,image_size=84]") == (
        "cub",
        {"split": "closerlook", "image_size": 84},
    )
    assert parse_dataset_spec("x[scale=0.5]") == ("x", {"scale": 0.5})


def test_malformed_option_is_named():
    with pytest.raises(
        ValueError, match="dataset option 'rotations' in 'omniglot\\[rotations\\]' is not key=value"
    ):
        parse_dataset_spec("omniglot[rotations]")


def test_options_reach_the_loader(monkeypatch, tmp_path):
    # glyphs takes max_per_block: a subset build proves the option arrived
    small = create_dataset("glyphs[max_per_block=2]")
    assert all(s.num_classes <= 2 * 7 for s in small.splits.values())
    assert small.split("base").num_classes < 967


def test_unknown_option_lists_valid_ones():
    with pytest.raises(
        ValueError, match="dataset 'digits' takes no option 'rotations'; its options: \\(none\\)"
    ):
        create_dataset("digits[rotations=true]")
    with pytest.raises(
        ValueError, match="dataset 'cub' takes no option 'colour'; its options: .*split"
    ):
        create_dataset("cub[colour=1]")


@pytest.mark.slow
def test_options_travel_through_training_and_evaluation(tmp_path):
    from fewshot_clce.episodes import sample_episodes
    from fewshot_clce.evaluation import evaluate_run
    from fewshot_clce.training import TrainConfig, train

    spec = "glyphs[max_per_block=2]"
    run = train(
        TrainConfig(
            dataset=spec,
            backbone="conv4",
            loss="ce",
            out=str(tmp_path / "run"),
            epochs=1,
            batch_size=16,
            steps_per_epoch=2,
            val_episodes=5,
            val_queries=3,
            progress=False,
            device="cpu",
            seed=0,
        )
    )
    novel = create_dataset(spec).split("novel")
    episodes = sample_episodes(novel, ways=5, shots=1, queries=3, episodes=4, seed=0)
    df = evaluate_run(run, episodes, heads=["centroid"])
    assert len(df) == 4 and df["dataset"].eq(spec).all()  # the identity, options included
    assert df["accuracy"].between(0, 1).all()
