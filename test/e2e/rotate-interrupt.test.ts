import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet, type FleetNode } from './fleet/index.js';
import { runCli, type CliResult } from './cli.js';
import {
  assertInvariant,
  assertRingsAsBefore,
  readPoolRings,
  watchInvariant,
} from './invariant.js';

let fleet: Fleet;
let inventory: string;
let nodes: FleetNode[];

const bin = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

beforeAll(async () => {
  fleet = await startFleet({ pools: [{ name: 'web', server: 'nginx', nodes: 3 }] });
  nodes = fleet.pool('web').nodes;
  inventory = await fleet.writeInventory();
  const boot = await runCli(['rotate', '-i', inventory, '--yes', '--quiet']);
  expect(boot.code, boot.stderr).toBe(0);
});
afterAll(async () => {
  await fleet?.stop();
});

interface RunningCli {
  pid: number;
  output: () => string;
  exited: Promise<CliResult>;
  kill: (signal: NodeJS.Signals) => void;
}

/** Starts the built CLI and keeps its output readable while it runs. */
function startCli(args: string[]): RunningCli {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<CliResult>((resolve) =>
    child.on('close', (code, signal) =>
      resolve({ code: code ?? (signal ? -1 : 0), stdout, stderr }),
    ),
  );
  return {
    pid: child.pid as number,
    output: () => stdout + stderr,
    exited,
    kill: (signal) => child.kill(signal),
  };
}

async function waitForOutput(run: RunningCli, pattern: RegExp, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pattern.test(run.output())) {
    if (Date.now() > end) throw new Error(`no ${pattern} in:\n${run.output()}`);
    await sleep(20);
  }
}

async function filesOf(node: FleetNode): Promise<string[]> {
  return readdir(node.keyDir);
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
    await sleep(500);
    await assertInvariant(fleet, 'web');
    const next = runCli(['rotate', '-i', inventory, '--yes']);
    const watched = await watchInvariant(fleet, 'web', next);
    const res = await next;
    expect(res.code, res.stderr).toBe(0);
    expect(watched.problems).toEqual([]);
    const after = await assertInvariant(fleet, 'web');
    expect(new Set([...after.rings.values()].map((r) => r.join()))).toHaveProperty('size', 1);
  });
});
