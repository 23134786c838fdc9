import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet, type FleetNode } from './fleet/index.js';
import { runCli, type CliResult } from './cli.js';
import { assertInvariant, listKeyDirs } from './invariant.js';
import { leftovers, startCli, waitForOutput } from './invariant-extra.js';

/**
 * Two runs against the same pool at once, each with its own state directory (two operators, or
 * a timer and a person, on different machines or accounts): the pool lock lives on the nodes,
 * not in the state directory, so exactly one run proceeds and the other exits 4 without touching
 * anything. Each state directory's audit log tells its own run's story.
 */

let fleet: Fleet;
let inventory: string;
let nodes: FleetNode[];
let stateA: string;
let stateB: string;

beforeAll(async () => {
  fleet = await startFleet({ pools: [{ name: 'web', server: 'nginx', nodes: 3 }] });
  nodes = fleet.pool('web').nodes;
  inventory = await fleet.writeInventory();
  stateA = await mkdtemp(join(tmpdir(), 'stekctl-state-a-'));
  stateB = await mkdtemp(join(tmpdir(), 'stekctl-state-b-'));
  const boot = await runCli(['rotate', '-i', inventory, '--yes', '--quiet']);
  expect(boot.code, boot.stderr).toBe(0);
});
afterAll(async () => {
  await fleet?.stop();
  for (const dir of [stateA, stateB]) if (dir) await rm(dir, { recursive: true, force: true });
});

interface AuditLine {
  runId: string;
  exitCode: number;
  outcome: string;
}

async function auditOf(stateDir: string): Promise<AuditLine[]> {
  const text = await readFile(join(stateDir, 'audit.log'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as AuditLine);
}

function runIdOf(res: CliResult): string {
  return (JSON.parse(res.stdout) as { runId: string }).runId;
}

async function expectNextRotateSucceeds(): Promise<void> {
  const next = await runCli(['rotate', '-i', inventory, '--yes']);
  expect(next.code, next.stderr + next.stdout).toBe(0);
  await assertInvariant(fleet, 'web');
}

describe('two runs at once from two state directories', () => {
  it('started together: exactly one rotates, the other exits 4; the pool ends consistent', async () => {
    const before = await assertInvariant(fleet, 'web');
    const old = [...before.rings.values()][0]![0]!;
    const [a, b] = await Promise.all([
      runCli(['rotate', '-i', inventory, '--yes', '--json', '--state-dir', stateA]),
      runCli(['rotate', '-i', inventory, '--yes', '--json', '--state-dir', stateB]),
    ]);
    expect([a.code, b.code].sort(), a.stderr + b.stderr).toEqual([0, 4]);
    const [winner, loser] = a.code === 0 ? [a, b] : [b, a];
    const won = JSON.parse(winner.stdout) as { pools: { keyId: string }[] };
    expect(JSON.parse(loser.stdout)).toMatchObject({ exitCode: 4, stopped: 'locked', pools: [] });
    const after = await assertInvariant(fleet, 'web');
    for (const ring of after.rings.values()) expect(ring).toEqual([won.pools[0]!.keyId, old]);
    for (const n of nodes) expect(await leftovers(n), n.name).toEqual([]);
    // Each run is in its own state directory's audit log, and only there.
    const [logA, logB] = [await auditOf(stateA), await auditOf(stateB)];
    const mine = a === winner ? logA : logB;
    const theirs = a === winner ? logB : logA;
    expect(mine.map((l) => [l.runId, l.exitCode])).toEqual([[runIdOf(winner), 0]]);
    expect(theirs.map((l) => [l.runId, l.exitCode, l.outcome])).toEqual([
      [runIdOf(loser), 4, 'locked'],
    ]);
    await expectNextRotateSucceeds();
  });

  it('one started while the other waits out its overlap: exit 4 at once, nothing touched', async () => {
    const before = await assertInvariant(fleet, 'web');
    const first = startCli([
      'rotate',
      '-i',
      inventory,
      '--yes',
      '--json',
      '--overlap',
      '4s',
      '--state-dir',
      stateA,
    ]);
    await waitForOutput(first, /overlap: .* left before promotion/);
    const staged = await listKeyDirs(fleet, 'web');
    const pids = await Promise.all(nodes.map((n) => n.serverPids()));
    const second = await runCli(['rotate', '-i', inventory, '--yes', '--state-dir', stateB]);
    expect(second.code, second.stdout + second.stderr).toBe(4);
    expect(second.stderr).toContain(`(pid ${first.pid}`);
    // One line, with what to do next.
    expect(second.stderr).toMatch(
      /nothing was touched: run again once that run has ended, or with --break-lock if it is gone\n$/,
    );
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect(await listKeyDirs(fleet, 'web')).toEqual(staged);
    expect(await Promise.all(nodes.map((n) => n.serverPids()))).toEqual(pids);
    // The first run is unaffected and completes.
    const res = await first.exited;
    expect(res.code, res.stderr).toBe(0);
    const after = await assertInvariant(fleet, 'web');
    const keyId = (JSON.parse(res.stdout) as { pools: { keyId: string }[] }).pools[0]!.keyId;
    const old = [...before.rings.values()][0]![0]!;
    for (const ring of after.rings.values()) expect(ring).toEqual([keyId, old]);
    for (const n of nodes) expect(await leftovers(n), n.name).toEqual([]);
    expect((await auditOf(stateB)).at(-1)).toMatchObject({ exitCode: 4, outcome: 'locked' });
    expect((await auditOf(stateA)).at(-1)).toMatchObject({ exitCode: 0, outcome: 'ok' });
    await expectNextRotateSucceeds();
  });
});
