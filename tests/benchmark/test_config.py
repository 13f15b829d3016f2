import json

import pytest
from _cli import argv

from fewshot_clce.benchmark.config import BenchmarkConfig, resolve
from fewshot_clce.benchmark.estimate import estimate
from fewshot_clce.benchmark.loss_grid import loss_grid
from fewshot_clce.benchmark.output_folder import prepare_output
from fewshot_clce.benchmark.plan import check_names, plan_runs
from fewshot_clce.benchmark.presets import PRESETS
from fewshot_clce.cli import build_parser
from fewshot_clce.commands.benchmark import command_line, config_from_args
from fewshot_clce.losses.hparams import default_grid, loss_defaults
from fewshot_clce.utils.registry import UnknownNameError


def test_preset_then_explicit_values():
    cfg = resolve("demo", seeds=[3, 4], heads=None)
    assert cfg.seeds == [3, 4]  # explicit wins
    assert cfg.heads == PRESETS["demo"].values["heads"]  # None means "not given"
    assert cfg.preset == "demo"
    assert resolve().losses == ["ce", "supcon", "clce"]


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="unknown preset 'fast'.*demo"):
        resolve("fast")
    with pytest.raises(ValueError, match="baseline loss 'ce'"):
        resolve(losses=["supcon", "clce"])
    with pytest.raises(ValueError, match="^shots values must be at least 1"):
        resolve(shots=[0, 5])
    with pytest.raises(ValueError, match="val_episodes is 0, but configurations are chosen on val"):
        resolve(lam=[0.1, 0.9], val_episodes=0)
    resolve(
        losses=["ce", "clce"], default_grids=False, val_episodes=0
    )  # nothing to choose: allowed
    with pytest.raises(ValueError, match="repeats"):
        resolve(seeds=[0, 0])
    with pytest.raises(UnknownNameError, match="worm.*clce"):
        plan_runs(resolve(losses=["ce", "worm"]))
    with pytest.raises(UnknownNameError, match="unknown head 'knn'.*centroid"):
        check_names(resolve(heads=["knn"]))
    with pytest.raises(UnknownNameError, match="unknown backbone 'conv5'"):
        check_names(resolve(backbone="conv5"))


def test_plan_sweeps_only_what_a_loss_takes():
    cfg = resolve(
        losses=["ce", "supcon", "clce"],
        lam=[0.1, 0.9],
        temperature=[0.1, 0.5],
        seeds=[0, 1],
        batch_size=[32, 64],
    )
    specs = plan_runs(cfg)
    per_loss = {loss: sum(s.loss == loss for s in specs) for loss in cfg.losses}
    # per seed and batch size: ce 1, supcon 2 temperatures, clce 2 x 2
    assert per_loss == {"ce": 4, "supcon": 8, "clce": 16}
    assert len({(s.dataset, s.name) for s in specs}) == len(specs)
    beta = loss_defaults("clce")[
        "beta"
    ]  # values the grid leaves out are spelled out at their defaults
    assert f"clce-lam0.1-t0.5-beta{beta:g}-bs32-s1" in {s.name for s in specs}


def test_without_values_each_loss_sweeps_its_default_grid():
    specs = plan_runs(resolve(losses=["ce", "supcon", "clce"]))
    for loss in ("ce", "supcon", "clce"):
        grid = default_grid(loss)
        n = 1
        for values in grid.values():
            n *= len(values)
        assert sum(s.loss == loss for s in specs) == n
        for name, values in grid.items():  # every value of the registry's grid is trained
            assert {dict(s.hparams)[name] for s in specs if s.loss == loss} == set(values)
    fixed = plan_runs(resolve(losses=["ce", "supcon", "clce"], default_grids=False))
    assert [s.name for s in fixed] == [
        "ce-bs64-s0",
        f"supcon-t{loss_defaults('supcon')['temperature']:g}-bs64-s0",
        "clce-"
        + "-".join(
            f"{k}{v:g}" for k, v in zip(("lam", "t", "beta"), loss_defaults("clce").values())
        )
        + "-bs64-s0",
    ]


def test_sweep_blocks_are_unions_of_products():
    cfg = resolve(
        losses=["ce", "supcon", "clce"],
        sweeps=[
            {"lam": [0.3, 0.4], "beta": [0.0, 2.5]},
            {"temperature": [0.03, 0.3]},
            {"batch_size": [32]},
        ],
    )
    grid = loss_grid(cfg, "clce")
    d = loss_defaults("clce")
    assert [(c["lam"], c["temperature"], c["beta"]) for c, _ in grid] == [
        (0.3, d["temperature"], 0.0),
        (0.3, d["temperature"], 2.5),
        (0.4, d["temperature"], 0.0),
        (0.4, d["temperature"], 2.5),
        (d["lam"], 0.03, d["beta"]),
        (d["lam"], 0.3, d["beta"]),
        (d["lam"], d["temperature"], d["beta"]),
    ]
    assert grid[-1][1] == (32,) and grid[0][1] == (64,)
    # CE takes none of them (its label smoothing stays at its default): once per batch size
    assert [c for c, _ in loss_grid(cfg, "ce")] == [{"label_smoothing": 0.0}]
    assert sorted(bs for _, bs in loss_grid(cfg, "ce")) == [(64, 32)]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lam=[0.1], losses=["ce", "supcon"]), "none of the losses ce, supcon takes lam"),
        (
            dict(sweeps=[{"beta": [1.0]}], losses=["ce", "supcon"]),
            "^sweeps gives beta values, but none",
        ),
        (dict(lam=[1.5]), r"^lam 1.5: lam must be in \[0, 1\]"),
        (dict(temperature=[0.0]), "temperature must be a positive number"),
        (dict(lam=[]), "^lam is an empty grid"),
        (dict(sweeps=[]), "^sweeps is an empty grid"),
        (dict(sweeps=[{"lam": []}]), "^sweeps gives lam no values"),
        (dict(sweeps=[{"gamma": [1.0]}]), "names 'gamma', which the benchmark does not sweep"),
        (dict(sweeps=[{"lam": [0.1]}], beta=[1.0]), "either as sweeps blocks or as"),
    ],
)
def test_grid_values_no_loss_can_take_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        resolve(**kwargs)


def test_grids_are_refused_on_the_command_line_by_flag(capsys):
    from fewshot_clce.cli import main

    assert main(argv("benchmark --losses ce supcon --lambda 0.1 --plan")) == 2
    assert (
        "--lambda is given with values, but none of the losses ce, supcon takes lam"
        in capsys.readouterr().err
    )
    with pytest.raises(SystemExit) as exit_:
        main(["benchmark", "--sweep", "lam=0.1,x", "--plan"])
    assert exit_.value.code == 2
    assert (
        "argument --sweep: sweep block 'lam=0.1,x': '0.1,x' are not numbers"
        in capsys.readouterr().err
    )


def test_cli_builds_the_config_and_records_the_command():
    args = build_parser().parse_args(
        argv("benchmark --preset demo --lambda 0.1 0.9 --dataset digits --no-tsne")
    )
    cfg = config_from_args(args)
    assert cfg.lam == [0.1, 0.9] and cfg.datasets == ["digits"] and cfg.tsne is False
    assert command_line(args) == (
        "fewshot-clce benchmark --preset demo --dataset digits --lambda 0.1 0.9 --no-tsne"
    )
    args = build_parser().parse_args(
        [
            "benchmark",
            "--sweep",
            "lam=0.05,0.1 beta=0,1",
            "t=0.2",
            "--no-default-grids",
            "--out",
            "x",
        ]
    )
    cfg = config_from_args(args)
    assert cfg.sweeps == [{"lam": [0.05, 0.1], "beta": [0.0, 1.0]}, {"temperature": [0.2]}]
    assert cfg.default_grids is False
    assert command_line(args) == (
        "fewshot-clce benchmark --sweep 'lam=0.05,0.1 beta=0,1' temperature=0.2 "
        "--no-default-grids --out x"
    )


def test_the_benchmark_command_line_is_generated_from_the_config():
    import dataclasses

    from fewshot_clce.commands._from_config import flag_of

    options = {
        a.dest: a
        for a in build_parser()._subparsers._group_actions[0].choices["benchmark"]._actions
    }
    for f in dataclasses.fields(BenchmarkConfig):
        if f.metadata.get("api_only"):
            assert (
                f.name not in options or f.name == "preset"
            )  # --preset is the command's own option
            continue
        assert flag_of(f) in options[f.name].option_strings, f.name
        assert options[f.name].help.startswith(f.metadata.get("cli_help", f.metadata["help"]))


def test_output_folder_of_another_configuration_is_refused(tmp_path):
    prepare_output(tmp_path, resolve(episodes=100), force=False)
    prepare_output(
        tmp_path, resolve(episodes=100, device="cpu", time_budget=5), force=False
    )  # runtime only
    with pytest.raises(FileExistsError, match="episodes: 100 there, 200 now"):
        prepare_output(tmp_path, resolve(episodes=200), force=False)
    prepare_output(tmp_path, resolve(episodes=200), force=True)
    assert json.loads((tmp_path / "config.json").read_text())["episodes"] == 200
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        prepare_output(other, resolve(), force=False)


def test_estimate_adds_up():
    est = estimate(
        {64: 3},
        epochs=2,
        base_images=640,
        val_images=300,
        eval_images=900,
        evaluations=3,
        step_s={64: 0.5},
    )
    train_one = 2 * (10 * 0.5 + 300 * (0.5 / 64) / 3)
    assert est.train_s == pytest.approx(3 * train_one)
    assert est.eval_s == pytest.approx(3 * 900 * (0.5 / 64) / 3)
    assert "min for 3 training(s)" in est.text() and "wall time" not in est.text()
    # two at a time: two rounds of trainings (3 trainings), evaluations one after the other
    side = estimate({64: 3}, 2, 640, 300, 900, 3, {64: 0.5}, at_once=2)
    assert side.total_s == pytest.approx(est.total_s)
    assert side.wall_s == pytest.approx(2 * train_one + est.eval_s)
    assert (
        f"about {side.wall_s / 60:.1f} min of wall time with 2 trainings at a time" in side.text()
    )


def test_every_preset_resolves():
    for name in PRESETS:
        assert isinstance(resolve(name), BenchmarkConfig)


def test_time_budget_warns_with_the_estimate_before_starting(tmp_path):
    from fewshot_clce.benchmark.estimate import print_estimate
    from fewshot_clce.benchmark.manifests import benchmark_manifests
    from fewshot_clce.data import create_dataset

    cfg = resolve(
        datasets=["digits"],
        losses=["ce", "clce"],
        lam=[0.1, 0.5, 0.9],
        seeds=[0, 1, 2],
        epochs=50,
        time_budget=0.01,
    )
    ds = create_dataset("digits")
    manifests = {
        "digits": benchmark_manifests(ds, ("novel",), 5, [1], 15, {"novel": 10}, 0, tmp_path)
    }
    specs = plan_runs(cfg)

    def logged(config):
        lines = []
        print_estimate(config, specs, specs, {"digits": ds}, manifests, tmp_path, lines.append)
        return lines

    lines = logged(cfg)
    assert any("time estimate" in line and "12 training(s)" in line for line in lines)
    warning = [line for line in lines if line.startswith("WARNING")]
    assert (
        warning
        and "--time-budget 0.01 min" in warning[0]
        and "12 trainings of 50 epochs" in warning[0]
    )
    assert not any(
        line.startswith("WARNING")
        for line in logged(resolve(datasets=["digits"], time_budget=10_000))
    )
    # two local trainings at a time: the wall time is said too
    lines = logged(resolve(datasets=["digits"], jobs=2))
    assert any("min of wall time with 2 trainings at a time" in line for line in lines)


def test_paper_glyphs_is_the_union_of_the_ablations():
    """The README's results folder holds every training of the λ x β and τ ablation presets, and nothing else."""
    union = {
        s.name for p in ("ablation-lambda", "ablation-temperature") for s in plan_runs(resolve(p))
    }
    paper = [s.name for s in plan_runs(resolve("paper-glyphs"))]
    assert len(paper) == len(set(paper)) and set(paper) == union
    for p in ("paper-glyphs", "ablation-lambda", "ablation-temperature", "ablation-batch"):
        cfg = resolve(p)
        assert (
            len(cfg.seeds) >= 3
            and cfg.datasets == ["glyphs"]
            and cfg.heads == ["centroid", "logistic"]
        )


def test_default_grids_hold_the_defaults_inside():
    """Each default grid brackets the loss's default: the default is a grid value, with one on each side."""
    for loss in ("ce", "supcon", "lacln", "clce"):
        d = loss_defaults(loss)
        for name, values in default_grid(loss).items():
            assert d[name] in values and min(values) < d[name] < max(values), (loss, name, values)


def test_demo_sweeps_the_default_grids():
    cfg = resolve("demo")
    specs = plan_runs(cfg)
    for loss in cfg.losses:
        n = 1
        for values in default_grid(loss).values():
            n *= len(values)
        assert sum(s.loss == loss for s in specs) == n
    assert (
        sum(len(v) > 1 for loss in cfg.losses for v in default_grid(loss).values()) >= 1
    )  # CLCE is chosen on val


def test_the_loss_defaults_are_the_committed_ablations_val_choices():
    """Defaults are claims: each one is what the committed glyphs ablation chose on val."""
    from pathlib import Path

    import pandas as pd

    sel = pd.read_csv(
        Path(__file__).resolve().parents[2] / "results" / "glyphs-ablation" / "selection.csv"
    )
    chosen = sel[sel["chosen"].astype(str) == "True"].set_index("loss")
    for loss in ("supcon", "clce"):
        for name, value in loss_defaults(loss).items():
            if name in chosen.columns and name != "label_smoothing":
                assert float(chosen.loc[loss, name]) == value, (loss, name)
    assert set(default_grid("clce")["lam"]) <= set(sel.loc[sel["loss"] == "clce", "lam"])


def test_the_committed_batch_ablation_holds_every_training_of_its_preset_on_three_seeds():
    """results/glyphs-batch-ablation, which the README's batch-size section quotes, is the whole
    ablation-batch preset: every loss x batch size it plans, each on the preset's three seeds."""
    from pathlib import Path

    import pandas as pd

    folder = Path(__file__).resolve().parents[2] / "results" / "glyphs-batch-ablation"
    rows = pd.read_csv(folder / "summary_all.csv")
    rows = rows[rows["split"] == "novel"]
    planned = {(s.loss, s.batch_size) for s in plan_runs(resolve("ablation-batch"))}
    assert set(zip(rows["loss"], rows["batch_size"])) == planned
    assert (rows["n_seeds"] == 3).all()
    claims = pd.read_csv(folder / "claims.csv")
    small = claims[claims["claim"].str.contains("small batch")]
    assert len(small) == 12 and set(small["verdict"]) <= {"supported", "contradicted"}
