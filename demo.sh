#!/usr/bin/env bash
# The README's first command: set up .venv, train the demo model on the built-in data
# (about 10 minutes on 2 CPU cores), translate 8 test images. Result: runs/demo/translated/index.html
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
.venv/bin/pip install -q -e .
.venv/bin/python -m trainers.train --workdir=runs/demo --preset=demo
.venv/bin/python -m trainers.make_dataset --output=runs/demo/data --size=64 --train_size=0 --test_size=8
.venv/bin/python -m trainers.translate --workdir=runs/demo --input=runs/demo/data/testA \
    --output=runs/demo/translated --direction=a2b
echo "Done: open runs/demo/translated/index.html"
