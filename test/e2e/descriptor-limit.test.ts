import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli.js';
import { startWebPool, type WebPool } from './web-pool.js';

let web: WebPool;

beforeAll(async () => {
  web = await startWebPool();
});
afterAll(async () => {
  await web?.fleet.stop();
});

const keyDirs = (): Promise<string[][]> =>
  Promise.all(web.nodes.map(async (n) => (await readdir(n.keyDir)).sort()));

describe('a run that would run out of file descriptors', () => {
  it('is refused before any node is contacted: exit 2, the numbers, how to raise the limit', async () => {
    const before = await keyDirs();
    // 3 nodes + 64 probe connections + the process's own: more than 100. (Node's module loader
    // alone may need about 60 while stekctl loads: a limit that low is the next test's case.)
    const res = await runCli(['rotate', '-i', web.inventory, '--yes', '--concurrency', '64'], {
      wrap: ['prlimit', '--nofile=100:100'],
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('this run needs up to 131 open files (3 nodes');
    expect(res.stderr).toContain('may open 100');
    expect(res.stderr).toContain('ulimit -n 131');
    expect(res.stderr).not.toMatch(/at .*\.js:\d+/);
    expect(await keyDirs()).toEqual(before);
    // Nothing was locked either: the next run goes through.
    const next = await runCli(['rotate', '-i', web.inventory, '--yes', '--quiet']);
    expect(next.code, next.stderr).toBe(0);
  });

  it('too low even to load stekctl: exit 2 and one line, not a stack trace', async () => {
    const before = await keyDirs();
    const res = await runCli(['rotate', '-i', web.inventory, '--yes'], {
      wrap: ['prlimit', '--nofile=20:20'],
    });
    expect(res.code).toBe(2);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toMatch(/too many open files while starting: .*ulimit -n/);
    expect(await keyDirs()).toEqual(before);
  });
});
