#!/usr/bin/env bash
# Create a virtual environment and install the project into it (editable) with the given extras.
#
#   bash scripts/setup_venv.sh [PYTHON] [VENV] [EXTRAS]      # defaults: python3 .venv test,cluster
#
# What `make demo` and `make test` run. The install goes through uv when uv can be had from the
# package registry (scripts/uv_install.py: uv given what pip is configured with, so that both
# resolve the same versions): PyTorch's CUDA build is several GB of wheels, which pip unpacks one
# after the other (about 90 s here) and uv in parallel (about 20 s). uv leaves the bytecode to
# `make`, which compiles it while learn2learn installs (pip writes it as it installs). pip installs
# instead when uv cannot be installed or fails, or when FEWSHOT_CLCE_INSTALLER=pip.
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

HERE=$(cd "$(dirname "$0")" && pwd)
if [ "$INSTALLER" = uv ]; then
    if "$PY" -m pip install -q --disable-pip-version-check uv 2>/dev/null && [ -x "$VENV/bin/uv" ]; then
        if "$PY" "$HERE/uv_install.py" --no-compile -e "$TARGET"; then
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
