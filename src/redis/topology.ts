/**
 * Failovers as the whole process sees them: the Sentinel (and Cluster) connections report here
 * when they lose their master and when they found the new one, once per Redis deployment (not
 * once per connection), so the log, /readyz and the metrics tell one story.
 *
 * A failover "starts" when a connection of a deployment sees a sign that its node may not be
 * the master any more (READONLY, a role change, the socket gone) and "ends" when a node that
 * says ROLE master was found and connected. `from`/`to` are the master addresses: equal when the
 * same master came back (a restart), different after a promotion.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../observability/logger.js';

export interface FailoverStart {
  readonly role: 'source' | 'target';
  readonly deployment: string;
  readonly from: string | undefined;
  readonly reason: string;
}

export interface FailoverEnd {
  readonly role: 'source' | 'target';
  readonly deployment: string;
  readonly from: string | undefined;
  readonly to: string;
  readonly ms: number;
}

export const topologyEvents = new EventEmitter<{
  'failover-start': [FailoverStart];
  'failover-end': [FailoverEnd];
}>().setMaxListeners(0);

interface RoleState {
  /** Master switches that completed with a new address (promotions), since start. */
  failovers: number;
  /** Deployments of this role with a failover in progress right now. */
  readonly inProgress: Set<string>;
}

const state: Record<'source' | 'target', RoleState> = {
  source: { failovers: 0, inProgress: new Set() },
  target: { failovers: 0, inProgress: new Set() },
};

topologyEvents.on('failover-start', (e) => state[e.role].inProgress.add(e.deployment));
topologyEvents.on('failover-end', (e) => {
  state[e.role].inProgress.delete(e.deployment);
  if (e.from !== undefined && e.from !== e.to) state[e.role].failovers += 1;
});

/** For metrics and status: completed master switches, and whether one is in progress, by role. */
export function failoverState(role: 'source' | 'target'): { readonly failovers: number; readonly inProgress: boolean } {
  return { failovers: state[role].failovers, inProgress: state[role].inProgress.size > 0 };
}

/** Logs each failover (start: warn, end: info) until the returned function is called. */
export function logFailovers(log: Logger): () => void {
  const start = (e: FailoverStart): void =>
    log.warn(
      { role: e.role, master: e.from, reason: e.reason },
      `${e.role} Redis: master lost, asking the Sentinels for the new one (failover)`,
    );
  const end = (e: FailoverEnd): void =>
    log.info(
      { role: e.role, from: e.from, to: e.to, ms: e.ms },
      e.from === e.to ? `${e.role} Redis: master back` : `${e.role} Redis: following the new master (failover done)`,
    );
  topologyEvents.on('failover-start', start);
  topologyEvents.on('failover-end', end);
  return () => {
    topologyEvents.off('failover-start', start);
    topologyEvents.off('failover-end', end);
  };
}
