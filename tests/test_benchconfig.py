import json

import pytest

from fewshot_clce.benchmark.config import PRESETS, BenchmarkConfig, resolve
from fewshot_clce.benchmark.run import prepare_output
from fewshot_clce.cli import build_parser
from fewshot_clce.commands.benchmark import command_line, config_from_args
from fewshot_clce.benchmark.estimate import estimate
from fewshot_clce.utils.registry import UnknownNameError
from fewshot_clce.benchmark.plan import check_names, plan_runs


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
    with pytest.raises(ValueError, match="val_episodes is 0"):
        resolve(lam=[0.1, 0.9], val_episodes=0)
    with pytest.raises(ValueError, match="repeats"):
        resolve(seeds=[0, 0])
    with pytest.raises(UnknownNameError, match="worm.*clce"):
        plan_runs(resolve(losses=["ce", "worm"]))
    with pytest.raises(UnknownNameError, match="unknown head 'knn'.*centroid"):
        check_names(resolve(heads=["knn"]))
    with pytest.raises(UnknownNameError, match="unknown backbone 'conv5'"):
        check_names(resolve(backbone="conv5"))


def test_plan_sweeps_only_what_a_loss_takes():
    cfg = resolve(losses=["ce", "supcon", "clce"], lam=[0.1, 0.9], temperature=[0.1, 0.5], seeds=[0, 1],
                  batch_size=[32, 64])
    specs = plan_runs(cfg)
    per_loss = {loss: sum(s.loss == loss for s in specs) for loss in cfg.losses}
    # per seed and batch size: ce 1, supcon 2 temperatures, clce 2 x 2
    assert per_loss == {"ce": 4, "supcon": 8, "clce": 16}
    assert len({(s.dataset, s.name) for s in specs}) == len(specs)
    assert "clce-lam0.1-t0.5-bs32-s1" in {s.name for s in specs}


def test_cli_builds_the_config_and_records_the_command():
    args = build_parser().parse_args(["benchmark", "--preset", "demo", "--lambda", "0.1", "0.9",
                                      "--dataset", "digits", "--no-tsne"])
    cfg = config_from_args(args)
    assert cfg.lam == [0.1, 0.9] and cfg.datasets == ["digits"] and cfg.tsne is False
    assert command_line(args) == ("fewshot-clce benchmark --preset demo --dataset digits --lambda 0.1 0.9 "
                                  "--no-tsne")


def test_output_folder_of_another_configuration_is_refused(tmp_path):
    prepare_output(tmp_path, resolve(episodes=100), force=False)
    prepare_output(tmp_path, resolve(episodes=100, device="cpu", time_budget=5), force=False)  # runtime only
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
    est = estimate({64: 3}, epochs=2, base_images=640, val_images=300, eval_images=900, evaluations=3,
                   step_s={64: 0.5})
    train_one = 2 * (10 * 0.5 + 300 * (0.5 / 64) / 3)
    assert est.train_s == pytest.approx(3 * train_one)
    assert est.eval_s == pytest.approx(3 * 900 * (0.5 / 64) / 3)
    assert "min for 3 training(s)" in est.text()


def test_every_preset_resolves():
    for name in PRESETS:
        assert isinstance(resolve(name), BenchmarkConfig)


def test_time_budget_warns_with_the_estimate_before_starting(tmp_path):
    from fewshot_clce.benchmark.run import print_estimate
    from fewshot_clce.data import create_dataset
    from fewshot_clce.benchmark.manifests import benchmark_manifests

    cfg = resolve(datasets=["digits"], losses=["ce", "clce"], lam=[0.1, 0.5, 0.9], seeds=[0, 1, 2], epochs=50,
                  time_budget=0.01)
    ds = create_dataset("digits")
    manifests = {"digits": benchmark_manifests(ds, ("novel",), 5, [1], 15, {"novel": 10}, 0, tmp_path)}
    specs = plan_runs(cfg)
    lines = []
    print_estimate(cfg, specs, specs, {"digits": ds}, manifests, tmp_path, lines.append)
    assert any("time estimate" in line and "12 training(s)" in line for line in lines)
    warning = [line for line in lines if line.startswith("WARNING")]
    assert warning and "--time-budget 0.01 min" in warning[0] and "12 trainings of 50 epochs" in warning[0]
    lines.clear()
    print_estimate(resolve(datasets=["digits"], time_budget=10_000), specs, specs, {"digits": ds}, manifests,
                    tmp_path, lines.append)
    assert not any(line.startswith("WARNING") for line in lines)
