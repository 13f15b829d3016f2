"""Hostile or damaged files met on the user's path: one-line errors naming the file, never a
traceback, and nothing run from the file."""
import os
import sys

import pytest

from fewshot_clce.cli import main


@pytest.mark.parametrize("text,reason", [
    ("dataset: digits\nbatch_size: !!python/object/apply:os.system ['touch {marker}']\n", "YAML tag"),
    ("dataset: [digits\n", "not valid YAML"),
    ("- just\n- a list\n", "not a mapping"),
    (b"dataset: \xff\xfe\n", "not UTF-8"),
])
def test_unreadable_run_config_is_a_one_line_error(tmp_path, capsys, text, reason):
    from fewshot_clce.benchconfig import resolve
    from fewshot_clce.runplan import plan_runs

    marker = tmp_path / "pwned"
    out = tmp_path / "bench"
    cfg = resolve(datasets=["digits"], losses=["ce"], seeds=[0], epochs=1)
    run_dir = plan_runs(cfg)[0].run_dir(out)
    run_dir.mkdir(parents=True)
    config = run_dir / "config.yaml"
    if isinstance(text, bytes):
        config.write_bytes(text)
    else:
        config.write_text(text.format(marker=marker))
    args = ["benchmark", "--dataset", "digits", "--losses", "ce", "--seeds", "0", "--epochs", "1",
            "--out", str(out), "--plan"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert str(config) in err and reason in err
    assert not marker.exists()
