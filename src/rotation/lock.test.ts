import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeSpec } from '../inventory/types.js';
import { buildApplyScript, parseApplyOutput, type ApplySpec } from '../servers/apply-script.js';
import { adapterFor } from '../servers/index.js';
import { localNodeSpec } from '../servers/node-spec.fixture.js';
import { stateFromReadOutput } from '../servers/node-state.js';
import { buildReadScript } from '../servers/read-script.js';
import { retireLockRelease } from './lock-handoff.js';
import {
  acquireLockScript,
  describeHolder,
  heldLockScript,
  lockThenScript,
  newLockHolder,
  parseLockOutput,
  releaseLockScript,
} from './lock.js';
import type { PreflightResult } from './preflight.js';
import type { PlanPhase, RotationPlan } from './types.js';

const run = promisify(execFile);
const adapter = adapterFor('node');
let dir: string;

async function sh(script: string) {
  const res = await run('sh', ['-c', script]);
  return { ...res, code: 0 };
}

async function keyDir(name: string): Promise<string> {
  const d = join(dir, name);
  await mkdir(d);
  await chmod(d, 0o700);
  return d;
}

const holderA = newLockHolder('run-a', 60_000, new Date());
const holderB = newLockHolder('run-b', 60_000, new Date());
const holderC = newLockHolder('run-c', 60_000, new Date());

function lockAndRead(node: NodeSpec, holder = holderA, breakSeen?: string): string {
  return lockThenScript(
    node,
    holder,
    breakSeen,
    buildReadScript(adapter, node, { runCheck: true }),
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stekctl-lock-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the lock taken in the read command', () => {
  it('reads once the lock is held, and reads nothing while another run holds it', async () => {
    const node = localNodeSpec(await keyDir('a'));
    const first = await sh(lockAndRead(node));
    expect(parseLockOutput(first.stdout)).toEqual({ status: 'ok' });
    expect(stateFromReadOutput(adapter, node, first).keyDir.exists).toBe(true);
    expect(await readFile(join(node.keyDir, 'stekctl.lock'), 'utf8')).toContain('"run-a"');

    const second = await sh(lockAndRead(node, holderB));
    const held = parseLockOutput(second.stdout);
    expect(held).toMatchObject({ status: 'held', holder: { runId: 'run-a' } });
    expect(second.stdout).not.toContain('BEGIN|');

    // Breaking exactly the lock that was seen, then reading, in one command.
    const raw = held?.status === 'held' ? held.raw : '';
    const broken = await sh(lockAndRead(node, holderB, raw));
    expect(parseLockOutput(broken.stdout)).toEqual({ status: 'ok' });
    expect(broken.stdout).toContain('END|1');
    expect(await readFile(join(node.keyDir, 'stekctl.lock'), 'utf8')).toContain('"run-b"');
  });

  it('lets one of two runs that break the same stale lock at once win, not both', async () => {
    const node = localNodeSpec(await keyDir('race'));
    await sh(acquireLockScript(node, holderA, undefined));
    const seen = (await readFile(join(node.keyDir, 'stekctl.lock'))).toString('base64');
    // A base64 that takes its time widens the window between a run's check and its rm.
    const slow = join(dir, 'slow-bin');
    await mkdir(slow, { recursive: true });
    const real = (await sh('command -v base64')).stdout.trim();
    await writeFile(join(slow, 'base64'), `#!/bin/sh\nsleep 0.3\nexec ${real} "$@"\n`, {
      mode: 0o755,
    });
    const env = { ...process.env, PATH: `${slow}:${process.env.PATH ?? '/usr/bin:/bin'}` };
    const take = (holder: typeof holderA) =>
      run('sh', ['-c', acquireLockScript(node, holder, seen)], { env });
    const [b, c] = await Promise.all([
      take(holderB),
      new Promise((r) => setTimeout(r, 100)).then(() => take(holderC)),
    ]);
    const outcomes = [b, c].map((r) => parseLockOutput(r.stdout)?.status);
    expect([...outcomes].sort()).toEqual(['held', 'ok']);
    // The lock on disk is the winner's.
    const winner = outcomes[0] === 'ok' ? 'run-b' : 'run-c';
    expect(await readFile(join(node.keyDir, 'stekctl.lock'), 'utf8')).toContain(`"${winner}"`);
  });

  it('says nodir for a missing key directory and reads nothing', async () => {
    const node = localNodeSpec(join(dir, 'missing'));
    const res = await sh(lockAndRead(node));
    expect(parseLockOutput(res.stdout)).toEqual({ status: 'nodir' });
    expect(res.stdout).not.toContain('BEGIN|');
  });
});

function spec(over: Partial<ApplySpec>): ApplySpec {
  return {
    newKeys: [],
    adoptKeyLines: false,
    managed: { kind: 'text', text: '' },
    manifest: undefined,
    check: true,
    reload: false,
    deleteFiles: [],
    generationWaitMs: 1000,
    ...over,
  };
}

describe('the lock released by the last transaction', () => {
  it('is released when the transaction succeeds, and kept when it fails', async () => {
    const d = await keyDir('tx');
    const node = localNodeSpec(d);
    await sh(acquireLockScript(node, holderA, undefined));
    const release = heldLockScript('run-a');

    const failing = { ...node, check: 'false' };
    const bad = await sh(buildApplyScript(adapter, failing, spec({ releaseLock: release })));
    expect(parseApplyOutput(bad.stdout, bad.stderr, 0)).toMatchObject({ ok: false });
    expect((await stat(join(d, 'stekctl.lock'))).isFile()).toBe(true);

    const good = await sh(buildApplyScript(adapter, node, spec({ releaseLock: release })));
    expect(parseApplyOutput(good.stdout, good.stderr, 0)).toMatchObject({
      ok: true,
      lockReleased: true,
    });
    await expect(stat(join(d, 'stekctl.lock'))).rejects.toThrow();
  });

  it("leaves another run's lock alone", async () => {
    const d = await keyDir('other');
    const node = localNodeSpec(d);
    await sh(acquireLockScript(node, holderB, undefined));
    const res = await sh(
      buildApplyScript(adapter, node, spec({ releaseLock: heldLockScript('run-a') })),
    );
    expect(parseApplyOutput(res.stdout, res.stderr, 0)).toMatchObject({ ok: true });
    expect(await readFile(join(d, 'stekctl.lock'), 'utf8')).toContain('"run-b"');
  });
});

describe('the separate release at the end of a run', () => {
  it("removes this run's lock and leaves another run's alone", async () => {
    const mine = localNodeSpec(await keyDir('release-mine'));
    const theirs = localNodeSpec(await keyDir('release-theirs'));
    await sh(acquireLockScript(mine, holderA, undefined));
    await sh(acquireLockScript(theirs, holderB, undefined));
    for (const node of [mine, theirs])
      expect((await sh(releaseLockScript(node, 'run-a'))).stdout).toBe('UNLOCK|ok\n');
    await expect(stat(join(mine.keyDir, 'stekctl.lock'))).rejects.toThrow();
    expect(await readFile(join(theirs.keyDir, 'stekctl.lock'), 'utf8')).toContain('"run-b"');
  });
});

describe('retireLockRelease', () => {
  const n1 = localNodeSpec('/k1');
  const n2 = localNodeSpec('/k2');
  const phase = (name: PlanPhase['name']) => ({ name }) as PlanPhase;
  const stage = phase('stage');
  const retire = phase('retire');
  const pre = () => ({ lockedByUs: [n1], released: [] }) as unknown as PreflightResult;

  it('asks only the last phase, a retire, on nodes this run locked', () => {
    const plan = { phases: [stage, retire] } as RotationPlan;
    const p = pre();
    expect(retireLockRelease(p, plan, stage, n1, 'r')).toBeUndefined();
    expect(retireLockRelease(p, plan, retire, n2, 'r')).toBeUndefined();
    const notLast = { phases: [retire, stage] } as RotationPlan;
    expect(retireLockRelease(p, notLast, retire, n1, 'r')).toBeUndefined();
    const release = retireLockRelease(p, plan, retire, n1, 'r');
    expect(release?.script).toContain('"runId":"r"');
    release?.onReleased();
    expect(p.lockedByUs).toEqual([]);
    expect(p.released).toEqual([n1]);
  });
});

describe('a lock file written by something else', () => {
  it('is described in printable text only', () => {
    const text = JSON.stringify({
      runId: 'x',
      host: 'evil\u001b]0;owned\u0007',
      pid: 7,
      user: 'ops\u001b[31m',
      started: 's',
      expires: 'e',
    });
    const held = parseLockOutput(`LOCK|held|${Buffer.from(text).toString('base64')}\n`);
    const described = describeHolder(held?.status === 'held' ? held.holder : undefined);
    expect(described).toBe('ops?[31m@evil?]0;owned? (pid 7, since s, until e)');
  });
});
