"""The docs stay true: every ``fewshot-clce ...`` command shown in a markdown file parses with the
real parser, code fences are balanced, samples exist, the README's table is the committed one."""

import argparse
import contextlib
import functools
import io
import itertools
import re
import shlex
from pathlib import Path

import pytest

from fewshot_clce.cli import build_parser

REPO = Path(__file__).resolve().parent.parent
MARKDOWN = sorted(
    [
        REPO / "README.md",
        REPO / "CHANGELOG.md",
        REPO / "episodes" / "README.md",
        *(REPO / "docs").rglob("*.md"),
        *(REPO / "results").glob("*/*.md"),
    ]
)
FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
INLINE = re.compile(r"(?<!`)`(fewshot-clce [^`]+)`(?!`)")
SNIPPET = re.compile(r'^--8<-- "([^"]+)"', re.M)


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def fences(text: str):
    """``(line number, language, body lines)`` of every fenced block; AssertionError if one
    stays open."""
    blocks, opened = [], None
    for n, line in enumerate(text.splitlines(), 1):
        m = FENCE.match(line)
        if opened is None and m:
            opened = (n, m.group(1), line.strip()[len(m.group(1)) :].strip(), [])
        elif (
            opened is not None
            and m
            and m.group(1)[0] == opened[1][0]
            and len(m.group(1)) >= len(opened[1])
            and not line.strip()[len(m.group(1)) :].strip()
        ):
            blocks.append((opened[0], opened[2], opened[3]))
            opened = None
        elif opened is not None:
            opened[3].append(line)
    assert opened is None, f"code fence opened on line {opened[0]} is never closed"
    return blocks


def fenced_commands(text: str):
    """``(line number, command)`` of every ``fewshot-clce`` (or ``-m fewshot_clce``) command in a
    fenced block, continuation lines joined, a leading ``$ `` dropped."""
    out = []
    for start, _, body in fences(text):
        joined, first = "", None
        for k, line in enumerate(body):
            line = line.strip()
            if joined:
                joined += " " + line.rstrip("\\").strip()
            else:
                line = line[2:] if line.startswith("$ ") else line
                m = re.search(r"(?:^|\s)-m fewshot_clce (.*)$", line)
                if line.startswith("fewshot-clce "):
                    joined, first = line.rstrip("\\").strip(), start + 1 + k
                elif m:
                    joined, first = "fewshot-clce " + m.group(1).rstrip("\\").strip(), start + 1 + k
                else:
                    continue
            if not line.endswith("\\"):
                out.append((first, joined))
                joined = ""
    return out


def _relaxed(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The parser with nothing required: a command named in prose may leave out what it needs,
    but every option it names must exist."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _relaxed(sub)
        elif action.option_strings:
            action.required = False
        elif action.nargs is None:
            action.nargs = "?"
    return parser


@functools.cache
def _parser(relaxed: bool) -> argparse.ArgumentParser:
    return _relaxed(build_parser()) if relaxed else build_parser()


def parse(command: str, relaxed: bool = False):
    """Parse ``fewshot-clce ...`` with the real parser; AssertionError naming it if refused."""
    argv = shlex.split(command, comments=True)
    assert argv[0] == "fewshot-clce", command
    parser = _parser(relaxed)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(argv[1:])
    except SystemExit as stop:
        assert stop.code == 0, (
            f"{command!r} does not parse: {err.getvalue().strip().splitlines()[-1]}"
        )


@pytest.mark.parametrize("path", MARKDOWN, ids=_rel)
def test_code_fences_are_balanced(path):
    fences(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", MARKDOWN, ids=_rel)
def test_every_command_shown_parses(path):
    text = path.read_text(encoding="utf-8")
    for line, command in fenced_commands(text):
        try:
            parse(command)
        except AssertionError as e:
            raise AssertionError(f"{_rel(path)}:{line}: {e}") from None
    prose = "\n".join(line for line in text.splitlines() if not FENCE.match(line))
    for command in INLINE.findall(prose):
        parse(command, relaxed=True)


def test_the_checks_can_fail():
    with pytest.raises(AssertionError, match="never closed"):
        fences("text\n```bash\nfewshot-clce datasets\n")
    with pytest.raises(AssertionError, match="unrecognized arguments: --no-such-option"):
        parse("fewshot-clce evaluate runs/r --dataset digits --no-such-option")
    with pytest.raises(AssertionError, match="required"):
        parse("fewshot-clce train --dataset digits")
    parse("fewshot-clce train --dataset digits", relaxed=True)
    assert fenced_commands(
        "```bash\n$ fewshot-clce evaluate r \\\n    --heads centroid  # a comment\n```\n"
    ) == [(2, "fewshot-clce evaluate r --heads centroid  # a comment")]


def test_snippets_exist_and_their_commands_parse():
    """Every ``--8<--`` sample a page includes was written by ``make docs-samples`` and starts with
    the command that printed it."""
    names = {
        name for path in MARKDOWN for name in SNIPPET.findall(path.read_text(encoding="utf-8"))
    }
    assert names, "no page includes a sample"
    for name in sorted(names):
        sample = REPO / "docs" / "samples" / name
        assert sample.is_file(), f"{name}: no such sample; run make docs-samples"
        first = sample.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("$ fewshot-clce "), name
        parse(first[2:])
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "docs_samples", REPO / "scripts" / "docs_samples.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert {f"{n}.txt" for n, _ in script.COMMANDS} >= names  # each one is written by the script


def _first_loss_table(text: str) -> list[str]:
    """The lines of the first table of a page that starts with ``| loss | head |``."""
    lines = text.splitlines()
    header = lines.index(next(line for line in lines if line.startswith("| loss | head |")))
    return list(itertools.takewhile(lambda line: line.startswith("|"), lines[header:]))


def test_readme_is_short_and_its_table_is_the_committed_converged_one():
    """The README's table is the headline table of the budget study's 30-epoch benchmark (the
    budget at which CE and CLCE have converged), whole; the results page's is the 3-epoch
    ablation's."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    converged = REPO / "results" / "glyphs-budget" / "epochs-30" / "summary.md"
    assert _first_loss_table(readme) == _first_loss_table(converged.read_text(encoding="utf-8"))
    summary = (REPO / "results" / "glyphs-ablation" / "summary.md").read_text(encoding="utf-8")
    rows = _first_loss_table((REPO / "docs" / "results.md").read_text(encoding="utf-8"))
    assert len(rows) == 14 and all(row in summary for row in rows)  # header, rule and 12 rows


def test_the_results_page_budget_table_is_the_committed_budget_study():
    """The budget study's Δ table on docs/results.md is the committed BUDGET.md's, row for row."""
    budget = (REPO / "results" / "glyphs-budget" / "BUDGET.md").read_text(encoding="utf-8")
    lines = (REPO / "docs" / "results.md").read_text(encoding="utf-8").splitlines()
    section = lines[lines.index("## glyphs budget study, 3, 10 and 30 epochs") :]
    start = next(i for i, line in enumerate(section) if line.startswith("| "))
    rows = list(itertools.takewhile(lambda line: line.startswith("|"), section[start:]))
    assert len(rows) == 10 and all(row in budget.splitlines() for row in rows)  # header and 8 rows


def test_the_samples_tables_have_the_columns_the_code_writes_now():
    """A sample is the output of an older run of the code: its summary tables must still have the
    header that the table writer gives today (a column added or renamed makes it stale: run
    ``make docs-samples``)."""
    from synthetic_results import make_results

    from fewshot_clce.report.tables import summary_markdown
    from fewshot_clce.stats.summary import summarize

    headers = set()
    for seeds in ((0,), (0, 1)):
        results = make_results({"ce": 0.0, "clce": 0.02}, seeds=seeds, episodes=20)
        results["embedding_dim"] = 64
        table = summary_markdown(summarize(results))
        headers.add(next(line for line in table.splitlines() if line.startswith("| loss |")))
    shown = {
        sample.name: line
        for sample in sorted((REPO / "docs" / "samples").glob("*.txt"))
        for line in sample.read_text(encoding="utf-8").splitlines()
        if line.startswith("| loss | head | shots |")
    }
    assert shown, "no sample shows a summary table"
    stale = {name: line for name, line in shown.items() if line not in headers}
    assert not stale, f"samples with an old table header (run make docs-samples): {stale}"


def _loss_batch_tables(page: str) -> list[list[list[str]]]:
    """The cells of each ``| loss | batch 32 | ...`` table of a page, in order."""
    lines, tables = page.splitlines(), []
    for i, line in enumerate(lines):
        if line.startswith("| loss | batch "):
            rows = itertools.takewhile(lambda s: s.startswith("|"), lines[i + 2 :])
            tables.append([[c.strip() for c in r.split("|")[1:-1]] for r in [line, *rows]])
    return tables


def test_the_results_page_batch_tables_are_the_committed_ablations():
    """The results page's loss x batch-size tables (1-shot centroid, seed-level intervals) are the
    committed summaries of the batch-size ablations, cell for cell."""
    import pandas as pd

    from fewshot_clce.report.tables import fmt_interval

    page = (REPO / "docs" / "results.md").read_text(encoding="utf-8")
    tables = _loss_batch_tables(page)
    folders = ["glyphs-batch-ablation", "glyphs-batch-steps"]
    assert len(tables) == len(folders)
    for table, folder in zip(tables, folders):
        s = pd.read_csv(REPO / "results" / folder / "summary_all.csv")
        s = s[(s["split"] == "novel") & (s["head"] == "centroid") & (s["shots"] == 1)]
        s = s[s["batch_size"].notna()]  # the untrained backbone's row has no batch size
        sizes = [int(c.removeprefix("batch ")) for c in table[0][1:]]
        assert sizes == sorted(s["batch_size"].unique())
        assert [row[0].split()[0].lower() for row in table[1:]] == list(pd.unique(s["loss"]))
        for row in table[1:]:
            loss = row[0].split()[0].lower()
            for size, cell in zip(sizes, row[1:]):
                (hit,) = s[(s["loss"] == loss) & (s["batch_size"] == size)].itertuples()
                assert cell == fmt_interval(hit.mean, hit.seed_ci_low, hit.seed_ci_high, "seed")


def test_the_presets_table_lists_every_preset_with_its_trainings():
    """docs/benchmark.md's preset table names every preset, and no other, with the number of
    trainings the preset itself states (the number its plan gives: tests/benchmark/test_presets.py)."""
    from fewshot_clce.benchmark.presets import PRESETS

    lines = (REPO / "docs" / "benchmark.md").read_text(encoding="utf-8").splitlines()
    header = lines.index("| preset | what | trainings |")
    rows = itertools.takewhile(lambda line: line.startswith("|"), lines[header + 2 :])
    shown = {
        cells[0].strip("` "): cells[-1].strip() for cells in (r.split("|")[1:-1] for r in rows)
    }
    stated = {
        name: re.match(r"about (\d+) trainings", p.expected).group(1) for name, p in PRESETS.items()
    }
    assert shown == stated
