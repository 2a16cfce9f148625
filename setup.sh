#!/usr/bin/env bash
# One-command set-up: a project virtual environment (.venv) with the pinned
# dependencies and this package installed in editable mode.
# Re-running is fast and harmless: pip skips what is already installed.
#
#   bash setup.sh            # uses python3 from PATH
#   PYTHON=python3.11 bash setup.sh
#   bash setup.sh --dev      # also what the tests use: Debian's chromium (needs root and apt-get)
set -euo pipefail

DEV=0
for arg in "$@"; do
    case "$arg" in
        --dev) DEV=1 ;;
        *) echo "error: unknown option $arg; usage: bash setup.sh [--dev]" >&2; exit 2 ;;
    esac
done

cd "$(dirname "${BASH_SOURCE[0]}")"
PYTHON="${PYTHON:-python3}"
VENV=".venv"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    echo "error: $PYTHON is missing or older than Python 3.10; set PYTHON=/path/to/python3.10+" >&2
    exit 2
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$VENV"
fi

# requirements.txt holds exact pins (the versions the golden parity fixtures were made with).
# Some machines carry a site-wide pip constraint that caps torch below that pin; the exact pins
# already constrain every package, so the site-wide file is not applied inside this venv.
export PIP_CONSTRAINT=/dev/null
export PIP_DISABLE_PIP_VERSION_CHECK=1

echo "[setup] installing pinned dependencies (first run: a few minutes, about 5 GB)"
"$VENV/bin/python" -m pip install --quiet -r requirements.txt
echo "[setup] installing the optional dense CRF (requirements-crf.txt; builds from source)"
if ! "$VENV/bin/python" -m pip install --quiet -r requirements-crf.txt; then
    echo "[setup] warning: pydensecrf2 did not build (no C++ compiler?). Everything works without it" >&2
    echo "[setup]          except the dense CRF: pass --skip_crf to the semantics commands." >&2
fi
echo "[setup] installing pseudo-labels in editable mode"
"$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .

"$VENV/bin/python" - <<'PY'
import torch, torchvision, timm, numpy, cityscapesscripts  # noqa: F401  (fail here, not later)
import pseudo_labels
print(f"[setup] ok: torch {torch.__version__}, torchvision {torchvision.__version__}, timm {timm.__version__}, numpy {numpy.__version__}")
PY

if [ "$DEV" = 1 ]; then
    if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
        echo "[setup] chromium found: the browser tests of the HTML report will run"
    elif command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        echo "[setup] installing Debian's chromium for the browser tests of the HTML report (about 30 s)"
        if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; then
            echo "[setup] warning: apt-get could not install chromium: the two browser tests will be skipped" >&2
        fi
    else
        echo "[setup] warning: no chromium, and no root apt-get to install it: the two browser tests of the HTML" >&2
        echo "[setup]          report will be skipped (install the chromium package to run them)." >&2
    fi
fi

cat <<'MSG'
[setup] done. Next:
  .venv/bin/python -m pytest -q                           # run the tests
  source .venv/bin/activate && pseudo-labels --help       # the command-line tools
MSG
