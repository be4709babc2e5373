#!/usr/bin/env bash
# Installs what the project needs, idempotently: Debian packages (when root), the npm
# dependencies (the Kafka client is compiled against the system's OpenSSL/zlib/zstd with
# CKJS_LINKING=dynamic) and the build. Used by `npm run demo`, `npm test` and .ci/run.
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
  for p in build-essential python3 libssl-dev zlib1g-dev libzstd-dev; do have_pkg "$p" || missing+=("$p"); done
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

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js >= 20 is required (found $(node --version))" >&2
  exit 1
fi

# npm ci only when node_modules is missing or older than the lockfile.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
  [ ! -f node_modules/@confluentinc/kafka-javascript/build/Release/confluent-kafka-javascript.node ]; then
  echo "setup: npm ci (compiles the Kafka client against system libraries; about 2 minutes)"
  CKJS_LINKING=dynamic npm ci --no-audit --no-fund --loglevel=error
fi

npm run --silent build
