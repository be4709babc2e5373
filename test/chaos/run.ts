/**
 * `npm run chaos`: every fault scenario against a sandbox stack of its own (RKS_STACK_DIR
 * .stack-chaos, ports shifted by RKS_STACK_PORT_OFFSET=100), so stopping servers never disturbs
 * the main stack. Prints a table and last the line `chaos: <n> scenarios, lost <L>, duplicates <D>`.
 *
 *   npm run chaos                 full run (>= 200,000 messages in all, 30 s outages, 1M buffered)
 *   npm run chaos -- --ci         smaller load, shorter outages (what the test suite runs)
 *   npm run chaos -- --only a,e   some scenarios
 *   npm run chaos -- --exactly-once   the crash, outage, takeover and restart scenarios with
 *                                     KAFKA_EXACTLY_ONCE=true (expect duplicates 0)
 */
import type { ScenarioResult } from './scenarios.js';

// Its own sandbox: ports 100 above the main stack's (which may itself be shifted).
if (!process.env.RKS_STACK_DIR) {
  process.env.RKS_STACK_DIR = '.stack-chaos';
  process.env.RKS_STACK_PORT_OFFSET = String(Number(process.env.RKS_STACK_PORT_OFFSET ?? 0) + 100);
}

const args = process.argv.slice(2);
const ci = args.includes('--ci');
const onlyArg = args.indexOf('--only');
const only = onlyArg >= 0 ? (args[onlyArg + 1] ?? '').split(',') : undefined;
const memArg = args.indexOf('--memory-messages');
const memoryMessages = memArg >= 0 ? Number(args[memArg + 1]) : undefined;

export interface ChaosSummary {
  results: ScenarioResult[];
  lost: number;
  duplicates: number;
}

export async function runChaos(mode: {
  ci: boolean;
  only?: string[];
  memoryMessages?: number;
  exactlyOnce?: boolean;
}): Promise<ChaosSummary> {
  const { stackUp } = await import('../../src/stack/index.js');
  const { SCENARIOS, MEMORY_SCENARIO, BURST_TAKEOVER_SCENARIO, EXACTLY_ONCE_SCENARIOS, runScenario, logDirFor } =
    await import('./scenarios.js');
  const base = mode.ci
    ? {
        messagesPerScenario: 3000,
        ratePerSec: 600,
        outageMs: 6000,
        drainTimeoutMs: 90_000,
        logDir: logDirFor('test-artifacts'),
        memoryMessages: 20_000,
      }
    : {
        messagesPerScenario: 25_000,
        ratePerSec: 2000,
        outageMs: 30_000,
        drainTimeoutMs: 300_000,
        logDir: logDirFor('test-artifacts'),
        memoryMessages: 1_000_000,
      };
  const opts = {
    ...(mode.memoryMessages ? { ...base, memoryMessages: mode.memoryMessages } : base),
    exactlyOnce: mode.exactlyOnce === true,
  };
  await stackUp({ log: (l) => process.stderr.write(`${l}\n`) });
  const only = mode.only ?? (mode.exactlyOnce ? EXACTLY_ONCE_SCENARIOS : undefined);
  const all = [...SCENARIOS, MEMORY_SCENARIO, BURST_TAKEOVER_SCENARIO].filter((s) =>
    only ? only.includes(s.id) : s !== BURST_TAKEOVER_SCENARIO,
  );
  const results = [];
  for (const s of all) {
    process.stderr.write(`chaos: scenario ${s.id}: ${s.title}\n`);
    const r = await runScenario(s, opts);
    process.stderr.write(
      `chaos: ${s.id}: written ${r.written} lost ${r.lost} duplicates ${r.duplicates} order ${r.orderViolations} drain ${r.drainSeconds.toFixed(1)} s ${r.notes.join('; ')}\n`,
    );
    results.push(r);
  }
  return {
    results,
    lost: results.reduce((n, r) => n + r.lost, 0),
    duplicates: results.reduce((n, r) => n + r.duplicates, 0),
  };
}

export function table(summary: ChaosSummary): string {
  const lines = [
    '| scenario | written | delivered | lost | duplicates | order violations | drain after recovery (s) | peak RSS (MB) | notes |',
    '|---|---|---|---|---|---|---|---|---|',
    ...summary.results.map(
      (r) =>
        `| ${r.id}. ${r.title} | ${r.written} | ${r.delivered} | ${r.lost} | ${r.duplicates} | ${r.orderViolations} | ${r.drainSeconds.toFixed(1)} | ${r.peakRssMb.toFixed(0)} | ${r.notes.join('; ')} |`,
    ),
  ];
  return `${lines.join('\n')}\n\nchaos: ${summary.results.length} scenarios, lost ${summary.lost}, duplicates ${summary.duplicates}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const exactlyOnce = args.includes('--exactly-once');
  const summary = await runChaos({
    ci,
    exactlyOnce,
    ...(only ? { only } : {}),
    ...(memoryMessages ? { memoryMessages } : {}),
  });
  process.stdout.write(table(summary));
  process.exit(summary.lost > 0 || (exactlyOnce && summary.duplicates > 0) ? 1 : 0);
}
