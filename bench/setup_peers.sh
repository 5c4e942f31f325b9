#!/usr/bin/env bash
# Install the libraries tokentrail is compared with into .bench-venv/ (git-ignored), never into the
# project's own environment: their pins must not touch ours, and CI never runs this.
#
#   bash bench/setup_peers.sh          # then: python bench/run_all.py
#
# genai-prices is pinned to the version the project's .venv has, so "genai-prices calc_price" and
# the accuracy reference are the very price data tokentrail prices with.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .bench-venv/bin/python ]; then
  "$PY" -m venv .bench-venv
fi
pin=""
if [ -x .venv/bin/python ]; then
  version=$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("genai-prices"))' 2>/dev/null || true)
  [ -n "$version" ] && pin="==$version"
fi
pip_install() {  # quiet, but show pip's output when it fails
  local out
  if ! out=$(.bench-venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2>&1); then
    echo "$out" >&2
    exit 1
  fi
}
pip_install --upgrade pip
pip_install "genai-prices$pin" litellm tokencost langfuse token-calculator
.bench-venv/bin/python - <<'PY'
import importlib.metadata as m
for name in ("genai-prices", "litellm", "tokencost", "langfuse", "token-calculator"):
    try:
        print(f"{name:<18} {m.version(name)}")
    except m.PackageNotFoundError:
        print(f"{name:<18} not installed")
PY
