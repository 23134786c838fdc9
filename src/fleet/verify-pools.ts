import { addTo } from '../collections.js';
import type { PoolSpec } from '../inventory/types.js';
import {
  poolProbeSettings,
  probePool,
  sshProbeConcurrency,
  toProbeTarget,
  type PoolProbeReport,
  type PoolProbeOptions,
} from '../probe/index.js';
import { openPoolProber } from '../probe/ssh-probe-pool.js';
import type { RingEntry } from '../servers/types.js';
import { inspectPools, ringSignature, type PoolReport, type SessionMap } from './inspect-pools.js';

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
  /** Where the handshakes ran: from here, or on a pool node over SSH (`probe.via`). */
  via: 'direct' | 'ssh';
  /** The node that ran the handshakes, with `via: ssh`; undefined when none could. */
  probedFrom: string | undefined;
  /** With `via: ssh`, why no node could run the handshakes. */
  proberError: string | undefined;
  /** The ring read over SSH, when asked for and read in time. */
  ring: PoolReport | undefined;
  /** Why the ring is missing although it was asked for. */
  ringError: string | undefined;
  probe: PoolProbeReport;
}

/** How long reading a pool's rings may take; probing goes on without them after that. */
const ringDeadlineMs = 20_000;

/**
 * Proves with real handshakes that every node of each pool resumes its peers' tickets and that
 * all encrypt under one key. The ring, when read, only sharpens the diagnosis (a node whose key
 * is outside the pool's ring is blamed alone): the verdict rests on what the servers do, not on
 * their files. Pools are verified in parallel; each is bounded by its probe deadline, and the
 * ring read by ringDeadlineMs.
 */
export async function verifyPools(
  pools: PoolSpec[],
  opts: VerifyOptions,
  sessions: SessionMap = new Map(),
): Promise<PoolVerification[]> {
  return Promise.all(pools.map((pool) => verifyPool(pool, opts, sessions)));
}

async function verifyPool(
  pool: PoolSpec,
  opts: VerifyOptions,
  sessions: SessionMap,
): Promise<PoolVerification> {
  const { ring, ringError } = opts.readRings
    ? await readRing(pool, opts, sessions)
    : { ring: undefined, ringError: undefined };
  const managed = ring ? majorityRing(ring, pool.nodes.length) : undefined;
  const via = pool.nodes.some((n) => n.probe.via === 'ssh') ? 'ssh' : 'direct';
  const probeOpts: PoolProbeOptions = { ...poolProbeSettings(pool), concurrency: opts.concurrency };
  const ringKeyIds = managed?.flatMap((e) => (e.keyId ? [e.keyId] : []));
  if (ringKeyIds && ringKeyIds.length > 0) probeOpts.ringKeyIds = ringKeyIds;
  const encrypting = managed?.find((e) => e.role === 'encrypt')?.keyId;
  if (encrypting) probeOpts.expectedKeyId = encrypting;
  if (opts.seed !== undefined) probeOpts.seed = opts.seed;

  let probedFrom: string | undefined;
  let proberError: string | undefined;
  let close = async (): Promise<void> => undefined;
  if (via === 'ssh') {
    const opened = await openPoolProber(pool, {
      acceptNewHostKey: opts.acceptNewHostKey ?? false,
      sessions,
    });
    probeOpts.prober = opened.prober;
    probeOpts.concurrency = Math.min(opts.concurrency, sshProbeConcurrency);
    probedFrom = opened.probedFrom;
    proberError =
      opened.failures.length > 0
        ? opened.failures.map((f) => `${f.node}: ${f.reason}`).join('; ')
        : undefined;
    close = opened.close;
  }
  let probe: PoolProbeReport;
  try {
    probe = await probePool(pool.name, pool.nodes.map(toProbeTarget), probeOpts);
  } finally {
    await close();
  }
  const oneKey = probe.encryptingKeyIds.length === 1;
  return {
    pool: pool.name,
    server: pool.server,
    ok: probe.ok && oneKey,
    via,
    probedFrom,
    proberError,
    ring,
    ringError,
    probe,
  };
}

async function readRing(
  pool: PoolSpec,
  opts: VerifyOptions,
  sessions: SessionMap,
): Promise<{ ring: PoolReport | undefined; ringError: string | undefined }> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ringDeadlineMs);
  });
  try {
    const read = inspectPools(
      [pool],
      {
        concurrency: opts.concurrency,
        runCheck: false,
        acceptNewHostKey: opts.acceptNewHostKey ?? false,
      },
      sessions,
    ).then((reports) => reports[0]);
    const ring = await Promise.race([read, late]);
    return ring
      ? { ring, ringError: undefined }
      : { ring: undefined, ringError: `not read within ${ringDeadlineMs / 1000} s` };
  } catch (err) {
    return { ring: undefined, ringError: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The ring more than half of the pool's nodes hold, encrypting key first; undefined when no
 * ring has a majority (then no node can be told apart as the odd one) or it is empty.
 */
export function majorityRing(report: PoolReport, poolSize: number): RingEntry[] | undefined {
  const groups = new Map<string, RingEntry[][]>();
  for (const n of report.nodes) {
    if (!n.state || n.state.ring.length === 0) continue;
    const sig = ringSignature(n.state.ring);
    addTo(groups, sig, n.state.ring);
  }
  for (const rings of groups.values()) {
    if (rings.length * 2 > poolSize) return rings[0];
  }
  return undefined;
}
