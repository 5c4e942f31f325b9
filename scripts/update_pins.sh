#!/usr/bin/env bash
# Re-pin the test dependencies. `.ci/run` installs `.[dev]` under `constraints.txt`, so a new release of
# any dependency cannot turn CI red overnight; this script is the one way the pins move: a throwaway
# virtual environment takes the newest releases that pyproject.toml allows, and its `pip freeze`
# becomes the new constraints.txt. Run the tests (bash .ci/run) before committing the result.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"${PYTHON:-python3}" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]'
{
  echo "# Pins for the test run (.ci/run: pip install -c constraints.txt -e '.[dev]')."
  echo "# Regenerate with: bash scripts/update_pins.sh   (then run bash .ci/run before committing)"
  "$tmp/venv/bin/python" -m pip freeze --exclude-editable | grep -iv '^tokentrail[= ]'
} > constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) pins"
