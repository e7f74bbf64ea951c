#!/usr/bin/env bash
# Creates .venv with the vendor's Python SDK (`viewtron` on PyPI), pinned, for
# the differential test (tests/sdk_differential.rs) and the SDK bench
# (tests/sdk/bench_sdk.py). The SDK is an oracle only: camrelay never imports it.
set -euo pipefail
cd "$(dirname "$0")/.."
VIEWTRON_VERSION="1.4.1"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
    # build.rs decides whether the differential test can run; it watches
    # .venv only once it exists, so tell cargo to look again.
    touch build.rs
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check "viewtron==${VIEWTRON_VERSION}"
.venv/bin/python -c 'import importlib.metadata as m; print("viewtron", m.version("viewtron"), "ready in .venv")'
