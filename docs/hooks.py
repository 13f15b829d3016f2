"""MkDocs hooks: the CLI reference from the real parsers, the built-in losses' table from their
declarations, and the committed results as pages.

All are generated at build time, so the site cannot drift from the code or from ``results/``.
"""

from __future__ import annotations

import argparse
import os
import re
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


LOSSES_PAGE = "losses.md"
LOSSES_MARKER = "<!-- loss-table -->"
# The order the losses are presented in (CE and its variants, the contrastive family, the cosine
# classifiers, ProtoNet's loss); a built-in loss missing here is listed after them.
LOSS_ORDER = (
    "ce",
    "lsce",
    "supcon",
    "lacln",
    "clce",
    "baselinepp",
    "negmargin",
    "cosface",
    "arcface",
    "proto",
)


def _value(value) -> str:
    """A hyper-parameter value as the command line takes it: ``0.1``, ``true``, ``cosine``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def loss_tables() -> str:
    """Two markdown tables from the built-in losses' own declarations: what each loss is and reads,
    then each hyper-parameter with its valid values, default, default grid and flag."""
    from fewshot_clce.losses import LOSSES
    from fewshot_clce.losses.declare import declared
    from fewshot_clce.losses.hparams import HPARAMS

    names = [n for n in LOSS_ORDER if n in LOSSES] + sorted(set(LOSSES.list()) - set(LOSS_ORDER))
    reads = {
        "uses_logits": "logits",
        "uses_projection": "projection z",
        "uses_features": "features",
    }
    losses = ["| loss | class | reads | what it is |", "|---|---|---|---|"]
    params = [
        (
            "| loss | hyper-parameter | valid values | default | default grid | in names "
            "| `train` flag |"
        ),
        "|---|---|---|---|---|---|---|",
    ]
    for name in names:
        cls = LOSSES.get(name)
        what = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
        what = re.sub(r" \(see [^)]*\)", "", what)  # pointers into the code, not the page
        inputs = ", ".join(v for k, v in reads.items() if getattr(cls, k, False))
        losses.append(f"| `{name}` | `{cls.__name__}` | {inputs} | {what} |")
        decl = declared(cls)
        if not decl:
            params.append(f"| `{name}` | (none) | | | | | |")
        for h in decl.values():
            grid = ", ".join(_value(v) for v in h.grid) if h.grid else "(the default alone)"
            flag = f"`{HPARAMS[h.name].flag}`" if h.name in HPARAMS else "`--hp`"
            params.append(
                f"| `{name}` | `{h.name}` | {h.accepts()} | {_value(h.default)} | {grid} "
                f"| `{h.key}` | {flag} |"
            )
    return "\n".join(losses) + "\n\n" + "\n".join(params) + "\n"


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
    if page.file.src_uri == LOSSES_PAGE:
        return markdown.replace(LOSSES_MARKER, loss_tables())
    return markdown
