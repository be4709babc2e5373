#!/usr/bin/env node
// Entry point of the `redis-kafka-sync` command; the CLI lives in src/cli (compiled to dist/cli
// by `npm run build`, which `npm run demo` and `npm test` run first).
import '../dist/cli/bin.js';
