/**
 * A RedisConnection to whichever node Redis Sentinel says is the master, following failovers.
 *
 * Behind the same small interface as a direct connection (send/isReady/close/onError), so the
 * buffer, the source reader and the engine do not know Sentinel exists.
 *
 * How the master is found and followed
 *  - `SENTINEL GET-MASTER-ADDR-BY-NAME <master>` is asked of the Sentinels in the configured
 *    order (the first that answers wins); the node it names is connected and must answer
 *    `ROLE` with `master` before any command is sent to it (a Sentinel may answer with the old
 *    master for a moment, and a just-promoted replica may still say `slave`).
 *  - Rediscovery runs when a command fails with a sign that the node is not the master any
 *    more (READONLY, UNBLOCKED, LOADING, MASTERDOWN: see errors.ts), when the socket fails, when
 *    the client reconnects to a node that is no longer the master, and when the deployment's
 *    watcher (one per process and deployment, asking a Sentinel every WATCH_MS) sees the master
 *    address change. While it runs, `isReady()` is false and new commands wait (at most
 *    SWITCH_WAIT_MS, then fail retryable); commands that were in flight on the old node fail
 *    with their error, which callers retry (every Redis error is retryable: errors.ts).
 *  - The old client is destroyed once the new master is connected, so commands queued on a dead
 *    node are failed (and retried by their callers) instead of waiting for it forever.
 *
 * What a promoted replica may lack, and who restores it: scripts (LuaScript resends the body on
 * NOSCRIPT), consumer groups (the source reader re-creates them on NOGROUP), writes the old
 * master had not replicated yet (TARGET_REDIS_MIN_REPLICAS_ACKED: see store.ts).
 */
import type { HostPort, RedisEndpointConfig } from '../config/config.js';
import { ConnectionError, errorMessage } from '../errors.js';
import { backoffMs, sleep } from '../util/retry.js';
import type { ConnectOptions, RedisConnection, Reply } from './client.js';
import { describeRedisError, needsRediscovery } from './errors.js';
import { sendWithDeadline } from './command-deadline.js';
import { ReplyWatch } from './reply-watch.js';
import { topologyEvents } from './topology.js';

/** The node-redis client surface used here (a RedisClient built by client.ts). */
export interface NodeClient {
  readonly isReady: boolean;
  readonly isOpen: boolean;
  connect(): Promise<unknown>;
  sendCommand(args: (string | Buffer)[], options?: { abortSignal?: AbortSignal }): Promise<unknown>;
  close(): Promise<void>;
  destroy(): void;
  on(event: 'error', listener: (err: unknown) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
}

/** Builds a client for a data node (`sentinel: false`) or a Sentinel (`true`, with its own auth). */
export type ClientFactory = (node: HostPort, sentinel: boolean) => NodeClient;

const WATCH_MS = 250;
const SWITCH_WAIT_MS = 10_000;
const SENTINEL_TIMEOUT_MS = 1_000;

/** A master as the Sentinels name it, with the config epoch of that answer. */
interface Master {
  readonly node: HostPort;
  readonly epoch: number;
  /** The answering Sentinel is failing this master over right now. */
  readonly inProgress: boolean;
}

const address = (n: HostPort): string => `${n.host}:${n.port}`;

function isMasterRole(reply: unknown): boolean {
  const first = Array.isArray(reply) ? (reply[0] as unknown) : undefined;
  return first !== undefined && String(first) === 'master';
}

/**
 * One Redis deployment behind Sentinels, shared by every connection of this process to it:
 * asks the Sentinels, watches the master address, and reports failovers once.
 */
export class Deployment {
  private resolving: Promise<Master> | undefined;
  /** Config epoch of `current`: a connection confirming an older one followed a stale Sentinel. */
  private epoch = -1;
  private watcher: NodeJS.Timeout | undefined;
  private readonly sentinelClients: (NodeClient | undefined)[] = [];
  readonly conns = new Set<SentinelConnection>();
  /** The master last confirmed (ROLE master), or undefined before the first. */
  current: string | undefined;
  private switchingSince: number | undefined;

  constructor(
    readonly key: string,
    readonly role: 'source' | 'target',
    readonly masterName: string,
    private readonly nodes: readonly HostPort[],
    private readonly factory: ClientFactory,
  ) {}

  get name(): string {
    return `${this.role} Redis master "${this.masterName}" (Sentinels ${this.nodes.map(address).join(',')})`;
  }

  /**
   * The master's address: every Sentinel is asked (in parallel) and the answer with the highest
   * config epoch wins. Not the first answer: during a failover a Sentinel that has not heard of
   * the promotion yet names the old master, which may be back up and still call itself master
   * (restarted with its old configuration) until the Sentinels demote it. One question in flight.
   */
  resolve(): Promise<Master> {
    this.resolving ??= this.ask().finally(() => (this.resolving = undefined));
    return this.resolving;
  }

  private async ask(): Promise<Master> {
    const answers = await Promise.allSettled(this.nodes.map((_, i) => this.askOne(i)));
    let best: Master | undefined;
    let inProgress = false;
    const problems: string[] = [];
    answers.forEach((a, i) => {
      if (a.status === 'rejected') problems.push(`${address(this.nodes[i] as HostPort)}: ${errorMessage(a.reason)}`);
      else {
        inProgress ||= a.value.inProgress;
        if (best === undefined || a.value.epoch > best.epoch) best = a.value;
      }
    });
    if (best) return { ...best, inProgress };
    throw new ConnectionError(
      `${this.name}: no Sentinel answered (${problems.join('; ')}); check ${this.role.toUpperCase()}_REDIS_SENTINELS, ${this.role.toUpperCase()}_REDIS_SENTINEL_MASTER and the Sentinel credentials`,
      { retryable: true },
    );
  }

  /** `SENTINEL MASTER` of Sentinel i over a kept connection (a new one after a failure). */
  private async askOne(i: number): Promise<Master> {
    let client = this.sentinelClients[i];
    try {
      if (!client) {
        client = this.factory(this.nodes[i] as HostPort, true);
        client.on('error', () => undefined);
        this.sentinelClients[i] = client;
        await withTimeout(client.connect(), SENTINEL_TIMEOUT_MS);
      }
      // Pipelined. The address: GET-MASTER-ADDR-BY-NAME names the promoted replica as soon as
      // the failover leader promoted it (SENTINEL MASTER still names the old master until the
      // switch is complete); the epoch and the "failover in progress" flag: SENTINEL MASTER.
      const [addr, info] = await withTimeout(
        Promise.all([
          client.sendCommand(['SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.masterName]),
          client.sendCommand(['SENTINEL', 'MASTER', this.masterName]),
        ]),
        SENTINEL_TIMEOUT_MS,
      );
      const fields = Array.isArray(info) ? info.map(String) : [];
      const get = (k: string): string | undefined => {
        const at = fields.indexOf(k);
        return at >= 0 && at % 2 === 0 ? fields[at + 1] : undefined;
      };
      if (!Array.isArray(addr) || addr.length < 2) throw new Error(`does not know master "${this.masterName}"`);
      const inProgress = /failover_in_progress|promoted/.test(get('flags') ?? '');
      // A leader in the middle of a failover knows better than its peers at the same epoch.
      const epoch = Number(get('config-epoch') ?? 0) + (inProgress ? 0.5 : 0);
      return { node: { host: String(addr[0]), port: Number(String(addr[1])) }, epoch, inProgress };
    } catch (err) {
      client?.destroy();
      this.sentinelClients[i] = undefined;
      throw err;
    }
  }

  suspect(reason: string): void {
    if (this.switchingSince !== undefined || this.current === undefined) return;
    this.switchingSince = Date.now();
    topologyEvents.emit('failover-start', { role: this.role, deployment: this.key, from: this.current, reason });
  }

  /**
   * A connection reached `master` (ROLE master) as the Sentinels named it at `epoch`. False when
   * that answer is older than one already confirmed: the connection must look again.
   */
  confirmed(master: string, epoch: number): boolean {
    // Integer config epochs only: the +0.5 of an answer given during a failover ranks Sentinels
    // within one epoch (ask), but the same epoch answered once the failover completed is not older
    // (seen in CI: a failover confirmed "in progress" at E+0.5, then every answer at E refused).
    if (Math.floor(epoch) < Math.floor(this.epoch) && master !== this.current) return false;
    if (master === this.current && epoch < this.epoch) return true; // joins what is confirmed
    const from = this.current;
    const moved = from !== undefined && from !== master;
    this.current = master;
    this.epoch = epoch;
    const since = this.switchingSince;
    if (since === undefined && !moved) return true;
    this.switchingSince = undefined;
    if (since === undefined)
      topologyEvents.emit('failover-start', {
        role: this.role,
        deployment: this.key,
        from,
        reason: 'the Sentinels name a new master',
      });
    const ms = since === undefined ? 0 : Date.now() - since;
    topologyEvents.emit('failover-end', { role: this.role, deployment: this.key, from, to: master, ms });
    if (moved) for (const c of this.conns) c.follow(master);
    return true;
  }

  add(c: SentinelConnection): void {
    this.conns.add(c);
    this.watcher ??= setInterval(() => void this.watch(), WATCH_MS).unref();
  }

  remove(c: SentinelConnection): void {
    this.conns.delete(c);
    if (this.conns.size > 0) return;
    clearInterval(this.watcher);
    this.watcher = undefined;
    for (const c of this.sentinelClients) c?.destroy();
    this.sentinelClients.length = 0;
    deployments.delete(this.key);
  }

  /** Asks the Sentinels whether the master moved (a switch no connection noticed yet). */
  private async watch(): Promise<void> {
    if (this.current === undefined || this.resolving) return;
    try {
      const m = await this.resolve();
      const named = address(m.node);
      if (named !== this.current) {
        this.suspect(`the Sentinels name ${named} as master`);
        for (const c of this.conns) c.rediscover(`the Sentinels name ${named} as master`);
      } else if (m.inProgress) {
        // Shown in /readyz and the metrics while the Sentinels fail over; writes continue until
        // the promotion (a replica that is not promoted yet refuses nothing).
        this.suspect('the Sentinels are failing this master over');
      } else if (this.switchingSince !== undefined && ![...this.conns].some((c) => c.switchingNow)) {
        this.confirmed(named, m.epoch); // a failover that kept (or gave back) the same master
      }
    } catch {
      // no Sentinel answered: the next tick asks again; connections notice a dead master themselves
    }
  }
}

const deployments = new Map<string, Deployment>();

function deploymentFor(cfg: RedisEndpointConfig, role: 'source' | 'target', factory: ClientFactory): Deployment {
  const s = cfg.sentinel;
  if (!s) throw new Error('deploymentFor: not a Sentinel endpoint');
  const key = `${role}|${s.masterName}|${s.nodes.map(address).join(',')}`;
  let d = deployments.get(key);
  if (!d) deployments.set(key, (d = new Deployment(key, role, s.masterName, s.nodes, factory)));
  return d;
}

export class SentinelConnection implements RedisConnection {
  readonly db: number;
  private client: NodeClient | undefined;
  private at: string | undefined;
  private switching: Promise<void> | undefined;
  private closed = false;
  /** The next switch connects anew even to the same master (its client went silent). */
  private replaceClient = false;
  private readonly listeners: ((err: Error) => void)[] = [];
  private readonly watch: ReplyWatch;

  constructor(
    private readonly deployment: Deployment,
    private readonly factory: ClientFactory,
    opts: ConnectOptions,
    replyTimeoutMs = 0,
  ) {
    this.db = opts.db;
    this.watch = new ReplyWatch(
      replyTimeoutMs,
      (silentMs) => {
        this.emitError(
          new ConnectionError(
            `${this.endpoint}: no reply for ${silentMs} ms while commands waited (a dead link or a hung server?); connecting again (${opts.role.toUpperCase()}_REDIS_REPLY_TIMEOUT_MS)`,
            { retryable: true },
          ),
        );
        this.replaceClient = true;
        this.rediscover(`no reply for ${silentMs} ms`, false); // this link, not (yet) a failover
      },
      deployment.key,
    );
  }

  get endpoint(): string {
    return `${this.deployment.name}${this.at ? ` at ${this.at}` : ''}`;
  }

  /** First connection: ask, connect, check the role (the caller retries on failure). */
  async open(timeoutMs: number | undefined): Promise<void> {
    const { node, epoch } = await this.deployment.resolve();
    this.client = await this.connectMaster(node, timeoutMs ?? 10_000);
    this.at = address(node);
    this.deployment.add(this);
    if (!this.deployment.confirmed(this.at, epoch)) this.rediscover('the Sentinels named an outdated master');
  }

  async send(args: readonly (string | Buffer)[]): Promise<Reply> {
    if (this.switching) await this.waitSwitch();
    const client = this.client;
    if (this.closed || !client) throw new ConnectionError(`${this.endpoint}: connection closed`, { retryable: true });
    try {
      // Not watched: node-redis's pre-write deadline, shared (command-deadline.ts).
      if (!this.watch.active)
        return (await sendWithDeadline(this.endpoint, (o) =>
          client.sendCommand(args as (string | Buffer)[], o),
        )) as Reply;
      return (await this.watch.track(args, client.sendCommand(args as (string | Buffer)[]))) as Reply;
    } catch (err) {
      // Only for the node still in use: commands failed by the switch itself need no other one.
      if (!this.closed && client === this.client && needsRediscovery(err)) this.rediscover(describeRedisError(err));
      throw err;
    }
  }

  isReady(): boolean {
    return !this.closed && this.switching === undefined && (this.client?.isReady ?? false);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watch.close();
    this.deployment.remove(this);
    const c = this.client;
    this.client = undefined;
    if (c?.isOpen) await c.close().catch(() => c.destroy());
  }

  onError(listener: (err: Error) => void): void {
    this.listeners.push(listener);
  }

  get switchingNow(): boolean {
    return this.switching !== undefined;
  }

  /** Another connection of the deployment confirmed `master`: move there if not there yet. */
  follow(master: string): void {
    if (!this.closed && this.at !== master) this.rediscover(`the master is now ${master}`);
  }

  /** Finds and connects the master again (one run at a time); new commands wait meanwhile. */
  rediscover(reason: string, failover = true): void {
    if (this.closed || this.switching) return;
    if (failover) this.deployment.suspect(reason);
    this.switching = this.switchOver().finally(() => (this.switching = undefined));
  }

  private async switchOver(): Promise<void> {
    for (let attempt = 0; !this.closed; attempt += 1) {
      try {
        const { node, epoch } = await this.deployment.resolve();
        const where = address(node);
        const old = this.client;
        // The same master, still answering (at most 5 s: a silent client is replaced instead).
        const reuse =
          !this.replaceClient &&
          where === this.at &&
          old?.isReady === true &&
          isMasterRole(await withTimeout(old.sendCommand(['ROLE']), 5_000).catch(() => undefined));
        if (reuse) {
          if (this.deployment.confirmed(where, epoch)) return;
          throw new Error('the Sentinels named an outdated master');
        }
        const fresh = await this.connectMaster(node, 5_000);
        if (this.closed) {
          fresh.destroy();
          return;
        }
        this.client = fresh;
        this.at = where;
        this.replaceClient = false;
        old?.destroy(); // fails what was queued on the old node: its callers retry, here
        if (this.deployment.confirmed(where, epoch)) return;
        throw new Error('the Sentinels named an outdated master');
      } catch (err) {
        if (attempt % 10 === 9)
          this.emitError(new ConnectionError(`${this.endpoint}: still looking for the master: ${errorMessage(err)}`));
        await sleep(backoffMs(attempt, 100, 2_000));
      }
    }
  }

  private async connectMaster(master: HostPort, timeoutMs: number): Promise<NodeClient> {
    const client = this.factory(master, false);
    client.on('error', (err) => {
      if (this.client !== client || this.switching) return; // the failover is logged once, not each retry
      this.emitError(new ConnectionError(`${this.endpoint}: ${errorMessage(err)}`, { retryable: true, cause: err }));
      this.rediscover(describeRedisError(err));
    });
    try {
      await withTimeout(client.connect(), timeoutMs);
      if (!isMasterRole(await withTimeout(client.sendCommand(['ROLE']), timeoutMs)))
        throw new ConnectionError(`${address(master)} is not a master (yet)`, { retryable: true });
    } catch (err) {
      client.destroy();
      throw err;
    }
    // After an automatic reconnect the node may have been demoted meanwhile: check again.
    client.on('ready', () => {
      if (this.client !== client) return;
      client
        .sendCommand(['ROLE'])
        .then((r) => {
          if (!isMasterRole(r)) this.rediscover(`${address(master)} is a replica now`);
        })
        .catch(() => undefined);
    });
    return client;
  }

  private async waitSwitch(): Promise<void> {
    const switching = this.switching;
    if (!switching) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), SWITCH_WAIT_MS)));
    const outcome = await Promise.race([switching.then(() => 'done' as const), timeout]);
    clearTimeout(timer);
    if (outcome === 'timeout')
      throw new ConnectionError(
        `${this.endpoint}: no master reachable for ${SWITCH_WAIT_MS / 1000} s (failover in progress?)`,
        { retryable: true },
      );
  }

  private emitError(err: Error): void {
    for (const l of this.listeners) l(err);
  }
}

/** Connects to the master of `cfg.sentinel` (see the module comment). */
export async function connectSentinel(
  cfg: RedisEndpointConfig,
  opts: ConnectOptions,
  factory: ClientFactory,
): Promise<RedisConnection> {
  const conn = new SentinelConnection(deploymentFor(cfg, opts.role, factory), factory, opts, cfg.replyTimeoutMs);
  await conn.open(opts.connectTimeoutMs);
  return conn;
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
