"""MkDocs hooks: the CLI reference from the real parsers, and the committed results as pages.

Both are generated at build time, so the site cannot drift from the code or from ``results/``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from mkdocs.structure.files import File

REPO = Path(__file__).resolve().parent.parent
CLI_PAGE = "reference/cli.md"
MARKER = "<!-- cli-reference -->"


def _subcommands(parser: argparse.ArgumentParser, prefix: str):
    """``(command words, parser)`` of every sub-command, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", sub
                yield from _subcommands(sub, f"{prefix} {name}")


def cli_reference() -> str:
    """Every sub-command's ``--help`` as argparse prints it, in ``fewshot-clce --help``'s order."""
    os.environ["COLUMNS"] = "100"  # argparse wraps help at the terminal width: fix it for the page
    from fewshot_clce.cli import build_parser

    parser = build_parser()
    blocks = ["## fewshot-clce", "```text", parser.format_help().rstrip(), "```"]
    for words, sub in _subcommands(parser, "fewshot-clce"):
        blocks += [f"## {words}", "```text", sub.format_help().rstrip(), "```"]
    return "\n\n".join(blocks) + "\n"


EPISODE_FORMAT = "reference/episode-format.md"


def on_files(files, config):
    """Add ``results/<name>/REPORT.md`` and its plots, as they are committed, under ``results/``,
    and ``episodes/README.md`` (the manifest format) as :data:`EPISODE_FORMAT`."""
    for path in sorted((REPO / "results").glob("*/REPORT.md")) + sorted(
        (REPO / "results").glob("*/plots/*.png")
    ):
        files.append(
            File(
                str(path.relative_to(REPO)),
                str(REPO),
                config["site_dir"],
                config["use_directory_urls"],
            )
        )
    files.append(
        File.generated(
            config,
            EPISODE_FORMAT,
            content=(REPO / "episodes" / "README.md").read_text(encoding="utf-8"),
        )
    )
    return files


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri == CLI_PAGE:
        return markdown.replace(MARKER, cli_reference())
    return markdown
