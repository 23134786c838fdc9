import { spawn } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet, FleetNode } from './fleet/index.js';
import { startWebPool } from './web-pool.js';
import { runCli } from './cli.js';
import { assertInvariant, listKeyDirs } from './invariant.js';
import { thisMachine } from '../../src/rotation/lock.js';

let fleet: Fleet;
let inventory: string;
let nodes: FleetNode[];

beforeAll(async () => {
  ({ fleet, nodes, inventory } = await startWebPool());
});
afterAll(async () => {
  await fleet?.stop();
});

function lockPath(node: FleetNode): string {
  return `${node.keyDir}/stekctl.lock`;
}

/** A lock file as another run would leave it. */
async function placeLock(
  node: FleetNode,
  holder: { host: string; pid: number; expiresInMs: number; machine?: string },
): Promise<string> {
  const now = Date.now();
  const text = `${JSON.stringify({
    runId: 'hand-placed',
    host: holder.host,
    pid: holder.pid,
    user: 'ops',
    started: new Date(now - 1000).toISOString(),
    expires: new Date(now + holder.expiresInMs).toISOString(),
    machine: holder.machine ?? (holder.host === hostname() ? thisMachine() : 'elsewhere'),
  })}\n`;
  await writeFile(lockPath(node), text, { mode: 0o600 });
  return text;
}

/** A pid that no process has: one that just ended. */
function deadPid(): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('true');
    child.on('exit', () => resolve(child.pid as number));
  });
}

async function expectNothingTouched(run: () => Promise<void>): Promise<void> {
  const files = await listKeyDirs(fleet, 'web');
  const pids = await Promise.all(nodes.map((n) => n.serverPids()));
  await run();
  expect(await listKeyDirs(fleet, 'web')).toEqual(files);
  expect(await Promise.all(nodes.map((n) => n.serverPids()))).toEqual(pids);
}

async function expectNextRotateSucceeds(): Promise<void> {
  const next = await runCli(['rotate', '-i', inventory, '--yes']);
  expect(next.code, next.stderr + next.stdout).toBe(0);
  await assertInvariant(fleet, 'web');
}

describe('pool locks', () => {
  it('a pool locked by a live run elsewhere: exit 4, nothing touched, the holder named', async () => {
    const node = nodes[1]!;
    const text = await placeLock(node, { host: 'ops-box', pid: 4242, expiresInMs: 3600_000 });
    await expectNothingTouched(async () => {
      const res = await runCli(['rotate', '-i', inventory, '--yes']);
      expect(res.code, res.stdout + res.stderr).toBe(4);
      expect(res.stderr).toContain('ops@ops-box (pid 4242');
      // Until when: the time from which the next run breaks it.
      expect(res.stderr).toContain(`, until ${JSON.parse(text).expires as string})`);
      expect(res.stderr).toContain(node.host);
      const json = await runCli(['rotate', '-i', inventory, '--yes', '--json']);
      expect(json.code).toBe(4);
      // A dry run takes no lock, and says what the real run would find.
      const dry = await runCli(['rotate', '-i', inventory, '--dry-run']);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout + dry.stderr).toMatch(
        /warning: the pool is locked by ops@ops-box \(pid 4242.*\): the real run would exit 4/,
      );
      expect(JSON.parse(json.stdout)).toMatchObject({ exitCode: 4, stopped: 'locked' });
    });
    expect(await readFile(lockPath(node), 'utf8')).toBe(text);
    // A live process on this machine holds it just as firmly.
    await placeLock(node, { host: hostname(), pid: process.pid, expiresInMs: 3600_000 });
    const res = await runCli(['rotate', '-i', inventory, '--yes']);
    expect(res.code, res.stdout + res.stderr).toBe(4);
    await rm(lockPath(node));
    await assertInvariant(fleet, 'web');
    await expectNextRotateSucceeds();
  });

  it('breaks a lock left by a dead process on this machine, with a warning', async () => {
    const pid = await deadPid();
    await placeLock(nodes[2]!, { host: hostname(), pid, expiresInMs: 3600_000 });
    const status = await runCli(['status', '-i', inventory]);
    expect(status.stdout).toMatch(
      new RegExp(
        `held by process ${pid} on this machine, which is no longer running: the next run`,
      ),
    );
    const res = await runCli(['rotate', '-i', inventory, '--yes']);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(res.stdout + res.stderr).toMatch(new RegExp(`broke a stale lock.*process ${pid}`));
    for (const n of nodes) await expect(readFile(lockPath(n))).rejects.toThrow();
    await assertInvariant(fleet, 'web');
    await expectNextRotateSucceeds();
  });

  it('holds a lock of a process this machine cannot see: same host name, another pid namespace', async () => {
    // A container sharing the host's network has its host name, and pids of its own.
    const node = nodes[1]!;
    const pid = await deadPid();
    const text = await placeLock(node, {
      host: hostname(),
      pid,
      expiresInMs: 3600_000,
      machine: `${thisMachine().split(' ')[0]} pid:[1]`,
    });
    await expectNothingTouched(async () => {
      const res = await runCli(['rotate', '-i', inventory, '--yes']);
      expect(res.code, res.stdout + res.stderr).toBe(4);
    });
    expect(await readFile(lockPath(node), 'utf8')).toBe(text);
    await rm(lockPath(node));
  });

  it('holds a lock file it cannot read until --break-lock, as status says', async () => {
    const node = nodes[0]!;
    await writeFile(lockPath(node), 'maintenance by ops\n', { mode: 0o600 });
    const status = await runCli(['status', '-i', inventory]);
    expect(status.stdout).toMatch(/an unreadable lock: `rotate --break-lock` removes it/);
    await expectNothingTouched(async () => {
      const res = await runCli(['rotate', '-i', inventory, '--yes']);
      expect(res.code, res.stdout + res.stderr).toBe(4);
    });
    const forced = await runCli(['rotate', '-i', inventory, '--yes', '--break-lock']);
    expect(forced.code, forced.stdout + forced.stderr).toBe(0);
    await assertInvariant(fleet, 'web');
  });

  it('says it broke a stale lock even when the run then changes nothing', async () => {
    const pid = await deadPid();
    await placeLock(nodes[2]!, { host: hostname(), pid, expiresInMs: 3600_000 });
    const audit = `${fleet.dir}/refused-audit.log`;
    // Nothing is staged: --promote is refused after the preflight took (and broke) the lock.
    const res = await runCli(['rotate', '-i', inventory, '--promote', '--audit-log', audit]);
    expect(res.code, res.stdout + res.stderr).toBe(1);
    expect(res.stderr).toMatch(
      new RegExp(`warning: pool web, .*broke a stale lock.*process ${pid}`),
    );
    const line = JSON.parse((await readFile(audit, 'utf8')).trim()) as { warnings: string[] };
    expect(line.warnings.join('\n')).toMatch(/broke a stale lock/);
    for (const n of nodes) await expect(readFile(lockPath(n))).rejects.toThrow();
  });

  it('breaks an expired lock of another machine, and any lock with --break-lock', async () => {
    await placeLock(nodes[0]!, { host: 'ops-box', pid: 4242, expiresInMs: -1000 });
    const expired = await runCli(['rotate', '-i', inventory, '--yes']);
    expect(expired.code, expired.stdout + expired.stderr).toBe(0);
    expect(expired.stdout + expired.stderr).toMatch(/broke a stale lock.*expired/);
    await placeLock(nodes[0]!, { host: 'ops-box', pid: 4242, expiresInMs: 3600_000 });
    const forced = await runCli(['rotate', '-i', inventory, '--yes', '--break-lock']);
    expect(forced.code, forced.stdout + forced.stderr).toBe(0);
    expect(forced.stdout + forced.stderr).toMatch(/broke a stale lock.*--break-lock/);
    for (const n of nodes) await expect(readFile(lockPath(n))).rejects.toThrow();
    await assertInvariant(fleet, 'web');
  });

  it('two runs at once never interleave: one rotates, the other finds the pool locked', async () => {
    const before = await assertInvariant(fleet, 'web');
    const old = [...before.rings.values()][0]![0]!;
    const [a, b] = await Promise.all([
      runCli(['rotate', '-i', inventory, '--yes', '--json']),
      runCli(['rotate', '-i', inventory, '--yes', '--json']),
    ]);
    const codes = [a.code, b.code].sort();
    expect(codes, a.stderr + b.stderr).toEqual([0, 4]);
    const winner = JSON.parse((a.code === 0 ? a : b).stdout) as { pools: { keyId: string }[] };
    const after = await assertInvariant(fleet, 'web');
    for (const ring of after.rings.values()) expect(ring).toEqual([winner.pools[0]!.keyId, old]);
    for (const n of nodes) await expect(readFile(lockPath(n))).rejects.toThrow();
    await expectNextRotateSucceeds();
  });
});
