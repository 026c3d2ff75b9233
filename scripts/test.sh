#!/usr/bin/env bash
# Installs everything the tests need (apt packages when root, dockerd and the
# offline base image, the JS build) and runs every test. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh test,jupyter,docker,kernel,ray,lab,data
echo "==> ruff"
python3 -m ruff check .
python3 -m ruff format --check .
echo "==> pytest"
# pytest exits 5 when it collects nothing; with set -e that fails this script, as it should.
python3 -m pytest -ra "$@"
