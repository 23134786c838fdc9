import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from './fleet/index.js';
import { runCli } from './cli.js';
import { assertInvariant } from './invariant.js';

/** More nodes than Node's default of ten listeners on one abort signal. */
const size = 12;

let fleet: Fleet;
let inventory: string;

beforeAll(async () => {
  fleet = await startFleet({ pools: [{ name: 'web', server: 'nginx', nodes: size }] });
  inventory = await fleet.writeInventory();
  const boot = await runCli(['rotate', '-i', inventory, '--yes', '--quiet']);
  if (boot.code !== 0) throw new Error(`bootstrap failed: ${boot.stderr}`);
}, 120_000);
afterAll(async () => {
  await fleet?.stop();
});

interface RotateDoc {
  pools: {
    outcome: string;
    verification: { ok: boolean; summary: { probes: number } };
    ticketChecks: { name: string; ok: boolean; problems: string[] }[];
  }[];
}

describe(`a pool of ${size} nginx nodes`, () => {
  it('rotates with no warning on stderr, checks the earlier tickets, and leaves no temporary file', async () => {
    const res = await runCli(['rotate', '-i', inventory, '--yes', '--json', '--overlap', '0']);
    expect(res.code, res.stderr).toBe(0);
    // Node's own warnings (a listener leak, a deprecation) are noise on an operator's terminal.
    expect(res.stderr).not.toMatch(/Warning|MaxListeners|\(node:\d+\)/);
    const doc = JSON.parse(res.stdout) as RotateDoc;
    const pool = doc.pools[0];
    expect(pool?.outcome).toBe('rotated');
    expect(pool?.verification.ok).toBe(true);
    // Above matrixMax (8): 2N cross offers per version.
    expect(pool?.verification.summary.probes).toBe(2 * size * 2);
    const before = pool?.ticketChecks.find((c) => c.name === 'tickets-before-promotion-resume');
    expect(before, JSON.stringify(pool?.ticketChecks)).toMatchObject({ ok: true, problems: [] });

    for (const node of fleet.pool('web').nodes) {
      const leftovers = (await readdir(node.keyDir)).filter((f) => f.startsWith('.stekctl-'));
      expect(leftovers, node.name).toEqual([]);
    }
    await assertInvariant(fleet, 'web');
  });
});
