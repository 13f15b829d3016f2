"""Install packages into this Python's environment with uv, from what pip is configured with.

    PYTHON scripts/uv_install.py [--no-compile] REQUIREMENT...   # e.g. -e '.[test]', a wheel, gym==0.26.2

Used by setup_venv.sh and install_learn2learn.sh. uv (installed in the environment beside this
Python) is given pip's index-url, extra-index-url, find-links, constraint and no-index settings
(`pip config list`: environment variables over the [install] section over [global]), pip's
certificate as SSL_CERT_FILE, and pip's rule for choosing among several indexes (the best version
on any of them), so that it resolves what pip would. Like pip, it writes the bytecode of what it
installs, unless --no-compile (the caller compiles it later). Exit status: uv's, or 3 when there
is no uv beside this Python (the caller uses pip).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

RANK = {":env:": 2, "install": 1, "global": 0}
LIST_OPTIONS = {
    "index-url": "--index-url",
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
}


def pip_settings() -> dict:
    """pip's effective settings, name -> value, as `pip config list` gives them."""
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True
    ).stdout
    best = {}
    for line in listing.splitlines():
        key, sep, value = line.strip().partition("=")
        section, _, name = key.partition(".")
        if not sep or section not in RANK:
            continue
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            continue
        if name not in best or RANK[section] >= best[name][0]:
            best[name] = (RANK[section], str(value))
    return {name: value for name, (_, value) in best.items()}


def uv_options(settings: dict) -> list:
    options = []
    for name, flag in LIST_OPTIONS.items():
        for item in settings.get(name, "").split():
            options += [flag, item]
    if settings.get("no-index", "").lower() in ("1", "true", "yes", "on"):
        options.append("--no-index")
    return options


def main(requirements: list) -> int:
    uv = Path(sys.executable).parent / "uv"
    if not uv.is_file():
        return 3
    compile_bytecode = ["--compile-bytecode"]
    if requirements[:1] == ["--no-compile"]:
        compile_bytecode, requirements = [], requirements[1:]
    settings = pip_settings()
    env = dict(os.environ)
    if settings.get("cert"):
        env["SSL_CERT_FILE"] = settings["cert"]
    command = [
        str(uv),
        "pip",
        "install",
        "--quiet",
        "--python",
        sys.executable,
        "--index-strategy",
        "unsafe-best-match",
        *compile_bytecode,
        *uv_options(settings),
        *requirements,
    ]
    return subprocess.run(command, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
