import { readFile, stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offerTicket, takeTicket, type TicketSample } from '../../src/probe/index.js';
import { startFleet, type Fleet, type FleetNode } from './fleet/index.js';
import { runCli, secretFragments } from './cli.js';
import { assertInvariant, listKeyDirs, readPoolRings, targetOf, versions } from './invariant.js';

let fleet: Fleet;
let inventory: string;
let nodes: FleetNode[];

beforeAll(async () => {
  fleet = await startFleet({ pools: [{ name: 'web', server: 'nginx', nodes: 3 }] });
  nodes = fleet.pool('web').nodes;
  inventory = await fleet.writeInventory();
});
afterAll(async () => {
  await fleet?.stop();
});

async function statusDoc() {
  const res = await runCli(['status', '-i', inventory, '--json']);
  expect(res.stdout, `status: ${res.code} ${res.stderr}`).not.toBe('');
  return {
    code: res.code,
    doc: JSON.parse(res.stdout) as { pools: { verdict: string; ring: string[] }[] },
  };
}

interface RotateDoc {
  exitCode: number;
  pools: {
    keyId: string;
    outcome: string;
    verification: { ok: boolean };
    ticketChecks: { name: string; ok: boolean }[];
  }[];
}

async function rotateJson(args: string[] = []): Promise<{ doc: RotateDoc; text: string }> {
  const res = await runCli(['rotate', '-i', inventory, '--yes', '--json', ...args]);
  expect(res.stderr).not.toMatch(/unexpected error/);
  expect(res.code, res.stderr).toBe(0);
  return { doc: JSON.parse(res.stdout) as RotateDoc, text: res.stdout + res.stderr };
}

/** A ticket from every node in both versions. */
async function ticketsFromEveryNode(): Promise<TicketSample[]> {
  const jobs = versions.flatMap((v) => nodes.map((n) => takeTicket(targetOf(n), v)));
  return Promise.all(jobs);
}

/** Offers every ticket to every node; returns one line per offer that did not match `resume`. */
async function offerEverywhere(samples: TicketSample[], resume: boolean): Promise<string[]> {
  const bad: string[] = [];
  await Promise.all(
    samples.flatMap((s) =>
      nodes.map(async (n) => {
        const r = await offerTicket(targetOf(n), s.version, s);
        if (r.reused !== resume)
          bad.push(`${s.version} ticket of ${s.node} under ${s.keyId} at ${n.displayName}`);
      }),
    ),
  );
  return bad;
}

/** Every key file on disk, for checking that no output holds a key's bytes. */
async function keyFilesOnDisk(): Promise<Buffer[]> {
  const rings = await readPoolRings(fleet, 'web');
  const ids = [...new Set([...rings.values()].flat())];
  return Promise.all(ids.map((id) => readFile(`${nodes[0]!.keyDir}/${id}.key`)));
}

describe('stekctl rotate on a real nginx pool', () => {
  it('bootstraps a pool with no managed ring', async () => {
    const { doc } = await rotateJson();
    expect(doc.exitCode).toBe(0);
    const st = await statusDoc();
    expect(st.code).toBe(0);
    expect(st.doc.pools[0]?.ring).toEqual([doc.pools[0]!.keyId]);
    for (const node of nodes) {
      const s = await stat(`${node.keyDir}/${doc.pools[0]!.keyId}.key`);
      expect(s.mode & 0o777).toBe(0o600);
    }
    const inv = await assertInvariant(fleet, 'web');
    for (const ids of inv.encrypting.values())
      expect(ids).toEqual([doc.pools[0]!.keyId, doc.pools[0]!.keyId]);
  });

  it('rotates three times in a row; tickets from before each rotation resume after it everywhere', async () => {
    let older: TicketSample[] | undefined;
    for (let round = 0; round < 3; round++) {
      const before = (await statusDoc()).doc.pools[0]!.ring;
      const tickets = await ticketsFromEveryNode();
      const { doc, text } = await rotateJson();
      const pool = doc.pools[0]!;
      expect(pool.outcome).toBe('rotated');
      expect(pool.verification.ok).toBe(true);
      expect(pool.ticketChecks[0]).toMatchObject({
        name: 'tickets-before-promotion-resume',
        ok: true,
      });
      const after = (await statusDoc()).doc.pools[0]!.ring;
      expect(after).toEqual([pool.keyId, before[0]]);
      const inv = await assertInvariant(fleet, 'web');
      for (const ring of inv.rings.values()) expect(ring).toEqual(after);
      for (const ids of inv.encrypting.values()) expect(ids).toEqual([pool.keyId, pool.keyId]);
      // The previous key is retained: tickets from just before the rotation resume on every node.
      expect(await offerEverywhere(tickets, true)).toEqual([]);
      // With retain 1, tickets from before the previous rotation are under a retired key.
      if (older) expect(await offerEverywhere(older, false)).toEqual([]);
      older = tickets;
      for (const key of await keyFilesOnDisk())
        for (const frag of secretFragments(key)) expect(text).not.toContain(frag);
    }
    const conf = await readFile(`${nodes[0]!.keyDir}/tickets.conf`, 'utf8');
    expect(conf.match(/ssl_session_ticket_key/g)).toHaveLength(2);
  });

  it('keeps no key bytes in the node-side record', async () => {
    for (const node of nodes) {
      const manifest = await readFile(`${node.keyDir}/stekctl.json`, 'utf8');
      for (const key of await keyFilesOnDisk())
        for (const frag of secretFragments(key)) expect(manifest).not.toContain(frag);
    }
  });

  it('a dry run writes and reloads nothing', async () => {
    const files = await listKeyDirs(fleet, 'web');
    const pids = await Promise.all(nodes.map((n) => n.serverPids()));
    const res = await runCli(['rotate', '-i', inventory, '--dry-run']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('stage');
    expect(res.stdout).toContain('promote');
    expect(res.stdout).toContain('dry run');
    const json = await runCli(['rotate', '-i', inventory, '--dry-run', '--json']);
    expect(json.code, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as {
      dryRun: boolean;
      pools: unknown[];
      plans: { phases: { name: string; nodes: { node: string; commands: string[] }[] }[] }[];
    };
    expect(doc.dryRun).toBe(true);
    expect(doc.plans).toHaveLength(1);
    // Each phase lists what it would run on every node.
    const stage = doc.plans[0]?.phases.find((p) => p.name === 'stage');
    expect(stage?.nodes.map((n) => n.node).sort()).toEqual(nodes.map((n) => n.host).sort());
    expect(stage?.nodes.find((n) => n.node === nodes[0]?.host)?.commands).toEqual([
      nodes[0]?.check,
      nodes[0]?.reload,
    ]);
    expect(doc.pools).toEqual([]);
    expect(await listKeyDirs(fleet, 'web')).toEqual(files);
    expect(await Promise.all(nodes.map((n) => n.serverPids()))).toEqual(pids);
    await assertInvariant(fleet, 'web');
  });

  it('brings a drifted pool back to one ring', async () => {
    // The third node lost its decrypt-only key (hand edit): the rotation restores one ring.
    const odd = nodes[2]!;
    const ring = (await readPoolRings(fleet, 'web')).get(odd.displayName)!;
    const conf = await readFile(`${odd.keyDir}/tickets.conf`, 'utf8');
    const kept = conf
      .split('\n')
      .filter((l) => !l.includes(`${ring[1]}.key`))
      .join('\n');
    await odd.sh(`printf %s '${kept}' > ${odd.keyDir}/tickets.conf`);
    await odd.reloadServer();
    const { doc } = await rotateJson();
    expect(doc.pools[0]!.outcome).toBe('rotated');
    const inv = await assertInvariant(fleet, 'web');
    const rings = [...inv.rings.values()];
    for (const r of rings) expect(r).toEqual([doc.pools[0]!.keyId, ring[0]]);
  });

  it('takes a rebuilt node (no keys at all) back into the pool without breaking the invariant', async () => {
    const odd = nodes[1]!;
    const old = (await readPoolRings(fleet, 'web')).get(nodes[0]!.displayName)![0]!;
    await odd.sh(`rm -f ${odd.keyDir}/* && : > ${odd.keyDir}/tickets.conf`);
    await odd.reloadServer();
    const first = await rotateJson();
    const K = first.doc.pools[0]!.keyId;
    const inv = await assertInvariant(fleet, 'web');
    for (const ids of inv.encrypting.values()) expect(ids).toEqual([K, K]);
    // The rebuilt node cannot hold the old key (its bytes never leave the nodes that have it):
    // the others keep it through the promotion, then the pool ends with one ring.
    for (const r of inv.rings.values()) expect(r).toEqual([K]);
    expect(old).not.toBe(K);
    // One more rotation and every node holds the same ring again.
    const second = await rotateJson();
    const after = await assertInvariant(fleet, 'web');
    for (const r of after.rings.values()) expect(r).toEqual([second.doc.pools[0]!.keyId, K]);
  });
});
