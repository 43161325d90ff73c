#!/usr/bin/env bash
# Creates .venv (once) and installs the project into it; with "dev", the test tools too.
# Re-runs the install only when pyproject.toml changed since the last one.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating virtual environment .venv" >&2
    "$py" -m venv .venv
fi
stamp=".venv/.installed${extras:+-$extras}"
# (setup.py and the C source too: the install builds hub/mapping/_xmlwalk.c, when a C compiler is there)
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] \
        || [ hub/mapping/_xmlwalk.c -nt "$stamp" ]; then
    echo "setup: installing the hub${extras:+ with [$extras]} into .venv" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}" 2>&1 \
        | grep -v "^WARNING: Location" >&2 || true
    .venv/bin/python -c "import hub" && touch "$stamp"
    .venv/bin/python -c "import hub.mapping._xmlwalk" 2>/dev/null \
        || echo "setup: the C walks of XML mapping (hub/mapping/_xmlwalk.c) did not build (no C compiler or" \
                "Python headers?): XML mapping runs in Python, with the same results, about three times slower" >&2
fi
