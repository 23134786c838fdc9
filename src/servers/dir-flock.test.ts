import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeDirLock } from './dir-flock.js';

let dir: string;
let busybox: string;
const realFlock = '/usr/bin/flock';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stekctl-flock-'));
  // busybox's flock: [-sxun] FD only; -E and -w are usage errors (status 1).
  busybox = join(dir, 'busybox-bin');
  await mkdir(busybox);
  await writeFile(
    join(busybox, 'flock'),
    `#!/bin/sh\ncase "$1" in -n) exec ${realFlock} -n "$2";; *) echo "flock: invalid option -- '\${1#-}'" >&2; exit 1;; esac\n`,
  );
  await chmod(join(busybox, 'flock'), 0o755);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the condition on `dir` and says whether it took the lock, and how long it took. */
function take(path: string, seconds = 1): Promise<{ got: boolean; ms: number }> {
  const start = Date.now();
  const script = `exec 9<${dir}; if ${takeDirLock(9, seconds)}; then echo got; else echo held; fi`;
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', script], { env: { PATH: path } }, (err, stdout) => {
      if (err) reject(err);
      else resolve({ got: stdout.trim() === 'got', ms: Date.now() - start });
    });
  });
}

/** Another transaction holding the directory's lock until `release` is called. */
async function holdLock(): Promise<() => void> {
  const child = spawn('/bin/sh', [
    '-c',
    `exec 9<${dir}; ${realFlock} 9; echo locked; exec sleep 30`,
  ]);
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  return () => child.kill('SIGKILL');
}

const usual = '/usr/bin:/bin';

describe('takeDirLock', () => {
  it("with util-linux's flock: takes a free lock, waits for a held one and then fails", async () => {
    expect((await take(usual)).got).toBe(true);
    const release = await holdLock();
    try {
      const held = await take(usual, 1);
      expect(held.got).toBe(false);
      expect(held.ms).toBeGreaterThanOrEqual(900);
    } finally {
      release();
    }
  });

  it("with busybox's flock, which takes no -w: still takes a free lock and refuses a held one", async () => {
    const path = `${busybox}:${usual}`;
    expect((await take(path)).got).toBe(true);
    const release = await holdLock();
    try {
      expect((await take(path, 30)).got).toBe(false);
    } finally {
      release();
    }
    expect((await take(path)).got).toBe(true);
  });

  it('without flock: goes on without a lock, as before', async () => {
    expect((await take(join(dir, 'nothing-here'))).got).toBe(true);
  });
});
