import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet, FleetNode } from './fleet/index.js';
import { startWebPool } from './web-pool.js';
import { runCli } from './cli.js';
import { rotateDocOf, type RotateDoc } from './rotate-doc.js';
import { assertInvariant } from './invariant.js';
import { ensureSshd, killSshd, startCli, waitUntil } from './invariant-extra.js';

/**
 * One SSH connection per node for the whole run, unless the overlap is long (ssh.reconnectAfter)
 * or a connection is lost while the run waits: then the run logs in again before the next phase.
 */

let fleet: Fleet;
let nodes: FleetNode[];
let inventory: string;

/** The pids of the node's sshd session processes: one per open connection. */
async function sessionPids(node: FleetNode): Promise<number[]> {
  const listener = Number((await readFile(node.sshdPidFile, 'utf8')).trim());
  return (await node.sshdPids()).filter((pid) => pid !== listener);
}

async function expectRotatedEverywhere(doc: RotateDoc): Promise<void> {
  expect(doc.pools[0]?.outcome).toBe('rotated');
  const after = await assertInvariant(fleet, 'web');
  for (const ring of after.rings.values()) expect(ring[0]).toBe(doc.pools[0]?.keyId);
  const verify = await runCli(['verify', '-i', inventory]);
  expect(verify.code, verify.stdout + verify.stderr).toBe(0);
}

beforeAll(async () => {
  ({ fleet, nodes, inventory } = await startWebPool());
});
afterAll(async () => {
  await fleet?.stop();
});

describe('connections across the overlap', () => {
  it('a short overlap keeps one connection per node for the whole run', async () => {
    const res = await runCli(['rotate', '-i', inventory, '--yes', '--json', '--overlap', '1s']);
    expect(res.code, res.stderr).toBe(0);
    const doc = rotateDocOf(res);
    expect(doc.pools[0]?.notes.join('\n')).not.toMatch(/logged in again/);
    await expectRotatedEverywhere(doc);
  });

  it('a connection cut during the overlap: logged in again before the promotion, which completes', async () => {
    const cut = nodes[1] as FleetNode;
    const run = startCli(['rotate', '-i', inventory, '--yes', '--json', '--overlap', '4s']);
    try {
      await run.when(/overlap: .* left before promotion/);
      await killSshd(cut, { listener: false });
      await waitUntil('the cut session to end', async () => (await sessionPids(cut)).length === 0);
    } finally {
      await ensureSshd(cut);
    }
    const res = await run.exited;
    expect(res.code, res.stderr).toBe(0);
    const doc = rotateDocOf(res);
    expect(doc.pools[0]?.notes).toContain('logged in again to 1 node(s) before promote');
    await expectRotatedEverywhere(doc);
  });

  it('an overlap as long as ssh.reconnectAfter: no connection is held while waiting', async () => {
    const hangUp = await fleet.writeInventory({
      path: join(fleet.dir, 'hang-up.yaml'),
      defaults: { ssh: { reconnectAfter: '1s' } },
    });
    const run = startCli(['rotate', '-i', hangUp, '--yes', '--json', '--overlap', '4s']);
    await run.when(/overlap: .* left before promotion/);
    await waitUntil(
      'every connection to close during the overlap',
      async () => (await Promise.all(nodes.map(sessionPids))).every((p) => p.length === 0),
      3_000,
    );
    const res = await run.exited;
    expect(res.code, res.stderr).toBe(0);
    const doc = rotateDocOf(res);
    expect(doc.pools[0]?.notes).toContain('logged in again to 3 node(s) before promote');
    await expectRotatedEverywhere(doc);
  });

  it('rejects a reconnectAfter that is not a positive duration (exit 2, field named)', async () => {
    const bad = await fleet.writeInventory({
      path: join(fleet.dir, 'bad.yaml'),
      defaults: { ssh: { reconnectAfter: '0s' } },
    });
    const res = await runCli(['rotate', '-i', bad, '--dry-run']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/ssh\.reconnectAfter/);
    expect(res.stderr).not.toMatch(/\n\s+at /);
  });
});
