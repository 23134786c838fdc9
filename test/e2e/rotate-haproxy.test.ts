import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeTicket } from '../../src/probe/index.js';
import { startFleet, type Fleet, type FleetNode } from './fleet/index.js';
import { runCli } from './cli.js';
import {
  assertInvariant,
  assertRingsAsBefore,
  expectTicketsResumeEverywhere,
  listKeyDirs,
  targetOf,
  versions,
} from './invariant.js';

/** The same promises on HAProxy, whose ring is three key lines: previous, current, next. */

let fleet: Fleet;
let inventory: string;
let nodes: FleetNode[];

beforeAll(async () => {
  fleet = await startFleet({ pools: [{ name: 'lb', server: 'haproxy', nodes: 2 }] });
  nodes = fleet.pool('lb').nodes;
  inventory = await fleet.writeInventory();
});
afterAll(async () => {
  await fleet?.stop();
});

interface RotateDoc {
  pools: { keyId: string; outcome: string; error?: string }[];
}

describe('stekctl rotate on a real HAProxy pool', () => {
  it('a first rotation that fails on a node leaves its hand-made key file as it found it', async () => {
    const odd = nodes[1]!;
    const listOdd = async () =>
      (await listKeyDirs(fleet, 'lb')).filter((l) => l.startsWith(`${odd.name}/`));
    const before = await listOdd();
    // Adoption copies each key line into a key file of its own before the reload fails.
    const faulty = await fleet.writeInventory({
      path: join(fleet.dir, 'refuse.yaml'),
      nodeOverrides: (n) =>
        n === odd ? { reload: 'echo "reload refused" >&2; exit 1' } : undefined,
    });
    const res = await runCli(['rotate', '-i', faulty, '--yes', '--json']);
    expect(res.code, res.stderr).toBe(1);
    expect((JSON.parse(res.stdout) as RotateDoc).pools[0]!.error).toContain('reload refused');
    expect(await listOdd()).toEqual(before);
  });

  it('adopts the hand-made key lines and rotates twice; earlier tickets resume everywhere', async () => {
    for (let round = 0; round < 2; round++) {
      const before = await assertInvariant(fleet, 'lb');
      const current = [...before.rings.values()][0]![0]!;
      const tickets = await Promise.all(
        versions.flatMap((v) => nodes.map((n) => takeTicket(targetOf(n), v))),
      );
      const res = await runCli(['rotate', '-i', inventory, '--yes', '--json']);
      expect(res.code, res.stderr).toBe(0);
      const K = (JSON.parse(res.stdout) as RotateDoc).pools[0]!.keyId;
      const after = await assertInvariant(fleet, 'lb');
      for (const r of after.rings.values()) expect(r.slice(0, 2)).toEqual([K, current]);
      for (const ids of after.encrypting.values()) expect(ids).toEqual([K, K]);
      await expectTicketsResumeEverywhere(tickets, nodes);
    }
  });

  it('a reload that fails on one node while promoting: exit 1, every ring as before', async () => {
    const before = await assertInvariant(fleet, 'lb');
    const odd = nodes[1]!;
    const script = join(odd.dir, 'reload-fault.sh');
    const counter = join(odd.dir, 'reload-fault.count');
    await writeFile(
      script,
      `n=$(( $(cat ${counter} 2>/dev/null || echo 0) + 1 )); echo $n > ${counter}\n` +
        `if [ $n -eq 2 ]; then echo "reload refused" >&2; exit 1; fi\nexec ${odd.reload}\n`,
    );
    const faulty = await fleet.writeInventory({
      path: join(fleet.dir, 'fault.yaml'),
      nodeOverrides: (n) => (n === odd ? { reload: `sh ${script}` } : undefined),
    });
    const res = await runCli(['rotate', '-i', faulty, '--yes', '--json']);
    expect(res.code, res.stderr).toBe(1);
    expect((JSON.parse(res.stdout) as RotateDoc).pools[0]!.error).toContain('reload refused');
    await assertRingsAsBefore(fleet, 'lb', before);
    const next = await runCli(['rotate', '-i', inventory, '--yes']);
    expect(next.code, next.stderr).toBe(0);
    await assertInvariant(fleet, 'lb');
  });
});
