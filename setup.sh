#!/usr/bin/env bash
# One-command set-up: a project virtual environment (.venv) with the pinned
# dependencies and this package installed in editable mode.
# Re-running is fast and harmless: pip skips what is already installed.
#
#   bash setup.sh            # uses python3 from PATH
#   PYTHON=python3.11 bash setup.sh
set -euo pipefail

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

cat <<'MSG'
[setup] done. Next:
  .venv/bin/python -m pytest -q                           # run the tests
  source .venv/bin/activate && pseudo-labels --help       # the command-line tools
MSG
