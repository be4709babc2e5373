/**
 * What the service keeps alive across scavenges, by allocation site: connects to a daemon started
 * with `--node-flag --inspect=127.0.0.1:PORT` and runs V8's sampling heap profiler over a window
 * with `includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false`, so the
 * samples are the objects that survived a scavenge (promoted, or still young at the end). What a
 * message in flight holds there is what every scavenge copies and promotes and every full
 * collection marks (docs/performance.md, 2026-12-06).
 *
 *   npm run bench -- --only drain --sizes 1000 --streams 1 --messages 600000 \
 *     --node-flag --inspect=127.0.0.1:9339 &
 *   node --import tsx bench/heap-survivors.ts 9339 6 3000    # port, seconds sampled, ms to wait first
 *
 * Prints the sampled bytes and the 25 heaviest allocation stacks (5 frames) by share.
 */
interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  callFrame: CallFrame;
  selfSize: number;
  children: ProfileNode[];
}

const [port = '9339', secondsArg = '6', waitArg = '3000'] = process.argv.slice(2);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function debuggerUrl(): Promise<string> {
  for (let i = 0; i < 240; i += 1) {
    try {
      const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as {
        webSocketDebuggerUrl: string;
      }[];
      if (list[0]) return list[0].webSocketDebuggerUrl;
    } catch {
      // not listening yet
    }
    await sleep(250);
  }
  throw new Error(`no inspector on 127.0.0.1:${port}: start the daemon with --node-flag --inspect=127.0.0.1:${port}`);
}

const ws = new WebSocket(await debuggerUrl());
await new Promise((resolve) => ws.addEventListener('open', resolve, { once: true }));
let nextId = 0;
const waiting = new Map<number, (result: unknown) => void>();
ws.addEventListener('message', (e: MessageEvent) => {
  const m = JSON.parse(String(e.data)) as { id?: number; result?: unknown };
  if (m.id !== undefined) waiting.get(m.id)?.(m.result);
});
function send(method: string, params: object = {}): Promise<unknown> {
  return new Promise((resolve) => {
    nextId += 1;
    waiting.set(nextId, resolve);
    ws.send(JSON.stringify({ id: nextId, method, params }));
  });
}

await sleep(Number(waitArg));
await send('HeapProfiler.enable');
await send('HeapProfiler.startSampling', {
  samplingInterval: 2048,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: false,
});
await sleep(Number(secondsArg) * 1000);
const { profile } = (await send('HeapProfiler.stopSampling')) as { profile: { head: ProfileNode } };
ws.close();

const byStack = new Map<string, number>();
let total = 0;
const walk = (n: ProfileNode, stack: readonly string[]): void => {
  const f = n.callFrame;
  const here = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
  const frames = [here, ...stack].slice(0, 5);
  if (n.selfSize > 0) {
    const key = frames.join(' < ');
    byStack.set(key, (byStack.get(key) ?? 0) + n.selfSize);
    total += n.selfSize;
  }
  for (const c of n.children) walk(c, frames);
};
walk(profile.head, []);
console.log(`sampled bytes surviving a scavenge: ${total} over ${secondsArg} s`);
for (const [stack, bytes] of [...byStack].sort((a, b) => b[1] - a[1]).slice(0, 25))
  console.log(`${((100 * bytes) / total).toFixed(1)}% ${stack}`);
