import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localNodeSpec } from '../servers/node-spec.fixture.js';
import { acquireLockScript, lockSlackMs, newLockHolder } from './lock.js';
import { lockExpiryNeeded, renewLockScript } from './run-locks.js';
import type { PlanPhase, RotationPlan } from './types.js';

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stekctl-run-locks-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function nodeIn(name: string) {
  const d = join(dir, name);
  await mkdir(d);
  await chmod(d, 0o700);
  return localNodeSpec(d);
}

const sh = async (script: string) => (await run('sh', ['-c', script])).stdout;
const waits = (...ms: number[]) =>
  ({ phases: ms.map((waitBeforeMs) => ({ waitBeforeMs }) as PlanPhase) }) as RotationPlan;

describe('lockExpiryNeeded', () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const holder = newLockHolder('r', 10 * 60_000 + lockSlackMs, now);

  it('leaves a lock that outlasts the waits alone', () => {
    expect(lockExpiryNeeded(waits(0, 10 * 60_000, 0), holder, now)).toBeUndefined();
  });

  it('leaves an ordinary run alone: its waits are the overlap the lock was taken for', () => {
    // The preflight and planning took a few minutes: the lock still outlasts the waits by plenty.
    const later = new Date(now.getTime() + 5 * 60_000);
    expect(lockExpiryNeeded(waits(0, 10 * 60_000, 0), holder, later)).toBeUndefined();
  });

  it('extends the lock of a question answered late', () => {
    const late = new Date(now.getTime() + 35 * 60_000);
    expect(lockExpiryNeeded(waits(0, 10 * 60_000, 0), holder, late)).toBe(
      new Date(late.getTime() + 10 * 60_000 + lockSlackMs).toISOString(),
    );
  });

  it('asks for the waits and the margin from now when the plan waits longer', () => {
    const later = new Date(now.getTime() + 60_000);
    expect(lockExpiryNeeded(waits(0, 60 * 60_000), holder, later)).toBe(
      new Date(later.getTime() + 60 * 60_000 + lockSlackMs).toISOString(),
    );
  });
});

describe('renewLockScript', () => {
  it("rewrites this run's lock with the new expiry, mode 0600, nothing left beside it", async () => {
    const node = await nodeIn('mine');
    const holder = newLockHolder('run-a', 60_000, new Date());
    await sh(acquireLockScript(node, holder, undefined));
    const longer = { ...holder, expires: new Date(Date.now() + 3_600_000).toISOString() };
    expect(await sh(renewLockScript(node, longer))).toBe('RENEW|ok\n');
    const lock = join(node.keyDir, 'stekctl.lock');
    expect(JSON.parse(await readFile(lock, 'utf8'))).toEqual(longer);
    expect((await stat(lock)).mode & 0o777).toBe(0o600);
    expect(await sh(`ls -A ${node.keyDir}`)).toBe('stekctl.lock\n');
  });

  it("leaves another run's lock alone, and a missing one missing", async () => {
    const theirs = await nodeIn('theirs');
    const other = newLockHolder('run-b', 60_000, new Date());
    await sh(acquireLockScript(theirs, other, undefined));
    const mine = newLockHolder('run-a', 3_600_000, new Date());
    expect(await sh(renewLockScript(theirs, mine))).toBe('RENEW|lost\n');
    expect(JSON.parse(await readFile(join(theirs.keyDir, 'stekctl.lock'), 'utf8'))).toEqual(other);
    const none = await nodeIn('none');
    expect(await sh(renewLockScript(none, mine))).toBe('RENEW|lost\n');
    expect(await sh(`ls -A ${none.keyDir}`)).toBe('');
  });
});
