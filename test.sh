#!/usr/bin/env bash
# The README's second command, and what CI runs: set up .venv with the test extras, run the suite.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install -q -e ".[test]"
# One worker per core, a test file per worker (its module fixtures are built once).
.venv/bin/python -m pytest -q -n auto --dist loadfile tests "$@"
