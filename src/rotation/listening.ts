import type { NodeSpec, PoolSpec } from '../inventory/types.js';
import {
  askThrough,
  findSilentTargets,
  type Ask,
  type SilentTarget,
} from '../probe/check-listening.js';
import { poolProbeSettings, toProbeTarget } from '../probe/index.js';
import { createDeadline } from '../probe/run-bounded.js';
import { probeViaOf, type PoolProber } from '../probe/ssh-probe-pool.js';

/** The connection checks of the pools probed from this machine, started beside the preflight. */
export interface DirectChecks {
  /** The nodes of `pool` whose TLS port did not answer (none for a pool probed over SSH). */
  silent(pool: PoolSpec): Promise<SilentTarget[]>;
  /**
   * Lets the checks run one probe timeout (and the pause before a second try) longer, at most:
   * called once the preflight's SSH commands are done, so that ports that let connections time
   * out (a whole pool firewalled from this machine) hold the run up by that much and no more.
   * A node not asked by then counts as answering; the checks after each reload still find it.
   */
  finishSoon(): void;
  /** Ends every check now and waits for them. */
  stop(): Promise<void>;
}

/**
 * Starts, beside the preflight's SSH commands, the check that every node's TLS port answers,
 * for each pool probed from this machine. Pools probed over SSH are asked once their prober is
 * open (checkThroughProber).
 */
export function startDirectChecks(
  pools: readonly PoolSpec[],
  concurrency: number,
  /** The run's: an interrupted run does not wait for the checks either. */
  signal: AbortSignal,
): DirectChecks {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort();
  if (signal.aborted) controller.abort();
  else signal.addEventListener('abort', onAbort, { once: true });
  const checks = new Map<PoolSpec, Promise<SilentTarget[]>>();
  let graceMs = 0;
  for (const pool of pools) {
    if (probeViaOf(pool) !== 'direct') continue;
    const targets = pool.nodes.map(toProbeTarget);
    for (const t of targets) graceMs = Math.max(graceMs, t.timeoutMs + retryAfterMs);
    const opts = { concurrency, server: pool.server, retryAfterMs, signal: controller.signal };
    checks.set(pool, findSilentTargets(targets, opts));
  }
  let timer: NodeJS.Timeout | undefined;
  return {
    silent: (pool) => checks.get(pool) ?? Promise.resolve([]),
    finishSoon: () => {
      timer ??= setTimeout(() => controller.abort(), graceMs);
    },
    stop: async () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      controller.abort();
      await Promise.all(checks.values());
    },
  };
}

/** The pause before a refused connection is tried again: a server in the middle of a restart. */
const retryAfterMs = 1000;

/**
 * The same check for a pool probed from one of its nodes: one handshake per node from there, at
 * the pool's first TLS version, for at most two probe timeouts and the pause between two tries
 * (a node not asked by then counts as answering). Nothing to ask without a probing node (the
 * caller stops anyway).
 */
export async function checkThroughProber(
  pool: PoolSpec,
  opened: PoolProber,
  concurrency: number,
): Promise<SilentTarget[]> {
  const from = opened.probedFrom;
  const version = poolProbeSettings(pool).versions[0];
  if (opened.via !== 'ssh' || from === undefined || version === undefined) return [];
  const ask = askThrough(opened.prober, version, from);
  return findSilentWithin(pool, pool.nodes, concurrency, 2, ask);
}

/** findSilentTargets for `nodes`, ended after `timeouts` probe timeouts and one retry pause. */
async function findSilentWithin(
  pool: PoolSpec,
  nodes: readonly NodeSpec[],
  concurrency: number,
  timeouts: number,
  ask?: Ask,
): Promise<SilentTarget[]> {
  const targets = nodes.map(toProbeTarget);
  const timeoutMs = targets.reduce((most, t) => Math.max(most, t.timeoutMs), 0);
  const deadline = createDeadline(timeouts * timeoutMs + retryAfterMs);
  try {
    const opts = { concurrency, server: pool.server, retryAfterMs, signal: deadline.signal };
    return await findSilentTargets(targets, ask ? { ...opts, ask } : opts);
  } finally {
    deadline.dispose();
  }
}

/**
 * Which of `nodes` (of a pool probed from this machine) accept no connection on their TLS port
 * now: said to the operator when such a node is left for a person, since a server that stopped
 * mid-run is why its reloads failed. Bounded by one probe timeout and the pause between tries.
 */
export async function findStoppedServers(
  pool: PoolSpec,
  nodes: readonly NodeSpec[],
  concurrency: number,
): Promise<SilentTarget[]> {
  if (nodes.length === 0 || probeViaOf(pool) !== 'direct') return [];
  return findSilentWithin(pool, nodes, concurrency, 1);
}
