/**
 * `npm run chaos:failover`: the Sentinel failover scenarios (failover.ts) with a larger load
 * than the test suite's; prints the table for docs/reliability.md.
 *
 *   npm run chaos:failover                 20,000 messages per scenario at 2,000/s
 *   npm run chaos:failover -- --only t,s   some scenarios
 */
import { failoverTable, runFailoverScenarios } from './failover.js';

const args = process.argv.slice(2);
const onlyArg = args.indexOf('--only');
const only = onlyArg >= 0 ? (args[onlyArg + 1] ?? '').split(',') : undefined;
const msgArg = args.indexOf('--messages');
const messages = msgArg >= 0 ? Number(args[msgArg + 1]) : 20_000;

const results = await runFailoverScenarios(
  { messages, ratePerSec: 2000, drainTimeoutMs: 180_000, logDir: 'test-artifacts/failover' },
  only,
);
process.stdout.write(failoverTable(results));
const lost = results.reduce((n, r) => n + r.lost, 0);
process.stdout.write(
  `\nfailover: ${results.length} scenarios, lost ${lost}, duplicates ${results.reduce((n, r) => n + r.duplicates, 0)}\n`,
);
process.exit(lost > 0 ? 1 : 0);
