#!/usr/bin/env bash
# Docker for the docker-provider integration tests, on a machine with no container registry.
#
#   source .ci/docker.sh up     # install docker.io, start dockerd, build the stand-in images,
#                               # export HARNESS_TEST_DOCKER_HOST and HARNESS_DOCKER_* for the
#                               # docker-provider tests (not DOCKER_HOST: every other test
#                               # keeps the default `auto` provider → local)
#   bash .ci/docker.sh down     # stop dockerd, remove its containers and runtime files
#
# dockerd gets its own data root (the image cache: kept between runs on the same machine, so a
# second CI run builds nothing), exec root and socket, so it never touches a system Docker.
# Images: a Debian bookworm minbase from debootstrap, imported; PostgreSQL 15 from Debian
# packages behind the official image's entrypoint contract; moto's server from wheels the host
# downloads. Timings go to $MUH_DOCKER_STATE/setup-seconds.

MUH_DOCKER_STATE="${MUH_DOCKER_STATE:-/var/cache/mlflow-upgrade-harness-docker}"
MUH_DOCKER_SOCK="/run/mlflow-upgrade-harness-docker.sock"
MUH_DOCKER_PID="/run/mlflow-upgrade-harness-dockerd.pid"
MUH_BASE_IMAGE="mlflow-upgrade-harness/bookworm-minbase:latest"
MUH_POSTGRES_IMAGE="mlflow-upgrade-harness/postgres:15"
MUH_MOTO_IMAGE="mlflow-upgrade-harness/moto:latest"
MUH_DEBIAN_MIRROR="${MUH_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
_muh_ci="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

_muh_log() { echo "[docker-setup $(date +%T)] $*" >&2; }

_muh_install() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  if [ "${#missing[@]}" -gt 0 ]; then
    _muh_log "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

_muh_start_dockerd() {
  mkdir -p "$MUH_DOCKER_STATE/data" /run/mlflow-upgrade-harness-docker-exec
  if [ -S "$MUH_DOCKER_SOCK" ] && docker -H "unix://$MUH_DOCKER_SOCK" info >/dev/null 2>&1; then
    return 0
  fi
  _muh_log "starting dockerd (data root $MUH_DOCKER_STATE/data)"
  setsid dockerd --data-root "$MUH_DOCKER_STATE/data" \
    --exec-root /run/mlflow-upgrade-harness-docker-exec \
    -H "unix://$MUH_DOCKER_SOCK" --pidfile "$MUH_DOCKER_PID" \
    >"$MUH_DOCKER_STATE/dockerd.log" 2>&1 < /dev/null &
  local waited=0
  until docker -H "unix://$MUH_DOCKER_SOCK" info >/dev/null 2>&1; do
    sleep 0.5; waited=$((waited + 1))
    if [ "$waited" -ge 60 ]; then
      _muh_log "dockerd did not answer within 30 s:"; tail -5 "$MUH_DOCKER_STATE/dockerd.log" >&2
      return 1
    fi
  done
}

_muh_has_image() { docker image inspect "$1" >/dev/null 2>&1; }

_muh_build_images() {
  if ! _muh_has_image "$MUH_BASE_IMAGE"; then
    local root; root="$(mktemp -d /tmp/muh-debootstrap-XXXXXX)"
    _muh_log "debootstrap bookworm minbase"
    debootstrap --variant=minbase bookworm "$root" "$MUH_DEBIAN_MIRROR" >/dev/null || {
      rm -rf "$root"; return 1; }
    rm -rf "$root"/var/cache/apt/archives/*.deb
    tar -C "$root" -c . | docker import - "$MUH_BASE_IMAGE" >/dev/null
    local status=$?
    rm -rf "$root"
    [ "$status" -eq 0 ] || return 1
  fi
  if ! _muh_has_image "$MUH_POSTGRES_IMAGE"; then
    _muh_log "building $MUH_POSTGRES_IMAGE"
    DOCKER_BUILDKIT=0 docker build -q -t "$MUH_POSTGRES_IMAGE" "$_muh_ci/docker/postgres" \
      >/dev/null || return 1
  fi
  if ! _muh_has_image "$MUH_MOTO_IMAGE"; then
    _muh_log "building $MUH_MOTO_IMAGE"
    local context; context="$(mktemp -d /tmp/muh-moto-XXXXXX)"
    cp "$_muh_ci/docker/moto/Dockerfile" "$context/"
    python3 -m pip download -q -d "$context/wheels" 'moto[server]' 2>/dev/null \
      --only-binary=:all: --python-version 3.11 --platform manylinux2014_x86_64 \
      --platform manylinux_2_17_x86_64 --platform any >/dev/null || { rm -rf "$context"; return 1; }
    DOCKER_BUILDKIT=0 docker build -q -t "$MUH_MOTO_IMAGE" "$context" >/dev/null
    local status=$?
    rm -rf "$context"
    [ "$status" -eq 0 ] || return 1
  fi
}

muh_docker_up() {
  local started; started=$(date +%s.%N)
  _muh_install || return 1
  _muh_start_dockerd || return 1
  local DOCKER_HOST="unix://$MUH_DOCKER_SOCK"
  export DOCKER_HOST  # for the docker CLI in this function only
  _muh_build_images || { _muh_log "image build failed"; return 1; }
  export HARNESS_TEST_DOCKER_HOST="unix://$MUH_DOCKER_SOCK"
  export HARNESS_DOCKER_POSTGRES_IMAGE="$MUH_POSTGRES_IMAGE"
  export HARNESS_DOCKER_S3_IMAGE="$MUH_MOTO_IMAGE"
  local seconds; seconds=$(python3 -c "import time; print(round(time.time() - $started, 1))")
  echo "$(date -u +%FT%TZ) $seconds" >> "$MUH_DOCKER_STATE/setup-seconds"
  _muh_log "ready in ${seconds}s: HARNESS_TEST_DOCKER_HOST=$HARNESS_TEST_DOCKER_HOST"
}

muh_docker_down() {
  if [ -S "$MUH_DOCKER_SOCK" ]; then
    local leftover
    leftover=$(docker -H "unix://$MUH_DOCKER_SOCK" ps -aq 2>/dev/null || true)
    [ -z "$leftover" ] || docker -H "unix://$MUH_DOCKER_SOCK" rm -fv $leftover >/dev/null 2>&1
  fi
  if [ -f "$MUH_DOCKER_PID" ]; then
    local pid; pid=$(cat "$MUH_DOCKER_PID")
    kill "$pid" 2>/dev/null
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null
  fi
  # dockerd leaves its default network namespace mounted under the exec root
  umount /run/mlflow-upgrade-harness-docker-exec/netns/default 2>/dev/null || true
  rm -rf "$MUH_DOCKER_SOCK" "$MUH_DOCKER_PID" /run/mlflow-upgrade-harness-docker-exec
}

case "${1:-}" in
  up) muh_docker_up ;;
  down) muh_docker_down ;;
  *) echo "usage: source .ci/docker.sh up | bash .ci/docker.sh down" >&2; false ;;
esac
