"""The public API: every exported name, every import path the README and the docs document, and the
timm registration, each as a user would reach it."""

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import fewshot_clce

ROOT = Path(__file__).resolve().parents[1]
# the README and the manual's pages (the README's sections moved there)
README = "\n".join(
    p.read_text(encoding="utf-8")
    for p in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
)


def test_every_exported_name_resolves():
    for name in fewshot_clce.__all__:
        assert getattr(fewshot_clce, name) is not None, name


def _readme_imports():
    """``from fewshot_clce.x import a, b`` lines of the README's code blocks."""
    out = []
    for module, names in re.findall(
        r"^\s*from (fewshot_clce[\w.]*) import ([\w, ]+)$", README, flags=re.M
    ):
        out += [(module, n.strip().split(" as ")[0]) for n in names.split(",") if n.strip()]
    return out


def _readme_dotted():
    """``fewshot_clce.x.y`` names the README's prose mentions (a module, or an attribute of one)."""
    return sorted(set(re.findall(r"`(fewshot_clce(?:\.\w+)+)", README)))


@pytest.mark.parametrize("module, name", _readme_imports())
def test_readme_imports_work(module, name):
    assert hasattr(importlib.import_module(module), name), f"from {module} import {name}"


@pytest.mark.parametrize("dotted", _readme_dotted())
def test_readme_dotted_names_resolve(dotted):
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):  # the longest importable prefix, then attributes
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ModuleNotFoundError:
            continue
        for attr in parts[k:]:
            obj = getattr(obj, attr)
        return
    pytest.fail(f"{dotted} does not resolve")


def test_readme_documents_some_imports():
    assert (
        len(_readme_imports()) > 20 and len(_readme_dotted()) > 10
    )  # the parsers above see the README


def _python(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.mark.slow
def test_timm_knows_the_few_shot_backbones_after_importing_the_package():
    # before or after timm itself is imported
    assert (
        _python("import fewshot_clce, timm; print(type(timm.create_model('resnet12')).__name__)")
        == "ResNet12"
    )
    assert (
        _python("import timm, fewshot_clce; print(type(timm.create_model('conv4')).__name__)")
        == "Conv4"
    )


@pytest.mark.slow
def test_light_commands_do_not_import_timm():
    code = (
        "import sys\nfrom fewshot_clce.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('timm' in sys.modules, 'fewshot_clce.training.trainer' in sys.modules)\n"
        # nor does building the few-shot backbones (what a conv4 training or evaluation does)
        "from fewshot_clce.backbones import check_backbone_name, create_backbone\ncheck_backbone_name('conv4')\n"
        "print(create_backbone('conv4', in_chans=1).num_features, create_backbone('resnet12').num_features, "
        "'timm' in sys.modules)"
    )
    assert _python(code).splitlines()[-2:] == ["False False", "64 640 False"]
