#!/usr/bin/env bash
# Installs what the project needs, idempotently: Debian packages (when root), Node.js 24 when the
# machine's is older (scripts/node-env.sh), the npm dependencies (the Kafka client is compiled
# against the system's OpenSSL/zlib/zstd with CKJS_LINKING=dynamic and against the headers of the
# Node.js in use; rebuilt when it was compiled for another one) and the build. Used by
# `npm run demo`, `npm test` and .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }
java_ok() {
  command -v java >/dev/null 2>&1 || return 1
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  [ -n "$v" ] && [ "$v" -ge 17 ]
}
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# Sentinel tests (test/integration/sentinel.test.ts): Debian ships it as a package of its own.
command -v redis-sentinel >/dev/null 2>&1 || missing+=(redis-sentinel)
java_ok || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || missing+=(maven)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
# Headless browser of the dashboard test (test/integration/dashboard.test.ts).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if command -v dpkg-query >/dev/null 2>&1; then
  for p in build-essential patch python3 libssl-dev zlib1g-dev libzstd-dev; do have_pkg "$p" || missing+=("$p"); done
fi

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
  else
    echo "setup: missing ${missing[*]}: install them with 'sudo apt-get install ${missing[*]}' and run this again" >&2
    exit 1
  fi
fi

# Node.js 24 (scripts/node-env.sh): the machine's own when it is that line, else the cached one.
# shellcheck source=scripts/node-env.sh
source scripts/node-env.sh
echo "setup: Node.js $RKS_NODE_VERSION ($(command -v node))"

# npm ci when node_modules is missing or older than the lockfile; the Kafka client is rebuilt
# when it was compiled for another Node ABI (process.versions.modules, recorded next to it).
kafka_module=node_modules/@confluentinc/kafka-javascript/build/Release/confluent-kafka-javascript.node
abi_file=node_modules/.rks-node-abi
abi=$(node -p 'process.versions.modules')
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
  [ ! -f "$kafka_module" ]; then
  echo "setup: npm ci (compiles the Kafka client against system libraries; about 2 minutes)"
  CKJS_LINKING=dynamic npm ci --no-audit --no-fund --loglevel=error
  echo "$abi" >"$abi_file"
elif [ "$(cat "$abi_file" 2>/dev/null)" != "$abi" ] ||
  ! node -e 'require("@confluentinc/kafka-javascript")' >/dev/null 2>&1; then
  echo "setup: the Kafka client does not load under Node.js $RKS_NODE_VERSION (ABI $abi; it was built for ABI $(cat "$abi_file" 2>/dev/null || echo unknown)): npm rebuild (about 2 minutes)"
  # Without its build folder node-pre-gyp compiles again (with it, it keeps the old module).
  rm -rf node_modules/@confluentinc/kafka-javascript/build
  CKJS_LINKING=dynamic npm_config_build_from_source=true npm rebuild @confluentinc/kafka-javascript \
    --no-audit --no-fund --loglevel=error
  node -e 'require("@confluentinc/kafka-javascript")' || {
    echo "setup: the rebuilt Kafka client does not load under Node.js $RKS_NODE_VERSION" >&2
    exit 1
  }
  echo "$abi" >"$abi_file"
fi

# The produceBatch patch of the Kafka client (KAFKA_BATCH_PRODUCE; see the script).
bash scripts/patch-kafka-client.sh

npm run --silent build
