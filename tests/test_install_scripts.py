"""The install scripts `make` runs: uv is given what pip is configured with."""

import importlib.util
import subprocess
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def _uv_install():
    spec = importlib.util.spec_from_file_location("uv_install", SCRIPTS / "uv_install.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pip_settings_reach_uv_with_pips_precedence(monkeypatch):
    uv_install = _uv_install()
    listing = "\n".join(
        [
            "global.extra-index-url='file:///opt/a/simple file:///opt/b/simple'",
            "global.find-links='/opt/wheels'",
            "global.index-url='https://global.example/simple'",
            "install.index-url='https://install.example/simple'",  # [install] over [global]
            ":env:.find-links='/env/wheels'",  # environment variables over both
            "global.constraint='/etc/pip/constraints.txt'",
            "global.cert='/etc/ssl/certs/ca.crt'",
            "global.timeout='60'",  # nothing uv is given
            "not a setting line",
        ]
    )
    monkeypatch.setattr(
        uv_install.subprocess,
        "run",
        lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout=listing + "\n"),
    )
    settings = uv_install.pip_settings()
    assert (
        settings["index-url"] == "https://install.example/simple"
        and settings["find-links"] == "/env/wheels"
    )
    assert settings["cert"] == "/etc/ssl/certs/ca.crt"
    assert uv_install.uv_options(settings) == [
        "--index-url",
        "https://install.example/simple",
        "--extra-index-url",
        "file:///opt/a/simple",
        "--extra-index-url",
        "file:///opt/b/simple",
        "--find-links",
        "/env/wheels",
        "--constraint",
        "/etc/pip/constraints.txt",
    ]
    assert uv_install.uv_options({"no-index": "true"}) == ["--no-index"]


def test_without_uv_beside_the_python_it_says_so_for_pip_to_take_over(monkeypatch, tmp_path):
    uv_install = _uv_install()
    monkeypatch.setattr(uv_install.sys, "executable", str(tmp_path / "bin" / "python"))
    assert uv_install.main(["numpy"]) == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["--from"], "--from needs a folder"),
        (["--wheels", "x"], "unknown option '--wheels'"),
    ],
)
def test_install_learn2learn_refuses_bad_options(args, message):
    done = subprocess.run(
        ["bash", str(SCRIPTS / "install_learn2learn.sh"), *args], capture_output=True, text=True
    )
    assert done.returncode == 2 and message in done.stderr
