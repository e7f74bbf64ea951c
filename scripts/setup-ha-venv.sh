#!/usr/bin/env bash
# Creates target/ha/venv with Home Assistant core from PyPI, pinned, for the
# real Home Assistant test (tests/home_assistant.rs). Home Assistant needs
# Python >= 3.13; 2025.4.4 is the newest release that installs on 3.13.0,
# the Python this image has under pyenv (2025.5 on need >= 3.13.2).
# The requirements Home Assistant would install from PyPI at its first start
# (the MQTT client, the frontend the onboarding API pulls in) are installed
# here, so the test starts it without a network and in seconds.
# Exit 77: no Python 3.13 here (the test is then ignored, never passed).
set -euo pipefail
cd "$(dirname "$0")/.."
HA_VERSION="2025.4.4"
VENV="${HA_VENV:-target/ha/venv}"
find_python() {
    for p in "${HA_PYTHON:-}" "$(command -v python3.13 || true)" \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python3.13; do
        # A pyenv shim exists whether or not that version is selected: run it.
        if [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null; then
            echo "$p"; return 0
        fi
    done
    return 1
}
if [ -x "$VENV/bin/hass" ] && "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('homeassistant') != '$HA_VERSION')" 2>/dev/null; then
    echo "Home Assistant $HA_VERSION ready in $VENV (cached)"
    exit 0
fi
PYTHON=$(find_python) || { echo "setup-ha-venv: no Python 3.13 (set HA_PYTHON, or install 3.13 with pyenv)"; exit 77; }
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv "$VENV"
# uv resolves Home Assistant's ~200 pinned packages in seconds; pip took 6 min.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check uv
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" "homeassistant==${HA_VERSION}"
# What Home Assistant installs at its first start, from its own manifests.
reqs=$("$VENV/bin/python" - <<'PYEOF'
import json, pathlib, homeassistant
base = pathlib.Path(homeassistant.__file__).parent / "components"
for c in ("mqtt", "frontend"):
    print(" ".join(json.loads((base / c / "manifest.json").read_text())["requirements"]))
PYEOF
)
# shellcheck disable=SC2086
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" $reqs
# build.rs decides whether the test can run; it watches the venv only once
# it exists, so tell cargo to look again.
touch build.rs
"$VENV/bin/python" -c "import importlib.metadata as m; print('Home Assistant', m.version('homeassistant'), 'ready in $VENV')"
