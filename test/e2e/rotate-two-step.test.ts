import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offerTicket, takeTicket, type TicketSample } from '../../src/probe/index.js';
import type { Fleet, FleetNode } from './fleet/index.js';
import { startWebPool } from './web-pool.js';
import { runCli } from './cli.js';
import {
  assertInvariant,
  assertRingsAsBefore,
  listKeyDirs,
  targetOf,
  versions,
} from './invariant.js';

let fleet: Fleet;
let inventory: string;
let nodes: FleetNode[];

beforeAll(async () => {
  ({ fleet, nodes, inventory } = await startWebPool());
});
afterAll(async () => {
  await fleet?.stop();
});

interface RotateDoc {
  exitCode: number;
  pools: { kind: string; keyId: string; outcome: string }[];
}

async function pendingOf(
  node: FleetNode,
): Promise<{ keyId: string; promoteAfter: string } | undefined> {
  const m = JSON.parse(await readFile(`${node.keyDir}/stekctl.json`, 'utf8')) as {
    pending?: { keyId: string; promoteAfter: string };
  };
  return m.pending;
}

describe('two-step rotation: --stage, later --promote', () => {
  it('stages, refuses an early promotion and says when, then promotes once the overlap passed', async () => {
    const before = await assertInvariant(fleet, 'web');
    const ring = [...before.rings.values()][0]!;
    const tickets: TicketSample[] = await Promise.all(
      versions.flatMap((v) => nodes.map((n) => takeTicket(targetOf(n), v))),
    );

    const staged = await runCli([
      'rotate',
      '-i',
      inventory,
      '--stage',
      '--overlap',
      '10s',
      '--yes',
      '--json',
    ]);
    expect(staged.code, staged.stderr).toBe(0);
    const stageDoc = JSON.parse(staged.stdout) as RotateDoc;
    expect(stageDoc.pools[0]!.outcome).toBe('staged');
    const K = stageDoc.pools[0]!.keyId;
    const mid = await assertInvariant(fleet, 'web');
    for (const r of mid.rings.values()) expect(r).toEqual([...ring, K]);
    for (const ids of mid.encrypting.values()) expect(ids).toEqual([ring[0], ring[0]]);
    const pending = await pendingOf(nodes[0]!);
    expect(pending?.keyId).toBe(K);
    const due = Date.parse(pending!.promoteAfter);
    expect(due).toBeGreaterThan(Date.now());
    // status says what is under way and what to run next.
    const status = await runCli(['status', '-i', inventory]);
    expect(status.stdout).toContain(
      `rotation in progress: key ${K.slice(0, 12)} staged, may be promoted from ${pending!.promoteAfter}`,
    );
    // ...as a command to paste: the inventory is a required option.
    expect(status.stdout).toContain(
      `else \`stekctl rotate -i ${inventory} -p web --promote\` does`,
    );

    // Staging again finds the key staged and does nothing.
    const files = await listKeyDirs(fleet, 'web');
    const pids = await Promise.all(nodes.map((n) => n.serverPids()));
    const again = await runCli(['rotate', '-i', inventory, '--stage', '--yes', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as RotateDoc).pools[0]!.outcome).toBe('nothing-to-do');
    // Promoting before the overlap passed does nothing and says when it may.
    const early = await runCli(['rotate', '-i', inventory, '--promote', '--yes']);
    expect(early.code, early.stderr).toBe(1);
    expect(early.stderr).toContain(`may be promoted from ${pending!.promoteAfter}`);
    expect(early.stderr.match(/nothing was changed/g)).toHaveLength(1);
    // Nor can --overlap shorten it at this step: the stage fixed it.
    const shortened = await runCli(['rotate', '-i', inventory, '--promote', '--overlap', '0s']);
    expect(shortened.code).toBe(2);
    expect(shortened.stderr).toContain('--overlap has no effect with --promote');
    expect(await listKeyDirs(fleet, 'web')).toEqual(files);
    expect(await Promise.all(nodes.map((n) => n.serverPids()))).toEqual(pids);

    await sleep(Math.max(0, due - Date.now() + 200));
    const promoted = await runCli(['rotate', '-i', inventory, '--promote', '--yes', '--json']);
    expect(promoted.code, promoted.stderr).toBe(0);
    expect((JSON.parse(promoted.stdout) as RotateDoc).pools[0]).toMatchObject({
      kind: 'resume',
      keyId: K,
      outcome: 'rotated',
    });
    const after = await assertInvariant(fleet, 'web');
    for (const r of after.rings.values()) expect(r).toEqual([K, ring[0]]);
    expect(await pendingOf(nodes[0]!)).toBeUndefined();
    // Tickets from before the stage resume on every node after the promotion.
    for (const t of tickets)
      for (const n of nodes)
        expect((await offerTicket(targetOf(n), t.version, t)).reused).toBe(true);
  });

  it('a promotion that fails rolls back to the staged rings and may be retried', async () => {
    const staged = await runCli(['rotate', '-i', inventory, '--stage', '--yes', '--json']);
    expect(staged.code, staged.stderr).toBe(0);
    const K = (JSON.parse(staged.stdout) as RotateDoc).pools[0]!.keyId;
    const before = await assertInvariant(fleet, 'web');
    const odd = nodes[1]!;
    const faulty = await fleet.writeInventory({
      path: join(fleet.dir, 'fault.yaml'),
      nodeOverrides: (n) =>
        n === odd ? { reload: 'echo "reload refused" >&2; exit 1' } : undefined,
    });
    const failed = await runCli(['rotate', '-i', faulty, '--promote', '--yes']);
    expect(failed.code, failed.stderr).toBe(1);
    expect(failed.stderr).toContain('reload refused');
    await assertRingsAsBefore(fleet, 'web', before);
    for (const n of nodes) expect((await pendingOf(n))?.keyId).toBe(K);
    const retried = await runCli(['rotate', '-i', inventory, '--promote', '--yes', '--json']);
    expect(retried.code, retried.stderr).toBe(0);
    expect((JSON.parse(retried.stdout) as RotateDoc).pools[0]).toMatchObject({
      kind: 'resume',
      keyId: K,
    });
    const after = await assertInvariant(fleet, 'web');
    for (const ids of after.encrypting.values()) expect(ids).toEqual([K, K]);
  });

  it('--promote with nothing staged does nothing and says so', async () => {
    const files = await listKeyDirs(fleet, 'web');
    const res = await runCli(['rotate', '-i', inventory, '--promote', '--yes']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/no staged key to promote/);
    expect(res.stderr).toContain(`run \`stekctl rotate -i ${inventory} -p web --stage\` first`);
    expect(await listKeyDirs(fleet, 'web')).toEqual(files);
    const next = await runCli(['rotate', '-i', inventory, '--yes']);
    expect(next.code, next.stderr).toBe(0);
    await assertInvariant(fleet, 'web');
  });

  it('--promote of a stage one node no longer records: names the node, sends to rotate', async () => {
    const stage = await runCli(['rotate', '-i', inventory, '--stage', '--overlap', '0s', '--yes']);
    expect(stage.code, stage.stderr).toBe(0);
    const odd = nodes[1]!;
    const record = JSON.parse(await readFile(`${odd.keyDir}/stekctl.json`, 'utf8')) as Record<
      string,
      unknown
    >;
    delete record.pending;
    await writeFile(`${odd.keyDir}/stekctl.json`, JSON.stringify(record));
    const files = await listKeyDirs(fleet, 'web');
    const res = await runCli(['rotate', '-i', inventory, '--promote', '--yes']);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(
      new RegExp(`staged on 2 of 3 nodes \\(not on ${odd.host}\\), so it cannot be promoted`),
    );
    expect(res.stderr).toContain(`run \`stekctl rotate -i ${inventory} -p web\``);
    expect(await listKeyDirs(fleet, 'web')).toEqual(files);
    const next = await runCli(['rotate', '-i', inventory, '--yes']);
    expect(next.code, next.stderr).toBe(0);
    await assertInvariant(fleet, 'web');
  });
});
