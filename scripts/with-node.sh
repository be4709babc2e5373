#!/usr/bin/env bash
# Runs a command under Node.js 24 (scripts/node-env.sh: the machine's node when it is that line,
# else the one setup cached), so `npm run bench|chaos|stack|test:*` work on a machine whose own
# node is older than the one the Kafka client was compiled for:
#   bash scripts/with-node.sh node --import tsx bench/run.ts
set -euo pipefail
# shellcheck source=scripts/node-env.sh
source "$(dirname "$0")/node-env.sh"
exec "$@"
