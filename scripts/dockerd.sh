#!/usr/bin/env bash
# The Docker engine the docker tests (test/docker) need, for CI (.ci/run) and for a developer:
#   bash scripts/dockerd.sh start   install Debian's docker.io and debootstrap when missing (as
#                                   root, apt-get --no-install-recommends), then, unless an engine
#                                   already answers `docker info`, start
#                                   `dockerd --bridge=none --iptables=false` in the background
#                                   (log: <cache>/dockerd.log) and wait until it answers
#   bash scripts/dockerd.sh stop    stop the dockerd that `start` started (and only that one)
#   bash scripts/dockerd.sh check   exit 0 when an engine answers; else print why on stdout, exit 1
# The tests use only host networking, so the engine needs no bridge and no iptables rules.
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${RKS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/redis-kafka-sync}
log=$cache/dockerd.log
pidfile=$cache/dockerd.pid
READY_TIMEOUT_S=60

answers() { timeout 20 docker info >/dev/null 2>&1; }

check() {
  if ! command -v docker >/dev/null 2>&1; then
    echo "no docker command (install docker.io, or run 'bash scripts/dockerd.sh start' as root)"
    return 1
  fi
  local out
  if ! out=$(timeout 20 docker info 2>&1 >/dev/null); then
    echo "the Docker engine does not answer: $(printf '%s' "$out" | grep -v '^\s*$' | tail -1) (start one with 'bash scripts/dockerd.sh start')"
    return 1
  fi
}

install() {
  local missing=()
  command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "dockerd: missing ${missing[*]}: install them with 'sudo apt-get install --no-install-recommends ${missing[*]}'" >&2
    return 1
  fi
  echo "dockerd: installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
}

start() {
  install
  if answers; then
    echo "dockerd: an engine is running already ($(docker info --format '{{.ServerVersion}}' 2>/dev/null))"
    return 0
  fi
  mkdir -p "$cache"
  echo "dockerd: starting dockerd --bridge=none --iptables=false (log: $log)"
  setsid dockerd --bridge=none --iptables=false >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local waited=0
  until answers; do
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "dockerd: exited during start-up; last lines of $log:" >&2
      tail -20 "$log" >&2
      return 1
    fi
    if [ "$waited" -ge "$READY_TIMEOUT_S" ]; then
      echo "dockerd: no answer within $READY_TIMEOUT_S s; last lines of $log:" >&2
      tail -20 "$log" >&2
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  echo "dockerd: ready after ${waited} s ($(docker info --format '{{.ServerVersion}}, {{.Driver}}'))"
}

stop() {
  [ -f "$pidfile" ] || return 0
  local pid
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q '^dockerd '; then
    kill -TERM "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    echo "dockerd: stopped pid $pid"
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  check) check ;;
  *)
    echo "usage: $0 start|stop|check" >&2
    exit 2
    ;;
esac
