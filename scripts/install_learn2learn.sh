#!/usr/bin/env bash
# Install learn2learn 0.2.0 (the toolkit's optional `learn2learn` extra) into the Python given.
#
#   bash scripts/install_learn2learn.sh [PYTHON]                  # build it and install it (default: python3)
#   bash scripts/install_learn2learn.sh --build-only DIR [PYTHON] # only build its wheel into DIR
#   bash scripts/install_learn2learn.sh --from DIR [PYTHON]       # install the wheel in DIR (built if missing
#                                                                 # or made for another Python)
#
# Why a script: learn2learn 0.2.0 ships only an sdist whose Cython-generated C files predate
# Python 3.11 (they include `longintrepr.h`, which moved), so `pip install learn2learn` fails.
# This script fetches the sdist from the package registry, regenerates the C sources with
# Cython < 3 (learn2learn's .pyx files do not compile under Cython 3), builds a wheel and installs
# it, then installs the runtime packages its import needs (gym, requests, ...). Nothing is fetched
# from anywhere but the package registry pip is configured with. The build tools (Cython,
# setuptools) come as wheels into a private folder, so nothing but learn2learn is compiled.
#
# `make test` builds the wheel with the Python that makes the virtual environment while the
# environment installs (--build-only), then installs it (--from).
#
# Idempotent: does nothing when `import learn2learn` already gives version 0.2.0.
# Needs a C compiler and the Python headers (Python.h).
set -euo pipefail

L2L_VERSION=0.2.0
# gym: learn2learn imports it at top level; 0.26.2 is its last release (pure Python). The rest are
# no-ops where already installed (the Makefile installs torch and friends first).
RUNTIME_PACKAGES=("gym==0.26.2" "requests" "tqdm" "scipy" "numpy" "torch" "torchvision")

MODE=install
WHEELS=
case "${1:-}" in
    --build-only | --from)
        [ $# -ge 2 ] && [ -n "$2" ] || { echo "install_learn2learn: ERROR: $1 needs a folder" >&2; exit 2; }
        [ "$1" = --build-only ] && MODE=build
        WHEELS=$2
        shift 2
        ;;
    -*)
        echo "install_learn2learn: ERROR: unknown option '$1' (valid: --build-only DIR, --from DIR)" >&2
        exit 2
        ;;
esac
PY=${1:-python3}

die() {
    echo "install_learn2learn: ERROR: $*" >&2
    exit 1
}
say() { echo "install_learn2learn: $*"; }

# An absolute path, because the build below runs in other folders. Not resolved through symlinks:
# a virtual environment's python is a symlink, and the venv is found through the link's path.
case "$PY" in
    */*) [ -x "$PY" ] && PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")" ;;
    *) PY=$(command -v "$PY" || true) ;;
esac
[ -n "$PY" ] && [ -x "$PY" ] || die "python '${1:-python3}' not found; pass the interpreter, e.g. bash $0 .venv/bin/python"

installed_version() {
    "$PY" - <<'EOF' 2>/dev/null
import warnings
warnings.filterwarnings("ignore")
import learn2learn
print(learn2learn.__version__)
EOF
}

if [ "$MODE" = install ] && [ "$(installed_version || true)" = "$L2L_VERSION" ]; then
    say "learn2learn $L2L_VERSION already importable with $PY; nothing to do"
    exit 0
fi

"$PY" -c 'import sys; assert sys.version_info >= (3, 8)' 2>/dev/null \
    || die "'$PY' is not a working Python >= 3.8"
"$PY" -m pip --version >/dev/null 2>&1 || die "'$PY' has no pip; run: $PY -m ensurepip --upgrade"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/install-learn2learn.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
start=$(date +%s)

# build_wheel OUT: learn2learn's wheel for $PY, written into the folder OUT.
build_wheel() {
    local out=$1 include src sdist
    include=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
    [ -f "$include/Python.h" ] || die "Python headers not found ($include/Python.h); install the python dev package (e.g. apt-get install python3-dev)"
    command -v "${CC:-cc}" >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 \
        || die "no C compiler found (cc/gcc); install one (e.g. apt-get install build-essential)"

    say "[1/4] Cython < 3 and setuptools, as wheels, into a private folder (the target environment is left alone)"
    "$PY" -m pip install --quiet --disable-pip-version-check --only-binary :all: --target "$WORK/tools" \
        "cython>=0.29,<3" setuptools \
        || die "could not install Cython < 3 and setuptools from the package registry"
    # The steps below run without build isolation and find these first on the path (the sdist's
    # setup_requires asks for cython; pip would otherwise fetch the latest, 3.x, release).
    export PYTHONPATH="$WORK/tools${PYTHONPATH:+:$PYTHONPATH}"

    say "[2/4] learn2learn $L2L_VERSION sdist from the package registry"
    # --no-binary names learn2learn alone: with ":all:" pip would also build the sdist's build
    # requirements (Cython among them) from source. --no-build-isolation: pip reads the sdist's
    # metadata with the tools above instead of installing setuptools into two fresh environments.
    "$PY" -m pip download --quiet --disable-pip-version-check --no-binary learn2learn --no-deps \
        --no-build-isolation "learn2learn==$L2L_VERSION" -d "$WORK/dist" \
        || die "could not download the learn2learn $L2L_VERSION sdist from the package registry"
    sdist=$(ls "$WORK"/dist/learn2learn-"$L2L_VERSION".tar.gz 2>/dev/null | head -n1)
    [ -n "$sdist" ] || die "pip download did not produce learn2learn-$L2L_VERSION.tar.gz in $WORK/dist"
    tar -xzf "$sdist" -C "$WORK"
    src="$WORK/learn2learn-$L2L_VERSION"
    [ -f "$src/setup.py" ] || die "unexpected sdist layout: $src/setup.py missing"

    say "[3/4] regenerating the C sources with $("$PY" -c 'import Cython; print("Cython", Cython.__version__)')"
    (cd "$src" && "$PY" - <<'EOF') || die "Cython failed to regenerate learn2learn's C sources"
import glob
from Cython.Build import cythonize

pyx = sorted(glob.glob("learn2learn/data/*.pyx"))
if not pyx:
    raise SystemExit("no .pyx sources under learn2learn/data")
# Same directives as learn2learn's own setup.py; force=True overwrites the stale shipped .c files.
cythonize(pyx, force=True, quiet=True,
          compiler_directives={"language_level": 3, "embedsignature": True})
EOF
    for c in "$src"/learn2learn/data/*.c; do
        head -n1 "$c" | grep -q "Generated by Cython 0\.29" \
            || die "$c was not regenerated by Cython 0.29 (first line: $(head -n1 "$c"))"
    done

    say "[4/4] compiling learn2learn into a wheel"
    mkdir -p "$out"
    # -g0: Python's own flags ask for debug information, which for Cython's large C files takes
    # most of the compile (25 s -> 4.5 s here; the same -O3 code, a wheel of 0.4 instead of 1.5 MB).
    # Flags of the caller's CFLAGS come after it and win.
    CFLAGS="-g0${CFLAGS:+ $CFLAGS}" "$PY" -m pip wheel --quiet --disable-pip-version-check --no-deps \
        --no-build-isolation -w "$out" "$src" \
        || die "building learn2learn $L2L_VERSION failed (see the compiler output above)"
    unset PYTHONPATH
}

wheel_in() {
    ls "$1"/learn2learn-"$L2L_VERSION"-*.whl 2>/dev/null | head -n1
}

if [ "$MODE" = build ]; then
    build_wheel "$WHEELS"
    say "learn2learn $L2L_VERSION wheel for $PY in $WHEELS ($(( $(date +%s) - start ))s)"
    exit 0
fi

# pip_install ARGS...: with uv when setup_venv.sh put it beside $PY (scripts/uv_install.py), else pip.
HERE=$(cd "$(dirname "$0")" && pwd)
pip_install() {
    if [ -x "$(dirname "$PY")/uv" ] && [ -f "$HERE/uv_install.py" ]; then
        "$PY" "$HERE/uv_install.py" "$@"
    else
        "$PY" -m pip install --quiet --disable-pip-version-check "$@"
    fi
}

say "learn2learn $L2L_VERSION and its runtime packages: ${RUNTIME_PACKAGES[*]}"
say "  (not installed: gsutil and qpth, used only by learn2learn's QuickDraw download and its"
say "  MetaOptNet QP head; pip may say they are missing)"
WHEEL=
if [ -n "$WHEELS" ]; then
    WHEEL=$(wheel_in "$WHEELS")
    if [ -n "$WHEEL" ] && ! pip_install --no-deps "$WHEEL"; then
        say "$WHEEL does not install for $PY (made for another Python?); building one for it"
        WHEEL=
    fi
fi
if [ -z "$WHEEL" ]; then
    build_wheel "$WORK/wheel"
    pip_install --no-deps "$(wheel_in "$WORK/wheel")" \
        || die "installing the learn2learn $L2L_VERSION wheel failed (see the installer's output above)"
fi
pip_install "${RUNTIME_PACKAGES[@]}" \
    || die "could not install learn2learn's runtime packages: ${RUNTIME_PACKAGES[*]}"

got=$(installed_version || true)
if [ "$got" != "$L2L_VERSION" ]; then
    "$PY" -c 'import learn2learn' || true
    die "learn2learn installed but 'import learn2learn' does not give $L2L_VERSION (got '${got:-import failed}'); traceback above"
fi
say "learn2learn $got installed for $PY in $(( $(date +%s) - start ))s"
