"""config.json's format_version: files without one (format 1, the committed results among them)
resume; a newer format is refused with a message."""

import json
from pathlib import Path

import pytest

from fewshot_clce.benchmark.config import resolve
from fewshot_clce.benchmark.config_format import FORMAT_VERSION, migrate_identity
from fewshot_clce.benchmark.output_folder import prepare_output

RESULTS = Path(__file__).resolve().parents[2] / "results"


def _format_1(cfg) -> dict:
    """config.json as format 1 wrote it: no version, the later settings left out at their default."""
    identity = json.loads(json.dumps(cfg.identity()))
    for name in ("init", "baseline_backbone", "eval_datasets", "hp"):
        del identity[name]
    return dict(identity, preset=cfg.preset, command="")


def test_a_format_1_folder_resumes_and_is_rewritten_in_the_current_format(tmp_path):
    cfg = resolve("demo")
    (tmp_path / "config.json").write_text(json.dumps(_format_1(cfg)))
    prepare_output(tmp_path, cfg, force=False)
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["format_version"] == FORMAT_VERSION and written["hp"] is None


def test_a_format_1_folder_of_another_configuration_is_still_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(_format_1(resolve("demo"))))
    with pytest.raises(FileExistsError, match="ways: 5 there, 3 now"):
        prepare_output(tmp_path, resolve("demo", ways=3), force=False)


def test_a_newer_format_is_refused_naming_the_file(tmp_path):
    cfg = resolve("demo")
    record = dict(_format_1(cfg), format_version=FORMAT_VERSION + 1)
    (tmp_path / "config.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match=f"config.json has format_version {FORMAT_VERSION + 1}"):
        prepare_output(tmp_path, cfg, force=False)


@pytest.mark.parametrize("folder", ["glyphs-ablation", "glyphs-batch-ablation"])
def test_the_committed_results_are_the_configuration_of_their_preset(folder):
    recorded = json.loads((RESULTS / folder / "config.json").read_text())
    migrated = migrate_identity(recorded, recorded.get("format_version"), folder)
    now = json.loads(json.dumps(resolve(recorded["preset"]).identity()))
    assert {k: migrated.get(k) for k in now} == now


def test_a_budget_study_of_format_1_resumes_and_another_is_refused(tmp_path):
    from fewshot_clce.benchmark.budget import _write_record

    cfg = resolve("budget-glyphs")
    identity = {k: v for k, v in _format_1(cfg).items() if k not in ("epochs", "preset", "command")}
    record = {"format_version": 1, "budgets": [3, 10], "config": identity, "command": ""}
    (tmp_path / "budget.json").write_text(json.dumps(record))
    _write_record(tmp_path, cfg, [3, 10, 30], force=False)
    written = json.loads((tmp_path / "budget.json").read_text())
    assert written["format_version"] == FORMAT_VERSION and written["budgets"] == [3, 10, 30]
    with pytest.raises(ValueError, match="differs in ways"):
        _write_record(tmp_path, resolve("budget-glyphs", ways=3), [3], force=False)
