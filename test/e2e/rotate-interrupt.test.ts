import { readdir, readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet, FleetNode } from './fleet/index.js';
import { startWebPool } from './web-pool.js';
import { startCli, waitForOutput, waitForTransactions, waitUntil } from './invariant-extra.js';
import { runCli } from './cli.js';
import {
  assertInvariant,
  assertRingsAsBefore,
  readPoolRings,
  watchInvariant,
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

async function filesOf(node: FleetNode): Promise<string[]> {
  return readdir(node.keyDir);
}

/** A node's stekctl.json as text; '' while it is being replaced. */
function recordOf(node: FleetNode): Promise<string> {
  return readFile(`${node.keyDir}/stekctl.json`, 'utf8').catch(() => '');
}

/**
 * Starts stekctl and SIGKILLs it once the first node's record holds `marker`; the node-side
 * transactions it started go on without it and are waited for.
 */
async function killWhenRecorded(args: string[], marker: string): Promise<void> {
  const run = startCli(args);
  await waitUntil(`${marker} on the first node`, async () =>
    (await recordOf(nodes[0]!)).includes(marker),
  );
  run.kill('SIGKILL');
  await run.exited;
  await waitForTransactions(fleet, 'web');
}

describe('a rotation interrupted', () => {
  it('by SIGKILL during the overlap: the pool keeps serving, the next run completes it', async () => {
    const before = await assertInvariant(fleet, 'web');
    const old = [...before.rings.values()][0]![0]!;
    const run = startCli(['rotate', '-i', inventory, '--yes', '--overlap', '4s']);
    await waitForOutput(run, /overlap: .* left before promotion/);
    run.kill('SIGKILL');
    await run.exited;
    // Staged everywhere, promoted nowhere: the old key encrypts, the new one decrypts.
    const staged = await assertInvariant(fleet, 'web');
    const rings = [...staged.rings.values()];
    const newKey = rings[0]!.at(-1)!;
    for (const r of rings) expect(r).toEqual([...[...before.rings.values()][0]!, newKey]);
    for (const ids of staged.encrypting.values()) expect(ids).toEqual([old, old]);
    // The dead run's lock is still there.
    expect(await readFile(`${nodes[0]!.keyDir}/stekctl.lock`, 'utf8')).toContain(
      `"pid":${run.pid}`,
    );
    const status = (await runCli(['status', '-i', inventory])).stdout;
    expect(status).toContain(
      `rotation in progress: key ${newKey.slice(0, 12)} staged, may be promoted `,
    );
    // ...and who holds the lock, which the next run breaks: its process is gone.
    expect(status).toMatch(
      new RegExp(`locked by \\S+@\\S+ \\(pid ${run.pid}\\) since \\S+, until `),
    );

    const next = runCli(['rotate', '-i', inventory, '--yes', '--json']);
    const watched = await watchInvariant(fleet, 'web', next);
    const res = await next;
    expect(res.code, res.stderr).toBe(0);
    expect(watched.problems).toEqual([]);
    expect(watched.rounds).toBeGreaterThan(1);
    expect(res.stdout).toMatch(/broke a stale lock.*no longer running/);
    const doc = JSON.parse(res.stdout) as { pools: { kind: string; keyId: string }[] };
    expect(doc.pools[0]).toMatchObject({ kind: 'resume', keyId: newKey });
    const after = await assertInvariant(fleet, 'web');
    for (const r of after.rings.values()) expect(r).toEqual([newKey, old]);
    for (const n of nodes) expect(await filesOf(n)).not.toContain('stekctl.lock');
  });

  it.each(['SIGINT', 'SIGTERM'] as const)(
    'by %s during the overlap: rolls back, exit 1, every ring as before',
    async (signal) => {
      const before = await assertInvariant(fleet, 'web');
      const run = startCli(['rotate', '-i', inventory, '--yes', '--overlap', '30s']);
      await waitForOutput(run, /overlap: .* left before promotion/);
      const staged = await readPoolRings(fleet, 'web');
      const newKey = [...staged.values()][0]!.at(-1)!;
      run.kill(signal);
      const res = await run.exited;
      expect(res.code, res.stderr).toBe(1);
      expect(res.stderr).toMatch(/rolling back/);
      await assertRingsAsBefore(fleet, 'web', before);
      for (const n of nodes) {
        const files = await filesOf(n);
        expect(files).not.toContain(`${newKey}.key`);
        expect(files).not.toContain('stekctl.lock');
      }
      const next = await runCli(['rotate', '-i', inventory, '--yes']);
      expect(next.code, next.stderr).toBe(0);
      await assertInvariant(fleet, 'web');
    },
  );

  it('by SIGKILL in the middle of the promotion: the invariant holds, the next run completes it', async () => {
    await assertInvariant(fleet, 'web');
    const run = startCli(['rotate', '-i', inventory, '--yes']);
    await waitForOutput(run, /promote on 3 node/);
    run.kill('SIGKILL');
    await run.exited;
    await waitForTransactions(fleet, 'web');
    await assertInvariant(fleet, 'web');
    const next = runCli(['rotate', '-i', inventory, '--yes']);
    const watched = await watchInvariant(fleet, 'web', next);
    const res = await next;
    expect(res.code, res.stderr).toBe(0);
    expect(watched.problems).toEqual([]);
    const after = await assertInvariant(fleet, 'web');
    expect(new Set([...after.rings.values()].map((r) => r.join()))).toHaveProperty('size', 1);
  });

  it('a rollback killed part-way: rotate refuses, status says so, the rollback run again finishes it', async () => {
    const ringBefore = [...(await assertInvariant(fleet, 'web')).rings.values()][0]!;
    expect((await runCli(['rotate', '-i', inventory, '--yes', '--overlap', '0s'])).code).toBe(0);
    const rotated = [...(await assertInvariant(fleet, 'web')).rings.values()][0]!;
    // Killed once a node records the rollback's promotion.
    await killWhenRecorded(['rollback', '-i', inventory, '--yes'], '"by": "rollback"');
    await assertInvariant(fleet, 'web');

    const status = await runCli(['status', '-i', inventory]);
    expect(status.stdout).toContain(
      `rollback in progress or stopped part-way: previous key ${ringBefore[0]!.slice(0, 12)} made primary again`,
    );
    expect(status.stdout).toContain(`else \`stekctl rollback -i ${inventory} -p web\` does`);
    // A rotation would resume it as a rotation to the previous key: it refuses, changing nothing.
    const rotate = await runCli(['rotate', '-i', inventory, '--yes']);
    expect(rotate.code).toBe(1);
    expect(rotate.stderr).toContain(
      `a rollback to key ${ringBefore[0]!.slice(0, 12)} stopped before it finished`,
    );
    expect(rotate.stderr).toContain(`run \`stekctl rollback -i ${inventory} -p web\` to finish it`);
    const json = await runCli(['rotate', '-i', inventory, '--yes', '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      stopped: 'refused',
      refused: [{ pool: 'web', reason: expect.stringContaining('a rollback to key') as unknown }],
    });

    const again = runCli(['rollback', '-i', inventory, '--yes']);
    const watched = await watchInvariant(fleet, 'web', again);
    const res = await again;
    expect(res.code, res.stderr).toBe(0);
    expect(watched.problems).toEqual([]);
    expect(res.stdout).toContain(
      `rolled back: every node encrypts with ${ringBefore[0]!.slice(0, 12)}`,
    );
    const after = await assertInvariant(fleet, 'web');
    // The ring recorded before the rotation, less the keys that rotation retired.
    for (const r of after.rings.values()) {
      expect(r[0]).toBe(ringBefore[0]);
      expect(r).not.toContain(rotated[0]);
    }
    // The rolled-back key is gone, and the next rotation starts from the restored ring.
    for (const n of nodes) expect(await filesOf(n)).not.toContain(`${rotated[0]}.key`);
    const next = await runCli(['rotate', '-i', inventory, '--yes', '--json']);
    expect(next.code, next.stderr).toBe(0);
    const doc = JSON.parse(next.stdout) as { pools: { kind: string; after: string[] }[] };
    expect(doc.pools[0]?.kind).toBe('rotate');
    expect(doc.pools[0]?.after.slice(1)).toEqual(ringBefore.slice(0, 1));
  });

  it('a rollback killed in its retire, and the run finishing it killed too: the third run finishes it', async () => {
    expect((await runCli(['rotate', '-i', inventory, '--yes', '--overlap', '0s'])).code).toBe(0);
    const rotated = [...(await assertInvariant(fleet, 'web')).rings.values()][0]!;
    // One node at a time: the first node finishes the rollback, the others do not.
    const oneByOne = ['rollback', '-i', inventory, '--yes', '--concurrency', '1'];
    await killWhenRecorded(oneByOne, '"lastChange": "rollback"');
    // The run finishing it records the rollback on the first node again, and is killed too.
    await killWhenRecorded(oneByOne, '"by": "rollback"');
    await assertInvariant(fleet, 'web');

    const third = await runCli(['rollback', '-i', inventory, '--yes']);
    expect(third.code, third.stderr).toBe(0);
    const after = await assertInvariant(fleet, 'web');
    for (const r of after.rings.values()) expect(r).not.toContain(rotated[0]);
    for (const n of nodes) {
      const record = JSON.parse(await recordOf(n)) as { pending?: unknown; lastChange?: string };
      expect(record.pending).toBeUndefined();
      expect(record.lastChange).toBe('rollback');
    }
    expect((await runCli(['rotate', '-i', inventory, '--yes'])).code).toBe(0);
  });
});
