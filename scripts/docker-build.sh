#!/usr/bin/env bash
# Builds the image from docker/Dockerfile (classic builder, host network for the build's
# apt-get and npm), with npm's CA bundle when the machine has one:
#   bash scripts/docker-build.sh [-t TAG] [docker build options...]
# e.g. bash scripts/docker-build.sh -t redis-kafka-sync:dev --build-arg BASE_IMAGE=rks-standin/node:24.22.3-bookworm-slim
# The CA bundle (`npm config get cafile`, only if set and present) is copied to docker/npm-ca/
# for the build stage and removed afterwards; the final image never holds it.
set -euo pipefail
cd "$(dirname "$0")/.."
ca_copy=docker/npm-ca/npm-ca.pem
cafile=$(npm config get cafile 2>/dev/null || true)
# npm also trusts what Node does: NODE_EXTRA_CA_CERTS.
case "$cafile" in "" | null | undefined) cafile=${NODE_EXTRA_CA_CERTS:-} ;; esac
rm -f "$ca_copy"
trap 'rm -f "$ca_copy"' EXIT
if [ -n "$cafile" ] && [ "$cafile" != null ] && [ "$cafile" != undefined ] && [ -f "$cafile" ]; then
  cp "$cafile" "$ca_copy"
  echo "docker-build: npm's CA bundle $cafile goes to the build stage only" >&2
fi
DOCKER_BUILDKIT=0 docker build --network host -f docker/Dockerfile "$@" .
