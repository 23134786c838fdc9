import type { PoolSpec } from '../inventory/types.js';
import { askThrough, findSilentTargets, type SilentTarget } from '../probe/check-listening.js';
import { poolProbeSettings, toProbeTarget } from '../probe/index.js';
import { probeViaOf, type PoolProber } from '../probe/ssh-probe-pool.js';

/**
 * Starts, beside the preflight's SSH commands, the check that every node's TLS port answers,
 * for each pool probed from this machine. Pools probed over SSH are asked once their prober is
 * open (checkThroughProber). Each promise never rejects; `signal` ends them all at once.
 */
export function startDirectChecks(
  pools: readonly PoolSpec[],
  concurrency: number,
  signal: AbortSignal,
): Map<PoolSpec, Promise<SilentTarget[]>> {
  const checks = new Map<PoolSpec, Promise<SilentTarget[]>>();
  for (const pool of pools) {
    if (probeViaOf(pool) !== 'direct') continue;
    const targets = pool.nodes.map(toProbeTarget);
    checks.set(pool, findSilentTargets(targets, { concurrency, server: pool.server, signal }));
  }
  return checks;
}

/**
 * The same check for a pool probed from one of its nodes: one handshake per node from there, at
 * the pool's first TLS version. Nothing to ask without a probing node (the caller stops anyway).
 */
export async function checkThroughProber(
  pool: PoolSpec,
  opened: PoolProber,
  concurrency: number,
): Promise<SilentTarget[]> {
  const from = opened.probedFrom;
  const version = poolProbeSettings(pool).versions[0];
  if (opened.via !== 'ssh' || from === undefined || version === undefined) return [];
  return findSilentTargets(pool.nodes.map(toProbeTarget), {
    concurrency,
    server: pool.server,
    ask: askThrough(opened.prober, version, from),
  });
}
