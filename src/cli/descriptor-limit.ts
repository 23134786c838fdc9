import { readFileSync } from 'node:fs';
import { UsageError } from '../errors.js';
import type { PoolSpec } from '../inventory/types.js';

/** Descriptors a Node process holds besides connections: stdio, the event loop, files, threads. */
const baseDescriptors = 64;

/**
 * The soft limit on open files of this process, from /proc/self/limits (Node raises it to the
 * hard limit at startup); undefined where that file does not exist.
 */
export function openFileLimit(): number | undefined {
  return parseOpenFileLimit(readLimits());
}

/** The soft "Max open files" of a /proc/<pid>/limits text. */
export function parseOpenFileLimit(limits: string | undefined): number | undefined {
  const line = limits?.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
  if (soft === undefined) return undefined;
  if (soft === 'unlimited') return Number.POSITIVE_INFINITY;
  const n = Number(soft);
  return Number.isInteger(n) ? n : undefined;
}

function readLimits(): string | undefined {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Refuses a run that would run out of file descriptors part-way: a rotation holds one SSH
 * connection per node from the preflight to the end, pools run at once, and each pool's probes
 * open up to `concurrency` more. Running out after the stage would force a rollback; finding
 * out now touches nothing. Throws UsageError (exit 2).
 */
export function checkDescriptorLimit(
  pools: readonly PoolSpec[],
  concurrency: number,
  limit: number | undefined = openFileLimit(),
): void {
  if (limit === undefined) return;
  const nodes = pools.reduce((sum, p) => sum + p.nodes.length, 0);
  const probes = pools.length * concurrency;
  const needed = nodes + probes + baseDescriptors;
  if (needed <= limit) return;
  throw new UsageError(
    `this run needs up to ${needed} open files (${nodes} nodes, each with its SSH connection for the whole run, and up to ${probes} probe connections at once), but this process may open ${limit}`,
    `Raise the limit (ulimit -n ${needed} in the shell, LimitNOFILE=${needed} in a systemd unit), or act on fewer nodes at once (--pool, --concurrency).`,
  );
}
