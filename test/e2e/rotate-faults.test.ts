import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet, FleetNode } from './fleet/index.js';
import { startWebPool } from './web-pool.js';
import { runCli } from './cli.js';
import { preflightFailureOf, rotateDocOf, type RotateDoc } from './rotate-doc.js';
import {
  assertInvariant,
  assertRingsAsBefore,
  listKeyDirs,
  type InvariantReport,
} from './invariant.js';

/**
 * Each test breaks one node at one point of a rotation, then checks that the run ends with the
 * right exit code, every node serves with the invariant intact and its ring as before, and that
 * the next ordinary `rotate` succeeds.
 */

let fleet: Fleet;
let inventory: string;
let nodes: FleetNode[];
let odd: FleetNode;

beforeAll(async () => {
  ({ fleet, nodes, inventory } = await startWebPool());
  odd = nodes[1]!;
});
afterAll(async () => {
  await fleet?.stop();
});
afterEach(async () => {
  if ((await odd.sshdPids()).length === 0) await odd.startSshd();
});

/**
 * A command for the odd node that counts its calls in a file and, on call `on`, does `fault`
 * instead of (or before) `real`. Calls: check 1 is preflight, then one per step that writes;
 * reload 1 is the stage, 2 the promotion.
 */
async function faulty(name: string, real: string, on: number, fault: string): Promise<string> {
  const counter = join(odd.dir, `${name}.count`);
  const script = join(odd.dir, `${name}.sh`);
  await rm(counter, { force: true });
  await writeFile(
    script,
    [
      'n=$(( $(cat "$0.count" 2>/dev/null || echo 0) + 1 ))',
      'echo "$n" > "$0.count"',
      `if [ "$n" -eq ${on} ]; then ${fault}; fi`,
      `exec ${real}`,
      '',
    ]
      .join('\n')
      .replaceAll('$0.count', counter),
  );
  return `sh ${script}`;
}

async function inventoryWith(override: Record<string, unknown>): Promise<string> {
  return fleet.writeInventory({
    path: join(fleet.dir, 'fault.yaml'),
    nodeOverrides: (n) => (n === odd ? override : undefined),
  });
}

/** What every failed run must leave: rings as before, no new key file, no lock, no scratch file. */
async function expectRestored(before: InvariantReport, doc: RotateDoc): Promise<void> {
  await assertRingsAsBefore(fleet, 'web', before);
  for (const n of nodes) {
    const files = await readdir(n.keyDir);
    expect(files.filter((f) => f.startsWith('.stekctl') || f === 'stekctl.lock')).toEqual([]);
    const newKey = doc.pools[0]?.keyId;
    if (newKey) expect(files, n.name).not.toContain(`${newKey}.key`);
  }
  // The report says so: the ring after the run is the one from before it.
  expect(doc.pools[0]?.after).toEqual([...before.rings.values()][0]);
  // The rollback proves it the way a rotation does: every node resumes every other's tickets.
  const encrypting = [...before.rings.values()][0]?.[0];
  expect(doc.pools[0]?.rollbackVerification).toMatchObject({
    ok: true,
    encryptingKeyIds: [encrypting],
  });
}

/** The next ordinary run completes and keeps the invariant. */
async function expectNextRotateSucceeds(): Promise<void> {
  const next = await runCli(['rotate', '-i', inventory, '--yes']);
  expect(next.code, next.stderr + next.stdout).toBe(0);
  await assertInvariant(fleet, 'web');
}

/** Waits for a marker file a fault script drops, then runs `act`. */
async function whenMarked(marker: string, act: () => Promise<void>): Promise<void> {
  for (let i = 0; i < 300 && !existsSync(marker); i++) await sleep(50);
  expect(existsSync(marker), `${marker} never appeared`).toBe(true);
  await act();
}

/**
 * Kills the node's sshd processes (the listener too with `listener`), never what they started:
 * the node-side command carries on, as it would after a network cut. Killing the shells as well
 * could leave a login script's lock behind and stall every later session.
 */
async function killSshd(node: FleetNode, opts: { listener: boolean }): Promise<void> {
  const listener = Number((await readFile(node.sshdPidFile, 'utf8')).trim());
  for (const pid of await node.sshdPids()) {
    if (pid === listener && !opts.listener) continue;
    const comm = await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '');
    if (comm.trim() === 'sshd') process.kill(pid, 'SIGKILL');
  }
}

describe('rotate keeps the invariant when a node fails', () => {
  it('preflight failures (config test fails, node unreachable) write nothing and name the node', async () => {
    const files = await listKeyDirs(fleet, 'web');
    const pids = await Promise.all(nodes.map((n) => n.serverPids()));
    const broken = await inventoryWith({ check: 'false' });
    const res = await runCli(['rotate', '-i', broken, '--yes', '--json']);
    const failure = preflightFailureOf(res);
    expect(failure.node).toContain(odd.host);
    expect(failure.reason).toMatch(/config test/);

    await killSshd(odd, { listener: true });
    const down = await runCli(['rotate', '-i', inventory, '--yes']);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(odd.host);
    expect(down.stderr).toMatch(/nothing was written/);
    await odd.startSshd();

    expect(await listKeyDirs(fleet, 'web')).toEqual(files);
    expect(await Promise.all(nodes.map((n) => n.serverPids()))).toEqual(pids);
    await assertInvariant(fleet, 'web');
    await expectNextRotateSucceeds();
  });

  it('config test fails on one node while staging: exit 1, every ring as before', async () => {
    const before = await assertInvariant(fleet, 'web');
    const check = await faulty('check', odd.check, 2, 'echo "broken include" >&2; exit 1');
    const res = await runCli(['rotate', '-i', await inventoryWith({ check }), '--yes', '--json']);
    const doc = rotateDocOf(res);
    expect(res.code, res.stderr).toBe(1);
    expect(doc.pools[0]?.outcome).toBe('rolled-back');
    expect(doc.pools[0]?.error).toContain(odd.host);
    expect(doc.pools[0]?.error).toContain('broken include');
    await expectRestored(before, doc);
    await expectNextRotateSucceeds();
  });

  it('reload fails on one node while staging: exit 1, every ring as before', async () => {
    const before = await assertInvariant(fleet, 'web');
    const reload = await faulty(
      'reload',
      odd.reload,
      1,
      'echo "reload refused" >&2; echo "see the error log" >&2; exit 1',
    );
    const res = await runCli(['rotate', '-i', await inventoryWith({ reload }), '--yes', '--json']);
    const doc = rotateDocOf(res);
    expect(res.code, res.stderr).toBe(1);
    expect(doc.pools[0]?.error).toContain('reload refused\nsee the error log');
    // The server's output is shown once in the progress, each line under the node's.
    expect(res.stderr).toContain(
      `[web]   x ${odd.host}: reload: reload refused\n[web]       see the error log\n`,
    );
    expect(res.stderr.split('see the error log')).toHaveLength(2);
    // Seconds after the last rotation, yet nothing rotated: no word of shortened ticket lives.
    expect(doc.pools[0]?.warnings.join('\n')).not.toMatch(/ticket lifetime/);
    expect(res.stderr).toMatch(
      /warning: rolling back: stage failed on .*reload refused \(\.\.\.\)\n/,
    );
    await expectRestored(before, doc);
    await expectNextRotateSucceeds();
  });

  it('reload fails silently on one node while promoting: exit 1, every ring as before', async () => {
    const before = await assertInvariant(fleet, 'web');
    const reload = await faulty('reload', odd.reload, 2, 'exit 7');
    const res = await runCli(['rotate', '-i', await inventoryWith({ reload }), '--yes', '--json']);
    const doc = rotateDocOf(res);
    expect(res.code, res.stderr).toBe(1);
    // Nothing printed, yet the cause says what happened.
    expect(doc.pools[0]?.error).toBe(
      `promote failed on ${odd.host}: reload: exited 7 and printed nothing`,
    );
    await expectRestored(before, doc);
    await expectNextRotateSucceeds();
  });

  it.each([
    ['staging', 1],
    ['promoting', 2],
  ])('connection to one node drops while %s: exit 1, every ring as before', async (_, on) => {
    const before = await assertInvariant(fleet, 'web');
    const marker = join(odd.dir, 'reload.marker');
    await rm(marker, { force: true });
    const reload = await faulty('reload', odd.reload, on, `touch ${marker}; sleep 2`);
    const run = runCli(['rotate', '-i', await inventoryWith({ reload }), '--yes', '--json']);
    await whenMarked(marker, () => killSshd(odd, { listener: false }));
    const res = await run;
    const doc = rotateDocOf(res);
    expect(res.code, res.stderr).toBe(1);
    expect(doc.pools[0]?.outcome).toBe('rolled-back');
    await expectRestored(before, doc);
    await expectNextRotateSucceeds();
  });

  it('a node that stays unreachable after failing mid-promotion: exit 3 naming it, invariant intact', async () => {
    await assertInvariant(fleet, 'web');
    const marker = join(odd.dir, 'reload.marker');
    await rm(marker, { force: true });
    const reload = await faulty('reload', odd.reload, 2, `touch ${marker}; sleep 2`);
    const run = runCli(['rotate', '-i', await inventoryWith({ reload }), '--yes', '--json']);
    await whenMarked(marker, () => killSshd(odd, { listener: true }));
    const res = await run;
    const doc = rotateDocOf(res);
    expect(res.code, res.stderr).toBe(3);
    expect(doc.pools[0]?.outcome).toBe('not-restored');
    expect(doc.pools[0]?.needsPerson.map((p) => p.node).join(' ')).toContain(odd.host);
    // Whatever the unreachable node ended with, every node can decrypt what any node encrypts.
    await assertInvariant(fleet, 'web');
    await odd.startSshd();
    await expectNextRotateSucceeds();
  });

  it('verification fails (a node drops the previous key on reload): exit 1, every ring as before', async () => {
    const before = await assertInvariant(fleet, 'web');
    // On the promotion's reload the node loads only its first key, then the file is put back:
    // the server then rejects tickets under the previous key although the file names it.
    const conf = `${odd.keyDir}/tickets.conf`;
    const reload = await faulty(
      'reload',
      odd.reload,
      2,
      `cp ${conf} ${conf}.keep && sed -i 3,99d ${conf} && ${odd.reload} && sleep 1; cat ${conf}.keep > ${conf}; rm -f ${conf}.keep; exit 0`,
    );
    const res = await runCli(['rotate', '-i', await inventoryWith({ reload }), '--yes', '--json']);
    const doc = rotateDocOf(res);
    expect(res.code, res.stderr).toBe(1);
    expect(doc.pools[0]?.error).toMatch(/verification/);
    await expectRestored(before, doc);
    await expectNextRotateSucceeds();
  });
});
