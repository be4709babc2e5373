# Sourced (not run) by scripts/setup.sh, test.sh, demo.sh and docker-standins.sh: makes `node`
# a Node.js of the supported line (NODE_LINE, 24), and points native builds at its headers.
#
# - When the `node` on PATH is of that line already (or newer), nothing changes.
# - Otherwise Node is taken from the npm package node-linux-<arch>@24 (the `node` binary and
#   include/node, the headers node-gyp needs; no download from nodejs.org is needed), unpacked
#   once into the cache outside the repository ($RKS_CACHE_DIR, else
#   ${XDG_CACHE_HOME:-~/.cache}/redis-kafka-sync/node-v<version>-linux-<arch>) and put first on
#   PATH. The npm on PATH keeps working: it runs on whatever `node` is first on PATH.
# - npm_config_nodedir points at the headers of the `node` in use, so compiling the Kafka client
#   never uses other headers (a global npmrc may name the system's, for another Node version).
#
# Exports RKS_NODE_HOME (the directory with bin/node and include/node) and RKS_NODE_VERSION.
# shellcheck shell=bash

NODE_LINE=24
rks_cache_dir() {
  if [ -n "${RKS_CACHE_DIR:-}" ]; then printf '%s\n' "$RKS_CACHE_DIR"; else printf '%s\n' "${XDG_CACHE_HOME:-$HOME/.cache}/redis-kafka-sync"; fi
}

rks_node_arch() {
  case "$(uname -m)" in
    x86_64 | amd64) echo x64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) echo "node-env: no node-linux package for $(uname -m); install Node.js $NODE_LINE yourself" >&2; return 1 ;;
  esac
}

# The newest complete cached Node of the line, or nothing.
rks_cached_node() {
  local dir
  dir=$(ls -d "$(rks_cache_dir)"/node-v"$NODE_LINE".*-linux-"$(rks_node_arch)" 2>/dev/null | sort -V | tail -1)
  if [ -n "$dir" ] && [ -f "$dir/.complete" ]; then printf '%s\n' "$dir"; fi
}

rks_fetch_node() {
  local arch cache tmp tgz version dir
  arch=$(rks_node_arch) || return 1
  cache=$(rks_cache_dir)
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.node-fetch.XXXXXX")
  echo "node-env: fetching Node.js $NODE_LINE from the npm package node-linux-$arch@$NODE_LINE into $cache (first run only)" >&2
  if ! (cd "$tmp" && npm pack "node-linux-$arch@$NODE_LINE" --silent >/dev/null); then
    rm -rf "$tmp"
    echo "node-env: 'npm pack node-linux-$arch@$NODE_LINE' failed: is the npm registry reachable?" >&2
    return 1
  fi
  tgz=$(ls "$tmp"/node-linux-"$arch"-*.tgz)
  tar -xzf "$tgz" -C "$tmp"
  version=$("$tmp/package/bin/node" -p 'process.versions.node')
  dir="$cache/node-v$version-linux-$arch"
  rm -rf "$dir"
  mkdir -p "$dir/bin" "$dir/include"
  mv "$tmp/package/bin/node" "$dir/bin/node"
  mv "$tmp/package/include/node" "$dir/include/node"
  rm -rf "$tmp"
  touch "$dir/.complete"
  printf '%s\n' "$dir"
}

rks_node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$rks_node_major" -ge "$NODE_LINE" ]; then
  RKS_NODE_HOME=$(node -p 'require("path").resolve(process.execPath, "..", "..")')
else
  # npm finds its global npmrc next to the node that runs it: keep the machine's (a CA bundle,
  # a registry mirror) when another node comes first on PATH.
  if [ -z "${npm_config_globalconfig:-}" ] && rks_globalconfig=$(npm config get globalconfig 2>/dev/null) &&
    [ -f "$rks_globalconfig" ]; then
    export npm_config_globalconfig="$rks_globalconfig"
  fi
  unset rks_globalconfig
  RKS_NODE_HOME=$(rks_cached_node)
  if [ -z "$RKS_NODE_HOME" ]; then RKS_NODE_HOME=$(rks_fetch_node) || return 1; fi
  export PATH="$RKS_NODE_HOME/bin:$PATH"
fi
RKS_NODE_VERSION=$(node -p 'process.versions.node')
export RKS_NODE_HOME RKS_NODE_VERSION
if [ -f "$RKS_NODE_HOME/include/node/node.h" ]; then
  export npm_config_nodedir="$RKS_NODE_HOME"
fi
unset rks_node_major
