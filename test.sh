#!/usr/bin/env bash
# The README's second command, and what CI runs: set up .venv with the test extras, run the suite.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install -q -e ".[test]"
# One worker per core. Trained workdirs and the export are built once per run and shared by
# the workers (tests/conftest.py), so any worker may take any test (worksteal). The 25
# slowest tests are listed, so every log shows where the time goes.
.venv/bin/python -m pytest -q -n auto --dist worksteal --durations=25 tests "$@"
