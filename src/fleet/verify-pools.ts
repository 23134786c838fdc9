import type { PoolSpec } from '../inventory/types.js';
import { probePool, toProbeTarget, type PoolProbeReport } from '../probe/index.js';
import { inspectPools, type PoolReport, type SessionMap } from './inspect-pools.js';

export interface VerifyOptions {
  concurrency: number;
  /** Read each pool's ring over SSH first, so that a ticket under a key outside it is named. */
  readRings: boolean;
  acceptNewHostKey?: boolean;
  seed?: number;
}

export interface PoolVerification {
  pool: string;
  server: PoolSpec['server'];
  ok: boolean;
  /** The ring read over SSH, when asked for. */
  ring: PoolReport | undefined;
  probe: PoolProbeReport;
}

/**
 * Proves with real handshakes that every node of each pool resumes its peers' tickets and that
 * all encrypt under one key. The ring, when read, only sharpens the diagnosis: the verdict rests
 * on what the servers do, not on their files.
 */
export async function verifyPools(
  pools: PoolSpec[],
  opts: VerifyOptions,
  sessions: SessionMap = new Map(),
): Promise<PoolVerification[]> {
  const rings = opts.readRings
    ? await inspectPools(
        pools,
        {
          concurrency: opts.concurrency,
          runCheck: false,
          acceptNewHostKey: opts.acceptNewHostKey ?? false,
        },
        sessions,
      )
    : undefined;
  return Promise.all(
    pools.map(async (pool, i) => {
      const ring = rings?.[i];
      const ringKeyIds = ring ? ringKeyIdsOf(ring) : undefined;
      const first = pool.nodes[0];
      const probe = await probePool(pool.name, pool.nodes.map(toProbeTarget), {
        versions: first?.probe.versions ?? ['TLSv1.2', 'TLSv1.3'],
        matrixMax: first?.probe.matrixMax ?? 8,
        concurrency: opts.concurrency,
        deadlineMs: deadlineFor(pool),
        ...(ringKeyIds && ringKeyIds.length > 0 ? { ringKeyIds } : {}),
        ...(opts.seed === undefined ? {} : { seed: opts.seed }),
      });
      const oneKey = probe.encryptingKeyIds.length === 1;
      return { pool: pool.name, server: pool.server, ok: probe.ok && oneKey, ring, probe };
    }),
  );
}

/** Every key id any reachable node of the pool can decrypt with. */
function ringKeyIdsOf(report: PoolReport): string[] {
  const ids = new Set<string>();
  for (const n of report.nodes) for (const e of n.state?.ring ?? []) if (e.keyId) ids.add(e.keyId);
  return [...ids];
}

/** Enough for every probe of the pool to run out its own timeout a few times over. */
function deadlineFor(pool: PoolSpec): number {
  const timeout = Math.max(...pool.nodes.map((n) => n.probe.timeoutMs));
  const versions = pool.nodes[0]?.probe.versions.length ?? 2;
  return Math.max(10_000, timeout * 4 * versions);
}
