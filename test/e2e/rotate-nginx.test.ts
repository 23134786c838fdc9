import { readFile, stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from './fleet/index.js';
import { runCli } from './cli.js';

let fleet: Fleet;
let inventory: string;

beforeAll(async () => {
  fleet = await startFleet({ pools: [{ name: 'web', server: 'nginx', nodes: 3 }] });
  inventory = await fleet.writeInventory();
});
afterAll(async () => {
  await fleet?.stop();
});

async function statusDoc() {
  const res = await runCli(['status', '-i', inventory, '--json']);
  return {
    code: res.code,
    doc: JSON.parse(res.stdout) as { pools: { verdict: string; ring: string[] }[] },
  };
}

describe('stekctl rotate on a real nginx pool', () => {
  it('bootstraps a pool with no managed ring', async () => {
    const res = await runCli(['rotate', '-i', inventory, '--yes', '--json']);
    expect(res.stderr).not.toMatch(/unexpected error/);
    const doc = JSON.parse(res.stdout);
    expect(doc.exitCode, res.stderr).toBe(0);
    expect(res.code).toBe(0);
    const st = await statusDoc();
    expect(st.code).toBe(0);
    expect(st.doc.pools[0]?.ring).toEqual([doc.pools[0].keyId]);
    for (const node of fleet.nodes) {
      const s = await stat(`${node.keyDir}/${doc.pools[0].keyId}.key`);
      expect(s.mode & 0o777).toBe(0o600);
    }
  });

  it('rotates: the new key encrypts, the old one is kept for decryption', async () => {
    const before = (await statusDoc()).doc.pools[0]!.ring;
    const res = await runCli(['rotate', '-i', inventory, '--yes', '--json']);
    const doc = JSON.parse(res.stdout);
    expect(res.code, res.stderr).toBe(0);
    const after = (await statusDoc()).doc.pools[0]!.ring;
    expect(after).toEqual([doc.pools[0].keyId, before[0]]);
    expect(doc.pools[0].verification.ok).toBe(true);
    expect(doc.pools[0].ticketChecks[0]).toMatchObject({
      name: 'tickets-before-promotion-resume',
      ok: true,
    });
    const conf = await readFile(`${fleet.nodes[0]!.keyDir}/tickets.conf`, 'utf8');
    expect(conf.indexOf(doc.pools[0].keyId)).toBeLessThan(conf.indexOf(before[0]!));
  });

  it('a dry run writes and reloads nothing', async () => {
    const node = fleet.nodes[0]!;
    const confBefore = await readFile(`${node.keyDir}/tickets.conf`, 'utf8');
    const pids = await node.serverPids();
    const res = await runCli(['rotate', '-i', inventory, '--dry-run']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('stage');
    expect(res.stdout).toContain('promote');
    expect(res.stdout).toContain('dry run');
    expect(await readFile(`${node.keyDir}/tickets.conf`, 'utf8')).toBe(confBefore);
    expect(await node.serverPids()).toEqual(pids);
  });
});
