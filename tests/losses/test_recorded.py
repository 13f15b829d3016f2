"""Loss declarations kept in results.json: a report read in another process knows the
hyper-parameters of a loss whose code it never imports."""

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from fewshot_clce.cli import main
from fewshot_clce.losses import recorded
from fewshot_clce.losses.declare import declared
from fewshot_clce.losses.hparams import hparam_columns, loss_takes, spec_of
from fewshot_clce.losses.registry import LOSSES

FOCAL = textwrap.dedent('''
    """Focal loss on the classifier logits."""
    import torch.nn.functional as F
    from torch import nn

    from fewshot_clce.losses import HyperParam, LossOutput


    class Focal(nn.Module):
        name = "focal"
        uses_logits = True
        hyperparams = (
            HyperParam("gamma", float, 2.0, grid=(0.5, 2.0), low=0.0, label="g", scale="log"),
        )

        def __init__(self, gamma: float = 2.0):
            super().__init__()
            self.gamma = gamma

        def forward(self, logits, z, labels):
            flat = logits.flatten(0, 1)
            y = labels.repeat_interleave(logits.shape[1])
            logp = F.log_softmax(flat, 1).gather(1, y[:, None]).squeeze(1)
            loss = (-((1 - logp.exp()) ** self.gamma) * logp).mean()
            return LossOutput(loss, {"focal": loss.detach()})
''')


@pytest.fixture
def fresh(monkeypatch):
    """The remembered declarations as they are in a new process."""
    monkeypatch.setattr(recorded, "_REMEMBERED", {})


def test_every_built_in_declaration_survives_its_record():
    for name in LOSSES.list():
        for h in declared(LOSSES.get(name)).values():
            assert recorded.from_record(json.loads(json.dumps(recorded.as_record(h)))) == h


def test_a_remembered_declaration_is_what_the_tables_read(fresh):
    assert "gamma" not in hparam_columns(["loss", "gamma"])
    assert set(recorded.records(["ce", "clce", "untrained"])) == {"ce", "clce"}
    gamma = {"name": "gamma", "type": "float", "default": 2.0, "grid": [0.5, 2.0], "low": 0.0}
    recorded.remember({"focal": [gamma]})
    assert hparam_columns(["loss", "gamma"]) == ["gamma"]
    assert loss_takes("focal") == ("gamma",) and spec_of("gamma", "focal").bounds == (0.0, None)
    with pytest.warns(UserWarning, match="declaration of loss 'odd' is not readable"):
        recorded.remember({"odd": [{"name": "x", "type": "complex"}]})
    assert "odd" not in recorded.remembered()


@pytest.mark.slow
def test_a_users_loss_is_reported_in_full_where_its_file_is_gone(tmp_path, monkeypatch, fresh):
    """Benchmark a loss from a file with a hyper-parameter no built-in loss has, move the file
    away, and report the folder in a new process: the tuning table, the grid-edge warning, the
    sensitivity plot and the ablation table still know ``gamma`` (from results.json; the report
    runs no code of the loss)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "focal.py").write_text(FOCAL)
    out = tmp_path / "out"
    args = ["benchmark", "--dataset", "digits", "--losses", "ce", "./focal.py:Focal"]
    args += ["--epochs", "1", "--steps-per-epoch", "1", "--episodes", "5", "--val-episodes", "5"]
    args += ["--train-val-episodes", "5", "--seeds", "0", "--heads", "centroid", "--no-tsne"]
    args += ["--no-progress", "--device", "cpu", "--out", str(out)]
    assert main(args) == 0
    (tmp_path / "focal.py").rename(tmp_path / "elsewhere.txt")
    shutil.rmtree(out / "plots")
    report = subprocess.run(
        [sys.executable, "-m", "fewshot_clce.cli", "report", str(out)],
        capture_output=True,
        text=True,
    )
    assert report.returncode == 0, report.stderr
    text = (out / "REPORT.md").read_text()
    assert "| digits | focal | gamma | tuned on val | 0.5, 2 |" in text
    assert "Nothing of ce was tuned" in text and "## Ablation: gamma" in text
    assert "![sensitivity_digits_focal_gamma](plots/sensitivity_digits_focal_gamma.png)" in text
    assert (out / "plots" / "sensitivity_digits_focal_gamma.png").is_file()


def test_reading_results_never_imports_the_code_a_loss_name_points_at(tmp_path, monkeypatch, fresh):
    """A results table whose loss column names a file (``./evil.py:Evil``, not a name a loss
    goes by) is read, tuned, plotted and reported without importing that file."""
    from synthetic_results import make_results

    from fewshot_clce.report.analysis import analyse
    from fewshot_clce.report.sensitivity import write_sensitivity_plots
    from fewshot_clce.report.tuning import grid_edges, tuning_markdown

    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.py").write_text("open('imported', 'w').close()\n")
    df = make_results({"ce": 0.0, "./evil.py:Evil": 0.01}, seeds=(0,), episodes=5)
    an = analyse(df, n_boot=50)
    tuning_markdown(an.chosen, an.per_episode)
    grid_edges(an.chosen, an.per_episode)
    write_sensitivity_plots(an.per_episode, tmp_path)
    assert recorded.records(["./evil.py:Evil"]) == {}
    assert not (tmp_path / "imported").exists()
