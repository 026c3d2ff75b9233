#!/usr/bin/env bash
# Installs runconfig-jupyter from this checkout with the extras named in $1
# (default: jupyter,docker), plus the system pieces those extras need when we
# are root and they are missing. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-jupyter,docker}"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  case ",$extras," in *,docker,*|*,test,*) command -v dockerd >/dev/null || missing+=(docker.io)
                                           command -v mmdebstrap >/dev/null || missing+=(mmdebstrap) ;; esac
  case ",$extras," in *,test,*) command -v chromium >/dev/null || missing+=(chromium)
                                # Open MPI: MPI runs launch through mpirun when it is there (tests/integration/test_mpi.py)
                                command -v mpirun >/dev/null || missing+=(openmpi-bin)
                                # npm installs Azurite, the data tests' Azure Blob server (scripts/ensure_azurite.sh)
                                command -v npm >/dev/null || missing+=(npm) ;; esac
  if [ ${#missing[@]} -gt 0 ]; then
    say "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

say "pip install -e .[$extras]"
python3 -m pip install -q --disable-pip-version-check -e ".[$extras]"
# A wheel's install compiles its bytecode; an editable one does not, and under PYTHONDONTWRITEBYTECODE every
# run driver, standby and submitting script would compile the package's sources again (~50 ms a process).
python3 -m compileall -q -j 0 runconfig_jupyter >/dev/null

case ",$extras," in *,test,*)
  # The data tests' Azure Blob server (Azurite, an npm package), installed once into a cache folder.
  say "Azurite (Azure Storage emulator) for the data tests"
  bash scripts/ensure_azurite.sh >/dev/null || say "Azurite cannot be installed here; the Azure Blob data tests will fail"
esac

case ",$extras," in *,docker,*|*,test,*)
  if [ -f scripts/ensure_docker.sh ]; then
    say "Docker engine and the offline base image"
    bash scripts/ensure_docker.sh || say "Docker is not available here; Docker runs will be skipped by the demo"
  fi ;;
esac
