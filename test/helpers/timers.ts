/**
 * Counts node-redis's per-command timers: the `AbortSignal.timeout` calls made while a body runs
 * (node-redis 6 makes one per command unless the command's `timeout` is 0).
 */
export async function countTimers(body: () => Promise<unknown>): Promise<number> {
  const original = AbortSignal.timeout;
  let calls = 0;
  AbortSignal.timeout = (ms: number) => {
    calls += 1;
    return original.call(AbortSignal, ms);
  };
  try {
    await body();
  } finally {
    AbortSignal.timeout = original;
  }
  return calls;
}
