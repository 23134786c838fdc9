import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet, type FleetNode } from './fleet/index.js';
import { keyId, newKey, placeNginxRing } from './cli.js';
import {
  expectMatrix,
  expectNoKeyBytes,
  expectPassed,
  haproxyKeys,
  statusOf,
  verify,
  verifyJson,
  waitForKey,
  writePoolInventory,
  type VerifyDoc,
} from './verify-run.js';

let fleet: Fleet;
let web: FleetNode[];
let direct: string;
let viaSsh: string;
const ring = [newKey(), newKey()];
const stray = newKey();

async function placeRing(nodes: FleetNode[], keys: Buffer[]): Promise<void> {
  await Promise.all(
    nodes.map(async (n) => {
      await placeNginxRing(n, keys);
      await n.reloadServer();
      await waitForKey(n, keyId(keys[0]!));
    }),
  );
}

/** Session directories the probes left in the temporary directory (the nodes share this host). */
async function probeDirs(): Promise<string[]> {
  return (await readdir(tmpdir())).filter((f) => f.startsWith('stekctl-probe.'));
}

function verdicts(pool: VerifyDoc['pools'][number]) {
  return pool.probe.nodes.map((n) => ({ node: n.node, ok: n.ok, codes: [...n.codes].sort() }));
}

beforeAll(async () => {
  fleet = await startFleet({
    pools: [
      { name: 'web', server: 'nginx', nodes: 3 },
      { name: 'lb', server: 'haproxy', nodes: 2 },
    ],
  });
  web = fleet.pool('web').nodes;
  await placeRing(web, ring);
  direct = await writePoolInventory(fleet, 'web', 3, 'direct.yaml');
  viaSsh = await writePoolInventory(fleet, 'web', 3, 'ssh.yaml', {
    poolOverrides: { web: { probe: { via: 'ssh' } } },
  });
});
afterAll(async () => {
  await fleet?.stop();
});

describe('stekctl verify with probe.via: ssh, and without SSH', () => {
  it('passes with openssl run on a pool node, and leaves no session files there', async () => {
    const before = await probeDirs();
    const { res, pool } = await verifyJson(viaSsh);
    expect(res.code).toBe(0);
    expect(pool.via).toBe('ssh');
    expect(pool.probedFrom).toBe(web[0]!.host);
    expectPassed(pool, 18, keyId(ring[0]!));
    expectMatrix(
      pool,
      web.map((n) => n.host),
    );
    expect(await probeDirs()).toEqual(before);

    // The same report as direct probes: same keys and certificates seen.
    const { pool: here } = await verifyJson(direct);
    const seen = (p: VerifyDoc['pools'][number]) =>
      p.probe.versions.map((v) => v.nodes.map((n) => [n.node, n.keyId, n.certFingerprint]));
    expect(seen(pool)).toEqual(seen(here));

    const text = await verify(viaSsh);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`probed with openssl on ${web[0]!.host} over SSH`);
  });

  it('passes an HAProxy pool, which sends TLS 1.3 tickets only after a request', async () => {
    const inv = await writePoolInventory(fleet, 'lb', 2, 'lb-ssh.yaml', {
      poolOverrides: { lb: { probe: { via: 'ssh' } } },
    });
    const { res, pool } = await verifyJson(inv, '--no-ring');
    expect(res.code).toBe(0);
    expect(pool.probedFrom).toBe(fleet.pool('lb').nodes[0]!.host);
    expectPassed(pool, 8);
  });

  it('fails a drifted node with the same diagnosis as direct probes', async () => {
    const odd = web[1]!;
    await placeRing([odd], [stray]);
    try {
      const [ssh, here] = [await verifyJson(viaSsh), await verifyJson(direct)];
      expect(ssh.res.code).toBe(1);
      expect(statusOf(ssh.pool, odd)?.codes[0]).toBe('unknown-key');
      expect(verdicts(ssh.pool)).toEqual(verdicts(here.pool));
      const codes = (p: VerifyDoc['pools'][number]) =>
        p.probe.diagnostics.map((d) => `${d.code} ${[...d.nodes].sort().join(',')}`).sort();
      expect(codes(ssh.pool)).toEqual(codes(here.pool));
      expect(ssh.pool.probe.encryptingKeyIds).toEqual([keyId(ring[0]!), keyId(stray)].sort());
    } finally {
      await placeRing([odd], ring);
    }
  });

  it('works without SSH with --no-ring, and names every node when probes need SSH', async () => {
    await Promise.all(web.map((n) => n.stopSshd()));
    try {
      const blind = await verify(direct, '--no-ring');
      expect(blind.stderr).toBe('');
      expect(blind.code).toBe(0);
      expect(blind.stdout).not.toContain('ring:');

      // The ring only sharpens the diagnosis: unreadable, it is reported and the verdict stands.
      const { res, pool } = await verifyJson(direct);
      expect(res.code).toBe(0);
      expect(pool.ring?.verdict).toBe('incomplete');

      const ssh = await verifyJson(viaSsh, '--no-ring');
      expect(ssh.res.code).toBe(1);
      expect(ssh.pool.probedFrom).toBeUndefined();
      expect(ssh.pool.probe.nodes.every((n) => !n.ok && n.codes[0] === 'unreachable')).toBe(true);
      const text = await verify(viaSsh, '--no-ring');
      expect(text.stdout).toMatch(/no node could run the probes: .*refused/);
    } finally {
      await Promise.all(web.map((n) => n.startSshd()));
    }
  });

  it('never prints key bytes', async () => {
    expectNoKeyBytes([...ring, stray, ...(await haproxyKeys(fleet.pool('lb').nodes[0]!))]);
  });
});
