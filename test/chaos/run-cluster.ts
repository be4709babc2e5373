/**
 * `npm run chaos:cluster`: the Redis Cluster scenarios (cluster.ts) with a larger load than the
 * test suite's; prints the table for docs/reliability.md.
 *
 *   npm run chaos:cluster                 20,000 messages per scenario at 2,000/s
 *   npm run chaos:cluster -- --only r     some scenarios
 */
import { clusterTable, runClusterScenarios } from './cluster.js';

const args = process.argv.slice(2);
const onlyArg = args.indexOf('--only');
const only = onlyArg >= 0 ? (args[onlyArg + 1] ?? '').split(',') : undefined;
const msgArg = args.indexOf('--messages');
const messages = msgArg >= 0 ? Number(args[msgArg + 1]) : 20_000;

const results = await runClusterScenarios(
  { messages, ratePerSec: 2000, drainTimeoutMs: 180_000, logDir: 'test-artifacts/cluster' },
  only,
);
process.stdout.write(clusterTable(results));
const lost = results.reduce((n, r) => n + r.lost, 0);
process.stdout.write(
  `\ncluster: ${results.length} scenarios, lost ${lost}, duplicates ${results.reduce((n, r) => n + r.duplicates, 0)}\n`,
);
process.exit(lost > 0 ? 1 : 0);
