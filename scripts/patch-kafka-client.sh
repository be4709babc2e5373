#!/usr/bin/env bash
# Applies patches/kafka-javascript-produce-batch.patch to the installed Kafka client
# (@confluentinc/kafka-javascript, the version the patch was written for) and recompiles the
# files it changes in the native addon (an incremental make in the addon's build folder, about a
# minute; a full rebuild from source when there is no build folder). The patch adds
# Producer.produceBatch and the dr_batch_cb option: a batch of records in one native call, their
# delivery reports in one JavaScript call per flush (src/sink/producer.ts, KAFKA_BATCH_PRODUCE).
# Idempotent; called by scripts/setup.sh after npm ci. A client without the patch still works:
# the service then produces record by record.
set -euo pipefail
cd "$(dirname "$0")/.."
pkg=node_modules/@confluentinc/kafka-javascript
patch_file=patches/kafka-javascript-produce-batch.patch
for_version=1.10.1

version=$(node -p "require('./$pkg/package.json').version")
if [ "$version" != "$for_version" ]; then
  echo "patch-kafka-client: @confluentinc/kafka-javascript is $version, $patch_file is for $for_version: not applied; the service produces record by record (port the patch to enable KAFKA_BATCH_PRODUCE)" >&2
  exit 0
fi
# The patch applied last is kept next to the sources: a changed patch replaces it (reversed first).
applied=$pkg/.rks-produce-batch.patch
compile=false
if [ -f "$applied" ] && ! cmp -s "$applied" "$patch_file"; then
  echo "setup: $patch_file changed: reversing the one applied before"
  patch -d "$pkg" -p1 -R --quiet <"$applied"
  rm -f "$applied"
fi
if ! grep -q NodeProduceBatch "$pkg/src/producer.cc"; then
  echo "setup: patching the Kafka client ($patch_file)"
  patch -d "$pkg" -p1 --forward --quiet <"$patch_file"
  cp "$patch_file" "$applied"
  compile=true
elif [ ! -f "$applied" ]; then
  echo "patch-kafka-client: $pkg is patched, but not by this script (no $applied): reinstall it (rm -rf $pkg && npm ci) and run this again" >&2
  exit 1
fi
native_has_it() {
  node -e "process.exit(typeof require('@confluentinc/kafka-javascript/librdkafka.js').Producer.prototype.produceBatch === 'function' ? 0 : 1)" 2>/dev/null
}
if $compile || ! native_has_it; then
  if [ -f "$pkg/build/Makefile" ]; then
    echo "setup: recompiling the patched files of the Kafka client (make; output in $pkg/build/rks-patch.log)"
    make -C "$pkg/build" BUILDTYPE=Release -j"$(nproc)" >"$pkg/build/rks-patch.log" 2>&1 || {
      tail -40 "$pkg/build/rks-patch.log" >&2
      echo "patch-kafka-client: make failed (above, all of it in $pkg/build/rks-patch.log)" >&2
      exit 1
    }
  else
    echo "setup: compiling the patched Kafka client from source (about 2 minutes)"
    CKJS_LINKING=dynamic npm_config_build_from_source=true npm rebuild @confluentinc/kafka-javascript \
      --no-audit --no-fund --loglevel=error
  fi
  native_has_it || {
    echo "patch-kafka-client: the recompiled Kafka client has no produceBatch (make's output: $pkg/build/rks-patch.log)" >&2
    exit 1
  }
fi
