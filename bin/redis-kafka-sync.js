#!/usr/bin/env node
// Entry point of the `redis-kafka-sync` command; the CLI lives in src/cli (compiled to dist/cli
// by `npm run build`, which `npm run demo` and `npm test` run first). Before the package is
// installed and built, it says what to run instead of printing a stack trace.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const entry = new URL('../dist/cli/bin.js', import.meta.url);
const say = (lines) => {
  process.stderr.write(`redis-kafka-sync: ${lines.join('\n  ')}\n`);
  process.exit(1);
};
const install = 'npm ci          # installs the dependencies and compiles the Kafka client (about 2 minutes)';
const build = 'npm run build   # compiles the TypeScript into dist/';
const setup = '(or `bash scripts/setup.sh`, which does both and installs what else is missing)';

if (!existsSync(fileURLToPath(entry))) {
  const steps = existsSync(`${root}node_modules`) ? [build] : [install, build];
  say([`not built yet (${fileURLToPath(entry)} is missing). In ${root} run:`, ...steps, setup]);
}
try {
  await import(entry.href);
} catch (err) {
  const code = err?.code;
  const text = String(err?.message ?? err);
  if (code === 'ERR_MODULE_NOT_FOUND' && !text.includes('/dist/')) {
    say([`a dependency is missing (${text.split('\n')[0]}). In ${root} run:`, install, setup]);
  }
  if (code === 'ERR_DLOPEN_FAILED' && /NODE_MODULE_VERSION|different Node\.js version/.test(text)) {
    const old = Number(process.versions.node.split('.')[0]) < 24;
    say(
      old
        ? [
            `this is Node.js ${process.version}; redis-kafka-sync needs Node.js 24 (its Kafka client is compiled for it). In ${root}:`,
            'source scripts/node-env.sh   # puts the Node.js 24 that setup fetched first on PATH (fetches it if needed)',
            'or run it through npm: npm run stack -- status, npm run demo, npm test',
          ]
        : [
            `the Kafka client was compiled for another Node.js version than this one (${process.version}). In ${root} run:`,
            'bash scripts/setup.sh   # rebuilds it for the Node.js it uses',
          ],
    );
  }
  throw err;
}
