#!/usr/bin/env bash
# README command 1: installs what is missing, brings the local stack up, and runs the sync
# service with a device-data generator, showing records arriving in Kafka until Ctrl-C.
# The stack keeps running afterwards; `npm run stack -- down` stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
# Node.js 24: the machine's, or the one setup caches (scripts/node-env.sh).
# shellcheck source=scripts/node-env.sh
source scripts/node-env.sh
bash scripts/setup.sh
node bin/redis-kafka-sync.js stack up
exec node bin/redis-kafka-sync.js demo "$@"
