import { readdir, readFile, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet, FleetNode } from './fleet/index.js';
import { startWebPool } from './web-pool.js';
import { runCli } from './cli.js';
import { preflightFailureOf, rotateDocOf } from './rotate-doc.js';
import {
  assertInvariant,
  assertRingsAsBefore,
  checkInvariant,
  listKeyDirs,
  readDiskRing,
} from './invariant.js';
import {
  faultyCommand,
  fillScript,
  leftovers,
  mountReadOnly,
  mountSmallTmpfs,
  remountReadOnlyScript,
  startCli,
  unmountAll,
} from './invariant-extra.js';

/**
 * The key directory of one node fails under stekctl (issue 7): read-only, full, or a key file
 * removed or cut short by hand between runs. Mounts are made by the test as root (permissions do
 * not stop root; a read-only mount does) and always undone in `finally`.
 */

let fleet: Fleet;
let inventory: string;
let nodes: FleetNode[];
let odd: FleetNode;
/** Undo for whatever the running test mounted; afterEach runs it if the test did not. */
let unmount: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ fleet, nodes, inventory } = await startWebPool(2));
  odd = nodes[1]!;
});
afterEach(async () => {
  const undo = unmount;
  unmount = undefined;
  await undo?.();
});
afterAll(async () => {
  await unmount?.();
  await fleet?.stop();
});

async function undoMount(): Promise<void> {
  const undo = unmount;
  unmount = undefined;
  await undo?.();
}

async function expectNextRotateSucceeds(): Promise<string> {
  const next = await runCli(['rotate', '-i', inventory, '--yes']);
  expect(next.code, next.stderr + next.stdout).toBe(0);
  const after = await assertInvariant(fleet, 'web');
  expect(new Set([...after.rings.values()].map((r) => r.join()))).toHaveProperty('size', 1);
  for (const n of nodes) expect(await leftovers(n), n.name).toEqual([]);
  return next.stdout + next.stderr;
}

/** An inventory whose odd node runs `check` instead of its own. */
function inventoryWithCheck(check: string): Promise<string> {
  return fleet.writeInventory({
    path: join(fleet.dir, 'fault.yaml'),
    nodeOverrides: (n) => (n === odd ? { check } : undefined),
  });
}

describe('a key directory that takes no file', () => {
  it('read-only at preflight: exit 1 naming the node and the cause, nothing written anywhere', async () => {
    await assertInvariant(fleet, 'web');
    const files = await listKeyDirs(fleet, 'web');
    const pids = await Promise.all(nodes.map((n) => n.serverPids()));
    unmount = await mountReadOnly(odd, odd.keyDir);
    const res = await runCli(['rotate', '-i', inventory, '--yes', '--json']);
    // Not "locked by an unknown run" (exit 4): no other run holds anything.
    const failure = preflightFailureOf(res);
    expect(failure.node).toBe(odd.host);
    expect(failure.reason).toMatch(/cannot write the lock file in .*Read-only file system/);
    await assertInvariant(fleet, 'web');
    await undoMount();
    expect(await listKeyDirs(fleet, 'web')).toEqual(files);
    expect(await Promise.all(nodes.map((n) => n.serverPids()))).toEqual(pids);
    await expectNextRotateSucceeds();
  });

  it('full at preflight: exit 1 naming the node, nothing written anywhere', async () => {
    await assertInvariant(fleet, 'web');
    unmount = await mountSmallTmpfs(odd, odd.keyDir, 64);
    const full = await odd.sh(fillScript(odd.keyDir));
    expect(full.code).toBe(0);
    const files = await listKeyDirs(fleet, 'web');
    const res = await runCli(['rotate', '-i', inventory, '--yes', '--json']);
    const failure = preflightFailureOf(res);
    expect(failure.node).toBe(odd.host);
    expect(failure.reason).toMatch(/cannot write the lock file in/);
    expect(await listKeyDirs(fleet, 'web')).toEqual(files);
    await assertInvariant(fleet, 'web');
    await undoMount();
    await expectNextRotateSucceeds();
  });

  it('turning read-only after preflight: the stage fails, exit 1, every ring as before', async () => {
    const before = await assertInvariant(fleet, 'web');
    unmount = () => unmountAll(odd, odd.keyDir);
    // Check call 1 is the preflight's: the lock is taken, then the directory turns read-only.
    const check = await faultyCommand(
      odd,
      'check',
      odd.check,
      1,
      remountReadOnlyScript(odd.keyDir),
    );
    const res = await runCli([
      'rotate',
      '-i',
      await inventoryWithCheck(check.command),
      '--yes',
      '--json',
    ]);
    expect(res.code, res.stderr).toBe(1);
    const doc = rotateDocOf(res);
    expect(doc.pools[0]?.outcome).toBe('rolled-back');
    expect(doc.pools[0]?.error).toMatch(
      new RegExp(`stage failed on ${odd.host}: write: .*Read-only file system`),
    );
    await assertRingsAsBefore(fleet, 'web', before);
    // The run could not remove its lock from a read-only directory: the next run breaks it.
    expect(await leftovers(odd)).toEqual(['stekctl.lock']);
    for (const n of nodes.filter((x) => x !== odd)) expect(await leftovers(n)).toEqual([]);
    await undoMount();
    const said = await expectNextRotateSucceeds();
    expect(said).toMatch(/broke a stale lock.*no longer running/);
  });

  it('filling up after preflight: the stage fails, exit 1, every ring as before', async () => {
    const before = await assertInvariant(fleet, 'web');
    unmount = await mountSmallTmpfs(odd, odd.keyDir, 64);
    const check = await faultyCommand(odd, 'check', odd.check, 1, fillScript(odd.keyDir));
    const res = await runCli([
      'rotate',
      '-i',
      await inventoryWithCheck(check.command),
      '--yes',
      '--json',
    ]);
    expect(res.code, res.stderr).toBe(1);
    const doc = rotateDocOf(res);
    expect(doc.pools[0]?.outcome).toBe('rolled-back');
    expect(doc.pools[0]?.error).toMatch(
      new RegExp(`stage failed on ${odd.host}: write: cannot write ${doc.pools[0]!.keyId}`),
    );
    await assertRingsAsBefore(fleet, 'web', before);
    for (const n of nodes) {
      expect(await leftovers(n), n.name).toEqual([]);
      expect(await readdir(n.keyDir)).not.toContain(`${doc.pools[0]!.keyId}.key`);
    }
    await undoMount();
    await expectNextRotateSucceeds();
  });
});

describe('a key directory that fills up between the stage and the promotion', () => {
  it('the promotion cannot write: the node keeps its staged ring intact, exit 3 naming it', async () => {
    await assertInvariant(fleet, 'web');
    unmount = await mountSmallTmpfs(odd, odd.keyDir, 64);
    const run = startCli(['rotate', '-i', inventory, '--yes', '--json', '--overlap', '2s']);
    // Once the stage is done everywhere, and before the promotion, the directory fills up.
    await run.when(/overlap: .* left before promotion/);
    const staged = await readDiskRing(odd);
    const manifest = await readFile(`${odd.keyDir}/stekctl.json`, 'utf8');
    expect((await odd.sh(fillScript(odd.keyDir))).code).toBe(0);
    const res = await run.exited;
    const doc = rotateDocOf(res);
    const K = doc.pools[0]!.keyId;
    expect(doc.pools[0]?.error).toMatch(new RegExp(`promote failed on ${odd.host}: write: `));
    // The node cannot write its old ring back either: it keeps the staged one, whose new key
    // only decrypts and which no node encrypts with any more.
    expect(res.code, res.stderr).toBe(3);
    expect(doc.pools[0]?.needsPerson.map((p) => p.node)).toEqual([odd.host]);
    expect(staged.keyIds.at(-1)).toBe(K);
    expect(await readDiskRing(odd)).toEqual(staged);
    expect(await readFile(`${odd.keyDir}/stekctl.json`, 'utf8')).toBe(manifest);
    expect(await leftovers(odd)).toEqual([]);
    const after = await assertInvariant(fleet, 'web');
    for (const ids of after.encrypting.values()) expect(ids).not.toContain(K);
    await undoMount();
    await expectNextRotateSucceeds();
  });
});

describe('a key file removed or cut short by hand between runs', () => {
  it.each([
    ['deleted', 'previous', (p: string) => rm(p)],
    ['truncated', 'previous', (p: string) => truncate(p, 20)],
    ['deleted', 'encrypting', (p: string) => rm(p)],
    ['truncated', 'encrypting', (p: string) => truncate(p, 20)],
  ] as const)(
    'the %s %s key file: status names it, the next rotate repairs the ring',
    async (what, which, damage) => {
      const before = await assertInvariant(fleet, 'web');
      const ring = before.rings.get(odd.displayName)!;
      const victim = `${odd.keyDir}/${which === 'encrypting' ? ring[0] : ring[1]}.key`;
      await damage(victim);
      const status = await runCli(['status', '-i', inventory]);
      expect(status.code, status.stdout + status.stderr).not.toBe(0);
      expect(status.stdout + status.stderr).toContain(victim);
      // The config test fails, and the server's config dump with it: the include is unknown.
      expect(status.stdout).not.toMatch(/NOT included|does not include/);
      // The server still holds the key it loaded: every node serves and resumes as before, and
      // the only problems are the damaged file and what follows from it on disk.
      const { problems } = await checkInvariant(fleet, 'web');
      expect(problems.join('\n')).toContain(victim);
      expect(
        problems.filter(
          (p) => !p.includes(victim) && !/config test fails|ring \[.*\] lacks/.test(p),
        ),
        `${what} ${which}`,
      ).toEqual([]);

      const said = await expectNextRotateSucceeds();
      expect(said).not.toMatch(/needs a person/);
      const fixed = await runCli(['status', '-i', inventory]);
      expect(fixed.code, fixed.stdout + fixed.stderr).toBe(0);
      expect((await readDiskRing(odd)).problems).toEqual([]);
    },
  );
});
