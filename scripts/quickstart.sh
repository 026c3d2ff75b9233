#!/usr/bin/env bash
# The main job: install, then execute notebooks/quickstart.ipynb headless. It
# submits to the embedded default target (local) and, when a Docker engine is
# available, to Docker. The executed notebook is written to build/quickstart.ipynb.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh jupyter,docker
mkdir -p build
export RUNCONFIG_JUPYTER_HOME="${RUNCONFIG_JUPYTER_HOME:-$PWD/build/runhome}"
echo "==> executing notebooks/quickstart.ipynb (runs are kept under $RUNCONFIG_JUPYTER_HOME)"
python3 -m jupyter execute notebooks/quickstart.ipynb --output ../build/quickstart.ipynb --timeout 900
python3 - <<'PY'
import json
nb = json.load(open("build/quickstart.ipynb"))
for cell in nb["cells"]:
    for out in cell.get("outputs", []):
        if out.get("name") == "stdout" and "Status:" in "".join(out.get("text", "")):
            print("".join(out["text"]).strip().splitlines()[-1])
print("==> quickstart done: build/quickstart.ipynb")
PY
