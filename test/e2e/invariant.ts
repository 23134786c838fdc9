import { readFile, readdir, stat } from 'node:fs/promises';
import { expect } from 'vitest';
import type { Fleet, FleetNode } from './fleet/index.js';
import { offerTicket, takeTicket, type ProbeTarget } from '../../src/probe/index.js';
import type { TicketSample } from '../../src/probe/index.js';
import type { TlsVersion } from '../../src/inventory/types.js';

export const versions: TlsVersion[] = ['TLSv1.2', 'TLSv1.3'];

/** A node's ring as its files on disk say, encrypting key first; never holds key bytes. */
export interface DiskRing {
  node: string;
  keyIds: string[];
  /** Everything wrong with the managed file and the key files it refers to. */
  problems: string[];
}

/** The probe target of a fleet node, the way the inventory describes it. */
export function targetOf(node: FleetNode): ProbeTarget {
  return {
    node: node.displayName,
    host: node.host,
    port: node.tlsPort,
    servername: node.servername,
    ca: undefined,
    timeoutMs: 3000,
  };
}

async function modeOf(path: string): Promise<string | undefined> {
  try {
    return ((await stat(path)).mode & 0o777).toString(8);
  } catch {
    return undefined;
  }
}

const directives: Record<string, RegExp> = {
  nginx: /^\s*ssl_session_ticket_key\s+"?([^";\s]+)/,
  apache: /^\s*SSLSessionTicketKeyFile\s+"?([^"\s]+)/,
};

/**
 * Reads a node's ring from its files: the managed file, then each key file it names (only the
 * 16-byte name is kept). HAProxy: the last three lines of tickets.keys are previous, current and
 * next; the current line encrypts.
 */
export async function readDiskRing(node: FleetNode): Promise<DiskRing> {
  const problems: string[] = [];
  const dirMode = await modeOf(node.keyDir);
  if (dirMode !== '700') problems.push(`key directory has mode ${dirMode ?? 'missing'}`);
  if (node.server === 'haproxy') {
    const file = `${node.keyDir}/tickets.keys`;
    const mode = await modeOf(file);
    if (mode !== '600') problems.push(`tickets.keys has mode ${mode ?? 'missing'}`);
    const lines = (await readFile(file, 'utf8').catch(() => ''))
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'));
    const keys = lines.map((l) => Buffer.from(l, 'base64'));
    if (keys.length < 3) problems.push(`tickets.keys has ${keys.length} keys, HAProxy needs 3`);
    const sizes = new Set(keys.map((k) => k.length));
    if ([...sizes].some((s) => s !== 48 && s !== 80) || sizes.size > 1)
      problems.push(`tickets.keys holds keys of sizes ${[...sizes].join(', ')}`);
    const ids = keys.map((k) => k.subarray(0, 16).toString('hex'));
    for (const k of keys) k.fill(0);
    const n = ids.length;
    const ring = [ids[n - 2], ids[n - 1], ids[n - 3]].filter((id): id is string => !!id);
    return { node: node.displayName, keyIds: ring, problems };
  }
  const conf = await readFile(`${node.keyDir}/tickets.conf`, 'utf8').catch(() => undefined);
  if (conf === undefined) problems.push('tickets.conf is missing');
  const paths = (conf ?? '').split('\n').flatMap((line) => {
    const m = directives[node.server]?.exec(line);
    return m?.[1] ? [m[1]] : [];
  });
  const keyIds: string[] = [];
  for (const path of paths) {
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch {
      problems.push(`tickets.conf refers to ${path}, which does not exist`);
      continue;
    }
    const allowed = node.server === 'apache' ? [48] : [48, 80];
    if (!allowed.includes(bytes.length)) problems.push(`${path} is ${bytes.length} bytes`);
    const mode = await modeOf(path);
    if (mode !== '600') problems.push(`${path} has mode ${mode}`);
    keyIds.push(bytes.subarray(0, 16).toString('hex'));
    bytes.fill(0);
  }
  return { node: node.displayName, keyIds, problems };
}

/** Every node's ring from disk, by node name. */
export async function readPoolRings(
  fleet: Fleet,
  poolName: string,
): Promise<Map<string, string[]>> {
  const rings = await Promise.all(fleet.pool(poolName).nodes.map(readDiskRing));
  return new Map(rings.map((r) => [r.node, r.keyIds]));
}

/** Names, sizes and modes of every file in each key directory: what "nothing written" compares. */
export async function listKeyDirs(fleet: Fleet, poolName: string): Promise<string[]> {
  const out: string[] = [];
  for (const node of fleet.pool(poolName).nodes) {
    for (const f of (await readdir(node.keyDir)).sort()) {
      const s = await stat(`${node.keyDir}/${f}`);
      out.push(`${node.name}/${f} ${s.size} ${(s.mode & 0o777).toString(8)} ${s.mtimeMs}`);
    }
  }
  return out;
}

export interface InvariantReport {
  /** Rings read from disk, by node name. */
  rings: Map<string, string[]>;
  /** The key each node issues tickets under, per version, by node name. */
  encrypting: Map<string, string[]>;
  /** Fresh tickets, for later checks (hold sessions: keep in memory only). */
  samples: TicketSample[];
}

/**
 * The promise every rotation keeps, checked on the real servers: each key file the managed file
 * names exists with a key's size and mode 0600 in a 0700 directory; the config test passes; every
 * node serves TLS 1.2 and 1.3; the key a node issues fresh tickets under is in every node's ring;
 * and those tickets resume on every node that shares the node's certificate (nodes with different
 * certificates never resume each other's tickets, whatever the keys).
 */
export async function assertInvariant(fleet: Fleet, poolName: string): Promise<InvariantReport> {
  const { problems, report } = await checkInvariant(fleet, poolName);
  expect(problems, `invariant of pool ${poolName}`).toEqual([]);
  return report;
}

/** The checks of assertInvariant, as a list of problems (empty: the invariant holds). */
export async function checkInvariant(
  fleet: Fleet,
  poolName: string,
): Promise<{ problems: string[]; report: InvariantReport }> {
  const nodes = fleet.pool(poolName).nodes;
  const problems: string[] = [];
  const disk = await Promise.all(nodes.map(readDiskRing));
  for (const d of disk) for (const p of d.problems) problems.push(`${d.node}: ${p}`);
  const checks = await Promise.all(nodes.map((n) => n.sh(n.check)));
  checks.forEach((c, i) => {
    if (c.code !== 0)
      problems.push(`${nodes[i]!.displayName}: config test fails: ${(c.stderr + c.stdout).trim()}`);
  });
  const rings = new Map(disk.map((d) => [d.node, d.keyIds]));
  const samples: TicketSample[] = [];
  for (const version of versions) {
    const taken = await Promise.allSettled(nodes.map((n) => takeTicket(targetOf(n), version)));
    taken.forEach((t, i) => {
      const name = nodes[i]!.displayName;
      if (t.status === 'rejected') problems.push(`${name} ${version}: ${String(t.reason)}`);
      else if (!t.value.keyId) problems.push(`${name} ${version}: issued no ticket`);
      else samples.push(t.value);
    });
  }
  const encrypting = new Map<string, string[]>();
  for (const s of samples) {
    encrypting.set(s.node, [...(encrypting.get(s.node) ?? []), s.keyId as string]);
    for (const [other, ring] of rings) {
      if (!ring.includes(s.keyId as string))
        problems.push(
          `${s.node} (${s.version}) encrypts with ${s.keyId}, which ${other}'s ring [${ring.join(' ')}] lacks`,
        );
    }
  }
  const offers = samples.flatMap((s) =>
    nodes
      .filter((n) => n.displayName !== s.node)
      .filter((n) =>
        samples.some((o) => o.node === n.displayName && o.certFingerprint === s.certFingerprint),
      )
      .map(async (n) => {
        const r = await offerTicket(targetOf(n), s.version, s).catch((e: unknown) => e);
        if (r instanceof Error || typeof r !== 'object' || r === null || !('reused' in r))
          problems.push(
            `${n.displayName} (${s.version}): offering ${s.node}'s ticket: ${String(r)}`,
          );
        else if (!r.reused)
          problems.push(`${n.displayName} does not resume ${s.node}'s ${s.version} ticket`);
      }),
  );
  await Promise.all(offers);
  return { problems, report: { rings, encrypting, samples } };
}

/**
 * Checks the invariant again and again until `running` settles, e.g. while a rotation runs.
 * Returns every problem seen, with the time it was seen.
 */
export async function watchInvariant(
  fleet: Fleet,
  poolName: string,
  running: Promise<unknown>,
): Promise<{ rounds: number; problems: string[] }> {
  let done = false;
  running.then(
    () => (done = true),
    () => (done = true),
  );
  const problems: string[] = [];
  let rounds = 0;
  const t0 = Date.now();
  while (!done) {
    const round = await checkInvariant(fleet, poolName);
    rounds += 1;
    for (const p of round.problems) problems.push(`+${Date.now() - t0}ms: ${p}`);
  }
  return { rounds, problems };
}

/** Rings and encrypting keys must match a snapshot taken before a failed run. */
export async function assertRingsAsBefore(
  fleet: Fleet,
  poolName: string,
  before: InvariantReport,
): Promise<InvariantReport> {
  const now = await assertInvariant(fleet, poolName);
  expect(Object.fromEntries(now.rings)).toEqual(Object.fromEntries(before.rings));
  expect(Object.fromEntries(now.encrypting)).toEqual(Object.fromEntries(before.encrypting));
  return now;
}

/** Every ticket resumes on every node: the promise a shared ring keeps to clients. */
export async function expectTicketsResumeEverywhere(
  tickets: TicketSample[],
  nodes: FleetNode[],
): Promise<void> {
  for (const t of tickets)
    for (const n of nodes)
      expect((await offerTicket(targetOf(n), t.version, t)).reused, `${t.node} -> ${n.name}`).toBe(
        true,
      );
}
