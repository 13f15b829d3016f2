"""benchmark.presets: the help names each preset with the trainings it plans, and that number is
the one the plan gives."""

import re
import subprocess
import sys

import pytest

from fewshot_clce.benchmark.config import resolve
from fewshot_clce.benchmark.plan import plan_runs
from fewshot_clce.benchmark.presets import PRESETS


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_the_number_of_trainings_a_preset_states_is_what_it_plans(name):
    preset = PRESETS[name]
    stated = int(re.match(r"about (\d+) trainings", preset.expected).group(1))
    assert stated == len(plan_runs(resolve(name))) * len(preset.budgets or [1])


@pytest.mark.slow
def test_the_benchmark_help_lists_the_presets_with_their_trainings():
    help_text = subprocess.run(
        [sys.executable, "-m", "fewshot_clce.cli", "benchmark", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    flat = " ".join(help_text.split())
    assert "demo: what `make demo` runs" in flat and "(about 5 trainings)" in flat
    assert "measured" not in flat
