#!/usr/bin/env node
// Entry point of the `redis-kafka-sync` command; the CLI lives in src/cli (built to dist/cli).
import { main } from '../dist/cli/main.js';

main(process.argv).catch((err) => {
  process.stderr.write(`redis-kafka-sync: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
