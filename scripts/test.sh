#!/usr/bin/env bash
# The whole test suite (README command 2): installs what is missing, checks lint, format and
# types, starts the local stack if it is not running, runs every test against it, and stops
# what it started. Exits non-zero on any failure. Runs under Node.js 24 (scripts/node-env.sh).
# The docker tests (test/docker: the image, Compose, Swarm) run too when a Docker engine answers;
# otherwise one line says they were skipped and why. `--docker-only` (npm run test:docker) runs
# just those, without lint and type checks.
set -euo pipefail
only_docker=0
[ "${1:-}" = --docker-only ] && only_docker=1
cd "$(dirname "$0")/.."

# shellcheck source=scripts/node-env.sh
source scripts/node-env.sh
bash scripts/setup.sh
if [ "$only_docker" = 0 ]; then
  echo "== lint, format, types"
  npx eslint .
  npx prettier --check . >/dev/null || { npx prettier --check .; exit 1; }
  npx tsc -p tsconfig.json --noEmit
fi

cli() { node bin/redis-kafka-sync.js "$@"; }
started=0
if ! cli stack status --json | node -e 'const s=JSON.parse(require("fs").readFileSync(0,"utf8"));process.exit(s.servers.every(x=>x.state==="up")?0:1)'; then
  started=1
fi
cleanup() {
  if [ "$started" = 1 ]; then cli stack down || true; fi
  # The sandboxes of the chaos suite and of the unknown-topic test are always stopped.
  base=${RKS_STACK_PORT_OFFSET:-0}
  RKS_STACK_DIR=.stack-chaos RKS_STACK_PORT_OFFSET=$((base + 100)) cli stack down >/dev/null 2>&1 || true
  RKS_STACK_DIR=.stack-noauto RKS_STACK_PORT_OFFSET=$((base + 300)) cli stack down >/dev/null 2>&1 || true
  # The Sentinel and Cluster servers the tests start (they stop them themselves; this is for a crash).
  node --import tsx -e "const m = await import('./src/stack/replicated.ts'); await Promise.all(['target', 'source', 'cluster', 'tls'].map((s) => m.stopReplicated(s)));" >/dev/null 2>&1 || true
}
trap cleanup EXIT
echo "== stack up"
time cli stack up

files=(test/unit/*.test.ts test/integration/*.test.ts)
[ "$only_docker" = 1 ] && files=()
if why=$(bash scripts/dockerd.sh check); then
  files+=(test/docker/*.test.ts)
  echo "== docker tests: included (engine $(docker info --format '{{.ServerVersion}}'))"
else
  echo "== docker tests: skipped: $why"
  if [ "$only_docker" = 1 ]; then exit 0; fi
fi
echo "== tests (Node.js $(node --version))"
mkdir -p test-artifacts
node --import tsx --test --test-concurrency=1 --test-timeout=600000 "${files[@]}"
