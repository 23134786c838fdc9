import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet, FleetNode } from './fleet/index.js';
import { startWebPool } from './web-pool.js';
import { runCli } from './cli.js';
import { startCli, waitUntil } from './invariant-extra.js';

/**
 * A run that finishes a key staged earlier waits for the promotion time the stage recorded, which
 * can be far longer than the overlap this run's lock was sized for. Its lock must last that long
 * (else another run may judge it expired and break it), and must be released when the run stops,
 * even after the run hung up its connections for the wait.
 */

let fleet: Fleet;
let nodes: FleetNode[];
let inventory: string;
const stageOverlapMs = 60 * 60_000;
let promoteAfter: number;

interface LockFile {
  runId: string;
  expires: string;
}

async function lockOf(node: FleetNode): Promise<LockFile | undefined> {
  try {
    return JSON.parse(await readFile(join(node.keyDir, 'stekctl.lock'), 'utf8')) as LockFile;
  } catch {
    return undefined;
  }
}

async function expectNoLockLeft(): Promise<void> {
  for (const node of nodes)
    await expect(stat(join(node.keyDir, 'stekctl.lock')), node.name).rejects.toThrow();
}

/** Starts a full rotation, which resumes the staged key and waits for its recorded time. */
async function startResumingRun(inv: string) {
  const run = startCli(['rotate', '-i', inv, '--yes', '--overlap', '0s']);
  await run.when(/overlap: .* left before promotion/);
  return run;
}

async function interrupt(run: ReturnType<typeof startCli>): Promise<void> {
  run.kill('SIGTERM');
  const res = await run.exited;
  expect(res.code, res.stdout + res.stderr).toBe(1);
  expect(res.stderr).toMatch(/before any change/);
}

beforeAll(async () => {
  ({ fleet, nodes, inventory } = await startWebPool());
  const stage = await runCli(['rotate', '-i', inventory, '--stage', '--overlap', '1h', '--yes']);
  expect(stage.code, stage.stderr).toBe(0);
  promoteAfter = Date.now() + stageOverlapMs;
});
afterAll(async () => {
  await fleet?.stop();
});

describe('the lock of a run that waits for a recorded promotion time', () => {
  it('lasts past that time, and is released when the run is stopped', async () => {
    const run = await startResumingRun(inventory);
    try {
      const locks = await Promise.all(nodes.map(lockOf));
      const runIds = new Set(locks.map((l) => l?.runId));
      expect(runIds.size, JSON.stringify(locks)).toBe(1);
      for (const lock of locks)
        expect(Date.parse(lock?.expires ?? '')).toBeGreaterThan(promoteAfter);
      // Another run is refused, as it would be at any other moment of this run.
      const other = await runCli(['rotate', '-i', inventory, '--yes']);
      expect(other.code, other.stderr).toBe(4);
    } finally {
      await interrupt(run);
    }
    await expectNoLockLeft();
  });

  it('is released after the run hung up for the wait (ssh.reconnectAfter)', async () => {
    const hangUp = await fleet.writeInventory({
      path: join(fleet.dir, 'hang-up.yaml'),
      defaults: { ssh: { reconnectAfter: '1s' } },
    });
    const run = await startResumingRun(hangUp);
    try {
      await waitUntil('every connection to close during the wait', async () => {
        const pids = await Promise.all(nodes.map((n) => sessionPids(n)));
        return pids.every((p) => p.length === 0);
      });
      expect((await Promise.all(nodes.map(lockOf))).every((l) => l !== undefined)).toBe(true);
    } finally {
      await interrupt(run);
    }
    await expectNoLockLeft();
    // The staged key is still there for the next run to finish.
    const status = await runCli(['status', '-i', inventory]);
    expect(status.stdout).toMatch(/staged/);
  });
});

/** The pids of the node's sshd session processes: one per open connection. */
async function sessionPids(node: FleetNode): Promise<number[]> {
  const listener = Number((await readFile(node.sshdPidFile, 'utf8')).trim());
  return (await node.sshdPids()).filter((pid) => pid !== listener);
}
