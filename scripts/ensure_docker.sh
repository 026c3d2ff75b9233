#!/usr/bin/env bash
# Makes sure a Docker engine answers and the offline Python base image exists.
#
# Idempotent: every step is skipped when its result is already there, so the
# test command and install.sh can call it every time. No registry is reachable
# on these machines, so the base image is bootstrapped from Debian's apt mirror
# with mmdebstrap and cached as a compressed `docker save`, which `docker load`
# restores in seconds on the next fresh engine (CI).
#
# Environment:
#   RUNCONFIG_BASE_IMAGE   tag of the base image (default runconfig-jupyter/python:bookworm)
#   RUNCONFIG_IMAGE_CACHE  cache file (default ~/.cache/runconfig-jupyter/base-image.tar.gz)
#   DOCKERD_LOG            where a dockerd we start logs (default /var/log/runconfig-dockerd.log)
set -euo pipefail

IMAGE="${RUNCONFIG_BASE_IMAGE:-runconfig-jupyter/python:bookworm}"
CACHE="${RUNCONFIG_IMAGE_CACHE:-$HOME/.cache/runconfig-jupyter/base-image.tar.gz}"
DOCKERD_LOG="${DOCKERD_LOG:-/var/log/runconfig-dockerd.log}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
READY_TIMEOUT="${DOCKERD_READY_TIMEOUT:-60}"

say() { printf '==> %s\n' "$*"; }
die() { printf 'ensure_docker: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null || die "the docker client is not installed; install Debian's docker.io (apt-get install -y docker.io)"

# One caller at a time: two test sessions must not both start dockerd or build the image.
mkdir -p "$(dirname "$CACHE")"
exec 9>"$(dirname "$CACHE")/.ensure_docker.lock"
flock -w 600 9 || die "another ensure_docker.sh has held the lock for 10 minutes"

# -- the engine ---------------------------------------------------------------
if docker info >/dev/null 2>&1; then
  say "Docker engine is running"
else
  [ "$(id -u)" = 0 ] || die "the Docker engine is not reachable and we are not root, so we cannot start it; start dockerd (sudo systemctl start docker) or add yourself to the docker group"
  command -v dockerd >/dev/null || die "dockerd is not installed; install it with: apt-get install -y docker.io"
  say "starting dockerd (log: $DOCKERD_LOG)"
  mkdir -p "$(dirname "$DOCKERD_LOG")"
  setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null 9>&- &  # 9>&-: the daemon must not inherit our lock
  deadline=$((SECONDS + READY_TIMEOUT))
  until docker info >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      tail -n 20 "$DOCKERD_LOG" >&2 || true
      die "dockerd did not become ready within ${READY_TIMEOUT}s; see $DOCKERD_LOG"
    fi
    sleep 0.5
  done
  say "dockerd is ready"
fi

# -- the offline base image -----------------------------------------------------
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "base image $IMAGE is present"
  [ -s "$CACHE" ] || { say "caching it at $CACHE"; docker save "$IMAGE" | gzip -1 >"$CACHE.tmp" && mv "$CACHE.tmp" "$CACHE"; }
  exit 0
fi

if [ -s "$CACHE" ]; then
  say "loading base image from $CACHE"
  if gunzip -c "$CACHE" | docker load >/dev/null && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    say "base image $IMAGE loaded"
    exit 0
  fi
  say "the cache did not hold $IMAGE; rebuilding it"
  rm -f "$CACHE"
fi

command -v mmdebstrap >/dev/null || die "base image $IMAGE is missing and mmdebstrap is not installed to build it; install it with: apt-get install -y mmdebstrap"
BUILD_LOG="$(dirname "$CACHE")/base-image-build.log"
say "building base image $IMAGE with mmdebstrap (about a minute; log: $BUILD_LOG)"
mmdebstrap --variant=minbase --quiet \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  bookworm - "$MIRROR" 2>"$BUILD_LOG" \
  | docker import --change 'CMD ["python3"]' --change 'ENV LANG=C.UTF-8' \
      --message "runconfig-jupyter offline base image" - "$IMAGE" >/dev/null \
  || { tail -n 20 "$BUILD_LOG" >&2; die "building $IMAGE failed (mmdebstrap needs the Debian mirror $MIRROR); log: $BUILD_LOG"; }
docker run --rm "$IMAGE" python -c 'import venv, ssl; print("python ok")' >/dev/null \
  || die "the built image $IMAGE has no working python"
say "caching $IMAGE at $CACHE"
docker save "$IMAGE" | gzip -1 >"$CACHE.tmp" && mv "$CACHE.tmp" "$CACHE"
say "base image $IMAGE is ready"
