#!/usr/bin/env bash
# Create a virtual environment and install the project into it (editable) with the given extras.
#
#   bash scripts/setup_venv.sh [PYTHON] [VENV] [EXTRAS]      # defaults: python3 .venv test,cluster
#
# What `make demo` and `make test` run. The install goes through uv when uv can be had from the
# package registry: PyTorch's CUDA build is several GB of wheels, which pip unpacks one after the
# other (about 90 s here) and uv in parallel (about 35 s with the bytecode). uv is given what pip
# is configured with (`pip config list`: index-url, extra-index-url, find-links, constraint, cert,
# no-index) and pip's rule for choosing among several indexes (the best version on any of them),
# so both resolve to the same versions. Like pip, it writes the bytecode of what it installs:
# where PYTHONDONTWRITEBYTECODE is set (it is on the machine the timings were taken on), Python
# would otherwise compile PyTorch's modules again in every process (2 s more per `import torch`).
# pip installs instead when uv cannot be installed or fails, or when FEWSHOT_CLCE_INSTALLER=pip.
set -euo pipefail

PYTHON=${1:-python3}
VENV=${2:-.venv}
EXTRAS=${3:-test,cluster}
INSTALLER=${FEWSHOT_CLCE_INSTALLER:-uv}

say() { echo "setup_venv: $*"; }
die() {
    echo "setup_venv: ERROR: $*" >&2
    exit 1
}

case "$INSTALLER" in
    uv | pip) ;;
    *) die "FEWSHOT_CLCE_INSTALLER must be 'uv' or 'pip', got '$INSTALLER'" ;;
esac
command -v "$PYTHON" >/dev/null 2>&1 || die "python '$PYTHON' not found; run e.g. make test PYTHON=python3.11"
[ -f setup.cfg ] || die "run from the project's top folder (no setup.cfg in $(pwd))"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV" || die "'$PYTHON -m venv $VENV' failed (on Debian/Ubuntu: apt-get install python3-venv)"
fi
PY="$VENV/bin/python"
TARGET=".[$EXTRAS]"

with_pip() {
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q -e "$TARGET"
}

# uv's options for what pip is configured with, one per line (pip's own precedence: environment
# variables over the [install] section over [global]).
uv_options() {
    "$PY" -m pip config list 2>/dev/null | "$PY" -c '
import ast, sys

rank = {":env:": 2, "install": 1, "global": 0}
best = {}
for line in sys.stdin:
    key, sep, value = line.strip().partition("=")
    section, _, name = key.partition(".")
    if not sep or section not in rank:
        continue
    try:
        value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        continue
    if name not in best or rank[section] >= best[name][0]:
        best[name] = (rank[section], value)
values = {name: value for name, (_, value) in best.items()}
flags = {"index-url": "--index-url", "extra-index-url": "--extra-index-url",
         "find-links": "--find-links", "constraint": "--constraint"}
for name, flag in flags.items():
    for item in values.get(name, "").split():
        print(flag)
        print(item)
if values.get("no-index", "").lower() in ("1", "true", "yes", "on"):
    print("--no-index")
'
}

if [ "$INSTALLER" = uv ]; then
    if "$PY" -m pip install -q --disable-pip-version-check uv 2>/dev/null && [ -x "$VENV/bin/uv" ]; then
        mapfile -t OPTIONS < <(uv_options)
        CERT=$("$PY" -m pip config get global.cert 2>/dev/null || true)
        [ -n "${PIP_CERT:-}" ] && CERT=$PIP_CERT
        if env ${CERT:+SSL_CERT_FILE="$CERT"} "$VENV/bin/uv" pip install --quiet --python "$PY" \
            --index-strategy unsafe-best-match --compile-bytecode "${OPTIONS[@]}" -e "$TARGET"; then
            say "installed $TARGET into $VENV with uv"
            exit 0
        fi
        say "uv could not install $TARGET; installing with pip instead"
    else
        say "uv is not available from the package registry; installing with pip instead"
    fi
fi
with_pip || die "pip could not install $TARGET into $VENV (see its output above)"
say "installed $TARGET into $VENV with pip"
